/**
 * Endpoint URLs with credentials (`http://user:password@host:port`) are never echoed: not in
 * dial errors, not in an app link's or a node client's logs, not in configuration errors.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { ClientLink } from "../../lib/app/client_link.ts";
import { FakeClock } from "../../lib/clock.ts";
import { parseClientConfig, parseConfig } from "../../lib/config/mod.ts";
import { dialLink } from "../../lib/link/dial.ts";
import { createLogger } from "../../lib/log.ts";
import { SlimNode } from "../../lib/node/node.ts";
import { dialGrpc } from "../../lib/transport/grpc_client.ts";
import { redactEndpoint } from "../../lib/transport/redact.ts";
import { logCapture } from "../helpers/raw_client.ts";
import { freePort } from "../peer/real_peer.ts";

const SECRET = "PASSW0RD";

function noSecret(text: string): void {
  assert(!text.includes(SECRET) && !text.includes("user:"), `credentials leaked: ${text}`);
}

Deno.test("credentials - redactEndpoint strips userinfo only", () => {
  assertEquals(redactEndpoint(`http://user:${SECRET}@127.0.0.1:1`), "http://127.0.0.1:1");
  assertEquals(redactEndpoint(`https://u:p/w?#@h:2/x`), "https://h:2/x");
  assertEquals(redactEndpoint(`user:${SECRET}@h:1`), "h:1");
  assertEquals(redactEndpoint("http://[::1]:46357"), "http://[::1]:46357");
  assertEquals(redactEndpoint("unix:///tmp/a@b.sock"), "unix:///tmp/a@b.sock");
});

Deno.test("credentials - dial errors name the endpoint without them", async () => {
  const port = freePort(); // nothing listens there
  const endpoint = `http://user:${SECRET}@127.0.0.1:${port}`;
  const e1 = await assertRejects(() => dialGrpc({ endpoint }));
  noSecret(e1.message);
  assert(e1.message.includes(`cannot connect to http://127.0.0.1:${port}`), e1.message);
  const e2 = await assertRejects(() =>
    dialLink({ endpoint, linkId: "l", nodeId: "n", connectTimeoutMs: 1000 })
  );
  noSecret(e2.message);
  const e3 = await assertRejects(() => dialGrpc({ endpoint: `ftp://user:${SECRET}@h:1` }));
  noSecret(e3.message);
  const e4 = await assertRejects(() => dialGrpc({ endpoint: `http://user:${SECRET}@h:bad` }));
  noSecret(e4.message);
  noSecret(String((e4 as Error & { cause?: unknown }).cause ?? ""));
});

Deno.test("credentials - an app link logs and fails without them, across a reconnect", async () => {
  const port = freePort();
  const node = await SlimNode.start({
    servers: [{ endpoint: `127.0.0.1:${port}` }],
    logger: createLogger("node", { level: "off" }),
    drainTimeoutMs: 200,
  });
  const log = logCapture();
  const clock = new FakeClock();
  const link = await ClientLink.connect({
    endpoint: `http://user:${SECRET}@127.0.0.1:${port}`,
    logger: createLogger("app", { level: "debug", sink: log.sink }),
    backoff: { type: "fixed_interval", intervalMs: 100, maxAttempts: 2 },
    clock,
  }, () => {});
  try {
    assertEquals(link.endpoint, `http://127.0.0.1:${port}`);
    const closed = new Promise<void>((r) => link.onEvent = (e) => e.type === "closed" && r());
    await node.stop();
    while (!log.has("reconnecting")) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 3; i++) {
      await clock.advance(100);
      await new Promise((r) => setTimeout(r, 50));
    }
    await closed;
    assert(log.has("giving up reconnecting"), log.lines.join("\n"));
    assert(log.has("reconnect attempt failed", `127.0.0.1:${port}`), log.lines.join("\n"));
    for (const line of log.lines) noSecret(line);
  } finally {
    await link.close();
  }
  const e = await assertRejects(() =>
    ClientLink.connect({ endpoint: `http://user:${SECRET}@127.0.0.1:${port}` }, () => {})
  );
  noSecret(e.message);
});

Deno.test("credentials - a node's outgoing connection logs without them", async () => {
  const log = logCapture();
  const port = freePort();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    clients: [{
      endpoint: `http://user:${SECRET}@127.0.0.1:${port}`,
      backoff: { type: "fixed_interval", intervalMs: 10_000 },
    }],
    logger: createLogger("slim", { level: "debug", sink: log.sink }),
    drainTimeoutMs: 200,
  });
  try {
    while (!log.has("cannot connect to node")) await new Promise((r) => setTimeout(r, 10));
    assert(log.has("dialling node", `endpoint=http://127.0.0.1:${port}`), log.lines.join("\n"));
    assertEquals(node.clients[0].endpoint, `http://127.0.0.1:${port}`);
  } finally {
    await node.stop();
  }
  for (const line of log.lines) noSecret(line);
});

Deno.test("credentials - configuration errors quote endpoints without them", () => {
  for (
    const endpoint of [
      `user:${SECRET}@127.0.0.1:1`,
      `http://user:${SECRET}@127.0.0.1:99999`,
      `gopher://user:${SECRET}@host:1`,
    ]
  ) {
    try {
      parseClientConfig({ endpoint }, "--slim");
      throw new Error("accepted");
    } catch (e) {
      assert((e as Error).message.includes("invalid endpoint"), (e as Error).message);
      noSecret((e as Error).message);
    }
  }
  try {
    parseConfig(`
services:
  slim/0:
    dataplane:
      clients:
        - endpoint: "http://127.0.0.1:1"
          proxy: {url: "socks5://user:${SECRET}@proxy:1080"}
`);
    throw new Error("accepted");
  } catch (e) {
    assert((e as Error).message.includes("proxy URL"), (e as Error).message);
    noSecret((e as Error).message);
  }
});

Deno.test("credentials - an app logs its endpoint without them", async () => {
  const port = freePort();
  const node = await SlimNode.start({
    servers: [{ endpoint: `127.0.0.1:${port}` }],
    logger: createLogger("node", { level: "off" }),
    drainTimeoutMs: 200,
  });
  const log = logCapture();
  const app = await App.connect({
    name: "org/ns/creds",
    endpoint: `http://user:${SECRET}@127.0.0.1:${port}`,
    identity: { sharedSecret: "credentials-test-shared-secret-0123456789abcdef" },
    logger: createLogger("app", { level: "debug", sink: log.sink }),
  });
  try {
    assert(log.has("app connected", `endpoint=http://127.0.0.1:${port}`), log.lines.join("\n"));
    for (const line of log.lines) noSecret(line);
  } finally {
    await app.close();
    await node.stop();
  }
  for (const line of log.lines) noSecret(line);
});

/**
 * An app survives its node restarting: it redials with the same link id, replays its
 * subscriptions, and sessions can be opened again. What it sends meanwhile is held, bounded in
 * messages and in bytes.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App, type AppEvent } from "../../lib/app/app.ts";
import { ClientLink, type LinkEvent } from "../../lib/app/client_link.ts";
import { FakeClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { encodeMessage } from "../../lib/wire/codec.ts";
import { logCapture, publishMessage, RawClient } from "../helpers/raw_client.ts";
import { freePort } from "../peer/real_peer.ts";

const SECRET = "reconnect-test-shared-secret-0123456789-abcdef";
const quiet = createLogger("test", { level: "error" });

function startNode(port: number) {
  return SlimNode.start({
    servers: [{ endpoint: `127.0.0.1:${port}` }],
    logger: quiet,
    drainTimeoutMs: 500,
  });
}

async function nextEvent(app: App, type: AppEvent["type"], timeoutMs = 10_000): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for await (const e of app.events({ signal: ac.signal })) if (e.type === type) return;
    throw new Error(`no ${type} event within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("app - reconnects after the node restarts, same link id, subscriptions replayed", async () => {
  const port = freePort();
  let node = await startNode(port);
  const url = `http://127.0.0.1:${port}`;
  const mk = (name: string) =>
    App.connect({
      name,
      endpoint: url,
      identity: { sharedSecret: SECRET },
      logger: quiet,
      backoff: { type: "fixed_interval", intervalMs: 100 },
    });
  const alice = await mk("org/ns/alice");
  const bob = await mk("org/ns/bob");
  try {
    const linksBefore = routerOf(node).links().map((l) => l.linkId).sort();
    const aliceDown = nextEvent(alice, "disconnected");
    const bobDown = nextEvent(bob, "disconnected");
    await node.stop();
    await Promise.all([aliceDown, bobDown]);
    const aliceUp = nextEvent(alice, "reconnected");
    const bobUp = nextEvent(bob, "reconnected");
    node = await startNode(port);
    await Promise.all([aliceUp, bobUp]);
    assertEquals(routerOf(node).links().map((l) => l.linkId).sort(), linksBefore);
    // Both names are replayed (with subscription id 0, so without acks: poll the table).
    const names = () => routerOf(node).table.list().map((r) => r.name).sort().join(",");
    for (let i = 0; i < 100 && names() !== "org/ns/alice,org/ns/bob"; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(names(), "org/ns/alice,org/ns/bob");
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: { maxRetries: 5, intervalMs: 200 },
    });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await s.publish("after the restart");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "after the restart");
    assert(inc.id === s.id);
  } finally {
    await Promise.allSettled([alice.close(), bob.close()]);
    await node.stop();
  }
});

Deno.test("app link - sends held while reconnecting are bounded in bytes and in messages, oldest dropped", async () => {
  const port = freePort();
  let node = await startNode(port);
  const url = `http://127.0.0.1:${port}`;
  const clock = new FakeClock();
  const log = logCapture();
  const events: LinkEvent["type"][] = [];
  const link = await ClientLink.connect({
    endpoint: url,
    logger: createLogger("app", { level: "info", sink: log.sink }),
    backoff: { type: "fixed_interval", intervalMs: 100 },
    reconnectQueueBytes: 10_000,
    reconnectQueueMessages: 100,
    clock,
  }, () => {});
  link.onEvent = (e) => events.push(e.type);
  const me = Name.parse("org/ns/sender").withId(1n);
  const dest = Name.parse("org/ns/receiver").withId(1n);
  const message = (i: number) =>
    encodeMessage(publishMessage(me, dest, `m${String(i).padStart(2, "0")} ${"x".repeat(1000)}`));
  let receiver: RawClient | undefined;
  try {
    await node.stop();
    while (!events.includes("disconnected")) await new Promise((r) => setTimeout(r, 10));
    const size = message(0).length;
    for (let i = 0; i < 30; i++) link.sendBytes(message(i));
    const fit = Math.floor(10_000 / size);
    assertEquals(link.queued, { messages: fit, bytes: fit * size }, "bounded in bytes");
    assert(log.has("reconnect queue full", "max_bytes=10000"));
    // A message larger than the whole bound is dropped itself, the queue kept.
    link.sendBytes(encodeMessage(publishMessage(me, dest, "y".repeat(20_000))));
    assertEquals(link.queued.messages, fit);

    node = await startNode(port);
    receiver = await RawClient.connect(url);
    await receiver.subscribe(dest, 5n);
    await clock.advance(100);
    while (!events.includes("reconnected")) await new Promise((r) => setTimeout(r, 10));
    await receiver.waitFor(() => receiver!.texts().length === fit);
    assertEquals(
      receiver.texts().map((t) => t.split(" ")[0]),
      Array.from({ length: fit }, (_, i) => `m${String(30 - fit + i).padStart(2, "0")}`),
      "the newest were kept, in order",
    );
    assert(log.has("re-established", `sent_queued=${fit}`, `dropped_queued=${31 - fit}`));
    assertEquals(link.queued, { messages: 0, bytes: 0 });
  } finally {
    await receiver?.close();
    await link.close();
    await node.stop();
  }
});

Deno.test("app link - the message bound of the reconnect queue still holds", async () => {
  const port = freePort();
  const node = await startNode(port);
  const clock = new FakeClock();
  const link = await ClientLink.connect({
    endpoint: `http://127.0.0.1:${port}`,
    logger: quiet,
    reconnectQueueMessages: 5,
    clock,
  }, () => {});
  let down = false;
  link.onEvent = (e) => down ||= e.type === "disconnected";
  try {
    await node.stop();
    while (!down) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 20; i++) link.sendBytes(new Uint8Array(10));
    assertEquals(link.queued, { messages: 5, bytes: 50 });
  } finally {
    await link.close();
  }
});

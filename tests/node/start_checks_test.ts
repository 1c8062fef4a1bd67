/**
 * A node refuses to start with settings that would make it refuse every client or fail every TLS
 * handshake: unparsable or mismatched TLS material, a zero negotiation timeout, no streams, a
 * header list too small for any request. Through SLIM YAML (errors name the YAML key and the
 * file) and through `SlimNode.start` options (errors name the option).
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { ClientLink } from "../../lib/app/client_link.ts";
import { parseConfig } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import { nodeOptionsFromService } from "../../lib/node/from_config.ts";
import { SlimNode } from "../../lib/node/node.ts";
import { freePort } from "../peer/real_peer.ts";

const FIXTURES = new URL("../transport/fixtures/", import.meta.url);
const SERVER_CRT = Deno.readTextFileSync(new URL("server.crt", FIXTURES));
const SERVER_KEY = Deno.readTextFileSync(new URL("server.key", FIXTURES));
const CLIENT_KEY = Deno.readTextFileSync(new URL("client.key", FIXTURES));
const quiet = createLogger("test", { level: "off" });

/** Node options from a one-server YAML configuration; `server` is indented under the server. */
async function fromYaml(server: string, extra = ""): Promise<unknown> {
  const yaml = `
services:
  slim/0:
    dataplane:
      servers:
        - endpoint: "127.0.0.1:0"
${server.replace(/^/gm, "          ")}
${extra}`;
  const { config } = parseConfig(yaml, { file: "node.yaml" });
  return await nodeOptionsFromService(config.services[0], config, quiet);
}

async function rejectsConfig(fn: () => Promise<unknown>, path: string, ...parts: string[]) {
  const e = await assertRejects(fn, ConfigError) as ConfigError;
  assertEquals(e.path, path, e.message);
  for (const p of parts) assert(e.message.includes(p), `${JSON.stringify(p)} in: ${e.message}`);
  return e;
}

const SERVER_TLS = "services.slim/0.dataplane.servers[0].tls";

Deno.test("start checks - unparsable TLS material in YAML is a ConfigError naming the key and the file", async () => {
  await rejectsConfig(
    () => fromYaml(`tls: {source: {type: pem, cert: "not a cert", key: "not a key"}}`),
    `${SERVER_TLS}.source.cert`,
    "not a PEM certificate",
  );
  const garbage = await Deno.makeTempFile({ suffix: ".pem" });
  const keyFile = new URL("server.key", FIXTURES).pathname;
  try {
    await Deno.writeTextFile(
      garbage,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    await rejectsConfig(
      () => fromYaml(`tls: {source: {type: file, cert: "${garbage}", key: "${keyFile}"}}`),
      `${SERVER_TLS}.source.cert`,
      JSON.stringify(garbage),
      "invalid certificate",
    );
    const crtFile = new URL("server.crt", FIXTURES).pathname;
    await rejectsConfig(
      () => fromYaml(`tls: {source: {type: file, cert: "${crtFile}", key: "${garbage}"}}`),
      `${SERVER_TLS}.source.key`,
      JSON.stringify(garbage),
      "not a PEM private key",
    );
    const clientKey = new URL("client.key", FIXTURES).pathname;
    await rejectsConfig(
      () => fromYaml(`tls: {source: {type: file, cert: "${crtFile}", key: "${clientKey}"}}`),
      `${SERVER_TLS}.source.key`,
      "does not belong to the certificate",
      JSON.stringify(crtFile),
    );
    await rejectsConfig(
      () =>
        fromYaml(
          `tls: {source: {type: file, cert: "${crtFile}", key: "${keyFile}"}, ` +
            `client_ca: {type: file, path: "${garbage}"}}`,
        ),
      `${SERVER_TLS}.client_ca.path`,
      JSON.stringify(garbage),
    );
    // A node's outgoing connection: its CA bundle.
    await rejectsConfig(
      () =>
        fromYaml(
          `tls: {insecure: true}`,
          `      clients:
        - endpoint: "https://127.0.0.1:1"
          tls: {ca_source: {type: file, path: "${garbage}"}}`,
        ),
      "services.slim/0.dataplane.clients[0].tls.ca_source.path",
      JSON.stringify(garbage),
    );
    // Good material still loads.
    const ok = await fromYaml(`tls: {source: {type: file, cert: "${crtFile}", key: "${keyFile}"}}`);
    assert(ok);
  } finally {
    await Deno.remove(garbage);
  }
});

Deno.test("start checks - a secret key is never quoted in the error", async () => {
  const e = await rejectsConfig(
    () =>
      fromYaml(`tls: {source: {type: pem, cert: ${JSON.stringify(SERVER_CRT)}, key: "hunter2"}}`),
    `${SERVER_TLS}.source.key`,
  );
  assert(!e.message.includes("hunter2"));
});

Deno.test("start checks - SlimNode.start refuses bad TLS material before listening", async () => {
  const port = freePort();
  const start = (tls: { cert: string; key: string; clientCa?: string }) =>
    SlimNode.start({ servers: [{ endpoint: `127.0.0.1:${port}`, tls }], logger: quiet });
  await rejectsConfig(
    () => start({ cert: "not a cert", key: SERVER_KEY }),
    "servers[0].tls.cert",
  );
  await rejectsConfig(
    () => start({ cert: SERVER_CRT, key: CLIENT_KEY }),
    "servers[0].tls.key",
    "does not belong",
  );
  await rejectsConfig(
    () => start({ cert: SERVER_CRT, key: SERVER_KEY, clientCa: "nope" }),
    "servers[0].tls.clientCa",
  );
  await rejectsConfig(
    () =>
      SlimNode.start({
        servers: [{ endpoint: `127.0.0.1:${port}` }],
        clients: [{ endpoint: "https://127.0.0.1:1", tls: { ca: "nope" } }],
        logger: quiet,
      }),
    "clients[0].tls.ca",
  );
  // Nothing was left listening; good material starts.
  const node = await start({ cert: SERVER_CRT, key: SERVER_KEY });
  assertEquals(node.addresses[0].tls, true);
  await node.stop();
});

Deno.test("start checks - an app link refuses bad TLS material before dialling", async () => {
  const connect = (tls: { ca?: string; cert?: string; key?: string }) =>
    ClientLink.connect({ endpoint: "https://127.0.0.1:1", tls }, () => {});
  await rejectsConfig(() => connect({ ca: "nope" }), "tls.ca");
  await rejectsConfig(
    () => connect({ ca: SERVER_CRT, cert: SERVER_CRT, key: CLIENT_KEY }),
    "tls.key",
  );
  await rejectsConfig(() => connect({ ca: SERVER_CRT, cert: SERVER_CRT }), "tls.cert", "without");
});

Deno.test("start checks - settings that would refuse every client are ConfigErrors naming the key", async () => {
  const at = "services.slim/0.dataplane.servers[0]";
  await rejectsConfig(
    () => fromYaml(`tls: {insecure: true}\nnegotiation_timeout_secs: 0`),
    `${at}.negotiation_timeout_secs`,
    "at least 1",
  );
  await rejectsConfig(
    () => fromYaml(`tls: {insecure: true}\nlink_hmac_timeout_secs: 0`),
    `${at}.link_hmac_timeout_secs`,
  );
  await rejectsConfig(
    () => fromYaml(`tls: {insecure: true}\nmax_concurrent_streams: 0`),
    `${at}.max_concurrent_streams`,
    "at least 1",
  );
  await rejectsConfig(
    () => fromYaml(`tls: {insecure: true}\nmax_header_list_size: 1`),
    `${at}.max_header_list_size`,
    "at least 4096",
    "HTTP 431",
  );
  assert(await fromYaml(`tls: {insecure: true}\nmax_header_list_size: 4096`));

  const start = (o: Record<string, number>) =>
    SlimNode.start({ servers: [{ endpoint: "127.0.0.1:0", ...o }], logger: quiet });
  await rejectsConfig(() => start({ negotiationTimeoutMs: 0 }), "servers[0].negotiationTimeoutMs");
  await rejectsConfig(() => start({ maxConcurrentStreams: 0 }), "servers[0].maxConcurrentStreams");
  await rejectsConfig(() => start({ maxHeaderListSize: 1 }), "servers[0].maxHeaderListSize");
  await rejectsConfig(
    () =>
      SlimNode.start({
        servers: [{ endpoint: "127.0.0.1:0" }],
        congestionWaitMs: -1,
        logger: quiet,
      }),
    "congestionWaitMs",
  );
});

/**
 * Real SLIM apps (npm bindings, core 2.0.0-alpha.10) through the slim-ts node.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { createLogger } from "../../lib/log.ts";
import { logCapture } from "../helpers/raw_client.ts";
import { realMlsGroup, realP2pRoundTrip } from "../peer/scenarios.ts";
import { ensurePeerInstalled } from "../peer/real_peer.ts";
import * as http2 from "node:http2";
import * as net from "node:net";

async function ourNode() {
  ensurePeerInstalled();
  const log = logCapture();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: createLogger("slim", { level: "info", sink: log.sink }),
    drainTimeoutMs: 2000,
  });
  return { node, log, url: `http://127.0.0.1:${node.addresses[0].port}` };
}

Deno.test("interop node - two real apps complete a p2p session through our node (alice to bob)", async () => {
  const { node, url, log } = await ourNode();
  try {
    await realP2pRoundTrip(url, { alice: "org/ns/alice", bob: "org/ns/bob" });
    assert(log.has("connection established", "header_mac=true"));
  } finally {
    await node.stop();
  }
});

Deno.test("interop node - two real apps complete a p2p session through our node (bob to alice)", async () => {
  const { node, url } = await ourNode();
  try {
    await realP2pRoundTrip(url, { alice: "org/ns/bob", bob: "org/ns/alice" });
  } finally {
    await node.stop();
  }
});

Deno.test("interop node - a real MLS group (moderator + two participants) through our node", async () => {
  const { node, url } = await ourNode();
  try {
    await realMlsGroup(url);
  } finally {
    await node.stop();
  }
});

Deno.test("interop node - bad input during a real session costs only the offending connections", async () => {
  const { node, url, log } = await ourNode();
  const port = node.addresses[0].port;
  let attacking = true;
  // Keep throwing garbage at the node while the real apps run their session.
  const attacker = (async () => {
    let rounds = 0;
    while (attacking) {
      rounds++;
      const sock = net.connect({ host: "127.0.0.1", port });
      sock.on("error", () => {});
      sock.resume();
      sock.write(crypto.getRandomValues(new Uint8Array(64)));
      const session = http2.connect(url);
      session.on("error", () => {});
      const stream = session.request({
        ":method": "POST",
        ":path": "/dataplane.proto.v1.DataPlaneService/OpenChannel",
      });
      stream.on("error", () => {});
      stream.resume();
      stream.write(new Uint8Array([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]));
      await new Promise((r) => setTimeout(r, 50));
      sock.destroy();
      session.destroy();
    }
    return rounds;
  })();
  try {
    await realMlsGroup(url);
    attacking = false;
    const rounds = await attacker;
    assert(rounds > 3, `attacker ran ${rounds} rounds`);
    assert(log.has("link negotiation failed", "peer=127.0.0.1:"), "bad links are logged");
    assertEquals(routerOf(node).links().length, 0, "every connection cleaned up after the session");
  } finally {
    attacking = false;
    await attacker;
    await node.stop();
  }
});

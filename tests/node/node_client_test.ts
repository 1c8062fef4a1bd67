/**
 * A node's outgoing connections (`dataplane.clients`): redial timing on a fake clock, what makes
 * them stop for good, and bad input — an unreachable endpoint, a self-connection, a peer of
 * another deployment. Real sockets on 127.0.0.1.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import type { NodeClientOptions } from "../../lib/node/node_client.ts";
import { makeMessage, nameToProto } from "../../lib/wire/codec.ts";
import { logCapture, RawClient } from "../helpers/raw_client.ts";
import { freePort } from "../peer/real_peer.ts";
import { established, nextClientEvent, routes, waitUntil } from "./_multinode.ts";
import { RawPeer } from "./_raw_peer.ts";

interface Started {
  node: SlimNode;
  url: string;
  log: ReturnType<typeof logCapture>;
}

async function start(
  options: {
    nodeId?: string;
    port?: number;
    clients?: NodeClientOptions[];
    deploymentName?: string;
    mesh?: boolean;
    clock?: FakeClock;
  } = {},
): Promise<Started> {
  const log = logCapture();
  const node = await SlimNode.start({
    nodeId: options.nodeId,
    servers: [{ endpoint: `127.0.0.1:${options.port ?? 0}` }],
    clients: options.clients,
    deploymentName: options.deploymentName,
    peers: options.mesh ? [] : undefined,
    logger: createLogger("slim", { level: "debug", sink: log.sink }),
    drainTimeoutMs: 1000,
    clock: options.clock,
  });
  return { node, url: `http://127.0.0.1:${node.addresses[0].port}`, log };
}

const FIXED_1S = { type: "fixed_interval" as const, intervalMs: 1000 };

Deno.test("node client - an unreachable endpoint is logged by name and retried on the backoff; the node keeps serving", async () => {
  const clock = new FakeClock();
  const port = freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const w = await start({ clients: [{ endpoint, backoff: FIXED_1S }], clock });
  let e: Started | undefined;
  try {
    const failed = (n: number) =>
      w.log.has("cannot connect to node", `endpoint=${endpoint}`, `attempt=${n}`);
    await waitUntil(() => failed(1), 5000, "first failure logged");
    assert(w.log.lines.some((l) => l.includes("WARN") && l.includes("cannot connect to node")));
    // Still serving apps meanwhile.
    const app = await RawClient.connect(w.url);
    assertEquals((await app.subscribe(Name.parse("org/ns/alice").withId(1n), 1n)).success, true);
    await app.close();

    assertEquals(clock.pending, 1, "one redial scheduled");
    await clock.advance(999);
    assert(!failed(2), "no redial before the interval");
    await clock.advance(1);
    await waitUntil(() => failed(2), 5000, "second attempt");
    assertEquals(w.node.clients[0].state, "connecting");

    // The endpoint comes up: the next attempt connects.
    e = await start({ port });
    await waitUntil(() => clock.pending === 1);
    const up = nextClientEvent(w.node.clients[0], "established");
    await clock.advance(1000);
    await up;
    assert(w.log.has("connected to node", `endpoint=${endpoint}`, "attempts=3"));
    assertEquals(routerOf(e.node).links()[0].category, "edge", "the default connection type");
  } finally {
    await w.node.stop();
    await e?.node.stop();
  }
});

Deno.test("node client - gives up after backoff.max_attempts and says so", async () => {
  const clock = new FakeClock();
  const endpoint = `http://127.0.0.1:${freePort()}`;
  const w = await start({
    clients: [{ endpoint, backoff: { ...FIXED_1S, maxAttempts: 2 } }],
    clock,
  });
  try {
    const client = w.node.clients[0];
    const closed = nextClientEvent(client, "closed");
    for (let n = 1; n <= 2; n++) {
      await waitUntil(() => w.log.has("cannot connect to node", `attempt=${n}`));
      await clock.advance(1000);
    }
    await waitUntil(() => w.log.has("cannot connect to node", "attempt=3"));
    await closed;
    assertEquals(client.state, "closed");
    assertEquals(clock.pending, 0);
    assert(w.log.has("node client stopped", endpoint, "reconnection attempts exhausted"));
  } finally {
    await w.node.stop();
  }
});

Deno.test("node client - a peer client pointing at its own node: rejected on both ends, never redialled", async () => {
  const clock = new FakeClock();
  const port = freePort();
  const w = await start({
    nodeId: "slim-self",
    port,
    clients: [{ endpoint: `http://127.0.0.1:${port}`, connectionType: "peer", backoff: FIXED_1S }],
    clock,
  });
  try {
    const client = w.node.clients[0];
    if (client.state !== "closed") await nextClientEvent(client, "closed");
    assert(w.log.has("node client stopped", "self-connection rejected"));
    await waitUntil(() =>
      w.log.has("peer link rejected", "self-connection rejected: same node_id")
    );
    assertEquals(clock.pending, 0, "no redial");
    await waitUntil(() => routerOf(w.node).links().length === 0);
  } finally {
    await w.node.stop();
  }
});

Deno.test("node client - deployment_name mismatch: the acceptor ends the link with PERMISSION_DENIED, the dialler stops", async () => {
  const clock = new FakeClock();
  const a = await start({ nodeId: "slim-a", deploymentName: "thegroup", mesh: true });
  // A standalone dialler announces no deployment: the replica refuses it.
  const b = await start({
    nodeId: "slim-b",
    clients: [{ endpoint: a.url, connectionType: "peer", backoff: FIXED_1S }],
    clock,
  });
  // A dialler of another deployment refuses the replica itself, from its reply.
  const c = await start({
    nodeId: "slim-c",
    deploymentName: "other",
    mesh: true,
    clients: [{ endpoint: a.url, connectionType: "peer", backoff: FIXED_1S }],
    clock,
  });
  let raw: RawPeer | undefined;
  try {
    for (const d of [b, c]) {
      const client = d.node.clients[0];
      if (client.state !== "closed") await nextClientEvent(client, "closed");
    }
    assert(b.log.has("node client stopped", "rejected the link: deployment_name mismatch"));
    assert(c.log.has("node client stopped", "deployment_name mismatch", '\\"thegroup\\"'));
    assert(a.log.has("peer link rejected", "remote_node=slim-b", "deployment_name mismatch"));
    assertEquals(clock.pending, 0, "neither redials");
    assertEquals(routes(a.node), []);

    raw = await RawPeer.connect(a.url, { deploymentName: "wrong" });
    await raw.done;
    assertEquals(raw.channel.transport.remoteStatus, {
      code: 7,
      message: "deployment_name mismatch",
    });
    // The same deployment is welcome.
    const ok = await RawPeer.connect(a.url, { nodeId: "slim-d", deploymentName: "thegroup" });
    await waitUntil(() => routerOf(a.node).links().some((l) => l.remoteNodeId === "slim-d"));
    await ok.close();
  } finally {
    await raw?.close();
    await Promise.all([b.node.stop(), c.node.stop()]);
    await a.node.stop();
  }
});

Deno.test("node client - a remote link is not redialled once it drops", async () => {
  const clock = new FakeClock();
  const port = freePort();
  let e = await start({ port });
  const w = await start({
    clients: [{ endpoint: e.url, connectionType: "remote", backoff: FIXED_1S }],
    clock,
  });
  try {
    const client = w.node.clients[0];
    await established(client);
    assertEquals(routerOf(e.node).links()[0].category, "remote");
    const closed = nextClientEvent(client, "closed");
    await e.node.stop();
    await closed;
    assert(w.log.has("node client stopped", "remote links are not redialled"));
    assertEquals(clock.pending, 0);
    assertEquals(routerOf(w.node).links(), []);
    e = await start({ port });
    await clock.advance(5000);
    assertEquals(routerOf(e.node).links(), [], "nobody came back");
  } finally {
    await w.node.stop();
    await e.node.stop();
  }
});

Deno.test("node client - an edge link is redialled with its link id; what was sent through forward_to is replayed with id 0", async () => {
  const clock = new FakeClock();
  const port = freePort();
  let e = await start({ port });
  const w = await start({
    clients: [{ endpoint: e.url, linkId: "w-edge", backoff: FIXED_1S }],
    clock,
  });
  const app = await RawClient.connect(w.url);
  const carol = Name.parse("org/ns/carol").withId(3n);
  try {
    const client = w.node.clients[0];
    await established(client);
    // The app asks its node to propagate its subscription to the edge link (`forward_to`), as
    // SDK apps do on their embedded node.
    app.sendVerbatim(makeMessage({
      messageType: {
        case: "subscribe",
        value: {
          header: {
            source: nameToProto(carol),
            destination: nameToProto(carol),
            identity: "carol-token",
            fanout: 1,
            ttl: 8,
            forwardTo: BigInt(client.connection!),
          },
          subscriptionId: 77n,
        },
      },
    }));
    await app.waitFor((ms) => ms.some((m) => m.messageType.case === "subscriptionAck"));
    assertEquals(routes(e.node), ["org/ns/carol edge"]);
    assert(e.log.has("subscribe", "org/ns/carol", "sub_id=77"));

    const down = nextClientEvent(client, "disconnected");
    await e.node.stop();
    await down;
    e = await start({ port });
    const up = nextClientEvent(client, "established");
    await clock.advance(1000);
    await up;
    await waitUntil(() => routes(e.node).join() === "org/ns/carol edge");
    assert(e.log.has("subscribe", "org/ns/carol", "sub_id=0"), "replayed with id 0");
    assertEquals(routerOf(e.node).links()[0].linkId, "w-edge");
  } finally {
    await app.close();
    await w.node.stop();
    await e.node.stop();
  }
});

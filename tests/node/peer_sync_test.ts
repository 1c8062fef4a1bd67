/**
 * Peer sync on the wire: what our node sends to, and accepts from, a PEER link (SLIM's
 * standalone and full-mesh rules), checked with hand-driven raw peers and raw apps over real
 * sockets. Acknowledgement waits run on a fake clock.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { makeMessage, nameToProto } from "../../lib/wire/codec.ts";
import { ackOf, logCapture, RawClient } from "../helpers/raw_client.ts";
import { RawPeer, type SeenSubscription } from "./_raw_peer.ts";
import { routes } from "./_multinode.ts";

async function startNode(options: { mesh?: boolean; clock?: FakeClock } = {}) {
  const log = logCapture();
  const node = await SlimNode.start({
    nodeId: "node-under-test",
    servers: [{ endpoint: "127.0.0.1:0" }],
    peers: options.mesh ? [] : undefined,
    deploymentName: options.mesh ? "thegroup" : undefined,
    logger: createLogger("slim", { level: "debug", sink: log.sink }),
    drainTimeoutMs: 1000,
    clock: options.clock,
  });
  return { node, url: `http://127.0.0.1:${node.addresses[0].port}`, log };
}

const alice = Name.parse("org/ns/alice").withId(0xa11cen);
const bob = Name.parse("org/ns/bob").withId(0xb0bn);
const chat = Name.parse("org/ns/chat").withId(7n);
const zed = Name.parse("org/ns/zed").withId(0x2edn);
const yak = Name.parse("org/ns/yak").withId(0x9a4n);

/** Sends a subscription from a raw app without waiting for its ack. */
function sendSubscribe(c: RawClient, name: Name, id: bigint, kind: "subscribe" | "unsubscribe") {
  const header = {
    source: nameToProto(name),
    destination: nameToProto(name),
    identity: "token",
    fanout: 1,
    ttl: 8,
  };
  c.send(makeMessage({
    messageType: kind === "subscribe"
      ? { case: "subscribe", value: { header, subscriptionId: id } }
      : { case: "unsubscribe", value: { header, subscriptionId: id } },
  }));
}

function acked(c: RawClient, id: bigint): boolean {
  return c.received.some((m) => ackOf(m)?.subscriptionId === id);
}

/**
 * Proves that everything the node sent `c` before now has arrived: the node answers an
 * unsubscribe of an unknown id at once, in order with everything else it sends on that link.
 */
async function barrier(c: RawClient, id: bigint): Promise<void> {
  sendSubscribe(c, Name.parse("org/ns/barrier"), id, "unsubscribe");
  await c.waitFor(() => acked(c, id));
}

const sub = (
  kind: SeenSubscription["kind"],
  name: string,
  subscriptionId: bigint,
  ttl = 8,
): SeenSubscription => ({
  kind,
  name,
  subscriptionId,
  ttl,
  identity: "",
  hasMac: false,
  hasStrName: true,
});

Deno.test("peer sync - a new peer gets one Subscribe per known name: original id, ttl 8, no identity, no MAC", async () => {
  const { node, url } = await startNode();
  const a = await RawClient.connect(url);
  const b = await RawClient.connect(url);
  let p: RawPeer | undefined;
  try {
    await a.subscribe(alice, 101n);
    await b.subscribe(bob, 102n);
    await b.subscribe(bob, 103n); // a second subscription of the same name: still one Subscribe
    p = await RawPeer.connect(url);
    await p.waitFor((x) => x.subscriptions().length >= 2);
    const got = p.subscriptions().sort((x, y) => x.name.localeCompare(y.name));
    assertEquals(got, [
      sub("subscribe", "org/ns/alice", 101n),
      sub("subscribe", "org/ns/bob", 102n),
    ]);
    const m = p.received.find((x) => x.messageType.case === "subscribe")!;
    const h = m.messageType.case === "subscribe" ? m.messageType.value.header! : undefined;
    assertEquals(h?.source, h?.destination, "source = destination = the name");
    assertEquals(h?.fanout, 1);
    const [link] = routerOf(node).links().filter((l) => l.category === "peer");
    assertEquals([link.role, link.remoteNodeId, link.mac], ["acceptor", "raw-peer", undefined]);
  } finally {
    await Promise.all([a.close(), b.close(), p?.close()]);
    await node.stop();
  }
});

Deno.test("peer sync - only 0→1 and 1→0 of a name are announced, the withdrawal with the announced id", async () => {
  const { node, url } = await startNode();
  const p = await RawPeer.connect(url);
  const c1 = await RawClient.connect(url);
  const c2 = await RawClient.connect(url);
  try {
    await c1.subscribe(chat, 201n);
    await c2.subscribe(chat, 202n);
    await c1.unsubscribe(chat, 201n);
    await c2.unsubscribe(chat, 202n);
    await p.waitFor((x) => x.subscriptions().length >= 2);
    // 202 was never announced: the real node would withdraw with 202 and leave a stale route.
    assertEquals(p.subscriptions(), [
      sub("subscribe", "org/ns/chat", 201n),
      sub("unsubscribe", "org/ns/chat", 201n),
    ]);
  } finally {
    await Promise.all([c1.close(), c2.close(), p.close()]);
    await node.stop();
  }
});

Deno.test("peer sync - an app's subscription is acknowledged once the peer acknowledged, or after 5 s", async () => {
  const clock = new FakeClock();
  const { node, url, log } = await startNode({ clock });
  const p = await RawPeer.connect(url);
  const a = await RawClient.connect(url);
  try {
    p.autoAck = false;
    sendSubscribe(a, alice, 301n, "subscribe");
    await p.waitFor((x) => x.subscriptions().length === 1);
    await clock.advance(4999);
    await barrier(a, 9001n);
    assert(!acked(a, 301n), "not acknowledged while the peer has not");
    p.ack(301n, true);
    await a.waitFor(() => acked(a, 301n));
    assertEquals(a.received.map(ackOf).find((x) => x?.subscriptionId === 301n)?.success, true);

    sendSubscribe(a, bob, 302n, "subscribe");
    await p.waitFor((x) => x.subscriptions().length === 2);
    await clock.advance(4999);
    await barrier(a, 9002n);
    assert(!acked(a, 302n));
    await clock.advance(1);
    await a.waitFor(() => acked(a, 302n));
    assertEquals(a.received.map(ackOf).find((x) => x?.subscriptionId === 302n)?.success, true);
    assert(log.has("peer did not acknowledge in time", "sub_id=302"));
  } finally {
    await Promise.all([a.close(), p.close()]);
    await node.stop();
  }
});

Deno.test("peer sync - a peer's names are relayed to the other peers while ttl ≥ 2; loops are dropped", async () => {
  const { node, url } = await startNode();
  const p1 = await RawPeer.connect(url, { nodeId: "p1" });
  const p2 = await RawPeer.connect(url, { nodeId: "p2" });
  try {
    p1.subscription("subscribe", zed, 401n, 8);
    p1.subscription("subscribe", yak, 402n, 2);
    await p1.waitFor((x) => x.acks(401n).length === 1 && x.acks(402n).length === 1);
    await p2.waitFor((x) => x.subscriptions().length >= 1);
    // zed arrived with 8, left with the remaining 7; yak arrived with 2, had 1 left: kept here.
    assertEquals(p2.subscriptions(), [sub("subscribe", "org/ns/zed", 401n, 7)]);
    assertEquals(routes(node), ["org/ns/yak peer", "org/ns/zed peer"]);

    // p2 sends zed back (a ring): acknowledged, ignored.
    p2.subscription("subscribe", zed, 401n, 7);
    await p2.waitFor((x) => x.acks(401n).length === 1);
    assertEquals(p2.acks(401n)[0].success, true);
    const conns = routerOf(node).table.list().find((r) => r.name === "org/ns/zed")!.connections;
    assertEquals(conns.length, 1, "only p1's route");
    assertEquals(p1.subscriptions(), [], "nothing went back to p1");

    // p1 goes away: p2 is told zed is gone, with the id it was announced with.
    await p1.close();
    await p2.waitFor((x) => x.subscriptions().length === 2);
    assertEquals(p2.subscriptions()[1], sub("unsubscribe", "org/ns/zed", 401n));
    assertEquals(routes(node), []);
  } finally {
    await Promise.all([p1.close(), p2.close()]);
    await node.stop();
  }
});

Deno.test("peer sync - publishes: peers relay in standalone mode, never in a full mesh; no MAC either way", async () => {
  for (const mesh of [false, true]) {
    const { node, url } = await startNode({ mesh });
    const p1 = await RawPeer.connect(url, { nodeId: "p1", deploymentName: "thegroup" });
    const p2 = await RawPeer.connect(url, { nodeId: "p2", deploymentName: "thegroup" });
    const app = await RawClient.connect(url);
    try {
      await app.subscribe(alice, 1n);
      p2.subscription("subscribe", zed, 501n);
      await p2.waitFor((x) => x.acks(501n).length === 1);
      p1.publish(bob, zed, "to zed");
      p1.publish(bob, alice, "to alice");
      await app.waitFor(() => app.texts().length === 1);
      assertEquals(app.texts(), ["to alice"]);
      assertEquals(app.rejected, [], "re-signed for the app's link");
      // A round trip through the node orders what it sent p2 before this ack.
      p2.subscription("unsubscribe", zed, 501n);
      await p2.waitFor((x) => x.acks(501n).length === 2);
      assertEquals(p2.texts(), mesh ? [] : ["to zed"], mesh ? "full mesh" : "standalone");
      const sent = p2.received.find((m) => m.messageType.case === "publish");
      if (sent?.messageType.case === "publish") {
        assertEquals(sent.messageType.value.header?.headerMac, undefined, "no MAC on peer links");
        assertEquals(sent.messageType.value.header?.ttl, 7);
      }
    } finally {
      await Promise.all([app.close(), p1.close(), p2.close()]);
      await node.stop();
    }
  }
});

Deno.test("peer sync - full mesh: ttl 2, never relayed, and a new peer is not sent what peers taught us", async () => {
  const { node, url } = await startNode({ mesh: true });
  const app = await RawClient.connect(url);
  const p1 = await RawPeer.connect(url, { nodeId: "p1", deploymentName: "thegroup" });
  let p2: RawPeer | undefined;
  try {
    await app.subscribe(alice, 601n);
    await p1.waitFor((x) => x.subscriptions().length === 1);
    assertEquals(p1.subscriptions(), [sub("subscribe", "org/ns/alice", 601n, 2)]);
    p1.subscription("subscribe", zed, 602n, 2);
    await p1.waitFor((x) => x.acks(602n).length === 1);
    p2 = await RawPeer.connect(url, { nodeId: "p2", deploymentName: "thegroup" });
    await p2.waitFor((x) => x.subscriptions().length >= 1);
    await barrier(app, 9003n);
    p1.subscription("unsubscribe", zed, 602n, 2);
    await p1.waitFor((x) => x.acks(602n).length === 2);
    assertEquals(p2.subscriptions(), [sub("subscribe", "org/ns/alice", 601n, 2)], "no zed");
  } finally {
    await Promise.all([app.close(), p1.close(), p2?.close()]);
    await node.stop();
  }
});

Deno.test("peer sync - a peer withdrawing a name with another id still loses the route (real-node quirk)", async () => {
  const { node, url } = await startNode();
  const p = await RawPeer.connect(url);
  try {
    p.subscription("subscribe", chat, 701n);
    await p.waitFor((x) => x.acks(701n).length === 1);
    assertEquals(routes(node), ["org/ns/chat peer"]);
    p.subscription("unsubscribe", chat, 799n);
    await p.waitFor((x) => x.acks(799n).length === 1);
    assertEquals(p.acks(799n)[0].success, true);
    assertEquals(routes(node), []);
  } finally {
    await p.close();
    await node.stop();
  }
});

Deno.test("peer sync - a draining node withdraws its names from its peers before closing", async () => {
  const { node, url } = await startNode();
  const p = await RawPeer.connect(url);
  const a = await RawClient.connect(url);
  try {
    await a.subscribe(alice, 801n);
    await node.stop();
    await p.done;
    assertEquals(p.subscriptions(), [
      sub("subscribe", "org/ns/alice", 801n),
      sub("unsubscribe", "org/ns/alice", 801n),
    ]);
    assertEquals(p.channel.transport.remoteStatus?.code, 0);
  } finally {
    await Promise.all([a.close(), p.close()]);
    await node.stop();
  }
});

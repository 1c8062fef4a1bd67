/**
 * Node integration tests over real sockets on 127.0.0.1, driven by the raw test client.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { logCapture, publishMessage, RawClient } from "../helpers/raw_client.ts";

async function startNode(options: { requireHeaderMac?: boolean; maxMessageSize?: number } = {}) {
  const log = logCapture();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0", ...options }],
    logger: createLogger("slim", { level: "debug", sink: log.sink }),
    drainTimeoutMs: 2000,
  });
  const endpoint = `http://127.0.0.1:${node.addresses[0].port}`;
  return { node, endpoint, log };
}

const alice = Name.parse("org/ns/alice").withId(1n);
const bob1 = Name.parse("org/ns/bob").withId(11n);
const bob2 = Name.parse("org/ns/bob").withId(12n);

Deno.test("node - negotiates a link and acknowledges a subscription", async () => {
  const { node, endpoint, log } = await startNode();
  const a = await RawClient.connect(endpoint);
  try {
    assert(a.link.mac !== undefined, "link key agreed");
    const ack = await a.subscribe(alice, 42n);
    assertEquals(ack.success, true);
    assertEquals(ack.error, "");
    assert(
      log.has("connection established", "link_id=" + a.link.linkId),
      "connection event logged",
    );
    assertEquals(routerOf(node).table.size, 1);
  } finally {
    await a.close();
    await node.stop();
  }
});

Deno.test("node - unicast reaches only the addressed instance, with ttl, incoming_conn and a valid MAC", async () => {
  const { node, endpoint } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b1 = await RawClient.connect(endpoint);
  const b2 = await RawClient.connect(endpoint);
  try {
    await b1.subscribe(bob1, 1n);
    await b2.subscribe(bob2, 2n);
    a.publish(alice, bob2, "for bob2");
    await b2.waitFor((ms) => ms.some((m) => m.messageType.case === "publish"));
    assertEquals(b2.texts(), ["for bob2"]);
    assertEquals(b2.rejected, [], "MAC of the output link verified by the receiver");
    const fwd = b2.received.find((m) => m.messageType.case === "publish")!;
    const header = fwd.messageType.case === "publish" ? fwd.messageType.value.header! : undefined;
    assertEquals(header?.ttl, 7);
    const aIndex = routerOf(node).links().find((l) => l.linkId === a.link.linkId)!.index;
    assertEquals(header?.incomingConn, BigInt(aIndex));
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(b1.texts(), []);
  } finally {
    await Promise.all([a.close(), b1.close(), b2.close()]);
    await node.stop();
  }
});

Deno.test("node - anycast to a name without id spreads round-robin over instances", async () => {
  const { node, endpoint } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b1 = await RawClient.connect(endpoint);
  const b2 = await RawClient.connect(endpoint);
  try {
    await b1.subscribe(bob1, 1n);
    await b2.subscribe(bob2, 2n);
    for (let i = 0; i < 10; i++) {
      a.publish(alice, bob1.withoutId(), `m${i}`, { fanout: 1, messageId: i + 1 });
    }
    await b1.waitFor(() => b1.texts().length + b2.texts().length === 10);
    await b2.waitFor(() => b1.texts().length + b2.texts().length === 10);
    assertEquals(b1.texts().length, 5);
    assertEquals(b2.texts().length, 5);
  } finally {
    await Promise.all([a.close(), b1.close(), b2.close()]);
    await node.stop();
  }
});

Deno.test("node - broadcast reaches every subscriber but never the sender", async () => {
  const { node, endpoint } = await startNode();
  const chat = Name.parse("org/ns/chat").withId(7n);
  const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(endpoint)));
  try {
    for (const [i, c] of clients.entries()) await c.subscribe(chat, BigInt(100 + i));
    clients[0].publish(alice, chat, "hello all", { fanout: 256 });
    await clients[1].waitFor(() => clients[1].texts().length === 1);
    await clients[2].waitFor(() => clients[2].texts().length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(clients[0].texts(), []);
    assertEquals(clients[1].texts(), ["hello all"]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await node.stop();
  }
});

Deno.test("node - unsubscribe stops delivery; unknown subscription id is refused", async () => {
  const { node, endpoint } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b = await RawClient.connect(endpoint);
  try {
    await b.subscribe(bob1, 5n);
    const bad = await b.unsubscribe(bob1, 6n);
    assertEquals(bad.success, false);
    assertEquals(bad.error, "subscription id not found: 6");
    const ok = await b.unsubscribe(bob1, 5n);
    assertEquals(ok.success, true);
    a.publish(alice, bob1, "after unsubscribe");
    await new Promise((r) => setTimeout(r, 150));
    assertEquals(b.texts(), []);
    assertEquals(routerOf(node).table.size, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await node.stop();
  }
});

Deno.test("node - a closed connection loses its routes and its index is reused", async () => {
  const { node, endpoint } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b = await RawClient.connect(endpoint);
  try {
    await b.subscribe(bob1, 1n);
    const index = routerOf(node).links().find((l) => l.linkId === b.link.linkId)!.index;
    await b.close();
    const deadline = Date.now() + 2000;
    while (routerOf(node).table.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(routerOf(node).table.size, 0);
    const c = await RawClient.connect(endpoint);
    await c.subscribe(bob1, 1n);
    assertEquals(routerOf(node).links().find((l) => l.linkId === c.link.linkId)!.index, index);
    await c.close();
  } finally {
    await a.close();
    await node.stop();
  }
});

Deno.test("node - ttl is decremented and a message at ttl 1 or 0 is dropped", async () => {
  const { node, endpoint, log } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b = await RawClient.connect(endpoint);
  try {
    await b.subscribe(bob1, 1n);
    a.publish(alice, bob1, "ttl0", { ttl: 0 });
    a.publish(alice, bob1, "ttl1", { ttl: 1 });
    a.publish(alice, bob1, "ttl2", { ttl: 2 });
    await b.waitFor(() => b.texts().length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(b.texts(), ["ttl2"]);
    const m = b.received.find((x) => x.messageType.case === "publish")!;
    assertEquals(m.messageType.case === "publish" && m.messageType.value.header?.ttl, 1);
    assert(log.has("dropped message", 'reason="ttl is 0"'), "ttl 0 logged");
    assert(log.has("dropped message", 'reason="ttl expired"'), "ttl 1 logged");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await node.stop();
  }
});

Deno.test("node - forward_to sends a publish straight to that connection", async () => {
  const { node, endpoint } = await startNode();
  const a = await RawClient.connect(endpoint);
  const b = await RawClient.connect(endpoint);
  try {
    await b.subscribe(bob1, 1n); // gives b a connection index; the publish goes elsewhere by name
    const bIndex = routerOf(node).links().find((l) => l.linkId === b.link.linkId)!.index;
    a.sendVerbatim(
      publishMessage(alice, Name.parse("org/ns/nobody").withId(3n), "direct", {
        forwardTo: BigInt(bIndex),
      }),
    );
    await b.waitFor(() => b.texts().length === 1);
    const m = b.received.find((x) => x.messageType.case === "publish")!;
    const h = m.messageType.case === "publish" ? m.messageType.value.header! : undefined;
    assertEquals(h?.forwardTo, undefined, "forward_to is cleared on the wire");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await node.stop();
  }
});

Deno.test("node - drain ends every stream with grpc-status 0", async () => {
  const { node, endpoint, log } = await startNode();
  const a = await RawClient.connect(endpoint);
  await a.subscribe(alice, 1n);
  const t0 = Date.now();
  await node.stop();
  await a.done;
  assertEquals(a.channel.transport.remoteStatus?.code, 0);
  assert(Date.now() - t0 < 1000, `drained promptly (${Date.now() - t0} ms)`);
  assert(log.has("node stopped"));
  await a.close();
});

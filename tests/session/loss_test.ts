/**
 * Reliable sessions over lossy links: a proxy between an app and its node drops 10% of the
 * publishes (data, acks, retransmission traffic and control alike) in both directions.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import type { App } from "../../lib/app/app.ts";
import type { Session } from "../../lib/session/session.ts";
import { SessionMessageType } from "../../lib/wire/codec.ts";
import { LossyProxy, type PublishInfo, seededRandom } from "../helpers/lossy_proxy.ts";
import { ensurePeerInstalled, startRealApp, startRealNode } from "../peer/real_peer.ts";
import { SECRET as REAL_SECRET } from "../peer/scenarios.ts";
import { Collector, connectApp, startNode, waitUntil } from "./_harness.ts";

const LOSS = 0.1;
const N = 1000;
// Generous retries: under a loaded CI machine a 10 x 100 ms budget can run out before recovery.
const RELIABLE = { maxRetries: 50, intervalMs: 200 };

/**
 * Everything but the very first data message of a stream may be dropped. A receiver takes the
 * first message it sees from a producer as the start of the stream (as SLIM does), so a lost
 * message 1 is a separate problem, pinned by its own test below.
 */
const notFirstMessage = (p: PublishInfo) =>
  !(p.sessionMessageType === SessionMessageType.MSG && p.messageId === 1);

/**
 * Runs `count` publishes with at most `window` in flight, as an application that waits for
 * completions does (all at once would exceed the 512-message retransmission buffer).
 */
async function publishWindowed(
  count: number,
  window: number,
  publish: (i: number) => Promise<unknown>,
): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    while (inflight.size >= window) await Promise.race(inflight);
    const p: Promise<unknown> = publish(i).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}

const WINDOW = 100;

/** Waits until every message arrived or was reported lost, then checks order and uniqueness. */
async function expectStream(c: Collector, texts: string[], timeoutMs = 60_000): Promise<void> {
  await waitComplete(c, texts.length, timeoutMs);
  assertEquals(c.texts(), texts);
}

/** Waits until `n` messages arrived or were reported lost; fails if any was lost. */
async function waitComplete(c: Collector, n: number, timeoutMs = 60_000): Promise<void> {
  const lost = () =>
    c.events.flatMap((e) => e.type === "message-lost" ? [`${e.source.base}#${e.messageId}`] : []);
  await waitUntil(
    () => c.messages.length + lost().length >= n,
    timeoutMs,
    `${n} messages (have ${c.messages.length}, lost ${JSON.stringify(lost())})`,
  );
  // Late retransmissions must not produce duplicates.
  await new Promise((r) => setTimeout(r, 300));
  assertEquals(lost(), [], "no message reported lost");
  assertEquals(c.messages.length, n, "exactly once");
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function expectInOrder(
  next: () => Promise<string>,
  prefix: string,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) assertEquals(await next(), `${prefix}${i}`);
}

Deno.test("loss - the proxy without loss is invisible: negotiation, MACs and subscriptions pass", async () => {
  const { node, url } = await startNode();
  const proxy = await LossyProxy.start({ target: url, lossRate: 0 });
  const apps: App[] = [];
  try {
    const alice = await connectApp("org/ns/alice", proxy.url);
    apps.push(alice);
    const bob = await connectApp("org/ns/bob", url);
    apps.push(bob);
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    });
    const inc = await bob.listen({ timeoutMs: 3000 });
    await s.publish("through the proxy");
    assertEquals((await inc.nextMessage({ timeoutMs: 2000 })).text(), "through the proxy");
    await inc.publish("and back");
    assertEquals((await s.nextMessage({ timeoutMs: 2000 })).text(), "and back");
    assertEquals(proxy.dropped, 0);
    // negotiation + subscribe + discovery, join, welcome, data, ack at least.
    assert(proxy.stats["to-node"].forwarded >= 7, JSON.stringify(proxy.stats));
    assert(proxy.stats["to-app"].forwarded >= 7, JSON.stringify(proxy.stats));
    const a = seededRandom(42), b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a());
    assertEquals(xs, Array.from({ length: 5 }, () => b()), "seeded decisions are reproducible");
    assert(xs.every((x) => x >= 0 && x < 1) && new Set(xs).size === 5);
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await proxy.close();
    await node.stop();
  }
});

Deno.test("loss - p2p between our apps through our node: 1000 each way, in order, exactly once", async () => {
  const { node, url } = await startNode();
  const pa = await LossyProxy.start({
    target: url,
    lossRate: LOSS,
    seed: 7,
    eligible: notFirstMessage,
  });
  const pb = await LossyProxy.start({
    target: url,
    lossRate: LOSS,
    seed: 8,
    eligible: notFirstMessage,
  });
  const apps: App[] = [];
  try {
    const alice = await connectApp("org/ns/alice", pa.url);
    apps.push(alice);
    const bob = await connectApp("org/ns/bob", pb.url);
    apps.push(bob);
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    });
    const inc = await bob.listen({ timeoutMs: 10_000 });
    const atBob = new Collector(inc);
    const atAlice = new Collector(s);
    await Promise.all([
      publishWindowed(N, WINDOW, (i) => s.publish(`a${i}`)),
      publishWindowed(N, WINDOW, (i) => inc.publish(`b${i}`)),
    ]);
    await expectStream(atBob, range("a", N));
    await expectStream(atAlice, range("b", N));
    assert(pa.dropped > 50 && pb.dropped > 50, `loss happened: ${pa.dropped}, ${pb.dropped}`);
    assert(pa.stats["to-node"].droppedByType.MSG > 0, "data was dropped");
    assert(pa.stats["to-app"].droppedByType.MSG_ACK > 0, "acks were dropped");
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await pa.close();
    await pb.close();
    await node.stop();
  }
});

Deno.test("loss - p2p: a lost first message is still delivered", async () => {
  const { node, url } = await startNode();
  // Drops exactly one publish: the first copy of data message 1 from alice.
  let dropped = false;
  const pa = await LossyProxy.start({
    target: url,
    lossRate: 1,
    eligible: (p) => {
      if (dropped || p.direction !== "to-node") return false;
      if (p.sessionMessageType !== SessionMessageType.MSG || p.messageId !== 1) return false;
      return dropped = true;
    },
  });
  const apps: App[] = [];
  try {
    const alice = await connectApp("org/ns/alice", pa.url);
    apps.push(alice);
    const bob = await connectApp("org/ns/bob", url);
    apps.push(bob);
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    });
    const inc = await bob.listen({ timeoutMs: 5000 });
    const atBob = new Collector(inc);
    await Promise.all([s.publish("first"), s.publish("second"), s.publish("third")]);
    await atBob.waitTexts(2, 3000);
    await new Promise((r) => setTimeout(r, 500));
    assert(dropped);
    assertEquals(atBob.texts(), ["first", "second", "third"]);
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await pa.close();
    await node.stop();
  }
});

Deno.test("loss - p2p between our app (lossy) and a real app through a real node: 1000 each way", async () => {
  ensurePeerInstalled();
  const realNode = await startRealNode({ strict: true });
  const proxy = await LossyProxy.start({
    target: realNode.url,
    lossRate: LOSS,
    seed: 11,
    eligible: notFirstMessage,
  });
  let alice: App | undefined;
  try {
    await using real = await startRealApp({
      name: "org/ns/realbob",
      endpoint: realNode.url,
      secret: REAL_SECRET,
    });
    alice = await connectApp("org/ns/tsalice", proxy.url, { secret: REAL_SECRET });
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/realbob",
      reliable: RELIABLE,
    });
    const inc = await real.listen({ timeoutMs: 10_000 });
    assertEquals(inc.sessionId, s.id);
    const atAlice = new Collector(s);
    // Ours to the real app.
    await publishWindowed(N, WINDOW, (i) => s.publish(`ts${i}`));
    await expectInOrder(
      async () => (await real.nextMessage({ sid: inc.sid, timeoutMs: 10_000 })).text,
      "ts",
      N,
    );
    // The real app to ours, paced at 500 messages/s: the real producer counts an RTX request
    // as an ack and keeps only its last 512 messages, so at full speed a message whose RTX
    // replies are lost a few times in a row is evicted and reported lost by design (SLIM).
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(real.publish(inc.sid, `real${i}`, { timeoutMs: 20_000 }));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(sends);
    await expectStream(atAlice, range("real", N));
    assertEquals(real.messages.filter((m) => m.sid === inc.sid).length, N, "no duplicates");
    assert(proxy.dropped > 100, `loss happened: ${proxy.dropped}`);
    assert(proxy.stats["to-app"].droppedByType.MSG > 0, "real app's data was dropped");
    assert(proxy.stats["to-node"].droppedByType.MSG > 0, "our data was dropped");
  } finally {
    await alice?.close();
    await proxy.close();
    await realNode.stop();
  }
});

Deno.test("loss - group of 3 of our apps, one member behind a lossy link", async () => {
  const { node, url } = await startNode();
  const proxy = await LossyProxy.start({
    target: url,
    lossRate: LOSS,
    seed: 23,
    eligible: notFirstMessage,
  });
  const apps: App[] = [];
  try {
    const mod = await connectApp("org/ns/mod", url);
    apps.push(mod);
    const p1 = await connectApp("org/ns/p1", url);
    apps.push(p1);
    const lossy = await connectApp("org/ns/lossy", proxy.url);
    apps.push(lossy);
    const session = await mod.createSession({
      kind: "group",
      channel: "org/ns/chat",
      reliable: RELIABLE,
    });
    const members: Session[] = [session];
    for (const p of [p1, lossy]) {
      await session.invite(p.name.withoutId());
      members.push(await p.listen({ timeoutMs: 10_000 }));
    }
    const cs = members.map((m) => new Collector(m));
    const M = 300;
    await Promise.all(
      members.map((m, k) => publishWindowed(M, WINDOW, (i) => m.publish(`${k}:${i}`))),
    );
    for (const c of cs) await waitComplete(c, 2 * M);
    for (const [k, c] of cs.entries()) {
      for (let other = 0; other < 3; other++) {
        if (other === k) continue;
        assertEquals(
          c.texts().filter((t) => t.startsWith(`${other}:`)),
          Array.from({ length: M }, (_, i) => `${other}:${i}`),
          `member ${k} receives member ${other} in order`,
        );
      }
    }
    assert(session.participants().every((p) => p.online), "nobody was marked offline");
    await waitUntil(() => proxy.dropped > 30, 1000, "loss happened");
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await proxy.close();
    await node.stop();
  }
});

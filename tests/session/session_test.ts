/**
 * Sessions end to end, in process: slim-ts apps on a slim-ts node over real sockets.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import type { App } from "../../lib/app/app.ts";
import { P256Verifier } from "../../lib/identity/p256_verifier.ts";
import { ClosedError, SessionError } from "../../lib/errors.ts";
import type { Session } from "../../lib/session/session.ts";
import { Collector, connectApp, sleep, startNode, waitUntil } from "./_harness.ts";

const FAST = { maxRetries: 5, intervalMs: 200 };

async function closeAll(apps: App[], node: { stop(): Promise<void> }) {
  await Promise.allSettled(apps.map((a) => a.close()));
  await node.stop();
}

Deno.test("session - p2p reliable: messages both ways, in order, with metadata", async () => {
  const { node, url } = await startNode();
  const alice = await connectApp("org/ns/alice", url);
  const bob = await connectApp("org/ns/bob", url);
  try {
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
      metadata: { topic: "demo" },
    });
    assert(s.isModerator);
    assertEquals(s.kind, "point-to-point");
    assertEquals(s.state, "active");
    assert(s.destination.equals(bob.name), "sticky to the instance that answered");
    const inc = await bob.listen({ timeoutMs: 3000 });
    assertEquals(inc.id, s.id);
    assert(!inc.isModerator);
    assertEquals({ ...inc.metadata }, { topic: "demo" });
    assert(inc.destination.equals(alice.name));
    const N = 200;
    await Promise.all(
      Array.from(
        { length: N },
        (_, i) => s.publish(`a${i}`, { payloadType: "text/plain", metadata: { i: String(i) } }),
      ),
    );
    for (let i = 0; i < N; i++) {
      const m = await inc.nextMessage({ timeoutMs: 3000 });
      assertEquals(m.text(), `a${i}`);
      assertEquals(m.payloadType, "text/plain");
      assertEquals(m.metadata, { i: String(i) });
      assert(m.source.equals(alice.name));
      assert(m.identity.startsWith("org/ns/alice_"), "the sender's token");
    }
    await Promise.all(Array.from({ length: N }, (_, i) => inc.publish(`b${i}`)));
    for (let i = 0; i < N; i++) {
      const m = await s.nextMessage({ timeoutMs: 3000 });
      assertEquals(m.text(), `b${i}`);
      assertEquals(m.payloadType, "msg");
    }
    // reply() in p2p is a plain publish to the peer.
    const q = await (s.publish("question"), inc.nextMessage({ timeoutMs: 3000 }));
    await inc.reply(q, "answer");
    assertEquals((await s.nextMessage({ timeoutMs: 3000 })).text(), "answer");
    assertEquals(s.participants().map((p) => [p.name.base, p.moderator, p.online]), [
      ["org/ns/alice", true, true],
      ["org/ns/bob", false, true],
    ]);
    assertEquals(inc.participants().map((p) => [p.name.base, p.moderator]), [
      ["org/ns/bob", false],
      ["org/ns/alice", true],
    ]);
  } finally {
    await closeAll([alice, bob], node);
  }
});

Deno.test("session - apps given one signature verifier share it (MLS p2p both ways)", async () => {
  const { node, url } = await startNode();
  // Tables from the first verification, so that sharing shows in the table count.
  const shared = new P256Verifier({ precomputeAfter: 1 });
  const alice = await connectApp("org/ns/alice", url, { signatures: shared });
  const bob = await connectApp("org/ns/bob", url, { signatures: shared });
  try {
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
      mls: true,
    });
    const inc = await bob.listen({ timeoutMs: 3000 });
    await s.publish("to bob");
    assertEquals((await inc.nextMessage({ timeoutMs: 3000 })).text(), "to bob");
    await inc.publish("to alice");
    assertEquals((await s.nextMessage({ timeoutMs: 3000 })).text(), "to alice");
    // Each app verified the other's header signatures and MLS signatures with the one verifier:
    // both keys have their table there, and only there.
    assertEquals(shared.tables, 2);
  } finally {
    await closeAll([alice, bob], node);
  }
});

Deno.test("session - p2p best effort: delivered without acknowledgements", async () => {
  const { node, url } = await startNode();
  const alice = await connectApp("org/ns/alice", url);
  const bob = await connectApp("org/ns/bob", url);
  try {
    const s = await alice.createSession({ kind: "point-to-point", peer: "org/ns/bob" });
    const inc = await bob.listen({ timeoutMs: 3000 });
    const got = new Collector(inc);
    // Best effort resolves on send, even before anything could have been acknowledged.
    for (let i = 0; i < 50; i++) await s.publish(`m${i}`);
    await got.waitTexts(50);
    assertEquals(new Set(got.texts()).size, 50);
    await inc.publish("back");
    assertEquals((await s.nextMessage({ timeoutMs: 3000 })).text(), "back");
  } finally {
    await closeAll([alice, bob], node);
  }
});

Deno.test("session - p2p to a name nobody answers for fails after the retries", async () => {
  const { node, url } = await startNode();
  const alice = await connectApp("org/ns/alice", url);
  try {
    const t0 = Date.now();
    await assertRejects(
      () =>
        alice.createSession({
          kind: "point-to-point",
          peer: "org/ns/nobody",
          reliable: { maxRetries: 1, intervalMs: 100 },
        }),
      SessionError,
      "org/ns/nobody",
    );
    assert(Date.now() - t0 < 2000, "gave up after (1+1)·100 ms, not the defaults");
    assertEquals(alice.sessions(), [], "the failed session is forgotten");
  } finally {
    await closeAll([alice], node);
  }
});

interface Group {
  mod: App;
  ps: App[];
  session: Session;
  modc: Collector;
  pcs: Collector[];
  all: App[];
}

/** A moderator and `n` participants (p1..pn), all invited and joined. */
async function group(url: string, n = 3): Promise<Group> {
  const mod = await connectApp("org/ns/mod", url);
  const ps: App[] = [];
  for (let i = 1; i <= n; i++) ps.push(await connectApp(`org/ns/p${i}`, url));
  const session = await mod.createSession({
    kind: "group",
    channel: "org/ns/chat",
    reliable: FAST,
    metadata: { room: "chat" },
  });
  const modc = new Collector(session);
  const pcs: Collector[] = [];
  for (const p of ps) {
    await session.invite(p.name.withoutId());
    const inc = await p.listen({ timeoutMs: 3000 });
    assertEquals(inc.id, session.id);
    assertEquals(inc.kind, "group");
    pcs.push(new Collector(inc));
  }
  return { mod, ps, session, modc, pcs, all: [mod, ...ps] };
}

Deno.test("session - group without MLS: invite 3, everyone receives everyone, events and members", async () => {
  const { node, url } = await startNode();
  const g = await group(url, 3);
  try {
    const { session, modc, pcs, ps, mod } = g;
    assertEquals(modc.eventLines(), [
      "participant-joined org/ns/p1",
      "participant-joined org/ns/p2",
      "participant-joined org/ns/p3",
    ]);
    // p1 learnt of p2 and p3 through group updates; p3 of everyone through its welcome.
    await pcs[0].waitEvent("participant-joined org/ns/p3");
    assert(pcs[0].eventLines().includes("participant-joined org/ns/p2"));
    assertEquals({ ...pcs[2].session.metadata }, { room: "chat" });
    const members = (s: Session) =>
      s.participants().map((p) => `${p.name}${p.moderator ? " (moderator)" : ""}`).sort();
    const expected = [
      `${mod.name} (moderator)`,
      ...ps.map((p) => String(p.name)),
    ].sort();
    assertEquals(members(session), expected);
    for (const c of pcs) assertEquals(members(c.session), expected);
    for (const c of [modc, ...pcs]) assert(c.session.participants().every((p) => p.online));

    // Everyone publishes; everyone else receives, in order per sender, exactly once.
    const M = 20;
    const senders = [session, ...pcs.map((c) => c.session)];
    await Promise.all(
      senders.flatMap((s, k) => Array.from({ length: M }, (_, i) => s.publish(`${k}:${i}`))),
    );
    for (const [k, c] of [modc, ...pcs].entries()) {
      await c.waitTexts(3 * M);
      await sleep(50);
      assertEquals(c.messages.length, 3 * M, `member ${k} got each message once`);
      for (let other = 0; other < 4; other++) {
        const fromOther = c.texts().filter((t) => t.startsWith(`${other}:`));
        if (other === k) assertEquals(fromOther, [], "no echo of our own messages");
        else assertEquals(fromOther, Array.from({ length: M }, (_, i) => `${other}:${i}`));
      }
    }
  } finally {
    await closeAll(g.all, node);
  }
});

Deno.test("session - group: publishTo reaches only the target", async () => {
  const { node, url } = await startNode();
  const g = await group(url, 3);
  try {
    const { session, pcs, ps } = g;
    await session.publishTo(ps[1].name, "only for p2");
    await pcs[0].session.publishTo(ps[2].name, "p1 to p3");
    await session.publish("everyone");
    for (const c of pcs) await waitUntil(() => c.texts().includes("everyone"));
    await sleep(200);
    assertEquals(pcs[0].texts(), ["everyone"]);
    assertEquals(pcs[1].texts().sort(), ["everyone", "only for p2"]);
    assertEquals(pcs[2].texts().sort(), ["everyone", "p1 to p3"]);
    assertEquals(g.modc.texts(), [], "a participant's publishTo does not reach the moderator");
    // Replying to a received message answers only its sender.
    const m = pcs[1].messages.find((x) => x.text() === "only for p2")!;
    await pcs[1].session.reply(m, "thanks");
    await g.modc.waitTexts(1);
    await sleep(100);
    assertEquals(g.modc.texts(), ["thanks"]);
    assertEquals(pcs[0].texts(), ["everyone"]);
    await assertRejects(
      () => session.publishTo("org/ns/stranger/1", "x"),
      SessionError,
      "not a member",
    );
  } finally {
    await closeAll(g.all, node);
  }
});

Deno.test("session - group: remove, leave and moderator close", async () => {
  const { node, url } = await startNode();
  const g = await group(url, 3);
  try {
    const { session, modc, pcs, ps, mod } = g;
    // Remove p3.
    await session.remove(ps[2].name.withoutId());
    assertEquals(await pcs[2].session.closed, "removed by the moderator");
    await pcs[2].ended;
    assert(pcs[2].eventLines().includes("closed removed by the moderator"));
    assertEquals(ps[2].sessions(), []);
    await modc.waitEvent("participant-removed org/ns/p3");
    await pcs[0].waitEvent("participant-removed org/ns/p3");
    await pcs[1].waitEvent("participant-removed org/ns/p3");
    assertEquals(session.participants().map((p) => p.name.base).sort(), [
      "org/ns/mod",
      "org/ns/p1",
      "org/ns/p2",
    ]);
    assertEquals(pcs[0].session.participants().length, 3);
    // Traffic goes on without the removed member, and publishes complete without its ack.
    await session.publish("after remove");
    await pcs[0].waitTexts(1);
    await pcs[1].waitTexts(1);
    assertEquals(pcs[2].texts(), []);

    // p2 leaves on its own.
    await pcs[1].session.leave();
    assertEquals(await pcs[1].session.closed, "left");
    await modc.waitEvent("participant-left org/ns/p2");
    await pcs[0].waitEvent("participant-removed org/ns/p2");
    assertEquals(session.participants().map((p) => p.name.base).sort(), [
      "org/ns/mod",
      "org/ns/p1",
    ]);
    await assertRejects(() => pcs[1].session.publish("too late"), SessionError);
    await pcs[0].session.publish("p1 still here");
    await modc.waitTexts(1);
    assertEquals(modc.texts(), ["p1 still here"]);

    // The moderator closes the session for everyone.
    await session.close();
    assertEquals(await session.closed, "closed");
    assertEquals(await pcs[0].session.closed, "closed by the moderator");
    await pcs[0].ended;
    await modc.ended;
    assertEquals(modc.eventLines().at(-1), "closed closed");
    assertEquals(mod.sessions(), []);
    assertEquals(ps[0].sessions(), []);
    await assertRejects(() => pcs[0].session.nextMessage({ timeoutMs: 100 }), ClosedError);
  } finally {
    await closeAll(g.all, node);
  }
});

Deno.test("session - group: the moderator's session ends when the last participant leaves", async () => {
  const { node, url } = await startNode();
  const g = await group(url, 1);
  try {
    await g.pcs[0].session.close();
    assertEquals(await g.session.closed, "all participants left");
    assertEquals(g.mod.sessions(), []);
  } finally {
    await closeAll(g.all, node);
  }
});

Deno.test("session - group: only the moderator invites and removes", async () => {
  const { node, url } = await startNode();
  const g = await group(url, 1);
  try {
    const p = g.pcs[0].session;
    await assertRejects(() => Promise.resolve().then(() => p.invite("org/ns/x")), SessionError);
    await assertRejects(() => Promise.resolve().then(() => p.remove("org/ns/mod")), SessionError);
    await assertRejects(() => g.session.invite(g.ps[0].name), SessionError, "already");
    await assertRejects(() => g.session.remove("org/ns/nobody"), SessionError, "not in");
    await assertRejects(() => g.session.leave(), SessionError, "cannot leave");
    assertEquals(g.session.state, "active");
  } finally {
    await closeAll(g.all, node);
  }
});

Deno.test("session - app.close() ends p2p sessions cleanly on both sides", async () => {
  const { node, url } = await startNode();
  const alice = await connectApp("org/ns/alice", url);
  const bob = await connectApp("org/ns/bob", url);
  const carol = await connectApp("org/ns/carol", url);
  try {
    // alice initiates to bob; carol initiates to alice.
    const ab = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
    });
    const ba = new Collector(await bob.listen({ timeoutMs: 3000 }));
    const ca = await carol.createSession({
      kind: "point-to-point",
      peer: "org/ns/alice",
      reliable: FAST,
    });
    const caColl = new Collector(ca);
    const ac = new Collector(await alice.listen({ timeoutMs: 3000 }));
    await ab.publish("hi bob");
    await ba.waitTexts(1);
    assertEquals(alice.sessions().length, 2);

    const t0 = Date.now();
    await alice.close();
    assert(Date.now() - t0 < 3000, `alice closed in ${Date.now() - t0} ms`);
    assertEquals(alice.sessions(), []);
    // Initiator side closed: the responder is told.
    assertEquals(await ba.session.closed, "closed by the moderator");
    await ba.ended;
    assertEquals(bob.sessions(), []);
    // Responder side left: the initiator is told.
    assertEquals(await ca.closed, "peer left");
    await caColl.ended;
    assert(caColl.eventLines().includes("participant-left org/ns/alice"));
    assertEquals(carol.sessions(), []);
    assertEquals(await ac.session.closed, "left");
    await assertRejects(() => alice.listen({ timeoutMs: 100 }), ClosedError);
    await assertRejects(
      () => alice.createSession({ kind: "point-to-point", peer: "org/ns/bob" }),
      ClosedError,
    );
  } finally {
    await closeAll([alice, bob, carol], node);
  }
});

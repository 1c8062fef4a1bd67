/**
 * Scenarios run by real SLIM apps only, parameterised by the node they connect to: the harness
 * runs them through a real node, the interop tests through ours.
 */
import assert from "node:assert/strict";
import { type MessageEvent, type RealApp, startRealApp } from "./real_peer.ts";

/** Shared secret of the real apps in these scenarios (>= 32 bytes, as real SLIM requires). */
export const SECRET = "slim-ts-real-peer-harness-secret-0123456789abcdef";

/**
 * Real apps alice and bob at `url`: alice opens a p2p session to bob; message, reply,
 * auto-echo, delete. Names can be swapped to run the session in the other direction.
 */
export async function realP2pRoundTrip(
  url: string,
  names: { alice: string; bob: string } = { alice: "org/ns/alice", bob: "org/ns/bob" },
): Promise<void> {
  await using alice = await startRealApp({
    name: names.alice,
    endpoint: url,
    secret: SECRET,
  });
  await using bob = await startRealApp({ name: names.bob, endpoint: url, secret: SECRET });

  const out = await alice.createSession({ kind: "p2p", peer: names.bob, metadata: { k: "v" } });
  assert.equal(out.kind, "p2p");
  assert.equal(out.initiator, true);
  const inc = await bob.listen({ timeoutMs: 5000 });
  assert.equal(inc.sessionId, out.sessionId);
  assert.equal(inc.initiator, false);
  assert.equal(inc.destination, alice.fullName);
  assert.deepEqual(inc.metadata, { k: "v" });

  await alice.publish(out.sid, "hello bob", { payloadType: "text/plain", metadata: { n: "1" } });
  const got = await bob.nextMessage({ sid: inc.sid, timeoutMs: 5000 });
  assert.equal(got.text, "hello bob");
  assert.equal(got.payloadType, "text/plain");
  assert.equal(got.metadata.n, "1");
  assert.equal(got.source, alice.fullName);
  assert.equal(got.sourceBase, names.alice);
  assert.equal(got.sourceId, alice.id);

  await bob.publishTo(inc.sid, got, "hello alice");
  const reply = await alice.nextMessage({ sid: out.sid, timeoutMs: 5000 });
  assert.equal(reply.text, "hello alice");
  assert.equal(reply.source, bob.fullName);

  await bob.echo(inc.sid, "echo: ");
  const bytes = new Uint8Array([0x70, 0x69, 0x6e, 0x67]);
  await alice.publish(out.sid, bytes);
  const echoed = await alice.nextMessage({ sid: out.sid, timeoutMs: 5000 });
  assert.equal(echoed.text, "echo: ping");

  await alice.deleteSession(out.sid);
  await alice.waitFor((e) => e.event === "session-closed" && e.sid === out.sid, 5000);
  await bob.waitFor((e) => e.event === "session-closed" && e.sid === inc.sid, 5000);
}

/**
 * A real moderator at `url` creates an MLS group and invites two real participants; everyone
 * receives everyone else's message; the moderator removes one, then closes the group.
 */
export async function realMlsGroup(url: string): Promise<void> {
  const start = (n: string) => startRealApp({ name: `org/ns/${n}`, endpoint: url, secret: SECRET });
  await using mod = await start("moderator");
  await using p1 = await start("member1");
  await using p2 = await start("member2");

  const group = await mod.createSession({
    kind: "group",
    channel: "org/ns/chat",
    mls: true,
    metadata: { topic: "harness" },
  });
  assert.equal(group.kind, "group");
  await mod.invite(group.sid, p1.name);
  await mod.invite(group.sid, p2.name);
  const s1 = await p1.listen({ timeoutMs: 5000 });
  const s2 = await p2.listen({ timeoutMs: 5000 });
  for (const s of [s1, s2]) {
    assert.equal(s.kind, "group");
    assert.equal(s.sessionId, group.sessionId);
    assert.equal(s.destinationBase, "org/ns/chat");
    assert.deepEqual(s.metadata, { topic: "harness" });
  }
  const members = await mod.participants(group.sid);
  assert.deepEqual(
    members.map((m) => m.name).sort(),
    [mod.fullName, p1.fullName, p2.fullName].sort(),
  );
  assert.ok(members.every((m) => m.status === "online"));

  const sides: [RealApp, number][] = [[mod, group.sid], [p1, s1.sid], [p2, s2.sid]];
  await Promise.all(sides.map(([app, sid]) => app.publish(sid, `from ${app.name}`)));
  for (const [app, sid] of sides) {
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const m: MessageEvent = await app.nextMessage({ sid, timeoutMs: 5000 });
      assert.equal(m.text, `from ${m.sourceBase}`);
      texts.push(m.text);
    }
    const expected = sides.filter(([other]) => other !== app).map(([o]) => `from ${o.name}`);
    assert.deepEqual(texts.sort(), expected.sort());
  }

  await mod.remove(group.sid, p2.fullName);
  await p2.waitFor((e) => e.event === "session-closed" && e.sid === s2.sid, 5000);
  const left = await mod.participants(group.sid);
  assert.deepEqual(left.map((m) => m.name).sort(), [mod.fullName, p1.fullName].sort());
  await mod.publish(group.sid, "after remove");
  assert.equal((await p1.nextMessage({ sid: s1.sid, timeoutMs: 5000 })).text, "after remove");

  await mod.deleteSession(group.sid);
  await p1.waitFor((e) => e.event === "session-closed" && e.sid === s1.sid, 5000);
  await mod.waitFor((e) => e.event === "session-closed" && e.sid === group.sid, 5000);
  assert.ok(!p2.messages.some((m) => m.text === "after remove"));
}

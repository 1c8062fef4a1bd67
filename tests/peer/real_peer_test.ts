/**
 * Proves the real-peer harness with the real SLIM on every side (no slim-ts code): if these fail,
 * interop failures elsewhere say nothing about slim-ts.
 */
import assert from "node:assert/strict";
import {
  ensurePeerInstalled,
  freePort,
  generateJwtKeyPair,
  type MessageEvent,
  type RealApp,
  type RealNode,
  startRealApp,
  startRealNode,
} from "./real_peer.ts";
import { SlimError } from "../../lib/errors.ts";

const SECRET = "slim-ts-real-peer-harness-secret-0123456789abcdef";

/** alice opens a p2p session to bob through `node`; message, reply, auto-echo, delete. */
async function p2pRoundTrip(node: RealNode): Promise<void> {
  await using alice = await startRealApp({
    name: "org/ns/alice",
    endpoint: node.url,
    secret: SECRET,
  });
  await using bob = await startRealApp({ name: "org/ns/bob", endpoint: node.url, secret: SECRET });

  const out = await alice.createSession({ kind: "p2p", peer: "org/ns/bob", metadata: { k: "v" } });
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
  assert.equal(got.sourceBase, "org/ns/alice");
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

Deno.test("real peer: installed", () => {
  ensurePeerInstalled();
});

Deno.test("real peer: p2p session through a non-strict real node", async () => {
  await using node = await startRealNode();
  assert.equal(node.strict, false);
  await p2pRoundTrip(node);
});

Deno.test("real peer: p2p session through a strict real node", async () => {
  await using node = await startRealNode({ strict: true });
  assert.equal(node.strict, true);
  await p2pRoundTrip(node);
});

Deno.test("real peer: MLS group with a real moderator and two real participants", async () => {
  await using node = await startRealNode({ strict: true });
  const start = (n: string) =>
    startRealApp({ name: `org/ns/${n}`, endpoint: node.url, secret: SECRET });
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
});

Deno.test("real peer: JWT identities (ES256) with MLS", async () => {
  await using node = await startRealNode();
  const keys = await generateJwtKeyPair();
  const jwt = { ...keys, alg: "ES256", issuer: "slim-ts-tests", audience: "slim" };
  await using alice = await startRealApp({ name: "org/ns/alice", endpoint: node.url, jwt });
  await using bob = await startRealApp({ name: "org/ns/bob", endpoint: node.url, jwt });
  assert.equal(alice.info.identityKind, "jwt");
  const out = await alice.createSession({ kind: "p2p", peer: bob.name, mls: true });
  const inc = await bob.listen({ timeoutMs: 5000 });
  await alice.publish(out.sid, "signed");
  const got = await bob.nextMessage({ sid: inc.sid, timeoutMs: 5000 });
  assert.equal(got.text, "signed");
  // The identity a JWT app presents is its token; its payload names the subject.
  const claims = JSON.parse(atob(got.identity.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  assert.equal(claims.sub, "org/ns/alice");
  assert.equal(claims.iss, "slim-ts-tests");
});

Deno.test("real peer: startup failures are reported, not hung on", async () => {
  const port = freePort(); // nothing listens there
  await assert.rejects(
    startRealApp({ name: "org/ns/lonely", endpoint: `127.0.0.1:${port}`, secret: SECRET }),
    (err: unknown) => err instanceof SlimError && /cannot connect/.test(err.message),
  );
  await assert.rejects(
    startRealApp({ name: "org/ns/weak", endpoint: `127.0.0.1:${port}`, secret: "too short" }),
    (err: unknown) => err instanceof SlimError && /32 bytes/.test(err.message),
  );
  await using node = await startRealNode();
  await assert.rejects(
    startRealNode({ port: node.port }),
    (err: unknown) => err instanceof SlimError && /already in use/.test(err.message),
  );
});

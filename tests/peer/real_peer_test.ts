/**
 * Proves the real-peer harness with the real SLIM on every side (no slim-ts code): if these fail,
 * interop failures elsewhere say nothing about slim-ts.
 */
import assert from "node:assert/strict";
import {
  ensurePeerInstalled,
  freePort,
  generateJwtKeyPair,
  startRealApp,
  startRealNode,
} from "./real_peer.ts";
import { SlimError } from "../../lib/errors.ts";
import { realMlsGroup, realP2pRoundTrip, SECRET } from "./scenarios.ts";

Deno.test("real peer: installed", () => {
  ensurePeerInstalled();
});

Deno.test("real peer: p2p session through a non-strict real node", async () => {
  await using node = await startRealNode();
  assert.equal(node.strict, false);
  await realP2pRoundTrip(node.url);
});

Deno.test("real peer: p2p session through a strict real node", async () => {
  await using node = await startRealNode({ strict: true });
  assert.equal(node.strict, true);
  await realP2pRoundTrip(node.url);
});

Deno.test("real peer: MLS group with a real moderator and two real participants", async () => {
  await using node = await startRealNode({ strict: true });
  await realMlsGroup(node.url);
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

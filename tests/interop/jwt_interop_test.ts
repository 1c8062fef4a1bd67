/**
 * JWT identities between slim-ts apps and real SLIM apps: both sides sign ES256 tokens carrying
 * their P-256 `pubkey` and verify each other's, in an MLS session, both directions.
 */
import { assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { createLogger } from "../../lib/log.ts";
import {
  ensurePeerInstalled,
  generateJwtKeyPair,
  startRealApp,
  startRealNode,
} from "../peer/real_peer.ts";

Deno.test("interop jwt - our JWT app and a real JWT app, MLS point-to-point both ways", async () => {
  ensurePeerInstalled();
  const keys = await generateJwtKeyPair();
  const issuer = "slim-ts-tests", audience = "slim";
  await using node = await startRealNode({ strict: true });
  await using real = await startRealApp({
    name: "org/ns/realjwt",
    endpoint: node.url,
    jwt: { ...keys, alg: "ES256", issuer, audience },
  });
  const ours = await App.connect({
    name: "org/ns/tsjwt",
    endpoint: node.url,
    logger: createLogger("tsjwt", { level: "warn" }),
    identity: {
      jwt: {
        key: { algorithm: "ES256", format: "pem", key: { data: keys.signKey } },
        issuer,
        audience: [audience],
        verifier: {
          key: { algorithm: "ES256", format: "pem", key: { data: keys.verifyKey } },
          issuer,
          audience,
        },
      },
    },
  });
  try {
    // The JWT subject is the identity: the app's id derives from it.
    assertEquals(ours.identity.id, "org/ns/tsjwt");
    const s = await ours.createSession({
      kind: "point-to-point",
      peer: "org/ns/realjwt",
      mls: true,
    });
    const inc = await real.listen({ timeoutMs: 10_000 });
    await s.publish("jwt hello");
    assertEquals((await real.nextMessage({ sid: inc.sid, timeoutMs: 10_000 })).text, "jwt hello");
    await s.close();
    const created = real.createSession({ kind: "p2p", peer: "org/ns/tsjwt", mls: true });
    const mine = await ours.listen({ timeoutMs: 10_000 });
    const out = await created;
    await real.publish(out.sid, "real jwt hello");
    assertEquals((await mine.nextMessage({ timeoutMs: 10_000 })).text(), "real jwt hello");
    await mine.publish("and back");
    assertEquals((await real.nextMessage({ sid: out.sid, timeoutMs: 10_000 })).text, "and back");
    await real.deleteSession(out.sid);
  } finally {
    await ours.close();
  }
});

/**
 * Credential rules (CredentialValidator) and the shape of our key packages.
 * @module
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { idFromIdentity } from "../../lib/names/name.ts";
import {
  CredentialValidator,
  decodeKeyPackage,
  MLS_CIPHERSUITE,
  MlsMember,
  slimCapabilities,
} from "../../lib/mls/mod.ts";
import { app, bytes, invite, member, TestClock } from "./_helpers.ts";

Deno.test("validator: first-seen credentials are checked with their window", async () => {
  const clock = new TestClock();
  const { provider, verifier } = app("alice", clock);
  const token = await provider.token();
  const credential = { credentialType: "basic" as const, identity: bytes(token) };
  const key = provider.signingKey.publicKey;

  const later = new TestClock(clock.seconds + 7200);
  const strict = new CredentialValidator({ verifier, clock: later.now });
  await assertRejects(() => strict.check(credential, key), MlsError, "identity token expired");
  assertEquals(await strict.validateCredential(credential, key), false);
  assert(strict.takeRejection()?.includes("expired"));
  assertEquals(strict.takeRejection(), undefined);

  // Existing members of a group being joined: accepted outside the window.
  const joining = await strict.trustingExistingMembers(() => strict.check(credential, key));
  assertEquals(joining.subject, provider.id);
  assertEquals(joining.appId, idFromIdentity(provider.id));
  assertEquals(joining.verifiedAt, clock.seconds);
  // ...and from then on known: accepted without the mode too.
  assertEquals(await strict.validateCredential(credential, key), true);
});

Deno.test("validator: a known credential is re-checked for binding and MAC", async () => {
  const clock = new TestClock();
  const { provider, verifier } = app("alice", clock);
  const token = await provider.token();
  const key = provider.signingKey.publicKey;
  const validator = new CredentialValidator({ verifier, clock: clock.now });
  await validator.check({ credentialType: "basic", identity: bytes(token) }, key);
  clock.advance(100_000);
  assert(
    await validator.validateCredential({ credentialType: "basic", identity: bytes(token) }, key),
  );
  // Same credential on another key: the binding fails.
  const other = app("mallory", clock).provider.signingKey.publicKey;
  assertEquals(
    await validator.validateCredential({ credentialType: "basic", identity: bytes(token) }, other),
    false,
  );
  assert(validator.takeRejection()?.includes("bound to another key"));
  // A forged token (MAC broken) never verifies, known or not.
  const forged = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
  await assertRejects(
    () => validator.check({ credentialType: "basic", identity: bytes(forged) }, key),
    MlsError,
    "mac",
  );
});

Deno.test("validator: non-basic and non-UTF-8 credentials are rejected", async () => {
  const clock = new TestClock();
  const { provider, verifier } = app("alice", clock);
  const validator = new CredentialValidator({ verifier, clock: clock.now });
  const key = provider.signingKey.publicKey;
  await assertRejects(
    () => validator.check({ credentialType: "x509", certificates: [] }, key),
    MlsError,
    "not basic",
  );
  await assertRejects(
    () => validator.check({ credentialType: "basic", identity: new Uint8Array([0xff, 0xfe]) }, key),
    MlsError,
    "not UTF-8",
  );
});

Deno.test("key packages: suite 2, token credential, uncompressed app key, no GREASE", async () => {
  const clock = new TestClock();
  const identity = app("alice", clock);
  const alice = await member("alice", clock, identity);
  const a = decodeKeyPackage(await alice.generateKeyPackage());
  const b = decodeKeyPackage(await alice.generateKeyPackage());
  for (const kp of [a, b]) {
    assertEquals(kp.cipherSuite, MLS_CIPHERSUITE);
    assertEquals(kp.leafNode.signaturePublicKey, identity.provider.signingKey.publicKey);
    assertEquals(kp.leafNode.signaturePublicKey.length, 65);
    assertEquals(kp.leafNode.signaturePublicKey[0], 4);
    assertEquals(kp.leafNode.hpkePublicKey.length, 65);
    assertEquals(kp.leafNode.capabilities, slimCapabilities());
    assertEquals(kp.extensions, []);
    assertEquals(kp.leafNode.extensions, []);
    assert(kp.leafNode.credential.credentialType === "basic");
    const token = new TextDecoder().decode(kp.leafNode.credential.identity);
    const verified = await identity.verifier.verify(token);
    assertEquals(verified.subject, identity.provider.id);
    assertEquals(verified.publicKey, identity.provider.signingKey.publicKey);
  }
  // Fresh keys every time, same credential (one token per MLS context).
  assert(a.leafNode.credential.credentialType === "basic");
  assert(b.leafNode.credential.credentialType === "basic");
  assertEquals(a.leafNode.credential.identity, b.leafNode.credential.identity);
  assert(a.initKey.some((v, i) => v !== b.initKey[i]));
  assert(a.leafNode.hpkePublicKey.some((v, i) => v !== b.leafNode.hpkePublicKey[i]));
});

Deno.test("our own credential is accepted without asking our verifier", async () => {
  // Cross-trust: each side's verifier only knows the other side's secret.
  const clock = new TestClock();
  const s1 = "1".repeat(40);
  const s2 = "2".repeat(40);
  const moderator = await MlsMember.create({
    provider: new SharedSecretIdentity("org/ns/moderator", s1, { now: clock.now }),
    verifier: new SharedSecretVerifier(s2, { now: clock.now }),
    clock: clock.now,
  });
  const alice = await MlsMember.create({
    provider: new SharedSecretIdentity("org/ns/alice", s2, { now: clock.now }),
    verifier: new SharedSecretVerifier(s1, { now: clock.now }),
    clock: clock.now,
  });
  await moderator.createGroup();
  await invite(moderator, alice); // alice's own leaf is in the tree she validates
  const out = await alice.decrypt(await moderator.encrypt(bytes("ok"), bytes("")));
  assertEquals(out.senderAppId, moderator.appId);
});

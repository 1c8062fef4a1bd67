/**
 * The fast ciphersuite implementation: signatures as mls-rs expects them (DER, high-S accepted),
 * and full interoperability with ts-mls's stock provider.
 * @module
 */
import { p256 } from "@noble/curves/nist.js";
import { assert, assertEquals } from "../helpers/assert.ts";
import { SigningKey } from "../../lib/identity/mod.ts";
import { p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { referenceCiphersuite, sha256Kdf, slimCiphersuite } from "../../lib/mls/mod.ts";
import { bytes, invite, member, TestClock, text } from "./_helpers.ts";

const N = p256.Point.CURVE().n;

function highS(der: Uint8Array): Uint8Array {
  const sig = p256.Signature.fromBytes(der, "der");
  const s = sig.s > N / 2n ? sig.s : N - sig.s;
  const raw = new Uint8Array(64);
  const hex = (v: bigint) => v.toString(16).padStart(64, "0");
  raw.set(hexToBytes(hex(sig.r)), 0);
  raw.set(hexToBytes(hex(s)), 32);
  return p1363ToDer(raw);
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

Deno.test("signatures: DER, verified by both providers, high-S accepted", async () => {
  const fast = await slimCiphersuite();
  const reference = await referenceCiphersuite();
  const key = SigningKey.generate();
  const message = bytes("framed content tbs");
  const sig = await fast.signature.sign(key.privateKey, message);
  assertEquals(sig[0], 0x30);
  assert(await fast.signature.verify(key.publicKey, message, sig));
  assert(await reference.signature.verify(key.publicKey, message, sig));
  const high = highS(sig);
  assert(p256.Signature.fromBytes(high, "der").s > N / 2n);
  assert(await fast.signature.verify(key.publicKey, message, high));
  assert(await reference.signature.verify(key.publicKey, message, high));
  assert(!(await fast.signature.verify(key.publicKey, bytes("other"), sig)));
  assert(!(await fast.signature.verify(key.publicKey, message, sig.subarray(1))));
  const { publicKey } = await fast.signature.keygen();
  assertEquals(publicKey.length, 65);
});

Deno.test("kdf matches the reference HKDF", async () => {
  const reference = await referenceCiphersuite();
  const kdf = sha256Kdf();
  const salt = crypto.getRandomValues(new Uint8Array(32));
  const ikm = crypto.getRandomValues(new Uint8Array(32));
  const prk = await kdf.extract(salt, ikm);
  assertEquals(prk, await reference.kdf.extract(salt, ikm));
  assertEquals(
    await kdf.expand(prk, bytes("info"), 42),
    await reference.kdf.expand(prk, bytes("info"), 42),
  );
  const fast = await slimCiphersuite();
  const mac = await fast.hash.mac(prk, bytes("data"));
  assertEquals(mac, await reference.hash.mac(prk, bytes("data")));
  assert(await fast.hash.verifyMac(prk, mac, bytes("data")));
  assert(!(await fast.hash.verifyMac(prk, mac.subarray(1), bytes("data"))));
});

Deno.test("members on the fast and the stock provider share a group", async () => {
  const clock = new TestClock();
  const cipherSuite = await referenceCiphersuite();
  const moderator = await member("moderator", clock, { cipherSuite });
  const alice = await member("alice", clock);
  const bob = await member("bob", clock, { cipherSuite });
  await moderator.createGroup();
  await invite(moderator, alice);
  await invite(moderator, bob, [alice]);
  const removal = await moderator.removeMember(bob.appId);
  await alice.processCommit(removal.commit);
  const m1 = await alice.encrypt(bytes("fast→stock"), bytes("aad"));
  assertEquals(text((await moderator.decrypt(m1)).plaintext), "fast→stock");
  const m2 = await moderator.encrypt(bytes("stock→fast"), bytes("aad"));
  assertEquals(text((await alice.decrypt(m2)).plaintext), "stock→fast");
});

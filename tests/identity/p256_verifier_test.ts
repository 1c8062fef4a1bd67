/**
 * `lib/identity/p256_verifier.ts`: the same answers on the WebCrypto path (cold keys), the table path (hot
 * keys) and from the memo; only successes are remembered; malformed inputs verify as false;
 * table eviction.
 * @module
 */
import { p256 } from "@noble/curves/nist.js";
import { assert, assertEquals } from "../helpers/assert.ts";
import { p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { P256Verifier } from "../../lib/identity/p256_verifier.ts";
import { prng, randomBytes } from "../fixtures/captures.ts";

const N = p256.Point.CURVE().n;

function keyPair() {
  const sk = p256.utils.randomSecretKey();
  return { sk, pk: p256.getPublicKey(sk, false) };
}

/** A DER signature of `message`, with S in the lower half of the order or (`highS`) not. */
function sign(sk: Uint8Array, message: Uint8Array, highS = false): Uint8Array {
  const sig = p256.Signature.fromBytes(
    p256.sign(message, sk, { prehash: true, format: "der", lowS: true }),
    "der",
  );
  const raw = new Uint8Array(64);
  raw.set(hex32(sig.r), 0);
  raw.set(hex32(highS ? N - sig.s : sig.s), 32);
  return p1363ToDer(raw);
}

function hex32(v: bigint): Uint8Array {
  return Uint8Array.from(v.toString(16).padStart(64, "0").match(/../g)!, (h) => parseInt(h, 16));
}

Deno.test("verifier - cold (WebCrypto) and hot (table) paths and the memo agree", async () => {
  const rand = prng(31);
  const verifier = new P256Verifier({ precomputeAfter: 3 });
  const { sk, pk } = keyPair();
  const other = keyPair();
  for (let i = 0; i < 12; i++) {
    const message = randomBytes(rand, 10 + i * 50);
    const low = sign(sk, message), high = sign(sk, message, true);
    const tampered = message.map((b, j) => j === 3 ? b ^ 0x80 : b);
    // Twice each: the second answer of a valid one comes from the memo.
    for (let round = 0; round < 2; round++) {
      assert(await verifier.verify(pk, message, low), `low-S ${i}`);
      assert(await verifier.verify(pk, message, high), `high-S ${i}`);
      assert(!(await verifier.verify(pk, tampered, low)), `tampered ${i}`);
      assert(!(await verifier.verify(other.pk, message, low)), `other key ${i}`);
    }
  }
  // The key became hot (a table); the other key too (it was tried often enough).
  assertEquals(verifier.tables, 2);
});

Deno.test("verifier - concurrent verifications of one signature share one answer", async () => {
  const verifier = new P256Verifier({ precomputeAfter: Infinity });
  const { sk, pk } = keyPair();
  const message = new TextEncoder().encode("same message, seven members");
  const sig = sign(sk, message);
  const results = await Promise.all(
    Array.from({ length: 7 }, () => verifier.verify(pk, message, sig)),
  );
  assertEquals(results, Array(7).fill(true));
  const bad = sig.slice();
  bad[bad.length - 1] ^= 1;
  const failures = await Promise.all(
    Array.from({ length: 7 }, () => verifier.verify(pk, message, bad)),
  );
  assertEquals(failures, Array(7).fill(false));
  // A failure is not remembered: the same bytes fail again, a valid signature still passes.
  assert(!(await verifier.verify(pk, message, bad)));
  assert(await verifier.verify(pk, message, sig));
  assertEquals(verifier.tables, 0);
});

Deno.test("verifier - malformed keys and signatures verify as false", async () => {
  const verifier = new P256Verifier({ precomputeAfter: 1 });
  const { sk, pk } = keyPair();
  const message = new Uint8Array(5);
  const sig = sign(sk, message);
  assert(await verifier.verify(pk, message, sig));
  assert(await verifier.verify(p256.getPublicKey(sk, true), message, sig), "compressed key");
  assert(!(await verifier.verify(new Uint8Array(65).fill(4), message, sig)), "not a point");
  assert(!(await verifier.verify(pk.subarray(0, 64), message, sig)), "short key");
  assert(!(await verifier.verify(pk.subarray(1, 33), message, sig)), "32-byte key");
  assert(!(await verifier.verify(pk, message, new Uint8Array([...sig, 0]))), "trailing byte");
  assert(!(await verifier.verify(pk, message, sig.subarray(1))), "truncated");
  assert(!(await verifier.verify(pk, message, new Uint8Array(0))), "empty");
  const raw = new Uint8Array(64);
  raw.set(hex32(1n), 0);
  raw.set(hex32(N), 32);
  assert(!(await verifier.verify(pk, message, p1363ToDer(raw))), "s = n");
});

Deno.test("verifier - tables are bounded; an evicted key rebuilds once hot again", async () => {
  const verifier = new P256Verifier({ precomputeAfter: 2, tables: 2 });
  const keys = [keyPair(), keyPair(), keyPair()];
  const rand = prng(32);
  for (let round = 0; round < 4; round++) {
    for (const { sk, pk } of keys) {
      const message = randomBytes(rand, 20);
      assert(await verifier.verify(pk, message, sign(sk, message)));
      assert(verifier.tables <= 2);
    }
  }
  assertEquals(verifier.tables, 2);
});

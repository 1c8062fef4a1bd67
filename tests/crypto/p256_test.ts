/**
 * `lib/crypto/p256.ts`: RFC 6979 known answers, byte-identical signatures to noble, verification
 * cross-checked with WebCrypto and noble (high-S accepted, tampering and malformed DER
 * rejected, with and without a precomputed table) and the exceptional point additions.
 * @module
 */
import { p256 } from "@noble/curves/nist.js";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { derToP1363, p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";
import { P256PublicKey, parseDerSignature, publicKeyOf, signP256 } from "../../lib/crypto/p256.ts";
import { sha256 } from "../../lib/crypto/sha256.ts";
import { fromHex, prng, randomBytes, toHex } from "../fixtures/captures.ts";

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const text = (s: string) => new TextEncoder().encode(s);
const hex32 = (v: bigint) => fromHex(v.toString(16).padStart(64, "0"));

function der(r: bigint, s: bigint): Uint8Array {
  const raw = new Uint8Array(64);
  raw.set(hex32(r), 0);
  raw.set(hex32(s), 32);
  return p1363ToDer(raw);
}

function verifyBoth(key: P256PublicKey, message: Uint8Array, signature: Uint8Array): boolean[] {
  const sig = parseDerSignature(signature);
  if (!sig) return [false, false];
  const digest = sha256(message);
  const plain = P256PublicKey.fromBytes(publicKeyBytes(key));
  const withTable = key.precomputed ? key : (key.precompute(), key);
  return [
    plain.verifyDigest(digest, sig.r, sig.s),
    withTable.verifyDigest(digest, sig.r, sig.s),
  ];
}

function publicKeyBytes(key: P256PublicKey): Uint8Array {
  const out = new Uint8Array(65);
  out[0] = 4;
  out.set(hex32(key.x), 1);
  out.set(hex32(key.y), 33);
  return out;
}

Deno.test("p256 - RFC 6979 A.2.5 (P-256, SHA-256) known answers", () => {
  const x = fromHex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
  assertEquals(
    toHex(publicKeyOf(x)),
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" +
      "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
  );
  const vectors: [string, string, string][] = [
    [
      "sample",
      "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
      "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
    ],
    [
      "test",
      "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
      "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
    ],
  ];
  const key = P256PublicKey.fromBytes(publicKeyOf(x));
  for (const [message, r, s] of vectors) {
    const sig = signP256(x, text(message));
    assertEquals(toHex(sig), toHex(der(BigInt("0x" + r), BigInt("0x" + s))), message);
    assertEquals(verifyBoth(key, text(message), sig), [true, true]);
  }
});

Deno.test("p256 - signatures and public keys are byte-identical to noble's", () => {
  const rand = prng(11);
  for (let i = 0; i < 64; i++) {
    const sk = p256.utils.randomSecretKey();
    assertEquals(toHex(publicKeyOf(sk)), toHex(p256.getPublicKey(sk, false)));
    const message = randomBytes(rand, i * 17);
    const ours = signP256(sk, message);
    const noble = p256.sign(message, sk, { prehash: true, format: "der", lowS: false });
    assertEquals(toHex(ours), toHex(noble), `signature ${i}`);
    // With lowS, identical to noble's default (what lib/identity's SigningKey produces).
    assertEquals(
      toHex(signP256(sk, message, { lowS: true })),
      toHex(p256.sign(message, sk, { format: "der" })),
    );
  }
  assertThrows(() => signP256(new Uint8Array(32), text("m")), RangeError);
  assertThrows(() => signP256(hex32(N), text("m")), RangeError);
  assertThrows(() => signP256(new Uint8Array(31).fill(1), text("m")), RangeError);
});

Deno.test("p256 - verification agrees with WebCrypto; high-S accepted; tampering rejected", async () => {
  const rand = prng(12);
  for (let i = 0; i < 24; i++) {
    const sk = p256.utils.randomSecretKey();
    const pk = p256.getPublicKey(sk, false);
    const webKey = await crypto.subtle.importKey(
      "raw",
      pk as Uint8Array<ArrayBuffer>,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const key = P256PublicKey.fromBytes(i % 2 ? p256.getPublicKey(sk, true) : pk);
    const message = randomBytes(rand, 50 + i * 31);
    const { r, s } = p256.Signature.fromBytes(
      p256.sign(message, sk, { prehash: true, format: "der", lowS: false }),
      "der",
    );
    for (
      const [label, sig, msg, valid] of [
        ["as signed", der(r, s), message, true],
        ["negated S (the other of low/high S)", der(r, N - s), message, true],
        ["other message", der(r, s), message.map((b, j) => j === 0 ? b ^ 1 : b), false],
        ["r + 1", der(r + 1n, s), message, false],
        ["s + 1", der(r, s + 1n), message, false],
        ["r = n - r", der(N - r, s), message, false],
      ] as const
    ) {
      const raw = derToP1363(sig)!;
      const web = await crypto.subtle.verify(
        { name: "ECDSA", hash: "SHA-256" },
        webKey,
        raw,
        msg as Uint8Array<ArrayBuffer>,
      );
      assertEquals(web, valid, `WebCrypto: ${label}`);
      assertEquals(verifyBoth(key, msg, sig), [valid, valid], `ours: ${label}`);
    }
  }
});

Deno.test("p256 - out-of-range and malformed signatures are rejected", () => {
  const sk = p256.utils.randomSecretKey();
  const key = P256PublicKey.fromBytes(p256.getPublicKey(sk, false));
  key.precompute();
  const digest = sha256(text("m"));
  for (const [r, s] of [[0n, 1n], [1n, 0n], [N, 1n], [1n, N], [N + 1n, 5n], [-1n, 5n]]) {
    assert(!key.verifyDigest(digest, r, s), `r=${r} s=${s}`);
  }
  const good = signP256(sk, text("m"));
  assert(parseDerSignature(good));
  // Trailing byte, truncated, wrong tag, non-minimal length, negative integer.
  assertEquals(parseDerSignature(new Uint8Array([...good, 0])), undefined);
  assertEquals(parseDerSignature(good.subarray(0, good.length - 1)), undefined);
  assertEquals(parseDerSignature(new Uint8Array([0x31, ...good.subarray(1)])), undefined);
  assertEquals(
    parseDerSignature(new Uint8Array([0x30, 0x81, good[1], ...good.subarray(2)])),
    undefined,
  );
  assertEquals(
    parseDerSignature(fromHex("3006020181020101")),
    undefined,
    "negative r",
  );
  assertThrows(() => P256PublicKey.fromBytes(new Uint8Array(65).fill(4)));
  assertThrows(() => P256PublicKey.fromBytes(new Uint8Array(64)));
});

Deno.test("p256 - exceptional additions: doubling and the point at infinity", () => {
  // Public key G (secret key 1). With s = r and e = r: u1 = 1, u2 = 1, R = G + G: the second
  // addition meets the accumulator's own point and must double.
  const one = hex32(1n);
  const g = P256PublicKey.fromBytes(publicKeyOf(one));
  const two = p256.Point.BASE.double().toAffine();
  const r = two.x % N;
  const plain = P256PublicKey.fromBytes(publicKeyOf(one));
  g.precompute();
  assert(g.verifyDigest(hex32(r), r, r), "2G with a table");
  assert(plain.verifyDigest(hex32(r), r, r), "2G without a table");
  assert(!g.verifyDigest(hex32(r), r + 1n, r + 1n), "a different r");
  // u1 = 1, u2 = −1: R = G − G is the point at infinity, which must not verify for any r.
  for (const r of [1n, 2n, 12345n, N - 1n]) {
    const s = N - r; // u2 = r / (−r) = −1
    const e = N - r; // u1 = e / s = 1
    assert(!g.verifyDigest(hex32(e), r, s), `infinity, table, r=${r}`);
    assert(!plain.verifyDigest(hex32(e), r, s), `infinity, no table, r=${r}`);
  }
});

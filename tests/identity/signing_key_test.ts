import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { AuthError } from "../../lib/errors.ts";
import {
  SigningKey,
  VerifyKeyCache,
  verifySignature,
  verifySignatureSync,
} from "../../lib/identity/mod.ts";
import { derToP1363, p1363ToDer } from "../../lib/crypto/ecdsa_der.ts";

const N = p256.Point.CURVE().n;
const DATA = new TextEncoder().encode("header integrity aad bytes");

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromBigInt(v: bigint): Uint8Array {
  const hex = v.toString(16).padStart(64, "0");
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

/** The same signature with S replaced by n − S (the other valid S). */
function flipS(der: Uint8Array): Uint8Array {
  const raw = derToP1363(der)!;
  const s = BigInt("0x" + toHex(raw.subarray(32)));
  const out = new Uint8Array(64);
  out.set(raw.subarray(0, 32));
  out.set(fromBigInt(N - s), 32);
  return p1363ToDer(out);
}

async function webCryptoKeys(key: SigningKey) {
  const b64u = (b: Uint8Array) =>
    btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const pub = key.publicKey;
  const jwk = { kty: "EC", crv: "P-256", x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33)) };
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const priv = await crypto.subtle.importKey(
    "jwk",
    { ...jwk, d: b64u(key.privateKey) },
    alg,
    false,
    ["sign"],
  );
  const verify = await crypto.subtle.importKey("jwk", jwk, alg, false, ["verify"]);
  return { priv, verify };
}

Deno.test("generated keys: 65-byte uncompressed public key, 32-byte scalar", () => {
  const key = SigningKey.generate();
  assert.equal(key.publicKey.length, 65);
  assert.equal(key.publicKey[0], 4);
  assert.equal(key.privateKey.length, 32);
  assert.deepEqual(key.publicKey, p256.getPublicKey(key.privateKey, false));
  assert.equal(key.publicKeyBase64, btoa(String.fromCharCode(...key.publicKey)));
  assert.notDeepEqual(SigningKey.generate().publicKey, key.publicKey);
});

Deno.test("fromPrivateKey restores the pair; short scalars are left-padded", () => {
  const key = SigningKey.generate();
  assert.deepEqual(SigningKey.fromPrivateKey(key.privateKey).publicKey, key.publicKey);
  // A scalar whose top byte is zero, delivered without it (as AWS-LC does).
  const scalar = new Uint8Array(32);
  scalar.set(p256.utils.randomSecretKey().subarray(1), 1);
  const padded = SigningKey.fromPrivateKey(scalar);
  assert.deepEqual(SigningKey.fromPrivateKey(scalar.subarray(1)).publicKey, padded.publicKey);
  for (const bad of [new Uint8Array(0), new Uint8Array(32), fromBigInt(N), new Uint8Array(33)]) {
    assert.throws(() => SigningKey.fromPrivateKey(bad), AuthError);
  }
  // The private key getter hands out a copy.
  key.privateKey.fill(0);
  assert.notDeepEqual(key.privateKey, new Uint8Array(32));
});

Deno.test("our signatures verify with noble, WebCrypto and our verifiers", async () => {
  const key = SigningKey.generate();
  const { verify } = await webCryptoKeys(key);
  const cache = new VerifyKeyCache();
  for (let i = 0; i < 20; i++) {
    const data = crypto.getRandomValues(new Uint8Array(50 + i * 17));
    const der = i % 2 ? key.signSync(data) : await key.sign(data);
    assert.ok(der.length >= 8 && der.length <= 72 && der[0] === 0x30);
    assert.ok(p256.verify(der, data, key.publicKey, { format: "der", lowS: false }));
    // Deterministic, low S: the bytes noble's default signer produced before ours replaced it.
    assert.deepEqual(der, p256.sign(data, key.privateKey, { format: "der" }));
    const raw = derToP1363(der)!;
    assert.ok(
      await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, verify, raw, data),
    );
    assert.ok(await verifySignature(key.publicKey, data, der));
    assert.ok(await verifySignature(key.publicKey, data, der, cache));
    assert.ok(verifySignatureSync(key.publicKey, data, der));
    assert.ok(await key.verify(data, der, cache));
  }
  assert.equal(cache.size, 1);
});

Deno.test("high-S signatures (WebCrypto's, and flipped ones) are accepted", async () => {
  const key = SigningKey.generate();
  const { priv } = await webCryptoKeys(key);
  for (let i = 0; i < 8; i++) {
    const raw = new Uint8Array(
      await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, priv, DATA),
    );
    // One of S and n − S is above n/2, so between them both halves are exercised.
    const der = p1363ToDer(raw);
    const other = flipS(der);
    for (const sig of [der, other]) {
      assert.ok(await verifySignature(key.publicKey, DATA, sig));
      assert.ok(verifySignatureSync(key.publicKey, DATA, sig));
    }
  }
});

/** `der` with a redundant leading zero byte added to R (valid BER, invalid DER). */
function nonMinimalR(der: Uint8Array): Uint8Array {
  const rLength = der[3];
  const rBody = der.subarray(4, 4 + rLength);
  const rest = der.subarray(4 + rLength);
  const body = [0x02, rLength + 1, 0x00, ...rBody, ...rest];
  return new Uint8Array([0x30, body.length, ...body]);
}

Deno.test("wrong data, key or signature, and malformed input give false", async () => {
  const key = SigningKey.generate();
  const der = key.signSync(DATA);
  const other = SigningKey.generate();
  const tampered = DATA.slice();
  tampered[0] ^= 1;
  const cache = new VerifyKeyCache();
  const badSig = der.slice();
  badSig[badSig.length - 1] ^= 1;
  const raw = derToP1363(der)!;
  const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
    [key.publicKey, tampered, der],
    [other.publicKey, DATA, der],
    [key.publicKey, DATA, badSig],
    [key.publicKey, DATA, new Uint8Array(0)],
    [key.publicKey, DATA, raw], // P1363 instead of DER
    [key.publicKey, DATA, new Uint8Array([...der, 0])], // trailing byte
    [key.publicKey, DATA, nonMinimalR(der)],
    [new Uint8Array(65), DATA, der], // not a curve point
    [key.publicKey.subarray(0, 64), DATA, der], // wrong length
  ];
  for (const [pub, data, sig] of cases) {
    assert.equal(await verifySignature(pub, data, sig), false);
    assert.equal(await verifySignature(pub, data, sig, cache), false);
    assert.equal(verifySignatureSync(pub, data, sig), false);
  }
});

Deno.test("compressed P-256 public keys and Ed25519 keys verify", async () => {
  const key = SigningKey.generate();
  const der = key.signSync(DATA);
  const compressed = p256.getPublicKey(key.privateKey, true);
  assert.ok(await verifySignature(compressed, DATA, der));
  assert.ok(await verifySignature(compressed, DATA, der, new VerifyKeyCache()));
  assert.ok(verifySignatureSync(compressed, DATA, der));

  const ed = ed25519.keygen();
  const sig = ed25519.sign(DATA, ed.secretKey);
  assert.ok(await verifySignature(ed.publicKey, DATA, sig));
  assert.ok(verifySignatureSync(ed.publicKey, DATA, sig));
  assert.equal(await verifySignature(ed.publicKey, DATA.subarray(1), sig), false);
});

Deno.test("DER <-> P1363 conversion round-trips", () => {
  const key = SigningKey.generate();
  for (let i = 0; i < 200; i++) {
    const der = key.signSync(crypto.getRandomValues(new Uint8Array(16)));
    const raw = derToP1363(der)!;
    assert.equal(raw.length, 64);
    assert.deepEqual(p1363ToDer(raw), der);
  }
  // Short R and S (leading zero bytes) encode minimally.
  const raw = new Uint8Array(64);
  raw[31] = 1;
  raw[32] = 0x80;
  raw[63] = 2;
  const der = p1363ToDer(raw);
  // R = 1 takes one byte; S has its top bit set and needs a zero byte in front.
  assert.deepEqual(der.subarray(0, 8), new Uint8Array([0x30, 38, 0x02, 1, 1, 0x02, 33, 0]));
  assert.deepEqual(derToP1363(der), raw);
});

Deno.test("key cache keeps at most its capacity", async () => {
  const cache = new VerifyKeyCache(2);
  const keys = [SigningKey.generate(), SigningKey.generate(), SigningKey.generate()];
  for (const k of keys) {
    assert.ok(await verifySignature(k.publicKey, DATA, k.signSync(DATA), cache));
  }
  assert.equal(cache.size, 2);
  // An invalid point is not kept.
  await verifySignature(
    new Uint8Array([4, ...new Uint8Array(64)]),
    DATA,
    keys[0].signSync(DATA),
    cache,
  );
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(cache.size, 2);
});

Deno.test("inspecting a key never shows the private scalar", () => {
  const key = SigningKey.generate();
  const hex = toHex(key.privateKey);
  const shown = [Deno.inspect(key), String(key), JSON.stringify(key), Deno.inspect({ key })];
  for (const s of shown) {
    assert.ok(!s.includes(hex));
    assert.ok(!s.includes(btoa(String.fromCharCode(...key.privateKey))));
  }
});

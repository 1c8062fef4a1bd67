/**
 * `lib/mls/aead.ts` (AES-GCM on `node:crypto`) and `lib/mls/hpke.ts` (RFC 9180 for
 * ciphersuite 2): known answers from the GCM specification and RFC 9180 A.3.1, cross-checks
 * with ts-mls's stock HPKE (`@hpke/core` on WebCrypto) in both directions, tamper rejection.
 * @module
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { aesGcmOpen, aesGcmSeal } from "../../lib/mls/aead.ts";
import { deriveKeyPair, openBase, p256Hpke, sealBase } from "../../lib/mls/hpke.ts";
import { referenceCiphersuite } from "../../lib/mls/mod.ts";
import { fromHex, prng, randomBytes, toHex } from "../fixtures/captures.ts";

Deno.test("aes-gcm - GCM specification test cases 2 and 4 (AES-128)", () => {
  const zero = new Uint8Array(16);
  assertEquals(
    toHex(aesGcmSeal(zero, new Uint8Array(12), new Uint8Array(0), zero)),
    "0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf",
  );
  const key = fromHex("feffe9928665731c6d6a8f9467308308");
  const iv = fromHex("cafebabefacedbaddecaf888");
  const aad = fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const pt = fromHex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
  );
  const sealed = aesGcmSeal(key, iv, aad, pt);
  assertEquals(
    toHex(sealed),
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" +
      "5bc94fbc3221a5db94fae95ae7121a47",
  );
  assertEquals(toHex(aesGcmOpen(key, iv, aad, sealed)), toHex(pt));
});

Deno.test("aes-gcm - agrees with ts-mls's stock AEAD; any tampering fails", async () => {
  const reference = await referenceCiphersuite();
  const rand = prng(21);
  for (const n of [0, 1, 12, 15, 16, 17, 100, 256, 1000]) {
    const key = randomBytes(rand, 16), nonce = randomBytes(rand, 12);
    const aad = randomBytes(rand, n % 3 === 0 ? 0 : 40 + n);
    const pt = randomBytes(rand, n);
    const ours = aesGcmSeal(key, nonce, aad, pt);
    assertEquals(toHex(ours), toHex(await reference.hpke.encryptAead(key, nonce, aad, pt)));
    assertEquals(toHex(await reference.hpke.decryptAead(key, nonce, aad, ours)), toHex(pt));
    const flip = (b: Uint8Array, i: number) => b.map((v, j) => j === i ? v ^ 1 : v);
    assertThrows(() => aesGcmOpen(key, nonce, aad, flip(ours, 0)));
    assertThrows(() => aesGcmOpen(key, nonce, aad, flip(ours, ours.length - 1)));
    assertThrows(() => aesGcmOpen(flip(key, 3), nonce, aad, ours));
    assertThrows(() => aesGcmOpen(key, flip(nonce, 11), aad, ours));
    assertThrows(() => aesGcmOpen(key, nonce, new Uint8Array([...aad, 0]), ours));
  }
  assertThrows(() =>
    aesGcmOpen(new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), new Uint8Array(15))
  );
  assertThrows(() =>
    aesGcmSeal(new Uint8Array(15), new Uint8Array(12), new Uint8Array(0), new Uint8Array(1))
  );
  assertThrows(() =>
    aesGcmSeal(new Uint8Array(16), new Uint8Array(8), new Uint8Array(0), new Uint8Array(1))
  );
});

/** RFC 9180 A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode. */
const A31 = {
  ikmE: "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
  skEm: "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb",
  pkEm: "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac9" +
    "8536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
  ikmR: "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
  skRm: "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
  pkRm: "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a82" +
    "6a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
  info: "4f6465206f6e2061204772656369616e2055726e",
  aad: "436f756e742d30",
  pt: "4265617574792069732074727574682c20747275746820626561757479",
  ct: "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f" +
    "9076ac232e3ab2523f39513434",
};

Deno.test("hpke - RFC 9180 A.3.1 known answers (DeriveKeyPair, SealBase, OpenBase)", async () => {
  const e = deriveKeyPair(fromHex(A31.ikmE));
  assertEquals(toHex(e.secretKey), A31.skEm);
  assertEquals(toHex(e.publicKey), A31.pkEm);
  const r = deriveKeyPair(fromHex(A31.ikmR));
  assertEquals(toHex(r.secretKey), A31.skRm);
  assertEquals(toHex(r.publicKey), A31.pkRm);
  const { enc, ct } = await sealBase(
    fromHex(A31.skEm),
    fromHex(A31.pkRm),
    fromHex(A31.info),
    fromHex(A31.aad),
    fromHex(A31.pt),
  );
  assertEquals(toHex(enc), A31.pkEm);
  assertEquals(toHex(ct), A31.ct);
  const pt = await openBase(fromHex(A31.skRm), enc, fromHex(A31.info), fromHex(A31.aad), ct);
  assertEquals(toHex(pt), A31.pt);
  await assertRejects(() =>
    openBase(fromHex(A31.skRm), enc, fromHex(A31.info), fromHex("436f756e742d31"), ct)
  );
  // An encapsulated key that is not a point of the curve is refused.
  const badEnc = new Uint8Array(65).fill(4);
  await assertRejects(() =>
    openBase(fromHex(A31.skRm), badEnc, fromHex(A31.info), fromHex(A31.aad), ct)
  );
});

Deno.test("hpke - interoperates with ts-mls's stock HPKE in both directions", async () => {
  const ours = p256Hpke();
  const theirs = (await referenceCiphersuite()).hpke;
  const rand = prng(22);
  for (let i = 0; i < 6; i++) {
    const ikm = randomBytes(rand, 32);
    const a = await ours.deriveKeyPair(ikm);
    const b = await theirs.deriveKeyPair(ikm);
    const pub = await ours.exportPublicKey(a.publicKey);
    const priv = await ours.exportPrivateKey(a.privateKey);
    assertEquals(toHex(pub), toHex(await theirs.exportPublicKey(b.publicKey)));
    assertEquals(toHex(priv), toHex(await theirs.exportPrivateKey(b.privateKey)));
    const info = randomBytes(rand, 10 + i), aad = randomBytes(rand, i * 5);
    const pt = randomBytes(rand, 33 + i * 40);
    // ours → theirs
    const sealed = await ours.seal(await ours.importPublicKey(pub), pt, info, aad);
    const opened = await theirs.open(
      await theirs.importPrivateKey(priv),
      sealed.enc,
      sealed.ct,
      info,
      aad,
    );
    assertEquals(toHex(opened), toHex(pt));
    // theirs → ours
    const back = await theirs.seal(await theirs.importPublicKey(pub), pt, info, aad);
    assertEquals(
      toHex(await ours.open(await ours.importPrivateKey(priv), back.enc, back.ct, info, aad)),
      toHex(pt),
    );
    // exporter secrets, both directions
    const exported = await ours.exportSecret(await ours.importPublicKey(pub), info, 32, aad);
    assertEquals(
      toHex(
        await theirs.importSecret(await theirs.importPrivateKey(priv), info, exported.enc, 32, aad),
      ),
      toHex(exported.secret),
    );
    const exported2 = await theirs.exportSecret(await theirs.importPublicKey(pub), info, 32, aad);
    assertEquals(
      toHex(
        await ours.importSecret(await ours.importPrivateKey(priv), info, exported2.enc, 32, aad),
      ),
      toHex(exported2.secret),
    );
    // tampering and the wrong key fail
    const other = await ours.generateKeyPair();
    await assertRejects(() => ours.open(other.privateKey, sealed.enc, sealed.ct, info, aad));
    const flipped = sealed.ct.map((v, j) => j === 0 ? v ^ 1 : v);
    await assertRejects(() => ours.open(a.privateKey, sealed.enc, flipped, info, aad));
    await assertRejects(() =>
      ours.open(a.privateKey, sealed.enc, sealed.ct, new Uint8Array([...info, 1]), aad)
    );
  }
});

Deno.test("hpke - key import validates, keys are opaque records of this implementation", async () => {
  const ours = p256Hpke();
  await assertRejects(() => ours.importPublicKey(new Uint8Array(65).fill(4)));
  await assertRejects(() => ours.importPublicKey(new Uint8Array(33).fill(2)));
  await assertRejects(() => ours.importPrivateKey(new Uint8Array(32)));
  await assertRejects(() => ours.importPrivateKey(new Uint8Array(31).fill(1)));
  const { publicKey, privateKey } = await ours.generateKeyPair();
  assertEquals((await ours.exportPublicKey(publicKey)).length, 65);
  assertEquals((await ours.exportPrivateKey(privateKey)).length, 32);
  // A public key where a private one is expected (and vice versa) is refused, not misused.
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => ours.exportPrivateKey(publicKey as any));
  const reference = await referenceCiphersuite();
  const foreign = await reference.hpke.generateKeyPair();
  await assertRejects(() => ours.exportPublicKey(foreign.publicKey));
  assert(ours.keyLength === 16 && ours.nonceLength === 12);
});

/**
 * HPKE (RFC 9180) for ciphersuite 2: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base
 * mode, single-shot, as the ts-mls `Hpke` interface.
 *
 * Why not ts-mls's (`@hpke/core`): every HKDF step there is an asynchronous WebCrypto HMAC with
 * its own key import, and keys travel as `CryptoKey`s that ts-mls imports and exports around
 * every use. Processing one commit in a group of 32 cost each member ~2 ms of HPKE (one `open`
 * of its path secret, then a key-pair derivation, a private-key export and a public-key export
 * per node up to the root); creating one cost the committer ~5 ms. Here keys are plain bytes,
 * the KDF is `sha256.ts`, the AEAD `aead.ts` and the curve arithmetic `p256.ts`, all
 * synchronous: a derivation is one generator multiplication on a precomputed table (~40 µs), an
 * `open` or `seal` one variable-base multiplication (~330 µs).
 *
 * Wire compatibility (the same encapsulations, derived keys and ciphertexts as `@hpke/core` and
 * mls-rs) is pinned by cross-tests against `@hpke/core` and by the interop tests.
 *
 * Key objects: ts-mls types HPKE keys as `CryptoKey`s but only ever hands them back to this
 * object, so they are opaque {@link HpkeKey} records here (an internal of ts-mls 1.6.4 relied
 * upon; see the `Hpke` interface in `ts-mls/crypto/hpke.d.ts`).
 * @module
 */
import type { Hpke, PrivateKey, PublicKey } from "ts-mls";
import { p256 } from "@noble/curves/nist.js";
import { aesGcmOpen, aesGcmSeal } from "./aead.ts";
import { P256PublicKey, publicKeyOf, scalarFromBytes } from "../crypto/p256.ts";
import { hkdfExpand, hkdfExtract } from "../crypto/sha256.ts";
import { concatBytes } from "../bytes.ts";

/** An HPKE key as handed to ts-mls: its serialized form (65-byte point or 32-byte scalar). */
export interface HpkeKey {
  readonly type: "public" | "private";
  readonly bytes: Uint8Array;
}

const utf8 = new TextEncoder();
const VERSION = utf8.encode("HPKE-v1");
/** `"KEM" ‖ I2OSP(0x0010, 2)`: DHKEM(P-256, HKDF-SHA256). */
const KEM_SUITE = new Uint8Array([0x4b, 0x45, 0x4d, 0x00, 0x10]);
/** `"HPKE" ‖ kem 0x0010 ‖ kdf 0x0001 ‖ aead 0x0001`. */
const HPKE_SUITE = new Uint8Array([0x48, 0x50, 0x4b, 0x45, 0x00, 0x10, 0x00, 0x01, 0x00, 0x01]);
const EMPTY = new Uint8Array(0);
const KEY_LENGTH = 16;
const NONCE_LENGTH = 12;
const SECRET_LENGTH = 32;
const MODE_BASE = 0;

function labeledExtract(
  suite: Uint8Array,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
): Uint8Array {
  return hkdfExtract(salt, concatBytes(VERSION, suite, utf8.encode(label), ikm));
}

function labeledExpand(
  suite: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const prefix = new Uint8Array([length >>> 8, length & 0xff]);
  return hkdfExpand(prk, concatBytes(prefix, VERSION, suite, utf8.encode(label), info), length);
}

/** `ExtractAndExpand(dh, kem_context)` of DHKEM. */
function sharedSecret(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  const secret = labeledExpand(KEM_SUITE, prk, "shared_secret", kemContext, SECRET_LENGTH);
  prk.fill(0);
  dh.fill(0);
  return secret;
}

interface Context {
  key: Uint8Array;
  nonce: Uint8Array;
  exporter: Uint8Array;
}

/** `KeyScheduleS/R` in base mode (no PSK). */
function keySchedule(shared: Uint8Array, info: Uint8Array): Context {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concatBytes(new Uint8Array([MODE_BASE]), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
  shared.fill(0);
  const key = labeledExpand(HPKE_SUITE, secret, "key", context, KEY_LENGTH);
  const nonce = labeledExpand(HPKE_SUITE, secret, "base_nonce", context, NONCE_LENGTH);
  const exporter = labeledExpand(HPKE_SUITE, secret, "exp", context, SECRET_LENGTH);
  secret.fill(0);
  return { key, nonce, exporter };
}

function wipe(context: Context): void {
  context.key.fill(0);
  context.nonce.fill(0);
  context.exporter.fill(0);
}

function keyOf(k: PublicKey | PrivateKey, type: HpkeKey["type"]): Uint8Array {
  const key = k as unknown as HpkeKey;
  if (key?.type !== type || !(key.bytes instanceof Uint8Array)) {
    throw new TypeError(`hpke: expected a ${type} key of this implementation`);
  }
  return key.bytes;
}

function publicKey(bytes: Uint8Array): PublicKey {
  return { type: "public", bytes } satisfies HpkeKey as unknown as PublicKey;
}

function privateKey(bytes: Uint8Array): PrivateKey {
  return { type: "private", bytes } satisfies HpkeKey as unknown as PrivateKey;
}

/** `DeserializePublicKey`: a 65-byte uncompressed point of the curve. */
function parsePublicKey(bytes: Uint8Array): P256PublicKey {
  if (bytes.length !== 65) throw new RangeError("hpke: public key must be 65 bytes");
  return P256PublicKey.fromBytes(bytes);
}

/** PKCS #8 `PrivateKeyInfo` head of a P-256 key without its public key; the scalar follows. */
const PKCS8_P256_HEAD = new Uint8Array([
  0x30,
  0x41,
  0x02,
  0x01,
  0x00,
  0x30,
  0x13,
  0x06,
  0x07,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x02,
  0x01,
  0x06,
  0x08,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x03,
  0x01,
  0x07,
  0x04,
  0x27,
  0x30,
  0x25,
  0x02,
  0x01,
  0x01,
  0x04,
  0x20,
]);
const ECDH_P256 = { name: "ECDH", namedCurve: "P-256" } as const;

/**
 * `DH(sk, pk)`: the x-coordinate of `sk · pk`, by WebCrypto. A variable-base multiplication
 * is the one operation here where Deno's native P-256 beats `bigint` arithmetic (~230 µs of CPU
 * with both key imports against ~370 µs, measured), and it runs off the main thread, several at
 * once when ts-mls encrypts a path to several nodes concurrently. WebCrypto validates the point.
 */
async function dh(sk: Uint8Array, pk: Uint8Array): Promise<Uint8Array> {
  const pkcs8 = new Uint8Array(PKCS8_P256_HEAD.length + 32);
  pkcs8.set(PKCS8_P256_HEAD, 0);
  pkcs8.set(sk, PKCS8_P256_HEAD.length);
  try {
    const [privateKey, publicKey] = await Promise.all([
      crypto.subtle.importKey("pkcs8", pkcs8, ECDH_P256, false, ["deriveBits"]),
      crypto.subtle.importKey("raw", pk as Uint8Array<ArrayBuffer>, ECDH_P256, false, []),
    ]);
    return new Uint8Array(
      await crypto.subtle.deriveBits({ name: "ECDH", public: publicKey }, privateKey, 256),
    );
  } finally {
    pkcs8.fill(0);
  }
}

/** `Encap(pkR)` with the ephemeral secret `skE`: `[shared_secret, enc]`. */
async function encap(skE: Uint8Array, pkR: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  if (pkR.length !== 65) throw new RangeError("hpke: public key must be 65 bytes");
  const enc = publicKeyOf(skE);
  return [sharedSecret(await dh(skE, pkR), concatBytes(enc, pkR)), enc];
}

/** `Decap(enc, skR)`. */
async function decap(enc: Uint8Array, skR: Uint8Array): Promise<Uint8Array> {
  if (enc.length !== 65) throw new RangeError("hpke: encapsulated key must be 65 bytes");
  return sharedSecret(await dh(skR, enc), concatBytes(enc, publicKeyOf(skR)));
}

/** `DeriveKeyPair(ikm)` of DHKEM(P-256): rejection sampling of the secret scalar. */
export function deriveKeyPair(ikm: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "dkp_prk", ikm);
  try {
    for (let counter = 0; counter < 256; counter++) {
      const candidate = labeledExpand(KEM_SUITE, prk, "candidate", new Uint8Array([counter]), 32);
      // The bitmask of P-256 is 0xff: the candidate is used as is.
      try {
        return { secretKey: candidate, publicKey: publicKeyOf(candidate) };
      } catch {
        candidate.fill(0); // 0 or ≥ n: next counter
      }
    }
  } finally {
    prk.fill(0);
  }
  throw new RangeError("hpke: DeriveKeyPair found no valid key");
}

/**
 * Single-shot `SealBase` with the ephemeral secret key `skE` (the random one in normal use; a
 * fixed one in known-answer tests): `enc` and `ct`.
 */
export async function sealBase(
  skE: Uint8Array,
  pkR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const [shared, enc] = await encap(skE, pkR);
  const context = keySchedule(shared, info);
  try {
    return { enc, ct: aesGcmSeal(context.key, context.nonce, aad, plaintext) };
  } finally {
    wipe(context);
  }
}

/** Single-shot `OpenBase`; throws when `ct` does not authenticate. */
export async function openBase(
  skR: Uint8Array,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Promise<Uint8Array> {
  const context = keySchedule(await decap(enc, skR), info);
  try {
    return aesGcmOpen(context.key, context.nonce, aad, ct);
  } finally {
    wipe(context);
  }
}

/** A random ephemeral or static key pair. */
function generateKeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = p256.utils.randomSecretKey();
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}

function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The ts-mls `Hpke` of ciphersuite 2 (see the module documentation). */
export function p256Hpke(): Hpke {
  return {
    async seal(pk, plaintext, info, aad) {
      const { secretKey: skE } = generateKeyPair();
      try {
        return await sealBase(skE, keyOf(pk, "public"), info, aad ?? EMPTY, plaintext);
      } finally {
        skE.fill(0);
      }
    },
    async open(sk, enc, ciphertext, info, aad) {
      return await openBase(keyOf(sk, "private"), enc, info, aad ?? EMPTY, ciphertext);
    },
    async exportSecret(pk, exporterContext, length, info) {
      const { secretKey: skE } = generateKeyPair();
      let shared: Uint8Array, enc: Uint8Array;
      try {
        [shared, enc] = await encap(skE, keyOf(pk, "public"));
      } finally {
        skE.fill(0);
      }
      const context = keySchedule(shared, info);
      const secret = labeledExpand(HPKE_SUITE, context.exporter, "sec", exporterContext, length);
      wipe(context);
      return { enc, secret };
    },
    async importSecret(sk, exporterContext, enc, length, info) {
      const context = keySchedule(await decap(enc, keyOf(sk, "private")), info);
      const secret = labeledExpand(HPKE_SUITE, context.exporter, "sec", exporterContext, length);
      wipe(context);
      return secret;
    },
    importPrivateKey(k) {
      return attempt(() => {
        scalarFromBytes(k); // validates: 32 bytes, in [1, n)
        return privateKey(k.slice());
      });
    },
    importPublicKey(k) {
      return attempt(() => {
        parsePublicKey(k);
        return publicKey(k.slice());
      });
    },
    exportPublicKey(k) {
      return attempt(() => keyOf(k, "public").slice());
    },
    exportPrivateKey(k) {
      return attempt(() => keyOf(k, "private").slice());
    },
    encryptAead(key, nonce, aad, plaintext) {
      return attempt(() => aesGcmSeal(key, nonce, aad ?? EMPTY, plaintext));
    },
    decryptAead(key, nonce, aad, ciphertext) {
      return attempt(() => aesGcmOpen(key, nonce, aad ?? EMPTY, ciphertext));
    },
    deriveKeyPair(ikm) {
      return attempt(() => {
        const { secretKey, publicKey: pk } = deriveKeyPair(ikm);
        return { privateKey: privateKey(secretKey), publicKey: publicKey(pk) };
      });
    },
    generateKeyPair() {
      return attempt(() => {
        const { secretKey, publicKey: pk } = generateKeyPair();
        return { privateKey: privateKey(secretKey), publicKey: publicKey(pk) };
      });
    },
    keyLength: KEY_LENGTH,
    nonceLength: NONCE_LENGTH,
  };
}

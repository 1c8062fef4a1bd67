/**
 * The ts-mls `CiphersuiteImpl` used by slim-ts for ciphersuite 2
 * (`MLS_128_DHKEMP256_AES128GCM_SHA256_P256`), tuned for application messages and commits.
 *
 * Every application message costs the sender one ECDSA P-256 signature and each receiver one
 * verification, plus a handful of HKDF expansions and two AES-128-GCM operations; every commit
 * costs tree and transcript hashes, HKDF for the key schedule and, with an UpdatePath, HPKE.
 * ts-mls's stock provider does the ECDSA in pure JS (noble's generic code) and every HKDF step
 * through asynchronous WebCrypto HMAC calls (`@hpke/core`), each re-importing its key. Measured
 * under Deno 2.9.6 (`tests/mls/bench_mls.ts` and the figures quoted in each module), the
 * fastest mix is:
 *
 * - **sign**: `p256.ts`, RFC 6979 on a precomputed table of the generator, ~80 µs (noble
 *   ~160 µs, WebCrypto ~530 µs), byte-identical to noble's output;
 * - **verify**: {@link P256Verifier} (`lib/identity/p256_verifier.ts`): a precomputed table per key that signs
 *   often (~90 µs), WebCrypto for the others (~330 µs of CPU, off the main thread), and a memo
 *   of verified signatures. Each ciphersuite object owns its verifier; an app builds one and
 *   shares it among its sessions, so nothing is shared between apps behind their back;
 * - **HKDF, HMAC, SHA-256**: `sha256.ts`, synchronous and allocation-free (about 3× noble for
 *   the short inputs MLS uses); `node:crypto` for digests of long inputs;
 * - **HPKE**: `hpke.ts` (RFC 9180 on the above, with WebCrypto for the Diffie-Hellman), whose
 *   AEAD, like the one of application messages (`app_message.ts`), is `node:crypto`'s AES-GCM
 *   (`aead.ts`, 4–5× noble and 7× WebCrypto at message sizes).
 *
 * Signatures are DER as in mls-rs. Signing does not normalise S (the bytes the research proved
 * against the real peer), and verification accepts high-S signatures, because mls-rs/AWS-LC
 * does not normalise S either.
 * @module
 */
import {
  type CiphersuiteImpl,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  type Hash,
  type Kdf,
  nobleCryptoProvider,
  type Signature,
} from "ts-mls";
import { p256 } from "@noble/curves/nist.js";
import { p256Hpke } from "./hpke.ts";
import { publicKeyOf, signP256 } from "../crypto/p256.ts";
import {
  digestSha256,
  equalConstantTime,
  hkdfExpand,
  hkdfExtract,
  hmacSha256,
} from "../crypto/sha256.ts";
import { P256Verifier } from "../identity/p256_verifier.ts";
import { MLS_CIPHERSUITE } from "./suite.ts";

/**
 * ECDSA P-256/SHA-256 with DER signatures on `p256.ts` (signing) and {@link P256Verifier}
 * (verification: comb tables for hot keys, WebCrypto for the others, memo of verified
 * signatures).
 *
 * `keygen` returns an uncompressed (65-byte) public key, the form mls-rs and the SLIM token
 * claim use; slim-ts itself always signs with the app's key and never calls it.
 * @param verifier Holds the key tables and the memo of verified signatures.
 */
export function p256Signature(verifier: P256Verifier = new P256Verifier()): Signature {
  return {
    sign(signKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
      try {
        return Promise.resolve(signP256(signKey, message));
      } catch (e) {
        return Promise.reject(e);
      }
    },
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
      // Never rejects; accepts high-S and rejects non-strict DER.
      return verifier.verify(publicKey, message, signature);
    },
    keygen(): Promise<{ publicKey: Uint8Array; signKey: Uint8Array }> {
      const signKey = p256.utils.randomSecretKey();
      return Promise.resolve({ signKey, publicKey: publicKeyOf(signKey) });
    },
  };
}

/** HKDF-SHA256 (`sha256.ts`): synchronous work behind the promise ts-mls expects. */
export function sha256Kdf(): Kdf {
  return {
    size: 32,
    extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(hkdfExtract(salt, ikm));
    },
    expand(prk: Uint8Array, info: Uint8Array, len: number): Promise<Uint8Array> {
      try {
        return Promise.resolve(hkdfExpand(prk, info, len));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

/** SHA-256 and HMAC-SHA256 (`sha256.ts`), with a constant-time MAC comparison. */
export function sha256Hash(): Hash {
  return {
    digest(data: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(digestSha256(data));
    },
    mac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(hmacSha256(key, data));
    },
    verifyMac(key: Uint8Array, mac: Uint8Array, data: Uint8Array): Promise<boolean> {
      return Promise.resolve(equalConstantTime(hmacSha256(key, data), mac));
    },
  };
}

/**
 * The slim-ts implementation of ciphersuite 2 (see the module doc). Stateless apart from the
 * verifier's caches: build one per app and give it to each of its {@link MlsMember}s, so that a
 * sender's key table outlives the session that made it hot.
 * @param verifier @default a new {@link P256Verifier} of default capacity
 */
export async function slimCiphersuite(
  verifier: P256Verifier = new P256Verifier(),
): Promise<CiphersuiteImpl> {
  const base = await nobleCryptoProvider.getCiphersuiteImpl(
    getCiphersuiteFromName(MLS_CIPHERSUITE),
  );
  return {
    ...base,
    hash: sha256Hash(),
    kdf: sha256Kdf(),
    signature: p256Signature(verifier),
    hpke: p256Hpke(),
  };
}

/**
 * ts-mls's stock provider for ciphersuite 2 (WebCrypto AEAD/HKDF, noble ECDSA): the baseline
 * of the benchmark, and a fallback should {@link slimCiphersuite} ever be suspected.
 */
export function referenceCiphersuite(): Promise<CiphersuiteImpl> {
  return defaultCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
}

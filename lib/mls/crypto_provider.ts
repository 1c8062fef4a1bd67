/**
 * The ts-mls `CiphersuiteImpl` used by slim-ts for ciphersuite 2, tuned for the application
 * message hot path.
 *
 * Every application message costs the sender one ECDSA P-256 signature and each receiver one
 * verification, plus a handful of HKDF expansions (secret-tree ratchet, sender-data key and
 * nonce) and two AES-128-GCM operations. ts-mls's default provider does the ECDSA in pure JS
 * (noble) and every HKDF step through asynchronous WebCrypto HMAC calls (`@hpke/core`), each of
 * which re-imports its key. Measured under Deno (`tests/mls/bench_mls.ts`), the fastest mix is:
 *
 * - **sign**: noble (`@noble/curves`), synchronous; under Deno it is faster than WebCrypto's
 *   ECDSA signing (the same finding as `lib/identity/signing_key.ts`);
 * - **verify**: WebCrypto, with imported keys cached per public key (one import per member)
 *   and DER↔P1363 conversion; several times faster than noble;
 * - **HKDF and HMAC, SHA-256, AES-GCM**: noble, synchronous, which removes a dozen promise
 *   round trips through the WebCrypto thread per message;
 * - **HPKE** (only used by commits and Welcomes): ts-mls's noble provider.
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
import { expand, extract } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { VerifyKeyCache, verifySignature } from "../identity/mod.ts";
import { MLS_CIPHERSUITE } from "./suite.ts";

/**
 * ECDSA P-256/SHA-256 with DER signatures: noble signing, WebCrypto verification.
 *
 * `keygen` returns an uncompressed (65-byte) public key, the form mls-rs and the SLIM token
 * claim use; slim-ts itself always signs with the app's key and never calls it.
 * @param cache Imported verification keys; one per process is enough (keys are public).
 */
export function p256Signature(cache: VerifyKeyCache = sharedVerifyKeys): Signature {
  return {
    sign(signKey: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
      try {
        return Promise.resolve(
          p256.sign(message, signKey, { prehash: true, format: "der", lowS: false }),
        );
      } catch (e) {
        return Promise.reject(e);
      }
    },
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
      // verifySignature never throws, accepts high-S and rejects non-strict DER.
      return verifySignature(publicKey, message, signature, cache);
    },
    keygen(): Promise<{ publicKey: Uint8Array; signKey: Uint8Array }> {
      const signKey = p256.utils.randomSecretKey();
      return Promise.resolve({ signKey, publicKey: p256.getPublicKey(signKey, false) });
    },
  };
}

/** HKDF-SHA256 on noble: synchronous work behind the promise ts-mls expects. */
export function sha256Kdf(): Kdf {
  return {
    size: 32,
    extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(extract(sha256, ikm, salt));
    },
    expand(prk: Uint8Array, info: Uint8Array, len: number): Promise<Uint8Array> {
      try {
        return Promise.resolve(expand(sha256, prk, info, len));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

/** SHA-256 and HMAC-SHA256 on noble, with a constant-time MAC comparison. */
export function sha256Hash(): Hash {
  return {
    digest(data: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(sha256(data));
    },
    mac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
      return Promise.resolve(hmac(sha256, key, data));
    },
    verifyMac(key: Uint8Array, mac: Uint8Array, data: Uint8Array): Promise<boolean> {
      const expected = hmac(sha256, key, data);
      if (expected.length !== mac.length) return Promise.resolve(false);
      let diff = 0;
      for (let i = 0; i < mac.length; i++) diff |= expected[i] ^ mac[i];
      return Promise.resolve(diff === 0);
    },
  };
}

const sharedVerifyKeys = new VerifyKeyCache(1024);
let fast: Promise<CiphersuiteImpl> | undefined;
let reference: Promise<CiphersuiteImpl> | undefined;

/**
 * The slim-ts implementation of ciphersuite 2 (see the module doc). Built once per process;
 * the object is stateless apart from the verification-key cache, so all members share it.
 */
export function slimCiphersuite(): Promise<CiphersuiteImpl> {
  fast ??= (async () => {
    const base = await nobleCryptoProvider.getCiphersuiteImpl(
      getCiphersuiteFromName(MLS_CIPHERSUITE),
    );
    return {
      ...base,
      hash: sha256Hash(),
      kdf: sha256Kdf(),
      signature: p256Signature(),
    };
  })();
  return fast;
}

/**
 * ts-mls's stock provider for ciphersuite 2 (WebCrypto AEAD/HKDF, noble ECDSA): the baseline
 * of the benchmark, and a fallback should {@link slimCiphersuite} ever be suspected.
 */
export function referenceCiphersuite(): Promise<CiphersuiteImpl> {
  reference ??= defaultCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE));
  return reference;
}

/**
 * The app's signature key pair: ECDSA P-256 with SHA-256, DER signatures.
 *
 * One key pair per app serves three purposes, and they must agree byte for byte: the `pubkey`
 * claim of every identity token, the signature key of the MLS leaf, and the end-to-end header
 * signature (`e2e_header_sig`). Public keys are 65-byte uncompressed SEC1 points (`04‖x‖y`),
 * private keys 32-byte scalars, as in the real SLIM (ciphersuite 2).
 *
 * Backends were chosen by measurement (`tests/identity/bench_sig.ts`): signing uses
 * `lib/crypto/p256.ts` (RFC 6979 on a precomputed generator table, ~80 µs, half of noble's time
 * and a sixth of WebCrypto's, synchronous; its bytes are noble's with low S); verification uses
 * WebCrypto (about 3× faster than noble, and off the main thread).
 * @module
 */
import { p256 } from "@noble/curves/nist.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { AuthError } from "../errors.ts";
import { b64Encode, b64urlEncode } from "./base64.ts";
import { derToP1363 } from "../crypto/ecdsa_der.ts";
import { signP256 } from "../crypto/p256.ts";

const P256_PUBLIC_KEY_LENGTH = 65;
const P256_SCALAR_LENGTH = 32;
const ED25519_KEY_LENGTH = 32;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/** An ECDSA P-256 key pair. Immutable; the private scalar is never printed. */
export class SigningKey {
  /** Uncompressed SEC1 public key (65 bytes, `04‖x‖y`). */
  readonly publicKey: Uint8Array;
  /** Standard base64 of {@link publicKey}: the value of the `pubkey` token claim. */
  readonly publicKeyBase64: string;
  readonly #privateKey: Uint8Array;

  private constructor(privateKey: Uint8Array) {
    this.#privateKey = privateKey;
    this.publicKey = p256.getPublicKey(privateKey, false);
    this.publicKeyBase64 = b64Encode(this.publicKey);
  }

  /** Generates a fresh key pair from the platform CSPRNG. */
  static generate(): SigningKey {
    return new SigningKey(p256.utils.randomSecretKey());
  }

  /**
   * Restores a key pair from its private scalar (big-endian). Scalars shorter than 32 bytes are
   * left-padded, because some encoders (AWS-LC, used by the real SLIM) strip leading zero bytes.
   * Throws {@link AuthError} when the value is not a valid P-256 scalar.
   */
  static fromPrivateKey(privateKey: Uint8Array): SigningKey {
    if (privateKey.length === 0 || privateKey.length > P256_SCALAR_LENGTH) {
      throw new AuthError(`p-256 private key must be at most ${P256_SCALAR_LENGTH} bytes`);
    }
    const scalar = new Uint8Array(P256_SCALAR_LENGTH);
    scalar.set(privateKey, P256_SCALAR_LENGTH - privateKey.length);
    if (!p256.utils.isValidSecretKey(scalar)) {
      throw new AuthError("p-256 private key is out of range");
    }
    return new SigningKey(scalar);
  }

  /** The 32-byte private scalar (a copy). Handle with care: never log it. */
  get privateKey(): Uint8Array {
    return this.#privateKey.slice();
  }

  /** Signs `data` (hashed with SHA-256); returns a DER signature. */
  sign(data: Uint8Array): Promise<Uint8Array> {
    // The synchronous signer is the faster one (see module docs); the promise keeps the door open for a
    // backend that is asynchronous.
    try {
      return Promise.resolve(this.signSync(data));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous {@link sign}. */
  signSync(data: Uint8Array): Uint8Array {
    // Low S, as before with noble's default: the bytes tokens and headers always carried.
    return signP256(this.#privateKey, data, { lowS: true });
  }

  /** Verifies a signature against this key's public key. */
  verify(data: Uint8Array, derSignature: Uint8Array, cache?: VerifyKeyCache): Promise<boolean> {
    return verifySignature(this.publicKey, data, derSignature, cache);
  }

  /** A short, non-secret description. */
  toString(): string {
    return `SigningKey(p256 ${this.publicKeyBase64.slice(0, 12)}…)`;
  }

  /** Keeps the private key out of `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Keeps the private key out of Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/**
 * A bounded cache of imported WebCrypto verification keys, keyed by the public key bytes.
 *
 * Importing a key costs about a tenth of a verification; a receiver sees the same few senders
 * over and over, so keep one cache per app and pass it to {@link verifySignature}.
 */
export class VerifyKeyCache {
  readonly #capacity: number;
  readonly #keys = new Map<string, Promise<CryptoKey>>();

  /**
   * Creates an empty cache.
   * @param capacity Most keys kept; the least recently used one is dropped beyond it.
   * @default 256
   */
  constructor(capacity = 256) {
    this.#capacity = Math.max(1, capacity);
  }

  /** Number of cached keys. */
  get size(): number {
    return this.#keys.size;
  }

  /** The imported key for `publicKey` (a SEC1 P-256 point); rejects on an invalid point. */
  get(publicKey: Uint8Array): Promise<CryptoKey> {
    const id = b64urlEncode(publicKey);
    let key = this.#keys.get(id);
    if (key) {
      // Refresh recency: Map iteration order is insertion order.
      this.#keys.delete(id);
      this.#keys.set(id, key);
      return key;
    }
    key = Promise.resolve().then(() => importP256(publicKey));
    key.catch(() => this.#keys.delete(id));
    this.#keys.set(id, key);
    if (this.#keys.size > this.#capacity) {
      this.#keys.delete(this.#keys.keys().next().value as string);
    }
    return key;
  }
}

function importP256(publicKey: Uint8Array): Promise<CryptoKey> {
  // The real peer also takes 33-byte compressed points; WebCrypto wants them uncompressed.
  const raw = publicKey.length === P256_PUBLIC_KEY_LENGTH
    ? publicKey
    : p256.Point.fromBytes(publicKey).toBytes(false);
  return crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    ECDSA_P256,
    false,
    ["verify"],
  );
}

/**
 * Verifies a header or credential signature the way the real SLIM does:
 * - a 65-byte (uncompressed) or 33-byte (compressed) public key means ECDSA P-256/SHA-256 with
 *   a DER signature; high-S signatures are accepted, since the real peer does not normalise S;
 * - a 32-byte public key means Ed25519 with a 64-byte signature.
 *
 * Returns `false` for a wrong signature and for malformed keys or signatures; never throws.
 */
export async function verifySignature(
  publicKey: Uint8Array,
  data: Uint8Array,
  derSignature: Uint8Array,
  cache?: VerifyKeyCache,
): Promise<boolean> {
  try {
    if (publicKey.length === ED25519_KEY_LENGTH) {
      return ed25519.verify(derSignature, data, publicKey);
    }
    if (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== 33) return false;
    const raw = derToP1363(derSignature);
    if (!raw) return false;
    const key = await (cache ? cache.get(publicKey) : importP256(publicKey));
    return await crypto.subtle.verify(ECDSA_SHA256, key, raw, data as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

/** Synchronous {@link verifySignature} on noble (slower; for code that cannot await). */
export function verifySignatureSync(
  publicKey: Uint8Array,
  data: Uint8Array,
  derSignature: Uint8Array,
): boolean {
  try {
    if (publicKey.length === ED25519_KEY_LENGTH) {
      return ed25519.verify(derSignature, data, publicKey);
    }
    if (publicKey.length !== P256_PUBLIC_KEY_LENGTH && publicKey.length !== 33) return false;
    // DER is parsed by our strict parser so both paths accept exactly the same encodings.
    const raw = derToP1363(derSignature);
    if (!raw) return false;
    return p256.verify(raw, data, publicKey, { lowS: false });
  } catch {
    return false;
  }
}

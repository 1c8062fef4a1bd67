/**
 * Shared-secret identity: SLIM's own HMAC token (not a JWT).
 *
 * Token: `id:ts:nonce:claims:mac`
 * - `id`: `<app name>_<8 random [A-Za-z0-9]>`, fixed for the lifetime of the provider;
 * - `ts`: Unix seconds, decimal;
 * - `nonce`: base64url (no padding) of 12 random bytes;
 * - `claims`: base64url (no padding) of `{"pubkey":"<standard base64 of the public key>"}`;
 * - `mac`: base64url (no padding) of HMAC-SHA256(secret, `id:ts:nonce:claims`).
 *
 * Anyone holding the secret can mint a token for any id: the secret authenticates membership,
 * not a particular app.
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AuthError } from "../errors.ts";
import type { Name } from "../names/name.ts";
import { b64urlDecode, b64urlEncode } from "./base64.ts";
import { type Claims, publicKeyFromClaims } from "./claims.ts";
import type { IdentityProvider, IdentityVerifier, VerifiedIdentity } from "./identity.ts";
import { SigningKey } from "./signing_key.ts";

/** Shortest secret accepted without `allowShortSecret` (256 bits). */
export const MIN_SECRET_BYTES = 32;
/** Default oldest accepted token age, seconds. */
export const DEFAULT_VALIDITY_SECONDS = 3600;
/** Default tolerated clock skew for tokens from the future, seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 5;

const NONCE_BYTES = 12;
const NONCE_CHARS = 16;
const MAC_CHARS = 43;
const ID_SUFFIX_LENGTH = 8;
const MAX_TIMESTAMP_DIGITS = 20;
// Tokens are a few hundred bytes; refusing huge inputs bounds the work done on garbage.
const MAX_TOKEN_LENGTH = 8192;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TIMESTAMP = /^[0-9]{1,20}$/;
const MAC_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function systemSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function secretBytes(secret: string, allowShort: boolean | undefined): Uint8Array {
  const bytes = encoder.encode(secret);
  if (bytes.length === 0) throw new AuthError("shared secret is empty");
  if (bytes.length < MIN_SECRET_BYTES && !allowShort) {
    throw new AuthError(
      `shared secret is shorter than ${MIN_SECRET_BYTES} bytes ` +
        "(pass allowShortSecret to accept it)",
    );
  }
  return bytes;
}

function checkIdText(id: string, what: string): void {
  if (id === "") throw new AuthError(`${what} is empty`);
  if (id.includes(":")) throw new AuthError(`${what} contains ':'`);
  if (/\s/.test(id)) throw new AuthError(`${what} contains whitespace`);
}

/** 8 characters from [A-Za-z0-9], uniformly (rejection sampling: 248 = 4 × 62). */
function randomSuffix(): string {
  let out = "";
  const bytes = new Uint8Array(16);
  while (out.length < ID_SUFFIX_LENGTH) {
    crypto.getRandomValues(bytes);
    for (let i = 0; i < bytes.length && out.length < ID_SUFFIX_LENGTH; i++) {
      if (bytes[i] < 248) out += ALNUM[bytes[i] % 62];
    }
  }
  return out;
}

/**
 * HMAC-SHA256 with the key schedule computed once: each call copies the keyed inner/outer
 * states into a scratch instance instead of re-deriving them from the secret.
 */
class KeyedMac {
  readonly #base: ReturnType<typeof hmac.create>;
  readonly #work: ReturnType<typeof hmac.create>;
  readonly #out = new Uint8Array(32);

  constructor(key: Uint8Array) {
    this.#base = hmac.create(sha256, key);
    this.#work = this.#base.clone();
  }

  /** base64url (no padding) of the tag over `message`. */
  tag(message: Uint8Array): string {
    // `_cloneInto` is noble's allocation-free state copy (pinned @noble/hashes 2.0.1).
    this.#base._cloneInto(this.#work);
    this.#work.update(message);
    this.#work.digestInto(this.#out);
    return b64urlEncode(this.#out);
  }
}

/** Options of {@link SharedSecretIdentity}. */
export interface SharedSecretIdentityOptions {
  /**
   * Accept a secret shorter than 32 bytes. Only for demos (the tutorials use `secret`).
   * @default false
   */
  allowShortSecret?: boolean;
  /**
   * Exact identity id, e.g. to restore a persisted identity; no ':' or whitespace.
   * @default `<appName>_<8 random [A-Za-z0-9]>`
   */
  id?: string;
  /**
   * The app's signature key pair.
   * @default a freshly generated key
   */
  signingKey?: SigningKey;
  /**
   * Clock in Unix seconds.
   * @default the system clock
   */
  now?: () => number;
}

/** Mints shared-secret tokens for one app. */
export class SharedSecretIdentity implements IdentityProvider {
  /** The identity id, `<app name>_<suffix>`. */
  readonly id: string;
  /** The app's key pair; its public key is the `pubkey` claim. */
  readonly signingKey: SigningKey;
  readonly #mac: KeyedMac;
  readonly #now: () => number;
  /** `id:` — the constant head of every token. */
  readonly #head: string;
  /** `:claims` — the constant tail of the MAC'd part. */
  readonly #tail: string;
  /** Scratch buffer holding `id:ts:nonce:claims`; head bytes are written once. */
  readonly #buf: Uint8Array;
  readonly #headLength: number;
  readonly #tailBytes: Uint8Array;
  readonly #nonce = new Uint8Array(NONCE_BYTES);

  /**
   * Creates a provider with a fresh random id (unless `options.id`) and the given or a new key.
   * @param appName `org/ns/app` (any text without ':' or whitespace is accepted, as upstream).
   * @param secret The shared secret; at least 32 bytes unless `allowShortSecret`.
   * @throws {AuthError} on an invalid name, id or secret (the message never contains the secret).
   */
  constructor(appName: string | Name, secret: string, options: SharedSecretIdentityOptions = {}) {
    const base = typeof appName === "string" ? appName : appName.base;
    checkIdText(base, "identity base name");
    this.#mac = new KeyedMac(secretBytes(secret, options.allowShortSecret));
    if (options.id !== undefined) checkIdText(options.id, "identity id");
    this.id = options.id ?? `${base}_${randomSuffix()}`;
    this.signingKey = options.signingKey ?? SigningKey.generate();
    this.#now = options.now ?? systemSeconds;
    // The claims never change for a provider, so the JSON and its encoding are built once.
    const claims = b64urlEncode(
      encoder.encode(JSON.stringify({ pubkey: this.signingKey.publicKeyBase64 })),
    );
    this.#head = `${this.id}:`;
    this.#tail = `:${claims}`;
    const headBytes = encoder.encode(this.#head);
    this.#tailBytes = encoder.encode(this.#tail);
    this.#headLength = headBytes.length;
    this.#buf = new Uint8Array(
      headBytes.length + MAX_TIMESTAMP_DIGITS + 1 + NONCE_CHARS + this.#tailBytes.length,
    );
    this.#buf.set(headBytes, 0);
  }

  /** A fresh token (new timestamp and nonce). */
  token(): Promise<string> {
    try {
      return Promise.resolve(this.mint());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous {@link token}; `nowSeconds` overrides the clock (tests, pre-dated tokens). */
  mint(nowSeconds: number = this.#now()): string {
    if (!(nowSeconds >= 0) || !Number.isSafeInteger(Math.floor(nowSeconds))) {
      throw new AuthError("token timestamp must be a non-negative number of seconds");
    }
    const ts = String(Math.floor(nowSeconds));
    crypto.getRandomValues(this.#nonce);
    const nonce = b64urlEncode(this.#nonce);
    // Fill `ts:nonce:claims` after the constant head. The timestamp and nonce are ASCII, so
    // each character is one byte and can be stored directly.
    const buf = this.#buf;
    let p = this.#headLength;
    for (let i = 0; i < ts.length; i++) buf[p++] = ts.charCodeAt(i);
    buf[p++] = 0x3a; // ':'
    for (let i = 0; i < NONCE_CHARS; i++) buf[p++] = nonce.charCodeAt(i);
    buf.set(this.#tailBytes, p);
    p += this.#tailBytes.length;
    const mac = this.#mac.tag(buf.subarray(0, p));
    return `${this.#head}${ts}:${nonce}${this.#tail}:${mac}`;
  }

  /** Non-secret description. */
  toString(): string {
    return `SharedSecretIdentity(${this.id})`;
  }

  /** Keeps the secret out of `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Keeps the secret out of Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** Options of {@link SharedSecretVerifier}. */
export interface SharedSecretVerifierOptions {
  /**
   * Accept a secret shorter than 32 bytes. Only for demos.
   * @default false
   */
  allowShortSecret?: boolean;
  /**
   * Oldest accepted token age, seconds (also sets `exp = iat + validitySeconds`).
   * @default 3600
   */
  validitySeconds?: number;
  /**
   * How far in the future a token timestamp may be, seconds.
   * @default 5
   */
  clockSkewSeconds?: number;
  /**
   * Replay cache capacity: with a positive value, a (nonce, timestamp) pair is accepted once
   * within the validity window (the oldest entries are evicted beyond capacity). The real SLIM
   * keeps it off: a token may legitimately be checked more than once (MLS credentials).
   * @default 0 (disabled)
   */
  replayCacheSize?: number;
  /**
   * Clock in Unix seconds.
   * @default the system clock
   */
  now?: () => number;
}

/** Verifies shared-secret tokens. */
export class SharedSecretVerifier implements IdentityVerifier {
  readonly #mac: KeyedMac;
  readonly #validity: number;
  readonly #skew: number;
  readonly #now: () => number;
  readonly #replayCapacity: number;
  /** `ts:nonce` → ts, in insertion order (oldest first). */
  readonly #replay = new Map<string, number>();
  readonly #claims = new Map<string, DecodedClaims>();

  /**
   * Creates a verifier for tokens minted with `secret`.
   * @throws {AuthError} when the secret is empty or too short.
   */
  constructor(secret: string, options: SharedSecretVerifierOptions = {}) {
    this.#mac = new KeyedMac(secretBytes(secret, options.allowShortSecret));
    this.#validity = options.validitySeconds ?? DEFAULT_VALIDITY_SECONDS;
    this.#skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    this.#now = options.now ?? systemSeconds;
    this.#replayCapacity = Math.max(0, options.replayCacheSize ?? 0);
  }

  /** Verifies `token`; `nowSeconds` overrides the clock. Rejects with {@link AuthError}. */
  verify(token: string, nowSeconds?: number): Promise<VerifiedIdentity> {
    try {
      return Promise.resolve(this.verifySync(token, nowSeconds));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous {@link verify}; throws {@link AuthError}. */
  verifySync(token: string, nowSeconds: number = this.#now()): VerifiedIdentity {
    if (typeof token !== "string" || token === "") throw new AuthError("identity token is empty");
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthError("identity token is too long");
    const last = token.lastIndexOf(":");
    if (last < 0) throw new AuthError("malformed identity token: expected 5 fields");
    const message = token.slice(0, last);
    const mac = token.slice(last + 1);
    const fields = message.split(":");
    if (fields.length !== 4) throw new AuthError("malformed identity token: expected 5 fields");
    const [id, tsText, nonce, claimsText] = fields;
    if (id === "") throw new AuthError("malformed identity token: empty id");
    if (!TIMESTAMP.test(tsText)) throw new AuthError("malformed identity token: bad timestamp");
    const ts = Number(tsText);
    if (!Number.isSafeInteger(ts)) throw new AuthError("malformed identity token: bad timestamp");
    if (mac.length !== MAC_CHARS || !MAC_SHAPE.test(mac)) {
      throw new AuthError("malformed identity token: bad mac");
    }
    if (!equalConstantTime(this.#mac.tag(encoder.encode(message)), mac)) {
      throw new AuthError("identity token mac mismatch");
    }
    // Time is checked after the MAC so that "expired" is only ever said of an authentic token.
    if (ts > nowSeconds) {
      if (ts - nowSeconds > this.#skew) throw new AuthError("identity token is from the future");
    } else if (nowSeconds - ts > this.#validity) {
      throw new AuthError("identity token expired");
    }
    const { custom, publicKey } = this.#decodeClaims(claimsText);
    if (this.#replayCapacity > 0) this.#recordNonce(nonce, ts, nowSeconds);
    const exp = ts + this.#validity;
    const claims: Claims = { sub: id, iat: ts, exp, custom_claims: custom };
    return publicKey
      ? { subject: id, issuedAt: ts, expiresAt: exp, publicKey: publicKey.slice(), claims }
      : { subject: id, issuedAt: ts, expiresAt: exp, claims };
  }

  /**
   * Decoded claims, memoised: a sender's claims text never changes, so decoding it (base64,
   * JSON, base64 again) once per sender instead of once per message more than doubles the
   * verification rate. Only reached after the MAC check, so only authentic claims are kept.
   */
  #decodeClaims(text: string): DecodedClaims {
    let decoded = this.#claims.get(text);
    if (!decoded) {
      const custom = deepFreeze(decodeClaims(text));
      decoded = { custom, publicKey: publicKeyFromClaims(custom) };
      if (this.#claims.size >= CLAIMS_CACHE_SIZE) {
        this.#claims.delete(this.#claims.keys().next().value as string);
      }
      this.#claims.set(text, decoded);
    }
    return decoded;
  }

  #recordNonce(nonce: string, ts: number, now: number): void {
    const cache = this.#replay;
    for (const [key, seen] of cache) {
      if (now - seen <= this.#validity) break;
      cache.delete(key);
    }
    const key = `${ts}:${nonce}`;
    if (cache.has(key)) throw new AuthError("identity token replayed");
    if (cache.size >= this.#replayCapacity) cache.delete(cache.keys().next().value as string);
    cache.set(key, ts);
  }

  /** Non-secret description. */
  toString(): string {
    return "SharedSecretVerifier";
  }

  /** Keeps the secret out of `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Keeps the secret out of Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

interface DecodedClaims {
  readonly custom: Readonly<Record<string, unknown>>;
  readonly publicKey: Uint8Array | undefined;
}

// Distinct claims seen at once: one per sending app, so a few hundred covers large groups.
const CLAIMS_CACHE_SIZE = 512;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function decodeClaims(text: string): Record<string, unknown> {
  if (text === "") return {};
  const bytes = b64urlDecode(text);
  if (!bytes) throw new AuthError("malformed identity token: claims are not base64url");
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    // No cause: the JSON parser's message quotes the input.
    throw new AuthError("malformed identity token: claims are not json");
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new AuthError("malformed identity token: claims are not a json object");
  }
  return value as Record<string, unknown>;
}

/** Compares two equal-length ASCII strings without an early exit. */
function equalConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

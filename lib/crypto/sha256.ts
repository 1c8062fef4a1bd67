/**
 * SHA-256, HMAC-SHA256 and HKDF-SHA256 for the MLS hot paths, synchronous and without per-call
 * allocation beyond the result.
 *
 * Why not `@noble/hashes`: MLS calls these with many different short keys. Every application
 * message costs five HKDF expansions (sender-data key and nonce, message key and nonce, next
 * ratchet secret), every epoch a dozen for the key schedule plus the secret-tree path of each
 * sender, the tree hash one digest per changed node, and ECDSA a digest and an RFC 6979
 * HMAC-DRBG of about six HMACs, each HMAC under a fresh key. noble builds two hash objects and clones them per HMAC; here the
 * keyed states live in module-level scratch arrays, full blocks are compressed straight from the
 * caller's bytes and only the tail is copied for padding. Measured in Deno 2.9.6: HMAC of a short
 * message under a fresh key ~1.7 µs against noble's ~4 µs, an HKDF expansion to 32 bytes ~1.8 µs
 * against noble's ~12 µs; `node:crypto` is slower still for such inputs (an op call per update)
 * but faster for long ones, which {@link digestSha256} hands to it. The compression
 * function is `sha256_block.ts`, shared with the link's HMAC (which serves one
 * long-lived key and keeps its states per instance).
 *
 * Not re-entrant by design: the functions run to completion synchronously, so the shared scratch
 * is never used by two computations at once. Correctness is pinned by tests against FIPS 180-4,
 * RFC 4231 and RFC 5869 vectors and against noble for every length up to 300 bytes.
 * @module
 */
import { createHash } from "node:crypto";
import { compressSha256, SHA256_IV, storeSha256State } from "./sha256_block.ts";

/** Output size of SHA-256 in bytes. */
export const SHA256_SIZE = 32;

// Module-level scratch: every public function runs synchronously to completion.
const w = new Int32Array(64);
const state = new Int32Array(8);
const inner = new Int32Array(8);
const outer = new Int32Array(8);
const pad = new Uint8Array(128);
const keyBlock = new Uint8Array(64);
const block = new Uint8Array(32);
let message = new Uint8Array(256);

/**
 * Absorbs all of `data` into `st` and finishes it: full blocks are compressed in place, the tail
 * is padded in the scratch block. `prefix` bytes were absorbed before (64 for an HMAC pad).
 */
function finish(st: Int32Array, data: Uint8Array, length: number, prefix: number): void {
  const full = length - (length & 63);
  if (full > 0) compressSha256(st, w, data, 0, full);
  const rest = length - full;
  for (let i = 0; i < rest; i++) pad[i] = data[full + i];
  pad[rest] = 0x80;
  const end = rest < 56 ? 64 : 128;
  pad.fill(0, rest + 1, end - 8);
  const bits = (length + prefix) * 8;
  const high = Math.floor(bits / 0x1_0000_0000);
  pad[end - 8] = high >>> 24;
  pad[end - 7] = high >>> 16;
  pad[end - 6] = high >>> 8;
  pad[end - 5] = high;
  pad[end - 4] = bits >>> 24;
  pad[end - 3] = bits >>> 16;
  pad[end - 2] = bits >>> 8;
  pad[end - 1] = bits;
  compressSha256(st, w, pad, 0, end);
}

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  state.set(SHA256_IV);
  finish(state, data, data.length, 0);
  const out = new Uint8Array(32);
  storeSha256State(state, out, 0);
  return out;
}

/** Loads the inner and outer HMAC states for `key`. */
function setKey(key: Uint8Array): void {
  if (key.length > 64) {
    state.set(SHA256_IV);
    finish(state, key, key.length, 0);
    storeSha256State(state, keyBlock, 0);
    keyBlock.fill(0, 32);
  } else {
    keyBlock.set(key);
    keyBlock.fill(0, key.length);
  }
  for (let i = 0; i < 64; i++) keyBlock[i] ^= 0x36;
  inner.set(SHA256_IV);
  compressSha256(inner, w, keyBlock, 0, 64);
  for (let i = 0; i < 64; i++) keyBlock[i] ^= 0x36 ^ 0x5c;
  outer.set(SHA256_IV);
  compressSha256(outer, w, keyBlock, 0, 64);
  keyBlock.fill(0);
}

/** HMAC of `data[0, length)` under the key loaded by {@link setKey}, into `out[off, off + 32)`. */
function macInto(data: Uint8Array, length: number, out: Uint8Array, off: number): void {
  state.set(inner);
  finish(state, data, length, 64);
  storeSha256State(state, pad, 0);
  state.set(outer);
  finish(state, pad, 32, 64);
  storeSha256State(state, out, off);
}

/** HMAC-SHA256 of `data` under `key`. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  setKey(key);
  const out = new Uint8Array(32);
  macInto(data, data.length, out, 0);
  wipeStates();
  return out;
}

/** HKDF-Extract (RFC 5869) with SHA-256; an empty salt means 32 zero bytes, as the RFC says. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt.length === 0 ? new Uint8Array(32) : salt, ikm);
}

/**
 * HKDF-Expand (RFC 5869) with SHA-256: `length` bytes (at most 255 × 32) of output keying
 * material from `prk` and `info`.
 */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkExpandLength(length);
  setKey(prk);
  const out = expandLoaded(info, length);
  wipeStates();
  return out;
}

function checkExpandLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32) {
    throw new RangeError(`hkdf-sha256: cannot expand to ${length} bytes`);
  }
}

/** HKDF-Expand under the key loaded in `inner`/`outer`. */
function expandLoaded(info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  // T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i), built in the message scratch after a 32-byte slot.
  const need = 32 + info.length + 1;
  if (message.length < need) message = new Uint8Array(Math.max(need, message.length * 2));
  message.set(info, 32);
  const tail = message.subarray(32);
  for (let i = 1, done = 0; done < length; i++) {
    message[32 + info.length] = i;
    if (i === 1) macInto(tail, info.length + 1, block, 0);
    else {
      message.set(block, 0);
      macInto(message, need, block, 0);
    }
    const take = Math.min(32, length - done);
    for (let j = 0; j < take; j++) out[done + j] = block[j];
    done += take;
  }
  message.fill(0, 0, need);
  block.fill(0);
  return out;
}

/**
 * The HMAC-SHA256 state of one key, computed once: cheaper than the one-shot functions when a
 * key serves several MACs or HKDF expansions (a ratchet secret derives a key, a nonce and the
 * next secret; an epoch's sender-data secret two values per message). Holds key-derived
 * material until {@link wipe}.
 */
export class HmacSha256Key {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);

  /** Keys the state with `key` (any length). */
  constructor(key: Uint8Array) {
    setKey(key);
    this.#inner.set(inner);
    this.#outer.set(outer);
    wipeStates();
  }

  /** HMAC-SHA256 of `data`. */
  mac(data: Uint8Array): Uint8Array {
    this.#load();
    const out = new Uint8Array(32);
    macInto(data, data.length, out, 0);
    wipeStates();
    return out;
  }

  /** HKDF-Expand of this key (as the PRK) with `info` to `length` bytes. */
  expand(info: Uint8Array, length: number): Uint8Array {
    checkExpandLength(length);
    this.#load();
    const out = expandLoaded(info, length);
    wipeStates();
    return out;
  }

  /** Erases the keyed state. */
  wipe(): void {
    this.#inner.fill(0);
    this.#outer.fill(0);
  }

  #load(): void {
    inner.set(this.#inner);
    outer.set(this.#outer);
  }
}

/** Constant-time equality of two byte strings (the lengths are not secret). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Keyed states are secret: don't leave them in the scratch once the result is out. */
function wipeStates(): void {
  inner.fill(0);
  outer.fill(0);
  state.fill(0);
  pad.fill(0);
  w.fill(0);
}

/** Inputs at least this long are hashed by `node:crypto` (native, ~1.5 µs per call overhead). */
const NATIVE_HASH_FROM = 512;

/** SHA-256, natively for long inputs where the call overhead is worth it. */
export function digestSha256(data: Uint8Array): Uint8Array {
  if (data.length < NATIVE_HASH_FROM) return sha256(data);
  // Copied out: node's buffers may be views of a shared pool.
  return new Uint8Array(createHash("sha256").update(data).digest());
}

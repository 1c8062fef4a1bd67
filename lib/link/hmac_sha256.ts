/**
 * HMAC-SHA256 specialised for the per-message link MAC.
 *
 * Why not `@noble/hashes`: every forwarded publish costs two MACs (verify on the way in, sign on
 * the way out) over a ~400-byte preimage, which makes this the node's hottest function. Measured
 * in Deno 2.9.6 on a 420-byte input: noble `hmac` 5.8 µs, noble with a cloned keyed instance
 * 4.3 µs, `node:crypto` createHmac 5.4 µs, WebCrypto (async) 8–10 µs, hash-wasm 3.9 µs, this
 * file 2.4 µs (under Bun, native HMAC is faster still and is used: see {@link NATIVE}). The gain
 * comes from keeping the keyed inner/outer states, padding in place in a reusable buffer (no
 * allocation per call) and an 8-way unrolled round loop. Correctness is
 * pinned by tests against RFC 4231 vectors and against noble for every length up to 300 bytes.
 *
 * Each instance also remembers the hash state after every whole block of the previous message and
 * resumes from the longest identical prefix. Consecutive headers on one link share most of
 * their preimage: the link id, the names, and the identity up to its first per-message byte. For
 * a 420-byte preimage that leaves two compressions of eight with a JWT (the same token every
 * time) and four or five with a shared secret (a fresh token per message, whose nonce sits about
 * 260 bytes in). The memo holds only public header bytes and states already derivable from the
 * key it sits beside.
 * @module
 */

import { createHmac } from "node:crypto";
import { compressSha256, SHA256_IV, storeSha256State } from "../crypto/sha256_block.ts";

/**
 * Use `node:crypto` instead of the JavaScript below. Measured per 420-byte MAC: under Bun native
 * HMAC costs 0.76 µs against 2.9 µs for this code (JavaScriptCore), under Deno 5.4 µs against
 * 2.4 µs (V8, where each native call pays an op round trip). The single binary is built with
 * Bun, so its node gets the native path (forwarding cost 12.8 -> 5.4 µs per message).
 */
const NATIVE = (globalThis as { Bun?: unknown }).Bun !== undefined;

/** Longest prefix, in 64-byte blocks, an instance memoises (identity tokens fit well within it). */
const MEMO_MAX_BLOCKS = 32;

/** Room a scratch buffer needs past the message for in-place padding. */
export const HMAC_PADDING_ROOM = 72;

/**
 * A keyed HMAC-SHA256. Not re-entrant: one instance must not be used from two computations at once
 * (JavaScript's single thread makes that automatic unless a caller interleaves partial work).
 */
export class HmacSha256 {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #state = new Int32Array(8);
  readonly #w = new Int32Array(64);
  readonly #outerBlock = new Uint8Array(64);
  #scratch = new Uint8Array(1024);
  /** `#scratch` as words, for comparing blocks with the memo four bytes at a time. */
  #scratchWords = new Int32Array(this.#scratch.buffer);

  // The previous message's whole blocks (as bytes and as words over the same memory) and the
  // inner state after each of them.
  #memo = new Uint8Array(0);
  #memoWords = new Int32Array(0);
  #memoStates = new Int32Array(0);
  #memoBlocks = 0;

  /** The key, kept only when the native implementation is used. */
  readonly #key: Uint8Array | undefined;

  constructor(key: Uint8Array) {
    this.#key = NATIVE ? key.slice() : undefined;
    const block = new Uint8Array(64);
    if (key.length > 64) {
      const st = new Int32Array(SHA256_IV);
      const padded = new Uint8Array(((key.length + 9 + 63) >> 6) << 6);
      padded.set(key);
      finishInPlace(st, this.#w, padded, 0, key.length, 0);
      storeSha256State(st, block, 0);
    } else {
      block.set(key);
    }
    const ipad = block.map((x) => x ^ 0x36);
    const opad = block.map((x) => x ^ 0x5c);
    this.#inner.set(SHA256_IV);
    compressSha256(this.#inner, this.#w, ipad, 0, 64);
    this.#outer.set(SHA256_IV);
    compressSha256(this.#outer, this.#w, opad, 0, 64);
    // The outer message is always 32 bytes: its padding never changes.
    this.#outerBlock[32] = 0x80;
    this.#outerBlock[62] = ((64 + 32) * 8) >>> 8;
    this.#outerBlock[63] = ((64 + 32) * 8) & 0xff;
  }

  /**
   * MAC of `buf[0, len)` written to `out[outOff, outOff + 32)`. `buf` must have at least
   * {@link HMAC_PADDING_ROOM} writable bytes after `len`; they are overwritten.
   */
  macInPlace(buf: Uint8Array, len: number, out: Uint8Array, outOff: number): void {
    if (this.#key) {
      out.set(createHmac("sha256", this.#key).update(buf.subarray(0, len)).digest(), outOff);
      return;
    }
    const st = this.#state;
    const whole = this.#resume(buf, len, st);
    finishInPlace(st, this.#w, buf, whole << 6, len, 64);
    const ob = this.#outerBlock;
    storeSha256State(st, ob, 0);
    st.set(this.#outer);
    compressSha256(st, this.#w, ob, 0, 64);
    storeSha256State(st, out, outOff);
  }

  /** MAC of `data` (copied into internal scratch). */
  mac(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(32);
    const scratch = this.scratch(data.length);
    scratch.set(data);
    this.macInPlace(scratch, data.length, out, 0);
    return out;
  }

  /**
   * Loads into `st` the inner state after the whole blocks of `buf[0, len)`, resuming from the
   * memo where the previous message had the same leading blocks and memoising the rest. Returns
   * the number of whole blocks absorbed.
   */
  #resume(buf: Uint8Array, len: number, st: Int32Array): number {
    const whole = Math.min(len >> 6, MEMO_MAX_BLOCKS);
    const memo = this.#memo, states = this.#memoStates;
    const limit = Math.min(whole, this.#memoBlocks);
    let same = 0;
    if (buf === this.#scratch) {
      const a = this.#scratchWords, m = this.#memoWords;
      scan: for (; same < limit; same++) {
        for (let i = same << 4, e = i + 16; i < e; i++) if (a[i] !== m[i]) break scan;
      }
    } else {
      scan: for (; same < limit; same++) {
        for (let i = same << 6, e = i + 64; i < e; i++) if (buf[i] !== memo[i]) break scan;
      }
    }
    if (same === 0) st.set(this.#inner);
    else for (let i = 0, o = (same - 1) << 3; i < 8; i++) st[i] = states[o + i];
    // Blocks past `whole` stay memoised: they continue this same prefix.
    if (same === whole) return whole;
    if (memo.length < whole << 6) this.#growMemo(whole);
    const m = this.#memo, ms = this.#memoStates, w = this.#w;
    for (let b = same; b < whole; b++) {
      const off = b << 6;
      compressSha256(st, w, buf, off, off + 64);
      for (let i = 0, o = b << 3; i < 8; i++) ms[o + i] = st[i];
    }
    m.set(buf.subarray(same << 6, whole << 6), same << 6);
    this.#memoBlocks = whole;
    return whole;
  }

  #growMemo(blocks: number): void {
    const n = Math.min(MEMO_MAX_BLOCKS, Math.max(blocks, this.#memo.length >> 5));
    const memo = new Uint8Array(n << 6), states = new Int32Array(n << 3);
    memo.set(this.#memo);
    states.set(this.#memoStates);
    this.#memo = memo;
    this.#memoWords = new Int32Array(memo.buffer);
    this.#memoStates = states;
  }

  /** A reusable buffer with room for `len` bytes plus padding. */
  scratch(len: number): Uint8Array {
    if (this.#scratch.length < len + HMAC_PADDING_ROOM) {
      // A multiple of 4 bytes, so that the word view covers it all.
      const size = (Math.max(len + HMAC_PADDING_ROOM, this.#scratch.length * 2) + 3) & ~3;
      this.#scratch = new Uint8Array(size);
      this.#scratchWords = new Int32Array(this.#scratch.buffer);
    }
    return this.#scratch;
  }
}

/**
 * Pads `buf[0, len)` in place (SHA-256 padding, `prefixBytes` already absorbed before it) and
 * compresses from `from`, the blocks before it being already in `st`.
 */
function finishInPlace(
  st: Int32Array,
  w: Int32Array,
  buf: Uint8Array,
  from: number,
  len: number,
  prefixBytes: number,
): void {
  let n = len;
  buf[n++] = 0x80;
  const end = ((n + 8 + 63) >> 6) << 6;
  buf.fill(0, n, end - 4);
  const bits = (len + prefixBytes) * 8;
  buf[end - 4] = bits >>> 24;
  buf[end - 3] = bits >>> 16;
  buf[end - 2] = bits >>> 8;
  buf[end - 1] = bits;
  compressSha256(st, w, buf, from, end);
}

/** Constant-time comparison of two byte ranges of equal length. */
export function equalBytes(
  a: Uint8Array,
  aOff: number,
  b: Uint8Array,
  bOff: number,
  len: number,
): boolean {
  let diff = 0;
  for (let i = 0; i < len; i++) diff |= a[aOff + i] ^ b[bOff + i];
  return diff === 0;
}

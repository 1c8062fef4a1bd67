/**
 * ECDSA P-256 verification for everything an app checks — MLS signatures and `e2e_header_sig`s —
 * with per-key comb tables for keys that sign often, WebCrypto for the others, and a memo of
 * signatures already verified. One per app, shared by its sessions and its MLS groups.
 *
 * Two observations drive it:
 *
 * - A receiver sees a few senders over and over (every application message of a session is
 *   signed by one of a handful of members), while the keys of a joined tree or of a key package
 *   are verified once. {@link P256PublicKey.precompute} makes a key's verifications ~4× cheaper
 *   than WebCrypto's (~90 µs against ~330 µs of CPU) but costs ~3.5 ms once, so a key gets a
 *   table at its {@link PRECOMPUTE_AFTER}th verification; until then WebCrypto does the work, off
 *   the main thread.
 * - The same signature is verified more than once: a leaf node's signature at each commit and
 *   welcome that carries the tree, a retransmitted message, and, when one verifier is
 *   deliberately shared by several members (the tests do), every member's check of the same
 *   `FramedContentTBS`. ECDSA verification is a pure function of (public key, SHA-256 of the
 *   message, signature), so a successful result is remembered under exactly that triple and
 *   the repeats cost a digest and a map lookup. Only successes are kept (a forged signature cannot
 *   enter), and concurrent verifications of one triple share one computation.
 *
 * Signatures are DER, parsed strictly (`derToP1363`); high-S is accepted, as by mls-rs.
 * @module
 */
import { VerifyKeyCache, verifySignature } from "./signing_key.ts";
import { P256PublicKey, parseDerSignature } from "../crypto/p256.ts";
import { digestSha256 } from "../crypto/sha256.ts";

/** A key gets its comb table at this verification (the earlier ones use WebCrypto). */
export const PRECOMPUTE_AFTER = 4;

/** Options of {@link P256Verifier}. */
export interface P256VerifierOptions {
  /**
   * Public keys remembered (parsed point, use count); the least recently used are forgotten.
   * @default 1024
   */
  keys?: number;
  /**
   * Keys that may hold a comb table (~150 KB each); beyond it the least recently used key loses
   * its table and must become hot again to rebuild it.
   * @default 64
   */
  tables?: number;
  /**
   * Verified signatures remembered (a few hundred bytes each).
   * @default 4096
   */
  memo?: number;
  /**
   * Verifications of a key before it gets a comb table; 1 precomputes at once, `Infinity`
   * never (WebCrypto only).
   * @default {@link PRECOMPUTE_AFTER}
   */
  precomputeAfter?: number;
}

interface KeyEntry {
  /** Parsed and validated point; `undefined` until first needed by the table path. */
  key: P256PublicKey | undefined;
  /** Verifications since the key was (re)admitted. */
  uses: number;
}

/** Latin-1 string of bytes: a compact, exact map key. */
function keyString(parts: Uint8Array[]): string {
  let s = "";
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 4096) {
      s += String.fromCharCode.apply(null, part.subarray(i, i + 4096) as unknown as number[]);
    }
  }
  return s;
}

/** See the module documentation. Safe to share among the members of one app. */
export class P256Verifier {
  readonly #keys = new Map<string, KeyEntry>();
  readonly #tables: KeyEntry[] = [];
  readonly #memo = new Map<string, Promise<boolean> | true>();
  readonly #webCryptoKeys = new VerifyKeyCache(256);
  readonly #keyCapacity: number;
  readonly #tableCapacity: number;
  readonly #memoCapacity: number;
  readonly #precomputeAfter: number;

  /** Creates an empty verifier. */
  constructor(options: P256VerifierOptions = {}) {
    this.#keyCapacity = Math.max(1, options.keys ?? 1024);
    this.#tableCapacity = Math.max(0, options.tables ?? 64);
    this.#memoCapacity = Math.max(0, options.memo ?? 4096);
    this.#precomputeAfter = Math.max(1, options.precomputeAfter ?? PRECOMPUTE_AFTER);
  }

  /** Number of keys that currently hold a comb table. */
  get tables(): number {
    return this.#tables.length;
  }

  /**
   * True when `signature` (DER) is a valid ECDSA P-256/SHA-256 signature of `message` by
   * `publicKey` (SEC1, 65 or 33 bytes). Never rejects: malformed inputs verify as false.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (publicKey.length !== 65 && publicKey.length !== 33) return Promise.resolve(false);
    const sig = parseDerSignature(signature);
    if (!sig) return Promise.resolve(false);
    const digest = digestSha256(message);
    const id = keyString([publicKey]);
    const memoKey = this.#memoCapacity > 0 ? id + keyString([digest, signature]) : "";
    if (memoKey) {
      const known = this.#memo.get(memoKey);
      if (known === true) return Promise.resolve(true);
      if (known) return known;
    }
    const entry = this.#entry(id);
    entry.uses++;
    let result: Promise<boolean>;
    try {
      if (entry.key?.precomputed || entry.uses >= this.#precomputeAfter) {
        entry.key ??= P256PublicKey.fromBytes(publicKey);
        if (!entry.key.precomputed) this.#admitTable(entry);
        result = Promise.resolve(entry.key.verifyDigest(digest, sig.r, sig.s));
      } else {
        result = verifySignature(publicKey, message, signature, this.#webCryptoKeys);
      }
    } catch {
      // Not a point of the curve.
      result = Promise.resolve(false);
    }
    if (memoKey) this.#remember(memoKey, result);
    return result;
  }

  #entry(id: string): KeyEntry {
    let entry = this.#keys.get(id);
    if (entry) {
      this.#keys.delete(id);
    } else {
      entry = { key: undefined, uses: 0 };
      if (this.#keys.size >= this.#keyCapacity) {
        const oldest = this.#keys.keys().next().value as string;
        this.#forgetTable(this.#keys.get(oldest)!);
        this.#keys.delete(oldest);
      }
    }
    this.#keys.set(id, entry);
    return entry;
  }

  #admitTable(entry: KeyEntry): void {
    if (this.#tableCapacity === 0) return;
    if (this.#tables.length >= this.#tableCapacity) {
      // Evict the table of the least recently used key holding one: the key map is in recency
      // order, so the first holder found there is it.
      for (const candidate of this.#keys.values()) {
        if (candidate.key?.precomputed && candidate !== entry) {
          this.#forgetTable(candidate);
          break;
        }
      }
    }
    entry.key!.precompute();
    this.#tables.push(entry);
  }

  #forgetTable(entry: KeyEntry): void {
    const i = this.#tables.indexOf(entry);
    if (i < 0) return;
    this.#tables.splice(i, 1);
    // A fresh, table-less key object; the key must become hot again to rebuild one.
    entry.key = undefined;
    entry.uses = 0;
  }

  #remember(memoKey: string, result: Promise<boolean>): void {
    this.#memo.set(memoKey, result);
    result.then((ok) => {
      if (this.#memo.get(memoKey) !== result) return;
      if (ok) this.#memo.set(memoKey, true);
      else this.#memo.delete(memoKey);
    });
    if (this.#memo.size > this.#memoCapacity) {
      this.#memo.delete(this.#memo.keys().next().value as string);
    }
  }
}

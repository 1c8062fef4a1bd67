/**
 * Byte-array helpers used across layers. For secrets (MACs, tags) use the constant-time
 * comparisons next to the code that computes them (`lib/crypto/sha256.ts`, `lib/link`).
 * @module
 */

/** The parts, one after the other, in a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Equal contents; returns early, so only for public data (keys, hashes, encodings). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * ECDSA signature encodings: ASN.1 DER (what SLIM puts on the wire) and IEEE P1363 `r‖s`
 * (what WebCrypto produces and expects).
 *
 * The DER parser is strict (minimal lengths, no negative or padded integers, no trailing bytes),
 * like the RustCrypto `Signature::from_der` the real peer verifies with, so a signature we accept
 * is one it accepts too.
 * @module
 */

/** Reads one DER length at `at`; returns `[length, next offset]` or `undefined`. */
function readLength(der: Uint8Array, at: number): [number, number] | undefined {
  if (at >= der.length) return undefined;
  const first = der[at];
  if (first < 0x80) return [first, at + 1];
  // Only the one-byte long form can occur for curves up to P-521, and it must be minimal.
  if (first !== 0x81 || at + 1 >= der.length || der[at + 1] < 0x80) return undefined;
  return [der[at + 1], at + 2];
}

/** Reads a positive INTEGER into `out[offset..offset+size]`; returns the next offset. */
function readInteger(
  der: Uint8Array,
  at: number,
  out: Uint8Array,
  offset: number,
  size: number,
): number | undefined {
  if (der[at] !== 0x02) return undefined;
  const len = readLength(der, at + 1);
  if (!len) return undefined;
  let [n, p] = len;
  if (n === 0 || p + n > der.length) return undefined;
  if (der[p] & 0x80) return undefined; // negative
  if (n > 1 && der[p] === 0 && !(der[p + 1] & 0x80)) return undefined; // non-minimal
  if (der[p] === 0 && n > 1) {
    p++;
    n--;
  }
  if (n > size) return undefined;
  out.set(der.subarray(p, p + n), offset + size - n);
  return p + n;
}

/**
 * Converts a DER `ECDSA-Sig-Value` to fixed-width `r‖s` (`2 × size` bytes).
 * Returns `undefined` for anything that is not strict DER.
 */
export function derToP1363(der: Uint8Array, size = 32): Uint8Array<ArrayBuffer> | undefined {
  if (der.length < 8 || der[0] !== 0x30) return undefined;
  const len = readLength(der, 1);
  if (!len || len[1] + len[0] !== der.length) return undefined;
  const out = new Uint8Array(2 * size);
  const afterR = readInteger(der, len[1], out, 0, size);
  if (afterR === undefined) return undefined;
  const afterS = readInteger(der, afterR, out, size, size);
  return afterS === der.length ? out : undefined;
}

function integer(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.subarray(i);
  const pad = body[0] & 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + body.length);
  out[0] = 0x02;
  out[1] = pad + body.length;
  out.set(body, 2 + pad);
  return out;
}

/** Converts fixed-width `r‖s` to a DER `ECDSA-Sig-Value`. */
export function p1363ToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length >> 1;
  const r = integer(sig.subarray(0, half));
  const s = integer(sig.subarray(half));
  const body = r.length + s.length;
  const head = body < 0x80 ? [0x30, body] : [0x30, 0x81, body];
  const out = new Uint8Array(head.length + body);
  out.set(head, 0);
  out.set(r, head.length);
  out.set(s, head.length + r.length);
  return out;
}

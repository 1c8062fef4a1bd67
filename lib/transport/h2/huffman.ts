/**
 * The HPACK static Huffman code (RFC 7541 Appendix B).
 *
 * The code is canonical, so the table is stored as code lengths only (symbols 0-255 and EOS,
 * 256); codes are derived from the lengths at load time. Decoding walks one bit at a time, which
 * is plenty for header blocks (a few hundred bytes per stream) and keeps the validation rules of
 * RFC 7541 §5.2 simple: padding is at most 7 bits, all ones, and EOS never appears.
 * @module
 */

/** Code length in bits of each symbol; index 256 is EOS. */
const LENGTHS: readonly number[] = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
];

const EOS = 256;
const MAX_LENGTH = 30;

/** Code of each symbol, derived canonically from {@link LENGTHS}. */
const CODES = new Uint32Array(257);
/** Per length: first code, number of codes, and offset into {@link SORTED}. */
const FIRST = new Int32Array(MAX_LENGTH + 1);
const COUNT = new Int32Array(MAX_LENGTH + 1);
const OFFSET = new Int32Array(MAX_LENGTH + 1);
/** Symbols ordered by (length, symbol): canonical order. */
const SORTED = new Uint16Array(257);

{
  const order = [...LENGTHS.keys()].sort((a, b) => LENGTHS[a] - LENGTHS[b] || a - b);
  let code = 0;
  let prev = LENGTHS[order[0]];
  order.forEach((sym, k) => {
    const len = LENGTHS[sym];
    if (k > 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    CODES[sym] = code;
    SORTED[k] = sym;
    if (COUNT[len]++ === 0) {
      FIRST[len] = code;
      OFFSET[len] = k;
    }
  });
}

/** Thrown on an invalid Huffman string; the HPACK decoder turns it into COMPRESSION_ERROR. */
export class HuffmanError extends Error {}

/**
 * Decodes `bytes[start, end)` into a string of octets (one char per byte, latin1).
 * Throws {@link HuffmanError} on EOS, overlong or non-ones padding.
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  let pending: number[] = [];
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((b >> bit) & 1);
      len++;
      const count = COUNT[len];
      if (count > 0) {
        const k = code - FIRST[len];
        if (k >= 0 && k < count) {
          const sym = SORTED[OFFSET[len] + k];
          if (sym === EOS) throw new HuffmanError("Huffman string contains EOS");
          pending.push(sym);
          if (pending.length === 4096) {
            out += String.fromCharCode(...pending);
            pending = [];
          }
          code = 0;
          len = 0;
          continue;
        }
      }
      if (len >= MAX_LENGTH) throw new HuffmanError("invalid Huffman code");
    }
  }
  // RFC 7541 §5.2: padding shorter than 8 bits made of the most significant bits of EOS (ones).
  if (len > 7) throw new HuffmanError("Huffman padding longer than 7 bits");
  if (code !== 2 ** len - 1) throw new HuffmanError("Huffman padding is not all ones");
  return out + String.fromCharCode(...pending);
}

/** Length in bytes of the Huffman encoding of `octets` (each a byte value). */
export function huffmanEncodedLength(octets: ArrayLike<number>): number {
  let bits = 0;
  for (let i = 0; i < octets.length; i++) bits += LENGTHS[octets[i]];
  return Math.ceil(bits / 8);
}

/** Huffman-encodes `octets` into `out` at `off`; returns the offset after the last byte. */
export function huffmanEncode(octets: ArrayLike<number>, out: Uint8Array, off: number): number {
  let acc = 0; // pending bits, at most 7 + 30, kept below 2^53 by flushing whole bytes
  let n = 0;
  for (let i = 0; i < octets.length; i++) {
    const sym = octets[i];
    const len = LENGTHS[sym];
    acc = acc * 2 ** len + CODES[sym];
    n += len;
    while (n >= 8) {
      n -= 8;
      const byte = Math.floor(acc / 2 ** n);
      out[off++] = byte;
      acc -= byte * 2 ** n;
    }
  }
  if (n > 0) out[off++] = (acc * 2 ** (8 - n)) | (0xff >> n);
  return off;
}

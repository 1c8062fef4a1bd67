/**
 * Minimal protobuf wire-format primitives for the zero-copy paths (routing and forwarding).
 *
 * 64-bit varints are handled as two unsigned 32-bit halves so the hot path never allocates
 * BigInts. Readers use a small cursor object instead of returning tuples, for the same reason.
 * @module
 */
import { ProtocolError } from "../errors.ts";

/** Wire types used by the SLIM schema. */
export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;

/** Read position plus the last varint decoded (lo/hi 32-bit halves). */
export class Cursor {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  lo = 0;
  hi = 0;

  reset(buf: Uint8Array, pos: number): this {
    this.buf = buf;
    this.pos = pos;
    return this;
  }

  /** Reads a varint of up to 64 bits into `lo`/`hi`; returns `lo` for convenience. */
  varint(end: number): number {
    const b = this.buf;
    let p = this.pos, lo = 0, hi = 0, shift = 0, byte = 0;
    do {
      if (p >= end) throw new ProtocolError("truncated varint");
      byte = b[p++];
      if (shift < 28) lo |= (byte & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (byte & 0x0f) << 28;
        hi |= (byte & 0x7f) >>> 4;
      } else if (shift < 64) hi |= (byte & 0x7f) << (shift - 32);
      else throw new ProtocolError("varint longer than 10 bytes");
      shift += 7;
    } while (byte & 0x80);
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this.lo;
  }

  /** Reads a length prefix and checks it fits before `end`; returns the payload start. */
  length(end: number): number {
    this.varint(end);
    const len = this.lo;
    if (this.hi !== 0 || len > end - this.pos) throw new ProtocolError("length exceeds message");
    return len;
  }

  /** Skips a field value of the given wire type. */
  skip(wireType: number, end: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.varint(end);
        return;
      case WT_I64:
        this.pos += 8;
        break;
      case WT_LEN: {
        // Not `this.pos += this.length(end)`: that reads pos before length() advances it.
        const len = this.length(end);
        this.pos += len;
        return;
      }
      case WT_I32:
        this.pos += 4;
        break;
      default:
        throw new ProtocolError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > end) throw new ProtocolError("truncated field");
  }
}

/** Number of bytes of the varint encoding of a non-negative 32-bit value. */
export function varintSize32(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Writes a non-negative 32-bit varint at `pos`; returns the new position. */
export function writeVarint32(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Size of a 64-bit varint given as halves. */
export function varintSize64(lo: number, hi: number): number {
  if (hi === 0) return varintSize32(lo);
  // 32 bits of lo plus the significant bits of hi, 7 bits per byte.
  const bits = 64 - Math.clz32(hi);
  return Math.ceil(bits / 7);
}

/** Writes a 64-bit varint given as unsigned halves. */
export function writeVarint64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  if (hi === 0) return writeVarint32(buf, pos, lo);
  for (let i = 0; i < 4; i++) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  // 28 bits of lo written; 4 remain, merged with hi.
  let v = lo | ((hi & 0x07) << 4);
  hi >>>= 3;
  while (hi !== 0) {
    buf[pos++] = v | 0x80;
    v = hi & 0x7f;
    hi >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

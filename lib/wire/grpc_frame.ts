/**
 * gRPC length-prefixed message framing: 1 flag byte (0 = uncompressed), 4-byte big-endian length,
 * then the protobuf bytes.
 *
 * The deframer is correct for any chunking of the byte stream (a message split across chunks,
 * many messages in one chunk, a prefix split across chunks). Complete messages are returned as
 * views into the received chunk when they lie inside it; only a message straddling chunks is
 * copied.
 * @module
 */
import { ProtocolError } from "../errors.ts";

/** Size of the gRPC message prefix. */
export const GRPC_PREFIX = 5;

/** Default and SLIM's maximum message size: 4 MiB (tonic's decode limit). */
export const DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024;

/** Writes the 5-byte prefix for a message of `length` bytes at `buf[off]`. */
export function writePrefix(buf: Uint8Array, off: number, length: number): void {
  buf[off] = 0;
  buf[off + 1] = length >>> 24;
  buf[off + 2] = length >>> 16;
  buf[off + 3] = length >>> 8;
  buf[off + 4] = length;
}

/** Frames one message (allocates; for tests and cold paths). */
export function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(GRPC_PREFIX + message.length);
  writePrefix(out, 0, message.length);
  out.set(message, GRPC_PREFIX);
  return out;
}

/** Incremental gRPC deframer. */
export class Deframer {
  readonly #max: number;
  /** Bytes of an incomplete message (or prefix) carried over from earlier chunks. */
  #pending: Uint8Array | undefined;
  #pendingLen = 0;
  /** Total length (prefix + body) of the message being assembled, or -1 if unknown yet. */
  #need = -1;

  constructor(maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE) {
    this.#max = maxMessageSize;
  }

  /** True when a partial message is buffered (the stream must not end here). */
  get partial(): boolean {
    return this.#pendingLen > 0;
  }

  /** Consumes `chunk`, appending every completed message to `out`. */
  push(chunk: Uint8Array, out: Uint8Array[]): void {
    let off = 0;
    if (this.#pendingLen > 0) off = this.#completePending(chunk, out);
    const end = chunk.length;
    while (off < end) {
      if (end - off < GRPC_PREFIX) {
        this.#stash(chunk.subarray(off), -1);
        return;
      }
      const len = this.#readLength(chunk, off);
      const total = GRPC_PREFIX + len;
      if (end - off < total) {
        this.#stash(chunk.subarray(off), total);
        return;
      }
      out.push(chunk.subarray(off + GRPC_PREFIX, off + total));
      off += total;
    }
  }

  #readLength(b: Uint8Array, off: number): number {
    if (b[off] !== 0) {
      throw new ProtocolError(
        b[off] === 1
          ? "compressed gRPC message received but no compression is supported"
          : `invalid gRPC frame flag ${b[off]}`,
      );
    }
    const len = (b[off + 1] * 0x1000000) + ((b[off + 2] << 16) | (b[off + 3] << 8) | b[off + 4]);
    if (len > this.#max) {
      throw new ProtocolError(`message of ${len} bytes exceeds the maximum of ${this.#max} bytes`);
    }
    return len;
  }

  #stash(bytes: Uint8Array, need: number): void {
    const size = Math.max(need, GRPC_PREFIX, bytes.length);
    this.#pending = new Uint8Array(size);
    this.#pending.set(bytes);
    this.#pendingLen = bytes.length;
    this.#need = need;
  }

  /** Feeds the start of `chunk` into the pending message; returns the chunk offset consumed. */
  #completePending(chunk: Uint8Array, out: Uint8Array[]): number {
    let off = 0;
    if (this.#need < 0) {
      const take = Math.min(GRPC_PREFIX - this.#pendingLen, chunk.length);
      this.#pending!.set(chunk.subarray(0, take), this.#pendingLen);
      this.#pendingLen += take;
      off = take;
      if (this.#pendingLen < GRPC_PREFIX) return off;
      const total = GRPC_PREFIX + this.#readLength(this.#pending!, 0);
      const grown = new Uint8Array(total);
      grown.set(this.#pending!.subarray(0, this.#pendingLen));
      this.#pending = grown;
      this.#need = total;
    }
    const take = Math.min(this.#need - this.#pendingLen, chunk.length - off);
    this.#pending!.set(chunk.subarray(off, off + take), this.#pendingLen);
    this.#pendingLen += take;
    off += take;
    if (this.#pendingLen === this.#need) {
      out.push(this.#pending!.subarray(GRPC_PREFIX, this.#need));
      this.#pending = undefined;
      this.#pendingLen = 0;
      this.#need = -1;
    }
    return off;
  }
}

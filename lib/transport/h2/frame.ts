/**
 * HTTP/2 frame codec: an incremental reader for the received byte stream and builders for the
 * frames we send.
 *
 * The reader is correct for any chunking of the input. DATA payloads are not buffered: each
 * piece of a DATA frame is handed on as a view into the received chunk as soon as it arrives
 * (padding stripped), so a 4 MiB DATA frame costs no copy and no 4 MiB buffer, and the gRPC
 * deframer downstream already copes with any chunking. Other frames are small and are handed on
 * whole (copied only when they straddle chunks), with a size cap so a peer cannot make us buffer
 * megabytes of SETTINGS or header block. Frames of unknown types are skipped unbuffered.
 * @module
 */
import { ErrorCode, Flag, FRAME_HEADER_SIZE, FrameType, Http2Error } from "./constants.ts";

/** Receives what {@link FrameReader} parses. Runs synchronously inside {@link FrameReader.push}. */
export interface FrameHandler {
  /** A complete frame other than DATA; `payload` is valid during the call only. */
  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void;
  /**
   * A DATA frame begins; `length` is its whole payload including padding (what flow control
   * counts).
   */
  onDataStart(streamId: number, flags: number, length: number): void;
  /** A piece of DATA payload, padding excluded: a view the receiver may keep. */
  onData(streamId: number, data: Uint8Array): void;
  /** The DATA frame is complete; `overhead` is its padding plus the pad length octet. */
  onDataEnd(streamId: number, flags: number, overhead: number): void;
}

const EMPTY = new Uint8Array(0);

// Reader states.
const HEADER = 0;
const BUFFER = 1;
const DATA_PAD_LENGTH = 2;
const DATA_BODY = 3;
const DATA_PADDING = 4;
const SKIP = 5;

/** Incremental frame parser (both roles). */
export class FrameReader {
  readonly #handler: FrameHandler;
  /** Largest frame accepted: our SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize: number;
  /** Largest non-DATA frame buffered. */
  maxBufferedSize: number;
  #state = HEADER;
  readonly #hdr = new Uint8Array(FRAME_HEADER_SIZE);
  #hdrLen = 0;
  #type = 0;
  #flags = 0;
  #stream = 0;
  #length = 0;
  /** Bytes left in the current state. */
  #left = 0;
  /** DATA: padding octets after the body. */
  #padding = 0;
  /** DATA: padding plus pad length octet of the current frame. */
  #overhead = 0;
  #buf: Uint8Array | undefined;
  #bufLen = 0;
  #stopped = false;

  /**
   * Creates a reader feeding `handler`.
   * @param handler receives the frames
   * @param maxFrameSize our SETTINGS_MAX_FRAME_SIZE; larger frames are a FRAME_SIZE_ERROR
   * @param maxBufferedSize cap on non-DATA frames (ENHANCE_YOUR_CALM beyond)
   */
  constructor(handler: FrameHandler, maxFrameSize: number, maxBufferedSize: number) {
    this.#handler = handler;
    this.maxFrameSize = maxFrameSize;
    this.maxBufferedSize = maxBufferedSize;
  }

  /** Stops parsing: the rest of the current and every later chunk is ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** True when input ended exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.#state === HEADER && this.#hdrLen === 0;
  }

  /**
   * Parses `chunk`, calling the handler for everything complete. Throws {@link Http2Error} for
   * framing errors (always connection errors); the reader is unusable afterwards.
   */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let off = 0;
    while (off < n && !this.#stopped) {
      switch (this.#state) {
        case HEADER: {
          let h = chunk;
          let at = off;
          if (this.#hdrLen === 0 && n - off >= FRAME_HEADER_SIZE) {
            off += FRAME_HEADER_SIZE;
          } else {
            const take = Math.min(FRAME_HEADER_SIZE - this.#hdrLen, n - off);
            this.#hdr.set(chunk.subarray(off, off + take), this.#hdrLen);
            this.#hdrLen += take;
            off += take;
            if (this.#hdrLen < FRAME_HEADER_SIZE) return;
            this.#hdrLen = 0;
            h = this.#hdr;
            at = 0;
          }
          this.#begin(
            (h[at] << 16) | (h[at + 1] << 8) | h[at + 2],
            h[at + 3],
            h[at + 4],
            ((h[at + 5] & 0x7f) * 0x1000000) + ((h[at + 6] << 16) | (h[at + 7] << 8) | h[at + 8]),
          );
          break;
        }
        case BUFFER: {
          const left = this.#left;
          if (this.#bufLen === 0 && n - off >= left) {
            const payload = chunk.subarray(off, off + left);
            off += left;
            this.#state = HEADER;
            this.#handler.onFrame(this.#type, this.#flags, this.#stream, payload);
            break;
          }
          this.#buf ??= new Uint8Array(this.#length);
          const take = Math.min(left, n - off);
          this.#buf.set(chunk.subarray(off, off + take), this.#bufLen);
          this.#bufLen += take;
          this.#left -= take;
          off += take;
          if (this.#left === 0) {
            const payload = this.#buf;
            this.#buf = undefined;
            this.#bufLen = 0;
            this.#state = HEADER;
            this.#handler.onFrame(this.#type, this.#flags, this.#stream, payload);
          }
          break;
        }
        case DATA_PAD_LENGTH: {
          const pad = chunk[off++];
          const body = this.#length - 1 - pad;
          if (body < 0) {
            throw new Http2Error(
              ErrorCode.PROTOCOL_ERROR,
              `DATA frame padding of ${pad} octets exceeds its length ${this.#length}`,
            );
          }
          this.#padding = pad;
          this.#overhead = 1 + pad;
          this.#left = body;
          this.#state = body > 0 ? DATA_BODY : DATA_PADDING;
          if (body === 0 && pad === 0) this.#endData();
          break;
        }
        case DATA_BODY: {
          const take = Math.min(this.#left, n - off);
          const piece = chunk.subarray(off, off + take);
          off += take;
          this.#left -= take;
          const done = this.#left === 0;
          if (done) this.#state = DATA_PADDING;
          this.#handler.onData(this.#stream, piece);
          if (done && this.#padding === 0 && !this.#stopped) this.#endData();
          break;
        }
        case DATA_PADDING: {
          const take = Math.min(this.#padding, n - off);
          off += take;
          this.#padding -= take;
          if (this.#padding === 0) this.#endData();
          break;
        }
        case SKIP: {
          const take = Math.min(this.#left, n - off);
          off += take;
          this.#left -= take;
          if (this.#left === 0) {
            this.#state = HEADER;
            this.#handler.onFrame(this.#type, this.#flags, this.#stream, EMPTY);
          }
          break;
        }
      }
    }
  }

  #begin(length: number, type: number, flags: number, streamId: number): void {
    if (length > this.maxFrameSize) {
      throw new Http2Error(
        ErrorCode.FRAME_SIZE_ERROR,
        `frame of ${length} octets (type ${type}) exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`,
      );
    }
    this.#type = type;
    this.#flags = flags;
    this.#stream = streamId;
    this.#length = length;
    if (type === FrameType.DATA) {
      this.#handler.onDataStart(streamId, flags, length);
      if (flags & Flag.PADDED) {
        if (length === 0) {
          throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "padded DATA frame without pad length");
        }
        this.#state = DATA_PAD_LENGTH;
      } else if (length === 0) {
        this.#padding = 0;
        this.#overhead = 0;
        this.#state = HEADER;
        this.#handler.onDataEnd(streamId, flags, 0);
      } else {
        this.#padding = 0;
        this.#overhead = 0;
        this.#left = length;
        this.#state = DATA_BODY;
      }
      return;
    }
    const known = type <= FrameType.CONTINUATION;
    if (known && length > this.maxBufferedSize) {
      throw new Http2Error(
        ErrorCode.ENHANCE_YOUR_CALM,
        `frame of ${length} octets (type ${type}) exceeds the ${this.maxBufferedSize} octets buffered`,
      );
    }
    if (length === 0) {
      this.#state = HEADER;
      this.#handler.onFrame(type, flags, streamId, EMPTY);
      return;
    }
    this.#left = length;
    this.#state = known ? BUFFER : SKIP;
  }

  #endData(): void {
    this.#state = HEADER;
    this.#handler.onDataEnd(this.#stream, this.#flags, this.#overhead);
  }
}

/** Writes a frame header at `buf[off]`. */
export function writeFrameHeader(
  buf: Uint8Array,
  off: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  buf[off] = length >>> 16;
  buf[off + 1] = length >>> 8;
  buf[off + 2] = length;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf[off + 5] = (streamId >>> 24) & 0x7f;
  buf[off + 6] = streamId >>> 16;
  buf[off + 7] = streamId >>> 8;
  buf[off + 8] = streamId;
}

/** A whole frame: header plus `payload`. */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = EMPTY,
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/** A SETTINGS frame carrying `settings` (`[identifier, value]` pairs), or an ACK. */
export function settingsFrame(settings: readonly [number, number][], ack = false): Uint8Array {
  const payload = new Uint8Array(settings.length * 6);
  const dv = new DataView(payload.buffer);
  settings.forEach(([id, value], i) => {
    dv.setUint16(i * 6, id);
    dv.setUint32(i * 6 + 2, value);
  });
  return encodeFrame(FrameType.SETTINGS, ack ? Flag.ACK : 0, 0, payload);
}

/** A PING frame (8-octet opaque payload). */
export function pingFrame(payload: Uint8Array, ack = false): Uint8Array {
  return encodeFrame(FrameType.PING, ack ? Flag.ACK : 0, 0, payload);
}

/** A GOAWAY frame. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug.slice(0, 256));
  const payload = new Uint8Array(8 + text.length);
  const dv = new DataView(payload.buffer);
  dv.setUint32(0, lastStreamId & 0x7fffffff);
  dv.setUint32(4, code);
  payload.set(text, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
}

/** A RST_STREAM frame. */
export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
}

/** A WINDOW_UPDATE frame. */
export function windowUpdateFrame(streamId: number, increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment & 0x7fffffff);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

/**
 * A header block as HEADERS plus CONTINUATION frames of at most `maxFrameSize` octets each, in
 * one buffer (they must not be interleaved with other frames anyway).
 */
export function headersFrames(
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrameSize: number,
): Uint8Array {
  const count = Math.max(1, Math.ceil(block.length / maxFrameSize));
  const out = new Uint8Array(block.length + count * FRAME_HEADER_SIZE);
  let off = 0;
  for (let i = 0; i < count; i++) {
    const part = block.subarray(i * maxFrameSize, (i + 1) * maxFrameSize);
    const last = i === count - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    writeFrameHeader(out, off, part.length, type, flags, streamId);
    out.set(part, off + FRAME_HEADER_SIZE);
    off += FRAME_HEADER_SIZE + part.length;
  }
  return out;
}

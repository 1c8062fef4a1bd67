/**
 * One HTTP/2 stream (RFC 9113 §5.1), owned by an {@link H2Connection}.
 *
 * States, one way only (no push, so no reserved states):
 *
 * ```
 *            send/recv HEADERS
 *   idle ───────────────────────▶ open
 *                                  │ send END_STREAM          │ recv END_STREAM
 *                                  ▼                          ▼
 *                         half-closed-local          half-closed-remote
 *                                  │ recv END_STREAM          │ send END_STREAM
 *                                  └──────────▶ closed ◀──────┘
 *                      (RST_STREAM sent or received, or connection lost: closed from any state)
 * ```
 *
 * Receiving: DATA payload pieces are queued as views of the received socket chunks; the consumer
 * {@link H2Stream.take}s them, and only then is the flow-control window credited back to the peer
 * (WINDOW_UPDATE), so a consumer that stops reading stops the peer within one window.
 *
 * Sending: {@link H2Stream.write} emits a DATA frame at once when the windows and the peer's
 * SETTINGS_MAX_FRAME_SIZE allow it, writing the frame header into room the caller left in front
 * of the bytes (zero copy); otherwise the bytes are queued and sent as WINDOW_UPDATEs arrive.
 * {@link H2Stream.end} sends END_STREAM (or trailers) after everything queued.
 * @module
 */
import { TransportError } from "../../errors.ts";
import {
  ErrorCode,
  errorCodeName,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  Http2Error,
  MAX_WINDOW_SIZE,
} from "./constants.ts";
import { writeFrameHeader } from "./frame.ts";
import type { HeaderField } from "./hpack.ts";

/** Stream states of RFC 9113 §5.1 (without the push-only reserved states). */
export type StreamState = "idle" | "open" | "half-closed-local" | "half-closed-remote" | "closed";

/**
 * What a stream needs from its connection. Implemented by {@link H2Connection}; not for other
 * callers.
 */
export interface StreamHost {
  /** Peer description for errors. */
  readonly remote: string;
  /** True on the server side (responses end the request, see {@link H2Stream.end}). */
  readonly isServer: boolean;
  /** Connection-level send window; the stream debits what it sends. */
  sendWindow: number;
  /** Peer's SETTINGS_MAX_FRAME_SIZE. */
  readonly peerMaxFrameSize: number;
  /** Octets written to the socket and not yet handed to the kernel. */
  readonly socketBuffered: number;
  /** Writes one DATA frame; `data` has `headroom` writable octets in front of it. */
  writeData(streamId: number, data: Uint8Array, headroom: number, flags: number): void;
  /** Writes ready-made frames (headers and payloads), in order. */
  writeParts(parts: Uint8Array[]): void;
  /** Encodes and writes a header block. */
  sendHeaders(streamId: number, fields: readonly HeaderField[], endStream: boolean): void;
  /** Writes RST_STREAM. */
  sendRst(streamId: number, code: number): void;
  /** Writes WINDOW_UPDATE. */
  sendWindowUpdate(streamId: number, increment: number): void;
  /** The consumer took `n` octets: credit the connection window. */
  consumed(n: number): void;
  /** The stream has data waiting for the connection window. */
  blocked(stream: H2Stream): void;
  /** The stream reached `closed`. */
  streamClosed(stream: H2Stream): void;
}

/** Fraction of the receive window consumed before we send a WINDOW_UPDATE. */
const UPDATE_DIVISOR = 4;

/** One stream of an HTTP/2 connection. */
export class H2Stream {
  /** Stream identifier. */
  readonly id: number;
  /** Current state. */
  state: StreamState = "idle";
  /** Request headers (server side) or response headers (client side), once received. */
  headers: HeaderField[] | undefined;
  /** Trailers, once received. */
  trailers: HeaderField[] | undefined;
  /** RST_STREAM code, when the stream was reset (by either side). */
  resetCode: number | undefined;
  /** Why the stream failed (reset with an error code, connection lost), if it did. */
  error: Error | undefined;
  /**
   * Octets buffered for sending (queued here plus in the socket) above which
   * {@link H2Stream.congested} is true.
   * @default 1 MiB
   */
  highWaterMark = 1024 * 1024;

  /** Data, end of stream, trailers or closure arrived. */
  onReadable: (() => void) | undefined;
  /** Buffered output went down (queue flushed, socket drained). */
  onDrain: (() => void) | undefined;
  /** Response headers (client side) or trailers arrived. */
  onHeaders: ((fields: HeaderField[], trailers: boolean) => void) | undefined;
  /** The stream reached `closed`. */
  onClose: (() => void) | undefined;

  readonly #host: StreamHost;
  #sendWindow: number;
  #recvWindow: number;
  #recvUnacked = 0;
  readonly #recvThreshold: number;
  /** Outgoing bytes waiting for flow-control window. */
  #out: Uint8Array[] = [];
  #outHead = 0;
  #queued = 0;
  /** END_STREAM requested (sent once the queue is empty); trailers to send with it. */
  #endRequested = false;
  #endTrailers: readonly HeaderField[] | undefined;
  #endSent = false;
  #responded = false;
  #remoteEnded = false;
  /** Received DATA not yet taken by the consumer. */
  #in: Uint8Array[] = [];
  #inBytes = 0;

  /**
   * Creates a stream; only {@link H2Connection} does.
   * @param host the owning connection
   * @param id stream identifier
   * @param sendWindow the peer's SETTINGS_INITIAL_WINDOW_SIZE
   * @param recvWindow our SETTINGS_INITIAL_WINDOW_SIZE
   */
  constructor(host: StreamHost, id: number, sendWindow: number, recvWindow: number) {
    this.#host = host;
    this.id = id;
    this.#sendWindow = sendWindow;
    this.#recvWindow = recvWindow;
    this.#recvThreshold = Math.max(1, Math.floor(recvWindow / UPDATE_DIVISOR));
  }

  /** True once the peer ended its side (END_STREAM or reset). */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** True once we asked to end our side. */
  get localEnded(): boolean {
    return this.#endRequested || this.state === "closed";
  }

  /** Octets waiting for flow-control window on this stream. */
  get queued(): number {
    return this.#queued;
  }

  /** True while more than {@link highWaterMark} octets wait to be sent. */
  get congested(): boolean {
    return this.state !== "closed" && this.#queued + this.#host.socketBuffered > this.highWaterMark;
  }

  /** Octets received and not yet taken. */
  get pending(): number {
    return this.#inBytes;
  }

  /**
   * Takes every received DATA piece queued so far (views into received chunks, never reused by
   * the connection), crediting the flow-control windows; undefined when there is nothing.
   */
  take(): Uint8Array[] | undefined {
    if (this.#in.length === 0) return undefined;
    const chunks = this.#in;
    const n = this.#inBytes;
    this.#in = [];
    this.#inBytes = 0;
    this.#credit(n);
    return chunks;
  }

  /** Sends response headers (server side), once; later calls are ignored. */
  respond(fields: readonly HeaderField[], endStream = false): void {
    if (this.state === "closed" || this.#endRequested || this.#responded) return;
    this.#responded = true;
    if (endStream) this.#endRequested = true;
    this.#host.sendHeaders(this.id, fields, endStream);
    if (endStream) this.#afterEndSent();
  }

  /**
   * Sends `data` as DATA (queued while flow control does not allow it). When `headroom` is at
   * least 9, the octets just in front of `data` belong to the caller and may be overwritten with
   * the frame header. `data` must not be modified afterwards. Ignored once the stream is ending.
   */
  write(data: Uint8Array, headroom = 0): void {
    if (this.#endRequested || this.state === "closed") return;
    const n = data.length;
    if (n === 0) return;
    const host = this.#host;
    if (
      this.#queued === 0 && n <= this.#sendWindow && n <= host.sendWindow &&
      n <= host.peerMaxFrameSize
    ) {
      this.#sendWindow -= n;
      host.sendWindow -= n;
      host.writeData(this.id, data, headroom, 0);
      return;
    }
    this.#out.push(data);
    this.#queued += n;
    this.pump();
  }

  /**
   * Ends our side once everything queued is sent: trailers (a HEADERS frame with END_STREAM) when
   * given, an empty END_STREAM DATA frame otherwise. On the server side, a request the peer has
   * not finished is then reset with NO_ERROR (RFC 9113 §8.1), which closes the stream.
   */
  end(trailers?: readonly HeaderField[]): void {
    if (this.#endRequested || this.state === "closed") return;
    this.#endRequested = true;
    this.#endTrailers = trailers;
    if (this.#queued === 0) this.#sendEnd();
  }

  /** Resets the stream (RST_STREAM) and drops everything buffered. */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.state === "closed") return;
    this.#host.sendRst(this.id, code);
    this.resetCode = code;
    this.#discardInput();
    this.#close();
  }

  // ---------------------------------------------------------------------------------------------
  // Called by the connection.

  /** Marks the stream opened by a HEADERS frame (sent or received). */
  opened(endStreamLocal: boolean, endStreamRemote: boolean): void {
    this.state = "open";
    if (endStreamLocal) {
      this.#endRequested = true;
      this.#endSent = true;
      this.state = "half-closed-local";
    }
    if (endStreamRemote) {
      this.#remoteEnded = true;
      this.state = this.state === "half-closed-local" ? "closed" : "half-closed-remote";
    }
  }

  /** A DATA frame of `length` octets (padding included) begins. Throws a stream error. */
  dataStart(length: number): void {
    this.#recvWindow -= length;
    if (this.#recvWindow < 0) {
      throw new Http2Error(
        ErrorCode.FLOW_CONTROL_ERROR,
        `stream ${this.id}: peer sent ${-this.#recvWindow} octets beyond the flow-control window`,
        this.id,
      );
    }
  }

  /** A piece of DATA payload. */
  receiveData(data: Uint8Array): void {
    if (this.state === "closed") {
      // Reset by us while the frame was arriving: nobody will take it.
      this.#host.consumed(data.length);
      return;
    }
    this.#in.push(data);
    this.#inBytes += data.length;
    this.onReadable?.();
  }

  /** Padding of a DATA frame: credited at once, nobody consumes it. */
  receivePadding(overhead: number): void {
    if (overhead > 0) this.#credit(overhead);
  }

  /** HEADERS after the request/response headers: trailers (must end the stream). */
  receiveHeaders(fields: HeaderField[], endStream: boolean): void {
    if (this.headers === undefined) {
      this.headers = fields;
      this.onHeaders?.(fields, false);
    } else {
      this.trailers = fields;
      this.onHeaders?.(fields, true);
    }
    if (endStream) this.receiveEnd();
  }

  /** END_STREAM from the peer. */
  receiveEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    if (this.state === "open") this.state = "half-closed-remote";
    else if (this.state === "half-closed-local") this.#close();
    this.onReadable?.();
  }

  /** RST_STREAM from the peer. */
  receiveReset(code: number): void {
    if (this.state === "closed") return;
    this.resetCode = code;
    if (code !== ErrorCode.NO_ERROR) {
      this.error = new TransportError(
        `stream ${this.id} reset by ${this.#host.remote}: ${errorCodeName(code)}`,
      );
    }
    this.#close();
  }

  /** The connection is gone (or refused this stream in a GOAWAY). */
  fail(error: Error): void {
    if (this.state === "closed") return;
    this.error ??= error;
    this.#close();
  }

  /** WINDOW_UPDATE for this stream. Throws a stream error on overflow. */
  windowUpdate(increment: number): void {
    this.#sendWindow += increment;
    if (this.#sendWindow > MAX_WINDOW_SIZE) {
      throw new Http2Error(
        ErrorCode.FLOW_CONTROL_ERROR,
        `stream ${this.id}: flow-control window above 2^31-1`,
        this.id,
      );
    }
    if (this.#queued > 0) this.pump();
  }

  /** The peer changed SETTINGS_INITIAL_WINDOW_SIZE by `delta` (may go negative, §6.9.2). */
  adjustSendWindow(delta: number): boolean {
    this.#sendWindow += delta;
    return this.#sendWindow <= MAX_WINDOW_SIZE;
  }

  /** Sends what the windows allow of the queue (and END_STREAM after it). */
  pump(): void {
    if (this.state === "closed") return;
    const host = this.#host;
    let parts: Uint8Array[] | undefined;
    while (this.#queued > 0) {
      const budget = Math.min(this.#sendWindow, host.sendWindow);
      if (budget <= 0) break;
      const head = this.#out[this.#outHead];
      const n = Math.min(head.length, budget, host.peerMaxFrameSize);
      let part = head;
      if (n === head.length) {
        this.#out[this.#outHead++] = EMPTY;
      } else {
        part = head.subarray(0, n);
        this.#out[this.#outHead] = head.subarray(n);
      }
      this.#queued -= n;
      this.#sendWindow -= n;
      host.sendWindow -= n;
      const header = new Uint8Array(FRAME_HEADER_SIZE);
      writeFrameHeader(header, 0, n, FrameType.DATA, 0, this.id);
      (parts ??= []).push(header, part);
    }
    if (this.#queued === 0) {
      this.#out = [];
      this.#outHead = 0;
    } else if (this.#outHead > 1024) {
      this.#out = this.#out.slice(this.#outHead);
      this.#outHead = 0;
    }
    if (parts) host.writeParts(parts);
    if (this.#queued > 0) {
      host.blocked(this);
    } else if (this.#endRequested && !this.#endSent) {
      this.#sendEnd();
    }
    this.onDrain?.();
  }

  // ---------------------------------------------------------------------------------------------

  #sendEnd(): void {
    this.#endSent = true;
    if (this.#endTrailers) this.#host.sendHeaders(this.id, this.#endTrailers, true);
    else this.#host.writeData(this.id, EMPTY, 0, Flag.END_STREAM);
    this.#afterEndSent();
  }

  #afterEndSent(): void {
    this.#endSent = true;
    if (this.#remoteEnded || this.state === "half-closed-remote") {
      this.#close();
      return;
    }
    this.state = "half-closed-local";
    if (this.#host.isServer) {
      // The response is complete: tell the client to stop sending (RFC 9113 §8.1).
      this.#host.sendRst(this.id, ErrorCode.NO_ERROR);
      this.resetCode = ErrorCode.NO_ERROR;
      this.#close();
    }
  }

  #credit(n: number): void {
    this.#host.consumed(n);
    if (this.#remoteEnded || this.state === "closed") return;
    this.#recvUnacked += n;
    if (this.#recvUnacked >= this.#recvThreshold) {
      const inc = this.#recvUnacked;
      this.#recvUnacked = 0;
      this.#recvWindow += inc;
      this.#host.sendWindowUpdate(this.id, inc);
    }
  }

  #discardInput(): void {
    if (this.#inBytes > 0) this.#host.consumed(this.#inBytes);
    this.#in = [];
    this.#inBytes = 0;
  }

  #close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.#out = [];
    this.#outHead = 0;
    this.#queued = 0;
    this.#host.streamClosed(this);
    this.onReadable?.();
    this.onDrain?.();
    this.onClose?.();
  }
}

const EMPTY = new Uint8Array(0);

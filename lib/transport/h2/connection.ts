/**
 * An HTTP/2 connection (RFC 9113) over a `node:net` or `node:tls` socket, for either role.
 *
 * Connection states, one way only:
 *
 * ```
 *  preface ──▶ open ──▶ draining ──▶ closed
 *     │          │                      ▲
 *     └──────────┴──────────────────────┘  (connection error, socket lost, destroy())
 * ```
 *
 * - `preface`: the client preface (server side) and the peer's first SETTINGS are awaited; we
 *   have sent our own preface/SETTINGS and the connection WINDOW_UPDATE already.
 * - `open`: streams come and go.
 * - `draining`: GOAWAY sent ({@link H2Connection.close}, or received from the peer): no new
 *   streams; existing ones finish, then the socket is ended.
 * - `closed`: the socket is ended or destroyed; every stream still open failed with a
 *   {@link TransportError}.
 *
 * Errors follow RFC 9113 §5.4: a connection error sends GOAWAY with its code and closes the
 * socket; a stream error resets that stream with RST_STREAM and the connection lives on. Nothing
 * thrown while handling input escapes the socket callbacks: whatever the bytes, the worst outcome
 * is this connection closing. Buffers are bounded: DATA is never buffered beyond the flow-control
 * windows we announce, other frames are capped (header blocks at
 * `max(64 KiB, 4 × maxHeaderListSize)`), and cheap-to-send, costly-to-handle frames (RST_STREAM,
 * PING, SETTINGS, PRIORITY, empty DATA, refused streams: the "rapid reset" and ping flood
 * attacks) draw from a token bucket whose exhaustion is ENHANCE_YOUR_CALM.
 * @module
 */
import type { Socket } from "node:net";
import { TransportError } from "../../errors.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  errorCodeName,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  Http2Error,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  MIN_MAX_FRAME_SIZE,
  Setting,
} from "./constants.ts";
import {
  type FrameHandler,
  FrameReader,
  goawayFrame,
  headersFrames,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frame.ts";
import { type HeaderField, HpackDecoder, HpackEncoder } from "./hpack.ts";
import { H2Stream, type StreamHost } from "./stream.ts";

/** Lifecycle states of an {@link H2Connection}. */
export type ConnectionState = "preface" | "open" | "draining" | "closed";

/** What we announce in SETTINGS (and enforce). */
export interface H2LocalSettings {
  /** SETTINGS_MAX_FRAME_SIZE. @default 4 MiB (SLIM's `max_frame_size` default) */
  maxFrameSize?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS, for streams the peer opens. @default 100 */
  maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. @default 16 KiB */
  maxHeaderListSize?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: per-stream receive window. @default 4 MiB */
  initialWindowSize?: number;
  /** Connection receive window, raised from 65,535 by a WINDOW_UPDATE. @default 16 MiB */
  connectionWindowSize?: number;
}

/** Options of {@link H2Connection}. */
export interface H2ConnectionOptions extends H2LocalSettings {
  /** Which side of the connection we are. */
  role: "client" | "server";
  /** Peer description for errors and logs, e.g. `127.0.0.1:53412`. */
  remote: string;
  /** Server side: a peer opened a stream; its request headers are in `stream.headers`. */
  onStream?: (stream: H2Stream) => void;
  /**
   * A connection-level failure worth logging: a protocol error (ours or the peer's GOAWAY with
   * an error code), a socket error, a keepalive timeout.
   */
  onError?: (error: Error) => void;
  /** The connection is closed (socket gone). */
  onClose?: () => void;
  /**
   * Server side: a request was refused before it became a stream (REFUSED_STREAM, or HTTP 431
   * for a header list beyond our limit); `reason` says which limit.
   */
  onRefused?: (streamId: number, reason: string) => void;
  /**
   * Server side: time allowed for the client preface and first SETTINGS.
   * @default 10 s
   */
  handshakeTimeoutMs?: number;
  /**
   * Per-stream buffered output above which a stream reports congestion.
   * @default 1 MiB
   */
  streamHighWaterMark?: number;
}

/** Non-DATA frames other than header blocks are never larger than this. */
const MAX_CONTROL_FRAME = 64 * 1024;
/** Up to this many octets of frames are concatenated into one write; larger go out corked. */
const COALESCE_LIMIT = 16 * 1024;
/** Token bucket against cheap-to-send, costly-to-handle frames. */
const FLOOD_BURST = 1000;
const FLOOD_PER_MS = 0.1;
/** After ending the socket, how long the peer has to close its side. */
const LINGER_MS = 1000;
/** First four octets of our PING payloads. */
const PING_TAG = 0x736c696d; // "slim"

const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":authority", ":path"]);

/** One HTTP/2 connection. */
export class H2Connection implements FrameHandler, StreamHost {
  /** Which side we are. */
  readonly role: "client" | "server";
  /** Peer description. */
  readonly remote: string;
  /** True on the server side. */
  readonly isServer: boolean;
  /** Current state; see the module documentation. */
  state: ConnectionState = "preface";
  /** Connection-level send window (debited by streams). */
  sendWindow: number = DEFAULT_WINDOW_SIZE;
  /** Peer's SETTINGS_MAX_FRAME_SIZE. */
  peerMaxFrameSize: number = MIN_MAX_FRAME_SIZE;
  /** Resolves when the socket is gone. */
  readonly closed: Promise<void>;
  /**
   * Resolves when the peer's first SETTINGS arrived (the HTTP/2 handshake is done); rejects with
   * the failure if the connection ends before.
   */
  readonly ready: Promise<void>;

  readonly #socket: Socket;
  readonly #options: H2ConnectionOptions;
  readonly #reader: FrameReader;
  readonly #decoder = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE);
  readonly #encoder = new HpackEncoder();
  readonly #streams = new Map<number, H2Stream>();
  readonly #blocked = new Set<H2Stream>();
  readonly #maxHeaderListSize: number;
  readonly #maxHeaderBlock: number;
  readonly #maxConcurrent: number;
  readonly #initialWindow: number;
  readonly #highWaterMark: number;
  #resolveClosed!: () => void;
  #settleReady!: (error?: Error) => void;

  /** Client preface octets still expected (server side). */
  #prefaceLeft: number;
  #settingsReceived = false;
  #peerInitialWindow = DEFAULT_WINDOW_SIZE;
  #peerMaxConcurrent = Infinity;
  /** Highest stream id the peer opened, and the next one we open. */
  #lastPeerStream = 0;
  #nextStreamId: number;
  /** Streams opened by the peer and still active. */
  #peerStreams = 0;
  #recvWindow: number;
  #recvUnacked = 0;
  readonly #recvThreshold: number;
  /** DATA frame being received: its stream, when it is delivered. */
  #dataTarget: H2Stream | undefined;
  /** Header block being assembled from HEADERS + CONTINUATION. */
  #block: Uint8Array[] | undefined;
  #blockSize = 0;
  #blockStream = 0;
  #blockEndStream = false;
  #goawaySent = false;
  #goawayReceived = false;
  #socketClosed = false;
  #ended = false;
  #floodTokens = FLOOD_BURST;
  #floodAt = Date.now();
  #pingSeq = 0;
  readonly #pings = new Map<number, (ok: boolean) => void>();
  #keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  #keepaliveDeadline: ReturnType<typeof setTimeout> | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Takes over a connected socket: sends our preface (client) or SETTINGS (server) at once and
   * handles everything the socket delivers from now on.
   */
  constructor(socket: Socket, options: H2ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.role = options.role;
    this.remote = options.remote;
    this.isServer = options.role === "server";
    this.#prefaceLeft = this.isServer ? CLIENT_PREFACE.length : 0;
    this.#nextStreamId = this.isServer ? 2 : 1;
    const maxFrameSize = clamp(
      options.maxFrameSize ?? 4 * 1024 * 1024,
      MIN_MAX_FRAME_SIZE,
      MAX_MAX_FRAME_SIZE,
    );
    this.#maxHeaderListSize = options.maxHeaderListSize ?? 16 * 1024;
    this.#maxHeaderBlock = Math.max(64 * 1024, 4 * this.#maxHeaderListSize);
    this.#maxConcurrent = options.maxConcurrentStreams ?? 100;
    this.#initialWindow = clamp(options.initialWindowSize ?? 4 * 1024 * 1024, 0, MAX_WINDOW_SIZE);
    this.#highWaterMark = options.streamHighWaterMark ?? 1024 * 1024;
    const connWindow = clamp(
      options.connectionWindowSize ?? 16 * 1024 * 1024,
      DEFAULT_WINDOW_SIZE,
      MAX_WINDOW_SIZE,
    );
    this.#recvWindow = connWindow;
    this.#recvThreshold = Math.max(1, Math.floor(connWindow / 4));
    this.#reader = new FrameReader(
      this,
      maxFrameSize,
      Math.max(MAX_CONTROL_FRAME, this.#maxHeaderBlock),
    );
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.ready = new Promise((resolve, reject) => {
      this.#settleReady = (error) => error ? reject(error) : resolve();
    });
    this.ready.catch(() => {}); // observed by whoever awaits it; never unhandled

    try {
      socket.setNoDelay(true);
    } catch {
      // Unix sockets and some TLS wrappers have no Nagle to disable.
    }
    socket.on("data", this.#onData);
    socket.on("error", this.#onSocketError);
    socket.on("close", this.#onSocketClose);
    socket.on("drain", this.#onDrain);
    // Already gone (e.g. a TLS socket reset right after its handshake): no "close" will come.
    if (socket.destroyed) queueMicrotask(this.#onSocketClose);

    // A client announces no stream limit (it accepts no streams: push is disabled instead).
    const settings: [number, number][] = [
      this.isServer
        ? [Setting.MAX_CONCURRENT_STREAMS, this.#maxConcurrent]
        : [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.#initialWindow],
      [Setting.MAX_FRAME_SIZE, maxFrameSize],
      [Setting.MAX_HEADER_LIST_SIZE, this.#maxHeaderListSize],
    ];
    const parts = [settingsFrame(settings)];
    if (!this.isServer) parts.unshift(CLIENT_PREFACE);
    if (connWindow > DEFAULT_WINDOW_SIZE) {
      parts.push(windowUpdateFrame(0, connWindow - DEFAULT_WINDOW_SIZE));
    }
    this.writeParts(parts);
    if (this.isServer) {
      this.#handshakeTimer = setTimeout(() => {
        this.#handshakeTimer = undefined;
        if (this.state === "preface") {
          this.#connectionError(
            new Http2Error(ErrorCode.SETTINGS_TIMEOUT, "no HTTP/2 preface and SETTINGS in time"),
          );
        }
      }, options.handshakeTimeoutMs ?? 10_000);
    }
  }

  /** True once we sent GOAWAY. */
  get goawaySent(): boolean {
    return this.#goawaySent;
  }

  /** True once the peer sent GOAWAY. */
  get goawayReceived(): boolean {
    return this.#goawayReceived;
  }

  /** Streams currently active. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /** Octets written to the socket and not yet handed to the kernel. */
  get socketBuffered(): number {
    return this.#socket.writableLength ?? 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Public operations

  /**
   * Client side: opens a stream with request `fields` (pseudo-headers first). Throws
   * {@link TransportError} when the connection no longer accepts streams.
   */
  request(fields: readonly HeaderField[], endStream = false): H2Stream {
    if (this.isServer) throw new TransportError("only a client opens streams");
    if (this.state === "closed" || this.state === "draining") {
      throw new TransportError(`HTTP/2 connection to ${this.remote} is closing`);
    }
    if (this.#streams.size >= this.#peerMaxConcurrent) {
      throw new TransportError(
        `${this.remote} allows only ${this.#peerMaxConcurrent} concurrent streams`,
      );
    }
    const id = this.#nextStreamId;
    if (id > MAX_WINDOW_SIZE) throw new TransportError("HTTP/2 stream identifiers exhausted");
    this.#nextStreamId += 2;
    const stream = this.#newStream(id);
    this.#streams.set(id, stream);
    this.sendHeaders(id, fields, endStream);
    stream.opened(endStream, false);
    return stream;
  }

  /** Sends a PING; resolves true when acknowledged, false if the connection ends first. */
  ping(): Promise<boolean> {
    if (this.state === "closed") return Promise.resolve(false);
    const seq = this.#pingSeq = (this.#pingSeq + 1) >>> 0;
    const payload = new Uint8Array(8);
    const dv = new DataView(payload.buffer);
    dv.setUint32(0, PING_TAG);
    dv.setUint32(4, seq);
    this.#write(pingFrame(payload));
    return new Promise((resolve) => this.#pings.set(seq, resolve));
  }

  /**
   * Pings every `intervalMs`; when an acknowledgement takes longer than `timeoutMs`, calls
   * `onTimeout` and destroys the connection.
   */
  keepalive(intervalMs: number, timeoutMs: number, onTimeout?: () => void): void {
    if (intervalMs <= 0 || this.state === "closed") return;
    clearInterval(this.#keepaliveTimer);
    this.#keepaliveTimer = setInterval(() => {
      if (this.#keepaliveDeadline !== undefined || this.state === "closed") return;
      this.#keepaliveDeadline = setTimeout(() => {
        this.#keepaliveDeadline = undefined;
        try {
          onTimeout?.();
        } catch {
          // The owner's logging must not keep a dead connection open.
        }
        this.destroy(
          new TransportError(
            `keepalive ping to ${this.remote} not acknowledged within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.ping().then((ok) => {
        if (ok) {
          clearTimeout(this.#keepaliveDeadline);
          this.#keepaliveDeadline = undefined;
        }
      });
    }, intervalMs);
  }

  /**
   * Graceful close: GOAWAY(NO_ERROR); streams already open finish; the socket is ended once the
   * last one closes. Idempotent.
   */
  close(): void {
    if (this.state === "closed") return;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.#write(goawayFrame(this.#lastPeerStream, ErrorCode.NO_ERROR));
    }
    this.state = "draining";
    if (this.#streams.size === 0) this.#teardown(undefined, true);
  }

  /** Closes at once: every open stream fails with `error`; the socket is destroyed. */
  destroy(error?: Error): void {
    if (this.state === "closed") return;
    if (!this.#goawaySent && !this.#socketClosed) {
      this.#goawaySent = true;
      this.#write(goawayFrame(this.#lastPeerStream, error ? ErrorCode.CANCEL : ErrorCode.NO_ERROR));
    }
    this.#teardown(error, false);
  }

  // ---------------------------------------------------------------------------------------------
  // Socket events (never throw)

  readonly #onData = (chunk: Uint8Array): void => {
    if (this.state === "closed") return;
    try {
      let off = 0;
      if (this.#prefaceLeft > 0) {
        const at = CLIENT_PREFACE.length - this.#prefaceLeft;
        const n = Math.min(this.#prefaceLeft, chunk.length);
        for (let i = 0; i < n; i++) {
          if (chunk[i] !== CLIENT_PREFACE[at + i]) {
            throw new Http2Error(
              ErrorCode.PROTOCOL_ERROR,
              `invalid connection preface (not HTTP/2 with prior knowledge): ${
                JSON.stringify(printable(chunk.subarray(0, 24)))
              }`,
            );
          }
        }
        this.#prefaceLeft -= n;
        off = n;
        if (off === chunk.length) return;
      }
      this.#reader.push(off === 0 ? chunk : chunk.subarray(off));
    } catch (e) {
      this.#onInputError(e);
    }
  };

  readonly #onSocketError = (e: Error): void => {
    if (this.state === "closed") return;
    this.#report(
      new TransportError(`connection to ${this.remote} failed: ${e.message}`, { cause: e }),
    );
  };

  readonly #onSocketClose = (): void => {
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    if (this.state !== "closed") {
      this.#teardown(new TransportError(`connection to ${this.remote} closed`), false);
    }
    this.#resolveClosed();
    try {
      this.#options.onClose?.();
    } catch {
      // The owner's bookkeeping must not break socket handling.
    }
  };

  readonly #onDrain = (): void => {
    for (const s of this.#streams.values()) s.onDrain?.();
  };

  /** Tells the owner a request was refused; the owner's failure must not break our handling. */
  #refused(streamId: number, reason: string): void {
    try {
      this.#options.onRefused?.(streamId, reason);
    } catch {
      // A broken observer is not the peer's problem.
    }
  }

  /** Hands an error to the owner's `onError`, which must not break our own handling. */
  #report(error: Error): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // Logging failed: nothing more to do about it here.
    }
  }

  #onInputError(e: unknown): void {
    if (e instanceof Http2Error && e.streamId === 0) {
      this.#connectionError(e);
    } else {
      const err = e instanceof Error ? e : new Error(String(e));
      this.#connectionError(
        new Http2Error(ErrorCode.INTERNAL_ERROR, `internal error: ${err.message}`, 0, {
          cause: err,
        }),
      );
    }
  }

  #connectionError(error: Http2Error): void {
    if (this.state === "closed") return;
    this.#reader.stop();
    const message = `${errorCodeName(error.errorCode)}: ${error.message}`;
    this.#report(
      new Http2Error(error.errorCode, `HTTP/2 connection error with ${this.remote}: ${message}`),
    );
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.#write(goawayFrame(this.#lastPeerStream, error.errorCode, error.message));
    }
    this.#teardown(
      new TransportError(`HTTP/2 connection with ${this.remote} failed: ${message}`, {
        cause: error,
      }),
      true,
    );
  }

  /**
   * Enters `closed`: fails the streams left, stops timers, and ends (gracefully, letting queued
   * writes out) or destroys the socket.
   */
  #teardown(error: Error | undefined, graceful: boolean): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.#reader.stop();
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#keepaliveTimer);
    clearTimeout(this.#keepaliveDeadline);
    this.#handshakeTimer = this.#keepaliveTimer = this.#keepaliveDeadline = undefined;
    const failure = error ?? new TransportError(`connection to ${this.remote} closed`);
    this.#settleReady(failure);
    for (const s of [...this.#streams.values()]) s.fail(failure);
    this.#streams.clear();
    this.#blocked.clear();
    for (const resolve of this.#pings.values()) resolve(false);
    this.#pings.clear();
    if (this.#socketClosed) return;
    if (graceful && !this.#ended) {
      this.#ended = true;
      try {
        this.#socket.end();
      } catch {
        // Already gone.
      }
      this.#lingerTimer = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    } else {
      this.#socket.destroy();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Output (StreamHost)

  #write(bytes: Uint8Array): void {
    if (this.#socketClosed || this.#ended) return;
    this.#socket.write(bytes);
  }

  /** Writes frames in order, as one buffer when small, corked otherwise. */
  writeParts(parts: Uint8Array[]): void {
    if (this.#socketClosed || this.#ended) return;
    if (parts.length === 1) {
      this.#socket.write(parts[0]);
      return;
    }
    let total = 0;
    for (const p of parts) total += p.length;
    if (total <= COALESCE_LIMIT) {
      const out = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        out.set(p, off);
        off += p.length;
      }
      this.#socket.write(out);
      return;
    }
    const socket = this.#socket;
    socket.cork();
    for (const p of parts) socket.write(p);
    socket.uncork();
  }

  /**
   * Writes one DATA frame (windows already debited by the stream). With 9 octets of headroom in
   * front of `data`, the header goes there and the frame leaves in a single write, uncopied.
   */
  writeData(streamId: number, data: Uint8Array, headroom: number, flags: number): void {
    if (this.#socketClosed || this.#ended) return;
    const n = data.length;
    if (headroom >= FRAME_HEADER_SIZE) {
      const frame = new Uint8Array(
        data.buffer,
        data.byteOffset - FRAME_HEADER_SIZE,
        n + FRAME_HEADER_SIZE,
      );
      writeFrameHeader(frame, 0, n, FrameType.DATA, flags, streamId);
      this.#socket.write(frame);
      return;
    }
    const header = new Uint8Array(FRAME_HEADER_SIZE);
    writeFrameHeader(header, 0, n, FrameType.DATA, flags, streamId);
    this.writeParts(n === 0 ? [header] : [header, data]);
  }

  /** Encodes `fields` and writes HEADERS (+ CONTINUATION) for `streamId`. */
  sendHeaders(streamId: number, fields: readonly HeaderField[], endStream: boolean): void {
    const block = this.#encoder.encode(fields);
    this.#write(headersFrames(streamId, block, endStream, this.peerMaxFrameSize));
  }

  /** Writes RST_STREAM. */
  sendRst(streamId: number, code: number): void {
    this.#write(rstStreamFrame(streamId, code));
  }

  /** Writes WINDOW_UPDATE. */
  sendWindowUpdate(streamId: number, increment: number): void {
    this.#write(windowUpdateFrame(streamId, increment));
  }

  /** Credits `n` consumed octets to the connection window (WINDOW_UPDATE past a quarter). */
  consumed(n: number): void {
    if (n <= 0 || this.state === "closed") return;
    this.#recvUnacked += n;
    if (this.#recvUnacked >= this.#recvThreshold) {
      const inc = this.#recvUnacked;
      this.#recvUnacked = 0;
      this.#recvWindow += inc;
      this.sendWindowUpdate(0, inc);
    }
  }

  /** Remembers a stream waiting for connection window. */
  blocked(stream: H2Stream): void {
    this.#blocked.add(stream);
  }

  /** Forgets a closed stream; a draining connection ends with its last stream. */
  streamClosed(stream: H2Stream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    if ((stream.id & 1) === (this.isServer ? 1 : 0)) this.#peerStreams--;
    if (this.state === "draining" && this.#streams.size === 0) this.#teardown(undefined, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Input (FrameHandler)

  /** Flow control and routing of a DATA frame (FrameHandler). */
  onDataStart(streamId: number, flags: number, length: number): void {
    this.#expectNoBlock(FrameType.DATA);
    this.#recvWindow -= length;
    if (this.#recvWindow < 0) {
      throw new Http2Error(
        ErrorCode.FLOW_CONTROL_ERROR,
        `peer sent ${-this.#recvWindow} octets beyond the connection flow-control window`,
      );
    }
    if (length === 0 && !(flags & Flag.END_STREAM)) this.#flood("empty DATA frames");
    this.#dataTarget = undefined;
    const stream = this.#streams.get(streamId);
    if (!stream) {
      this.#checkNotIdle(streamId, "DATA");
      this.consumed(length); // a closed stream: nobody will read it
      return;
    }
    if (stream.remoteEnded) {
      this.consumed(length);
      this.#streamError(
        stream,
        new Http2Error(ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on stream ${streamId}`),
      );
      return;
    }
    try {
      stream.dataStart(length);
    } catch (e) {
      this.consumed(length);
      this.#streamError(stream, e as Http2Error);
      return;
    }
    this.#dataTarget = stream;
  }

  /** A piece of DATA for the current target (FrameHandler). */
  onData(_streamId: number, data: Uint8Array): void {
    this.#dataTarget?.receiveData(data);
  }

  /** End of a DATA frame: padding credit, END_STREAM (FrameHandler). */
  onDataEnd(_streamId: number, flags: number, overhead: number): void {
    const stream = this.#dataTarget;
    this.#dataTarget = undefined;
    if (!stream) return;
    stream.receivePadding(overhead);
    if (flags & Flag.END_STREAM) stream.receiveEnd();
  }

  /** Every frame but DATA (FrameHandler). Stream errors are handled here, connection errors thrown. */
  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (!this.#settingsReceived && type !== FrameType.SETTINGS) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, "first frame is not SETTINGS");
    }
    if (this.#block !== undefined && type !== FrameType.CONTINUATION) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    }
    try {
      switch (type) {
        case FrameType.HEADERS:
          return this.#onHeaders(flags, streamId, payload);
        case FrameType.CONTINUATION:
          return this.#onContinuation(flags, streamId, payload);
        case FrameType.PRIORITY:
          if (streamId === 0) throw protocolError("PRIORITY on stream 0");
          if (payload.length !== 5) {
            throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length not 5", streamId);
          }
          this.#flood("PRIORITY frames");
          return;
        case FrameType.RST_STREAM:
          return this.#onRstStream(streamId, payload);
        case FrameType.SETTINGS:
          return this.#onSettings(flags, streamId, payload);
        case FrameType.PUSH_PROMISE:
          throw protocolError("PUSH_PROMISE received although push is disabled");
        case FrameType.PING:
          return this.#onPing(flags, streamId, payload);
        case FrameType.GOAWAY:
          return this.#onGoaway(streamId, payload);
        case FrameType.WINDOW_UPDATE:
          return this.#onWindowUpdate(streamId, payload);
        default:
          // Unknown frame types are ignored (RFC 9113 §4.1), but not for free.
          this.#flood("unknown frames");
          return;
      }
    } catch (e) {
      if (e instanceof Http2Error && e.streamId !== 0) {
        const stream = this.#streams.get(e.streamId);
        if (stream) this.#streamError(stream, e);
        else this.sendRst(e.streamId, e.errorCode);
        return;
      }
      throw e;
    }
  }

  #onHeaders(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw protocolError("HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (payload.length < 1) throw protocolError("padded HEADERS without pad length");
      end -= payload[0];
      start = 1;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (end < start) throw protocolError("HEADERS padding exceeds the frame");
    const fragment = payload.subarray(start, end);
    this.#blockStream = streamId;
    this.#blockEndStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.#onHeaderBlock(streamId, fragment, this.#blockEndStream);
      return;
    }
    if (fragment.length === 0) this.#flood("empty header fragments");
    // The fragment may be a view into a socket chunk or the reader's buffer: copy it.
    this.#block = [fragment.slice()];
    this.#blockSize = fragment.length;
  }

  #onContinuation(flags: number, streamId: number, payload: Uint8Array): void {
    if (this.#block === undefined || streamId !== this.#blockStream) {
      throw protocolError("CONTINUATION without a header block in progress");
    }
    if (payload.length === 0 && !(flags & Flag.END_HEADERS)) this.#flood("empty CONTINUATION");
    this.#blockSize += payload.length;
    if (this.#blockSize > this.#maxHeaderBlock) {
      throw new Http2Error(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block larger than ${this.#maxHeaderBlock} octets`,
      );
    }
    this.#block.push(payload.slice());
    if (!(flags & Flag.END_HEADERS)) return;
    const block = new Uint8Array(this.#blockSize);
    let off = 0;
    for (const part of this.#block) {
      block.set(part, off);
      off += part.length;
    }
    this.#block = undefined;
    this.#onHeaderBlock(streamId, block, this.#blockEndStream);
  }

  #onHeaderBlock(streamId: number, block: Uint8Array, endStream: boolean): void {
    // Always decode first: the HPACK context must follow every block, even for dead streams.
    const fields = this.#decoder.decode(block, this.#maxHeaderListSize);
    const stream = this.#streams.get(streamId);
    if (stream) {
      if (fields === undefined) {
        throw new Http2Error(
          ErrorCode.PROTOCOL_ERROR,
          `header list larger than ${this.#maxHeaderListSize} octets`,
          streamId,
        );
      }
      return this.#onStreamHeaders(stream, fields, endStream);
    }
    const peerInitiated = (streamId & 1) === (this.isServer ? 1 : 0);
    if (!peerInitiated) {
      if (streamId >= this.#nextStreamId) throw protocolError(`HEADERS on idle stream ${streamId}`);
      return; // one of ours, already closed
    }
    if (!this.isServer) throw protocolError(`server-initiated stream ${streamId}`);
    if (streamId <= this.#lastPeerStream) return; // closed (e.g. reset by us): ignore
    this.#lastPeerStream = streamId;
    if (this.state === "draining" || this.state === "closed") {
      this.sendRst(streamId, ErrorCode.REFUSED_STREAM);
      this.#refused(streamId, "REFUSED_STREAM: the connection is closing (GOAWAY sent)");
      return;
    }
    if (this.#peerStreams >= this.#maxConcurrent) {
      this.#flood("refused streams");
      this.sendRst(streamId, ErrorCode.REFUSED_STREAM);
      this.#refused(
        streamId,
        `REFUSED_STREAM: max_concurrent_streams (${this.#maxConcurrent}) streams already open`,
      );
      return;
    }
    if (fields === undefined) {
      this.#write(headersFrames(
        streamId,
        this.#encoder.encode([[":status", "431"]]),
        true,
        this.peerMaxFrameSize,
      ));
      this.sendRst(streamId, ErrorCode.NO_ERROR);
      this.#refused(
        streamId,
        `HTTP 431: request header list larger than max_header_list_size ` +
          `(${this.#maxHeaderListSize} octets)`,
      );
      return;
    }
    const malformed = checkRequest(fields);
    if (malformed) {
      this.sendRst(streamId, ErrorCode.PROTOCOL_ERROR);
      this.#report(
        new Http2Error(
          ErrorCode.PROTOCOL_ERROR,
          `malformed request from ${this.remote} on stream ${streamId}: ${malformed}`,
          streamId,
        ),
      );
      return;
    }
    const stream2 = this.#newStream(streamId);
    stream2.headers = fields;
    this.#streams.set(streamId, stream2);
    this.#peerStreams++;
    stream2.opened(false, endStream);
    if (stream2.state === "closed") {
      // Cannot happen for a fresh stream, but keep the table consistent regardless.
      this.streamClosed(stream2);
    }
    try {
      this.#options.onStream?.(stream2);
    } catch (e) {
      // The owner failed on this request: it costs this stream, not the connection.
      this.#streamError(
        stream2,
        new Http2Error(ErrorCode.INTERNAL_ERROR, (e as Error).message, streamId, { cause: e }),
      );
    }
  }

  #onStreamHeaders(stream: H2Stream, fields: HeaderField[], endStream: boolean): void {
    if (stream.remoteEnded) {
      throw new Http2Error(
        ErrorCode.STREAM_CLOSED,
        `HEADERS after END_STREAM on stream ${stream.id}`,
        stream.id,
      );
    }
    const first = stream.headers === undefined;
    if (first) {
      // A response (client side).
      const malformed = checkResponse(fields);
      if (malformed) {
        throw new Http2Error(
          ErrorCode.PROTOCOL_ERROR,
          `malformed response: ${malformed}`,
          stream.id,
        );
      }
      const status = fields[0][1];
      if (status.length === 3 && status[0] === "1") return; // informational: wait for the real one
    } else {
      if (!endStream) {
        throw new Http2Error(
          ErrorCode.PROTOCOL_ERROR,
          `trailers without END_STREAM on stream ${stream.id}`,
          stream.id,
        );
      }
      if (fields.some(([n]) => n.startsWith(":"))) {
        throw new Http2Error(
          ErrorCode.PROTOCOL_ERROR,
          `pseudo-header in trailers on stream ${stream.id}`,
          stream.id,
        );
      }
    }
    stream.receiveHeaders(fields, endStream);
  }

  #onRstStream(streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw protocolError("RST_STREAM on stream 0");
    if (payload.length !== 4) {
      throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length not 4");
    }
    const stream = this.#streams.get(streamId);
    if (!stream) {
      this.#checkNotIdle(streamId, "RST_STREAM");
      return;
    }
    this.#flood("RST_STREAM frames");
    stream.receiveReset(readUint32(payload, 0));
  }

  #onSettings(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw protocolError("SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) {
        throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      return;
    }
    if (payload.length % 6 !== 0) {
      throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
    }
    if (this.#settingsReceived) this.#flood("SETTINGS frames");
    let windowDelta = 0;
    for (let off = 0; off < payload.length; off += 6) {
      const id = (payload[off] << 8) | payload[off + 1];
      const value = readUint32(payload, off + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw protocolError(`SETTINGS_ENABLE_PUSH ${value}`);
          if (value === 1 && !this.isServer) throw protocolError("server enabled push");
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW_SIZE) {
            throw new Http2Error(
              ErrorCode.FLOW_CONTROL_ERROR,
              `SETTINGS_INITIAL_WINDOW_SIZE ${value} above 2^31-1`,
            );
          }
          windowDelta += value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
            throw protocolError(`SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never uses the dynamic table, any size is fine.
          // MAX_HEADER_LIST_SIZE: advisory; our header lists are tiny. Unknown: ignored.
          break;
      }
    }
    this.#write(settingsFrame([], true));
    if (!this.#settingsReceived) {
      this.#settingsReceived = true;
      this.#settleReady();
      if (this.state === "preface") this.state = "open";
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    }
    if (windowDelta !== 0) {
      for (const s of this.#streams.values()) {
        if (!s.adjustSendWindow(windowDelta)) {
          throw new Http2Error(
            ErrorCode.FLOW_CONTROL_ERROR,
            `SETTINGS_INITIAL_WINDOW_SIZE pushes stream ${s.id} above 2^31-1`,
          );
        }
      }
      if (windowDelta > 0) {
        for (const s of [...this.#streams.values()]) if (s.queued > 0) s.pump();
      }
    }
  }

  #onPing(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw protocolError("PING on a stream");
    if (payload.length !== 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "PING length not 8");
    if (flags & Flag.ACK) {
      if (readUint32(payload, 0) !== PING_TAG) return;
      const seq = readUint32(payload, 4);
      const resolve = this.#pings.get(seq);
      if (resolve) {
        this.#pings.delete(seq);
        resolve(true);
      }
      return;
    }
    this.#flood("PING frames");
    this.#write(pingFrame(payload.slice(), true));
  }

  #onGoaway(streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw protocolError("GOAWAY on a stream");
    if (payload.length < 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY too short");
    const last = readUint32(payload, 0) & 0x7fffffff;
    const code = readUint32(payload, 4);
    const debug = printable(payload.subarray(8, 264));
    this.#goawayReceived = true;
    if (code !== ErrorCode.NO_ERROR) {
      this.#report(
        new Http2Error(
          code,
          `${this.remote} sent GOAWAY ${errorCodeName(code)}${debug ? `: ${debug}` : ""}`,
        ),
      );
    }
    // Streams we opened above `last` were never processed: they fail (and may be retried).
    for (const s of [...this.#streams.values()]) {
      const ours = (s.id & 1) === (this.isServer ? 0 : 1);
      if (ours && s.id > last) {
        s.fail(new TransportError(`stream refused by ${this.remote} (GOAWAY)`));
      }
    }
    if (this.state === "open" || this.state === "preface") this.state = "draining";
    if (this.#streams.size === 0) this.#teardown(undefined, true);
  }

  #onWindowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) {
      throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length not 4");
    }
    const increment = readUint32(payload, 0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw protocolError("WINDOW_UPDATE of 0 on the connection");
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE) {
        throw new Http2Error(
          ErrorCode.FLOW_CONTROL_ERROR,
          "connection flow-control window above 2^31-1",
        );
      }
      if (this.#blocked.size > 0) {
        const blocked = [...this.#blocked];
        this.#blocked.clear();
        for (const s of blocked) {
          if (this.sendWindow <= 0) {
            this.#blocked.add(s);
            continue;
          }
          s.pump();
        }
      }
      return;
    }
    const stream = this.#streams.get(streamId);
    if (!stream) {
      this.#checkNotIdle(streamId, "WINDOW_UPDATE");
      return;
    }
    if (increment === 0) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0", streamId);
    }
    stream.windowUpdate(increment);
  }

  // ---------------------------------------------------------------------------------------------

  #newStream(id: number): H2Stream {
    const stream = new H2Stream(this, id, this.#peerInitialWindow, this.#initialWindow);
    stream.highWaterMark = this.#highWaterMark;
    return stream;
  }

  #streamError(stream: H2Stream, error: Http2Error): void {
    stream.error ??= new TransportError(
      `stream ${stream.id} with ${this.remote} reset: ${
        errorCodeName(error.errorCode)
      }: ${error.message}`,
      { cause: error },
    );
    stream.reset(error.errorCode);
  }

  /** Frames on a stream that was never opened are a connection error (RFC 9113 §5.1). */
  #checkNotIdle(streamId: number, what: string): void {
    if (streamId === 0) throw protocolError(`${what} on stream 0`);
    const peerInitiated = (streamId & 1) === (this.isServer ? 1 : 0);
    const idle = peerInitiated ? streamId > this.#lastPeerStream : streamId >= this.#nextStreamId;
    if (idle) throw protocolError(`${what} on idle stream ${streamId}`);
  }

  #expectNoBlock(type: number): void {
    if (this.#block !== undefined) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    }
    if (!this.#settingsReceived) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, "first frame is not SETTINGS");
    }
  }

  #flood(what: string): void {
    const now = Date.now();
    this.#floodTokens = Math.min(
      FLOOD_BURST,
      this.#floodTokens + (now - this.#floodAt) * FLOOD_PER_MS,
    );
    this.#floodAt = now;
    if (--this.#floodTokens < 0) {
      throw new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `flood of ${what}`);
    }
  }
}

function protocolError(message: string): Http2Error {
  return new Http2Error(ErrorCode.PROTOCOL_ERROR, message);
}

function readUint32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(v)));
}

/** Octets as text for error messages: printable ASCII kept, the rest escaped. */
function printable(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${hex2(b)}`;
  return s;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** Why a request header list is malformed (RFC 9113 §8.3.1), or undefined. */
function checkRequest(fields: readonly HeaderField[]): string | undefined {
  const seen = new Set<string>();
  let regular = false;
  for (const [name, value] of fields) {
    if (name.startsWith(":")) {
      if (regular) return `pseudo-header ${name} after regular headers`;
      if (!REQUEST_PSEUDO.has(name)) return `unknown pseudo-header ${name}`;
      if (seen.has(name)) return `duplicate ${name}`;
      seen.add(name);
      continue;
    }
    regular = true;
    const bad = checkRegular(name, value);
    if (bad) return bad;
  }
  const method = fields.find(([n]) => n === ":method")?.[1];
  if (method === undefined) return "missing :method";
  if (method !== "CONNECT") {
    if (!seen.has(":scheme")) return "missing :scheme";
    const path = fields.find(([n]) => n === ":path")?.[1];
    if (!path) return "missing :path";
  }
  return undefined;
}

/** Why a response header list is malformed, or undefined. */
function checkResponse(fields: readonly HeaderField[]): string | undefined {
  if (fields.length === 0 || fields[0][0] !== ":status") return "missing :status";
  if (!/^\d{3}$/.test(fields[0][1])) return `invalid :status ${fields[0][1]}`;
  for (let i = 1; i < fields.length; i++) {
    const [name, value] = fields[i];
    if (name.startsWith(":")) return `unexpected pseudo-header ${name}`;
    const bad = checkRegular(name, value);
    if (bad) return bad;
  }
  return undefined;
}

function checkRegular(name: string, value: string): string | undefined {
  if (name.length === 0) return "empty header name";
  if (name !== name.toLowerCase()) return `uppercase header name ${name}`;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
  if (name === "te" && value !== "trailers") return `te: ${value}`;
  return undefined;
}

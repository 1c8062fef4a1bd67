/**
 * A {@link Transport} over one gRPC `OpenChannel` stream of our HTTP/2 implementation
 * (`h2/`), on either side.
 *
 * Receiving: the stream queues DATA pieces as views of the socket's chunks; each turn of the
 * iterator takes them all (which credits flow control back to the peer) and deframes them into
 * one batch, so the consumer awaits once per batch. A consumer that stops iterating stops
 * crediting, and the peer stops within one window.
 *
 * Sending: messages are framed by a {@link FrameWriter} into a large chunk with 9 octets of
 * headroom before every flushed slice, so the stream can send each turn's slice as a single DATA
 * frame written in one piece, frame header in place.
 * @module
 */
import { ProtocolError, TransportError } from "../errors.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, Deframer } from "../wire/grpc_frame.ts";
import { FrameWriter } from "./frame_writer.ts";
import { ErrorCode, FRAME_HEADER_SIZE } from "./h2/constants.ts";
import type { HeaderField } from "./h2/hpack.ts";
import type { H2Stream } from "./h2/stream.ts";
import type { CloseInfo, Transport } from "./transport.ts";

/** gRPC path of the SLIM data-plane channel. */
export const OPEN_CHANNEL_PATH = "/dataplane.proto.v1.DataPlaneService/OpenChannel";

/** Options of {@link Http2Transport}. */
export interface Http2TransportOptions {
  /** Peer description for logs. */
  remote: string;
  /** True on the accepting side: ending sends gRPC trailers. */
  acceptor: boolean;
  /**
   * Largest message accepted.
   * @default 4 MiB (SLIM YAML `max_frame_size`, in MiB)
   */
  maxMessageSize?: number;
}

/** One OpenChannel stream as a transport. */
export class Http2Transport implements Transport {
  /** Peer description for logs. */
  readonly remote: string;
  /** Resolves when the stream is over in both directions. */
  readonly closed: Promise<CloseInfo>;
  /**
   * gRPC status received (dialler side): from the trailers, a trailers-only response, or
   * `-httpStatus` for a non-200 HTTP response.
   */
  remoteStatus: { code: number; message: string } | undefined;

  readonly #stream: H2Stream;
  readonly #acceptor: boolean;
  readonly #deframer: Deframer;
  readonly #writer: FrameWriter;
  #drainWaiters: (() => void)[] = [];
  #wake: (() => void) | undefined;
  #ending = false;
  #aborted = false;

  /** Wraps an open stream (request headers already exchanged or sent). */
  constructor(stream: H2Stream, options: Http2TransportOptions) {
    this.remote = options.remote;
    this.#stream = stream;
    this.#acceptor = options.acceptor;
    this.#deframer = new Deframer(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    this.#writer = new FrameWriter(
      (bytes) => stream.write(bytes, FRAME_HEADER_SIZE),
      FRAME_HEADER_SIZE,
      // Diallers are apps (or node clients) producing messages from many async steps.
      this.#acceptor ? "microtask" : "immediate",
    );
    stream.onReadable = () => {
      const w = this.#wake;
      if (w) {
        this.#wake = undefined;
        w();
      }
    };
    stream.onDrain = () => {
      if (this.#drainWaiters.length > 0 && !stream.congested) this.#releaseDrainWaiters();
    };
    if (!this.#acceptor) {
      stream.onHeaders = (fields, trailers) => this.#onHeaders(fields, trailers);
      if (stream.headers) this.#onHeaders(stream.headers, false);
    }
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.#writer.discard();
        this.#releaseDrainWaiters();
        const failed = stream.error !== undefined ||
          (stream.resetCode !== undefined && stream.resetCode !== ErrorCode.NO_ERROR);
        resolve({ clean: !this.#aborted && !failed, error: stream.error });
      };
      if (stream.state === "closed") done();
      else stream.onClose = done;
    });
  }

  #onHeaders(fields: HeaderField[], trailers: boolean): void {
    let status: string | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    for (const [name, value] of fields) {
      if (name === ":status") status = value;
      else if (name === "grpc-status") grpcStatus = value;
      else if (name === "grpc-message") grpcMessage = value;
    }
    if (!trailers && status !== undefined && status !== "200") {
      this.remoteStatus = { code: -Number(status), message: `HTTP ${status}` };
      return;
    }
    if (grpcStatus !== undefined) {
      this.remoteStatus = { code: Number(grpcStatus), message: percentDecode(grpcMessage) };
    }
  }

  /** Received messages, one batch per turn; ends at END_STREAM, throws when the stream fails. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array[]> {
    const s = this.#stream;
    while (true) {
      const chunks = s.take();
      if (chunks) {
        const batch: Uint8Array[] = [];
        for (const c of chunks) this.#deframer.push(c, batch);
        if (batch.length > 0) yield batch;
        continue;
      }
      // END_STREAM received: the input is complete whatever happens to our side.
      if (s.remoteEnded) break;
      if (s.state === "closed") {
        // Reset with NO_ERROR (the peer is done), or aborted by us: the input just ends.
        if (s.error === undefined || this.#aborted) break;
        throw new TransportError(`stream from ${this.remote} failed: ${s.error.message}`, {
          cause: s.error,
        });
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#deframer.partial) {
      throw new ProtocolError(`stream from ${this.remote} ended inside a message`);
    }
  }

  send(message: Uint8Array): void {
    this.#writer.send(message);
  }

  reserve(length: number): Uint8Array {
    return this.#writer.reserve(length);
  }

  get congested(): boolean {
    return this.#stream.congested;
  }

  get isClosed(): boolean {
    return this.#stream.state === "closed";
  }

  drained(): Promise<void> {
    if (!this.#stream.congested) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #releaseDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  close(status = 0, message = ""): Promise<void> {
    if (!this.#ending) {
      this.#ending = true;
      this.#writer.flush();
      const s = this.#stream;
      if (this.#acceptor) {
        const trailers: HeaderField[] = [["grpc-status", String(status)]];
        if (message) trailers.push(["grpc-message", percentEncode(message)]);
        s.end(trailers);
      } else {
        s.end();
      }
    }
    return this.closed.then(() => {});
  }

  abort(reason?: Error): void {
    const s = this.#stream;
    if (this.#aborted || s.state === "closed") return;
    this.#aborted = true;
    this.#writer.discard();
    s.error ??= reason;
    s.reset(ErrorCode.CANCEL);
  }
}

/**
 * gRPC `grpc-message` encoding: percent-encodes octets outside printable ASCII and `%` itself
 * (of the UTF-8 bytes), as the gRPC HTTP/2 protocol specifies.
 */
export function percentEncode(message: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(message)) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Decodes `grpc-message`; malformed escapes are kept as they are rather than failing. */
export function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

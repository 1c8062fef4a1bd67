/**
 * A {@link Transport} over one gRPC `OpenChannel` stream of `node:http2` (either side).
 * @module
 */
import { constants, type Http2Stream } from "node:http2";
import { ProtocolError, TransportError } from "../errors.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, Deframer } from "../wire/grpc_frame.ts";
import { FrameWriter } from "./frame_writer.ts";
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
  readonly remote: string;
  readonly closed: Promise<CloseInfo>;
  /** gRPC status received in the trailers (dialler side), once the stream ended. */
  remoteStatus: { code: number; message: string } | undefined;

  readonly #stream: Http2Stream;
  readonly #acceptor: boolean;
  readonly #deframer: Deframer;
  readonly #writer: FrameWriter;
  #congested = false;
  #drainWaiters: (() => void)[] = [];
  #status = 0;
  #statusMessage = "";
  #ending = false;
  #aborted = false;
  #finished = false;

  constructor(stream: Http2Stream, options: Http2TransportOptions) {
    this.remote = options.remote;
    this.#stream = stream;
    this.#acceptor = options.acceptor;
    this.#deframer = new Deframer(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    this.#writer = new FrameWriter((bytes) => this.#write(bytes));
    stream.on("drain", () => {
      this.#congested = false;
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    });
    if (this.#acceptor) {
      stream.on("wantTrailers", () => {
        const trailers: Record<string, string> = { "grpc-status": String(this.#status) };
        if (this.#statusMessage) trailers["grpc-message"] = encodeURIComponent(this.#statusMessage);
        try {
          (stream as unknown as { sendTrailers(h: Record<string, string>): void }).sendTrailers(
            trailers,
          );
        } catch {
          // Stream already gone: the peer will see a reset instead.
        }
      });
    } else {
      stream.on("trailers", (headers: Record<string, string | string[] | undefined>) => {
        const code = Number(headers["grpc-status"] ?? 0);
        const raw = headers["grpc-message"];
        const message = typeof raw === "string" ? decodeURIComponent(raw) : "";
        this.remoteStatus = { code, message };
      });
      stream.on("response", (headers: Record<string, string | string[] | undefined>) => {
        // Trailers-only responses carry grpc-status in the headers.
        if (headers["grpc-status"] !== undefined) {
          const raw = headers["grpc-message"];
          this.remoteStatus = {
            code: Number(headers["grpc-status"]),
            message: typeof raw === "string" ? decodeURIComponent(raw) : "",
          };
        }
      });
    }
    this.closed = new Promise((resolve) => {
      stream.once("close", () => {
        this.#finished = true;
        this.#writer.discard();
        this.#congested = false;
        for (const w of this.#drainWaiters) w();
        this.#drainWaiters = [];
        const rst = stream.rstCode ?? 0;
        resolve({ clean: !this.#aborted && rst === constants.NGHTTP2_NO_ERROR });
      });
    });
    // Errors surface through the iterator; this keeps them from being unhandled.
    stream.on("error", () => {});
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array[]> {
    // Flowing mode with an explicit queue rather than `for await` over the stream: leaving such
    // a loop on a protocol error would destroy the stream, and the peer must get our trailers.
    // The stream is paused while the consumer lags, which propagates HTTP/2 flow control.
    const s = this.#stream;
    let queue: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: Error | undefined;
    const onData = (chunk: Uint8Array) => {
      queue.push(chunk);
      if (queue.length >= 64) s.pause();
      if (wake) {
        const w = wake;
        wake = undefined;
        w();
      }
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    const onError = (e: Error) => {
      failure ??= e;
      wake?.();
    };
    s.on("data", onData);
    s.on("end", onEnd);
    s.on("close", onEnd);
    s.on("error", onError);
    try {
      while (true) {
        if (queue.length > 0) {
          const chunks = queue;
          queue = [];
          if (s.isPaused()) s.resume();
          const batch: Uint8Array[] = [];
          for (const c of chunks) this.#deframer.push(c, batch);
          if (batch.length > 0) yield batch;
          continue;
        }
        if (failure) {
          if (this.#aborted) throw failure;
          throw new TransportError(`stream from ${this.remote} failed: ${failure.message}`, {
            cause: failure,
          });
        }
        if (ended) break;
        await new Promise<void>((resolve) => wake = resolve);
        wake = undefined;
      }
    } finally {
      s.off("data", onData);
      s.off("end", onEnd);
      s.off("close", onEnd);
      s.off("error", onError);
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
    return this.#congested;
  }

  drained(): Promise<void> {
    if (!this.#congested) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #write(bytes: Uint8Array): void {
    const s = this.#stream;
    if (s.destroyed || s.writableEnded) return;
    if (!s.write(bytes)) this.#congested = true;
  }

  close(status = 0, message = ""): Promise<void> {
    if (!this.#ending) {
      this.#ending = true;
      this.#status = status;
      this.#statusMessage = message;
      this.#writer.flush();
      const s = this.#stream;
      if (!s.destroyed && !s.writableEnded) s.end();
    }
    return this.closed.then(() => {});
  }

  abort(reason?: Error): void {
    if (this.#aborted || this.#finished) return;
    this.#aborted = true;
    this.#writer.discard();
    const s = this.#stream;
    // Never reset a stream the HTTP/2 layer has already closed: Deno's nghttp2 binding corrupts
    // its closed-stream list and later aborts the process on GOAWAY.
    if (!s.destroyed && !s.closed) {
      s.close(constants.NGHTTP2_CANCEL);
      if (reason) s.destroy();
    }
  }
}

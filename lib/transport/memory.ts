/**
 * In-process transport pairs for tests and benchmarks.
 *
 * Bytes go through the same gRPC framing, coalescing and deframing as the network transports, so
 * code exercised over a memory pair behaves as over HTTP/2 minus the sockets.
 * @module
 */
import { ClosedError } from "../errors.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, Deframer } from "../wire/grpc_frame.ts";
import { FrameWriter } from "./frame_writer.ts";
import type { CloseInfo, Transport } from "./transport.ts";

/** Options of {@link memoryPair}. */
export interface MemoryPairOptions {
  /** Largest message accepted. @default 4 MiB */
  maxMessageSize?: number;
  /** Queued bytes above which the sender reports congestion. @default 4 MiB */
  highWaterMark?: number;
}

class MemoryEnd implements Transport {
  readonly remote: string;
  readonly closed: Promise<CloseInfo>;
  peer!: MemoryEnd;
  readonly #writer: FrameWriter;
  readonly #deframer: Deframer;
  readonly #hwm: number;
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #wake: (() => void) | undefined;
  #drainWaiters: (() => void)[] = [];
  #inputEnded = false;
  #outputEnded = false;
  #aborted: Error | undefined;
  #resolveClosed!: (info: CloseInfo) => void;

  constructor(remote: string, options: MemoryPairOptions) {
    this.remote = remote;
    this.#hwm = options.highWaterMark ?? 4 * 1024 * 1024;
    this.#deframer = new Deframer(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    this.#writer = new FrameWriter((bytes) => this.peer.#deliver(bytes));
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  #deliver(bytes: Uint8Array): void {
    if (this.#inputEnded) return;
    this.#inbox.push(bytes);
    this.#inboxBytes += bytes.length;
    this.#wake?.();
  }

  #endInput(error?: Error): void {
    if (this.#inputEnded) return;
    this.#inputEnded = true;
    if (error) this.#aborted ??= error;
    this.#wake?.();
    this.#maybeClosed();
  }

  #maybeClosed(): void {
    if (this.#inputEnded && this.#outputEnded) {
      this.#resolveClosed({ clean: this.#aborted === undefined, error: this.#aborted });
      for (const w of this.#drainWaiters) w();
      this.#drainWaiters = [];
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array[]> {
    while (true) {
      if (this.#inbox.length === 0) {
        if (this.#inputEnded) break;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      const chunks = this.#inbox;
      this.#inbox = [];
      this.#inboxBytes = 0;
      this.peer.#notifyDrained();
      const batch: Uint8Array[] = [];
      for (const c of chunks) this.#deframer.push(c, batch);
      if (batch.length > 0) yield batch;
    }
    if (this.#aborted) throw new ClosedError(`memory transport ${this.remote} aborted`);
  }

  #notifyDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  send(message: Uint8Array): void {
    this.#writer.send(message);
  }

  reserve(length: number): Uint8Array {
    return this.#writer.reserve(length);
  }

  get congested(): boolean {
    return this.peer.#inboxBytes > this.#hwm;
  }

  get isClosed(): boolean {
    return this.#inputEnded && this.#outputEnded;
  }

  drained(): Promise<void> {
    if (!this.congested || this.#outputEnded) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  close(): Promise<void> {
    if (!this.#outputEnded) {
      this.#writer.flush();
      this.#outputEnded = true;
      this.#writer.discard();
      this.peer.#endInput();
      this.#maybeClosed();
    }
    return this.closed.then(() => {});
  }

  abort(reason?: Error): void {
    const e = reason ?? new ClosedError("aborted");
    this.#writer.discard();
    this.#outputEnded = true;
    this.#endInput(e);
    this.peer.#outputEnded = true;
    this.peer.#endInput(e);
    this.peer.#maybeClosed();
    this.#maybeClosed();
  }
}

/** Two connected transports: what one sends, the other receives. */
export function memoryPair(
  options: MemoryPairOptions = {},
  names: [string, string] = ["memory:a", "memory:b"],
): [Transport, Transport] {
  const a = new MemoryEnd(names[1], options);
  const b = new MemoryEnd(names[0], options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

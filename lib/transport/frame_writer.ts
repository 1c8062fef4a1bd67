/**
 * Output buffering shared by the transports.
 *
 * Messages are framed directly into a large chunk; everything framed during one turn of the event
 * loop is handed to the sink as one contiguous slice by a single microtask. The slice handed over
 * is never touched again (the sink may hold on to it), and the rest of the chunk keeps being
 * filled, so steady-state sending allocates one chunk per 256 KiB, not one buffer per message.
 *
 * With `headroom`, every slice handed over is preceded in its chunk by that many octets nobody
 * else uses: the HTTP/2 transport writes the DATA frame header there and sends header and
 * messages as one contiguous write, without copying.
 * @module
 */
import { setImmediate } from "node:timers";
import { GRPC_PREFIX, writePrefix } from "../wire/grpc_frame.ts";

const CHUNK_SIZE = 256 * 1024;

/** Frames messages into coalesced writes. */
export class FrameWriter {
  readonly #sink: (bytes: Uint8Array) => void;
  readonly #headroom: number;
  readonly #schedule: (fn: () => void) => void;
  #chunk = new Uint8Array(CHUNK_SIZE);
  #start: number;
  #pos: number;
  #scheduled = false;
  #closed = false;
  readonly #flush = () => {
    this.#scheduled = false;
    this.flush();
  };

  /**
   * Creates a writer feeding `sink`.
   * @param sink receives each coalesced slice of framed messages
   * @param headroom octets left free in front of every slice for the sink's own use. @default 0
   * @param flushOn when pending bytes go out: `microtask` right after the code that produced them
   *   (the node: it forwards a whole received batch synchronously, and latency matters), or
   *   `immediate` once per event-loop turn (apps: each message comes out of its own async step,
   *   and a turn's worth of them should share one write). @default "microtask"
   */
  constructor(
    sink: (bytes: Uint8Array) => void,
    headroom = 0,
    flushOn: "microtask" | "immediate" = "microtask",
  ) {
    this.#sink = sink;
    this.#headroom = headroom;
    this.#schedule = flushOn === "immediate" ? (fn) => setImmediate(fn) : queueMicrotask;
    this.#start = this.#pos = headroom;
  }

  /** Reserves a view of exactly `length` bytes for one message. */
  reserve(length: number): Uint8Array {
    const need = GRPC_PREFIX + length;
    if (this.#pos + need > this.#chunk.length) {
      this.flush();
      this.#chunk = new Uint8Array(Math.max(CHUNK_SIZE, need + this.#headroom));
      this.#start = this.#pos = this.#headroom;
    }
    writePrefix(this.#chunk, this.#pos, length);
    const p = this.#pos + GRPC_PREFIX;
    this.#pos = p + length;
    if (!this.#scheduled && !this.#closed) {
      this.#scheduled = true;
      this.#schedule(this.#flush);
    }
    return this.#chunk.subarray(p, p + length);
  }

  /** Frames a copy of `message`. */
  send(message: Uint8Array): void {
    this.reserve(message.length).set(message);
  }

  /** Hands pending bytes to the sink now. */
  flush(): void {
    if (this.#pos > this.#start && !this.#closed) {
      const slice = this.#chunk.subarray(this.#start, this.#pos);
      // The next slice starts after fresh headroom (or in a new chunk when none is left).
      this.#start = this.#pos = this.#pos + this.#headroom;
      this.#sink(slice);
    }
  }

  /** Drops anything pending and ignores later writes. */
  discard(): void {
    this.#closed = true;
    this.#start = this.#pos;
  }
}

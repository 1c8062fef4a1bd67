/**
 * A single-consumer queue with async iteration, close and abort support: how sessions hand
 * messages and events to the application. Optionally bounded: then the oldest items make room.
 * @module
 */
import { ClosedError, TimeoutError } from "../errors.ts";

/** Producer/consumer queue. */
export class AsyncQueue<T> {
  #items: T[] = [];
  #waiters: { resolve: (v: IteratorResult<T>) => void; reject: (e: Error) => void }[] = [];
  #done = false;
  #error: Error | undefined;
  readonly #limit: number;
  /** Items dropped to stay within the limit. */
  dropped = 0;

  /** @param limit items kept while nobody consumes; beyond it the oldest are dropped */
  constructor(limit = Infinity) {
    this.#limit = limit;
  }

  /** Adds an item (ignored after close). */
  push(item: T): void {
    if (this.#done) return;
    const w = this.#waiters.shift();
    if (w) return w.resolve({ value: item, done: false });
    if (this.#items.length >= this.#limit) {
      this.#items.shift();
      this.dropped++;
    }
    this.#items.push(item);
  }

  /** Ends the queue; consumers get the remaining items, then the end (or `error`). */
  close(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    for (const w of this.#waiters.splice(0)) {
      if (error) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  get closed(): boolean {
    return this.#done;
  }

  /** Items waiting. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * Next item. Rejects with {@link TimeoutError} after `timeoutMs`, with the abort reason when
   * `signal` aborts, and with {@link ClosedError} (or the close error) once closed and empty.
   */
  next(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    return this.#next(options).then((r) => {
      if (r.done) throw this.#error ?? new ClosedError("closed");
      return r.value;
    });
  }

  #next(options: { signal?: AbortSignal; timeoutMs?: number }): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) {
      return Promise.resolve({ value: this.#items.shift()!, done: false });
    }
    if (this.#done) {
      return this.#error
        ? Promise.reject(this.#error)
        : Promise.resolve({ value: undefined, done: true });
    }
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
      };
      const w = {
        resolve: (v: IteratorResult<T>) => {
          cleanup();
          resolve(v);
        },
        reject: (e: Error) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => w.reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => w.reject(new TimeoutError(`nothing received within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
      this.#waiters.push(w);
    });
  }

  /** Iterates until closed (or `signal` aborts, which ends the iteration quietly). */
  async *iterate(signal?: AbortSignal): AsyncGenerator<T> {
    while (true) {
      let r: IteratorResult<T>;
      try {
        r = await this.#next({ signal });
      } catch (e) {
        if (signal?.aborted) return;
        throw e;
      }
      if (r.done) return;
      yield r.value;
    }
  }
}

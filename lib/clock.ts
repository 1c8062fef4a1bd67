/**
 * Time as a dependency: state machines take a {@link Clock} so tests can drive their timers with
 * {@link FakeClock} instead of sleeping.
 * @module
 */

/** Opaque timer handle. */
export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>;

/** The time source and timer scheduler used by sessions and links. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch (monotonic for the real clock). */
  now(): number;
  /** Wall-clock seconds since the Unix epoch (identity tokens). */
  unixSeconds(): number;
  /** Runs `fn` once, `ms` milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  unixSeconds: () => Math.floor(Date.now() / 1000),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => {
    if (h !== undefined) clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A manually advanced clock for tests. */
export class FakeClock implements Clock {
  #now: number;
  #unixBase: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  /**
   * A clock at `startMs` with no timers.
   * @param startMs the initial {@link now}
   * @param unixSeconds the wall clock at `startMs` (pass the real time when tokens are verified
   * by apps on the system clock)
   */
  constructor(startMs = 0, unixSeconds = 1_800_000_000) {
    this.#now = startMs;
    this.#unixBase = unixSeconds - Math.floor(startMs / 1000);
  }

  now(): number {
    return this.#now;
  }

  unixSeconds(): number {
    return this.#unixBase + Math.floor(this.#now / 1000);
  }

  /** Schedules `fn` at now + `ms` of fake time; it runs during {@link advance}. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return { id: t.id };
  }

  /** Cancels a pending fake timer. */
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle || typeof handle !== "object" || !("id" in handle)) return;
    this.#timers = this.#timers.filter((t) => t.id !== handle.id);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Advances time by `ms`, firing due timers in order (timers scheduled by fired callbacks fire
   * too if they fall within the window). Awaits queued microtasks between timers so promise
   * continuations run as they would in real time.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    while (true) {
      await flushMicrotasks();
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

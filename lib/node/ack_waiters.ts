/**
 * Subscription acknowledgements a node waits for: after sending a Subscribe or Unsubscribe on to
 * another connection (`forward_to`, or a peer), the node acknowledges its origin only once that
 * connection acknowledged, or gave up waiting.
 *
 * Waits are keyed by (connection, subscription id); timers run on the injected {@link Clock} so
 * tests drive them with fake time.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";

/** A received `SubscriptionAck`. */
export interface AckResult {
  success: boolean;
  error: string;
}

interface Waiter {
  resolve(result: AckResult | undefined): void;
  timer: TimerHandle;
}

/** Pending acknowledgements of one node. */
export class AckWaiters {
  readonly #clock: Clock;
  readonly #pending = new Map<string, Waiter[]>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Resolves with the acknowledgement of `subscriptionId` from `connection`, or with undefined
   * when none came within `timeoutMs` or `signal` aborted (the wait is then forgotten at once).
   */
  wait(
    connection: number,
    subscriptionId: bigint,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AckResult | undefined> {
    const key = `${connection}:${subscriptionId}`;
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const giveUp = () => {
        this.#clock.clearTimeout(waiter.timer);
        this.#remove(key, waiter);
        signal?.removeEventListener("abort", giveUp);
        resolve(undefined);
      };
      const waiter: Waiter = {
        resolve: (result) => {
          signal?.removeEventListener("abort", giveUp);
          resolve(result);
        },
        timer: this.#clock.setTimeout(giveUp, timeoutMs),
      };
      signal?.addEventListener("abort", giveUp, { once: true });
      const list = this.#pending.get(key);
      if (list) list.push(waiter);
      else this.#pending.set(key, [waiter]);
    });
  }

  /** Delivers an acknowledgement; false when nobody was waiting for it. */
  resolve(connection: number, subscriptionId: bigint, result: AckResult): boolean {
    const key = `${connection}:${subscriptionId}`;
    const list = this.#pending.get(key);
    const waiter = list?.shift();
    if (!waiter) return false;
    if (list!.length === 0) this.#pending.delete(key);
    this.#clock.clearTimeout(waiter.timer);
    waiter.resolve(result);
    return true;
  }

  /** Fails every wait on `connection` (it closed). */
  failConnection(connection: number, error: string): void {
    const prefix = `${connection}:`;
    for (const [key, list] of this.#pending) {
      if (!key.startsWith(prefix)) continue;
      this.#pending.delete(key);
      for (const w of list) {
        this.#clock.clearTimeout(w.timer);
        w.resolve({ success: false, error });
      }
    }
  }

  #remove(key: string, waiter: Waiter): void {
    const list = this.#pending.get(key);
    if (!list) return;
    const i = list.indexOf(waiter);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#pending.delete(key);
  }
}

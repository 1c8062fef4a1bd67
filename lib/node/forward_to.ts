/**
 * Subscriptions a node sends on through `forward_to` (wire.md §5.4 (b)): the Subscribe or
 * Unsubscribe goes to that connection, is re-sent while it is not acknowledged (5 s per attempt,
 * 3 re-sends), and the origin is acknowledged with that connection's answer.
 *
 * Two pieces of state, both bounded and pruned:
 * - Pending propagations, by subscription id: a Subscribe that comes back with an id still
 *   pending is a loop, acknowledged and ignored. An entry lives from the first send until the
 *   acknowledgement, the failure (timeout, refusal, the connection closing), or the origin
 *   connection ending (re-sending for a subscriber that is gone is pointless).
 * - What was forwarded to each connection, to replay after it is redialled (with id 0: nobody
 *   waits for those acks). An entry is the (connection, origin, name) of a Subscribe that was not
 *   refused; it goes with the matching Unsubscribe, a refusal or timeout, and when either
 *   connection is gone for good. A connection merely being redialled keeps its entries.
 *
 * Beyond either bound, new propagations are refused with an error acknowledgement rather than
 * tracked.
 * @module
 */
import type { Link } from "../link/link.ts";
import type { AckResult, AckWaiters } from "./ack_waiters.ts";

/** Delay between re-sends of a subscription propagated to `forward_to`, and their number. */
export const FORWARD_ACK_TIMEOUT_MS = 5000;
export const FORWARD_ACK_RESENDS = 3;

/** Bounds of the `forward_to` state (slim-ts specific: SLIM YAML has no key). */
export interface ForwardToLimits {
  /**
   * Propagations waiting for their acknowledgement at once; beyond, new ones are refused
   * (slim-ts specific; no SLIM YAML key).
   * @default 10000
   */
  maxPendingForwards?: number;
  /**
   * Subscriptions remembered for replay after a redial, over all connections; beyond, new ones
   * are refused (slim-ts specific; no SLIM YAML key).
   * @default 100000
   */
  maxForwardedSubscriptions?: number;
}

/** One Subscribe or Unsubscribe to send on. */
export interface ForwardRequest {
  /** The `forward_to` connection. */
  out: Link;
  /** Connection the subscription is registered for here (`recv_from`, else the incoming one). */
  origin: number;
  subscriptionId: bigint;
  subscribe: boolean;
  /** Name of the subscription (prefix and id keys of the table). */
  nameKey: string;
  /** The message for `out`, MAC'd for it. */
  bytes: Uint8Array;
  /** Subscribe only: the message to replay after a redial (id 0, no per-hop fields, no MAC). */
  replay?: () => Uint8Array | undefined;
}

interface Pending {
  origin: number;
  abort: AbortController;
}

interface Remembered {
  out: number;
  origin: number;
  /** Id of the Subscribe that put it here (a refusal of that one forgets it). */
  subscriptionId: bigint;
  bytes: Uint8Array;
}

/** `forward_to` propagation state of one router. */
export class ForwardedSubscriptions {
  readonly #acks: AckWaiters;
  readonly #maxPending: number;
  readonly #maxRemembered: number;
  /** Pending propagations by subscription id (several only when a peer reuses an id). */
  readonly #pending = new Map<bigint, Set<Pending>>();
  #pendingCount = 0;
  readonly #remembered = new Map<string, Remembered>();
  /** Keys of {@link #remembered} by connection, in either role. */
  readonly #byConnection = new Map<number, Set<string>>();

  constructor(acks: AckWaiters, limits: ForwardToLimits = {}) {
    this.#acks = acks;
    this.#maxPending = limits.maxPendingForwards ?? 10_000;
    this.#maxRemembered = limits.maxForwardedSubscriptions ?? 100_000;
  }

  /** Propagations waiting for an acknowledgement. */
  get pending(): number {
    return this.#pendingCount;
  }

  /** Subscriptions remembered for replay. */
  get remembered(): number {
    return this.#remembered.size;
  }

  /** True while a propagation with this id waits for its acknowledgement: a loop. */
  isPending(subscriptionId: bigint): boolean {
    return subscriptionId !== 0n && this.#pending.has(subscriptionId);
  }

  /**
   * Sends the request on, re-sending while it is not acknowledged. Resolves with the
   * acknowledgement of `out` (or the failure); undefined for id 0, which is never acknowledged.
   */
  send(request: ForwardRequest): AckResult | Promise<AckResult> | undefined {
    const { out, origin, subscriptionId: id } = request;
    const key = `${out.index}:${origin}:${request.nameKey}`;
    if (
      request.subscribe && !this.#remembered.has(key) &&
      this.#remembered.size >= this.#maxRemembered
    ) {
      return {
        success: false,
        error: `too many subscriptions forwarded (limit ${this.#maxRemembered})`,
      };
    }
    if (id !== 0n && this.#pendingCount >= this.#maxPending) {
      return {
        success: false,
        error: `too many subscriptions waiting for acknowledgement (limit ${this.#maxPending})`,
      };
    }
    if (!request.subscribe) {
      this.#forget(key);
    } else {
      const bytes = request.replay?.();
      if (bytes) this.#remember(key, { out: out.index, origin, subscriptionId: id, bytes });
    }
    if (id === 0n) {
      out.transport.send(request.bytes);
      return undefined;
    }
    return this.#propagate(request, key);
  }

  async #propagate(request: ForwardRequest, key: string): Promise<AckResult> {
    const { out, subscriptionId: id } = request;
    const pending: Pending = { origin: request.origin, abort: new AbortController() };
    let set = this.#pending.get(id);
    if (!set) this.#pending.set(id, set = new Set());
    set.add(pending);
    this.#pendingCount++;
    let result: AckResult | undefined;
    try {
      for (let attempt = 0; attempt <= FORWARD_ACK_RESENDS && !result; attempt++) {
        if (pending.abort.signal.aborted) {
          result = { success: false, error: "origin connection closed" };
        } else if (out.state !== "established") {
          result = { success: false, error: "connection closed" };
        } else {
          out.transport.send(request.bytes);
          result = await this.#acks.wait(
            out.index,
            id,
            FORWARD_ACK_TIMEOUT_MS,
            pending.abort.signal,
          );
        }
      }
    } finally {
      set.delete(pending);
      if (set.size === 0) this.#pending.delete(id);
      this.#pendingCount--;
    }
    result ??= {
      success: false,
      error: `remote subscription ack timed out after ${FORWARD_ACK_RESENDS} retries`,
    };
    // Refused or never acknowledged by a live connection: it does not have the subscription,
    // so there is nothing to replay. A connection that closed keeps it for its redial.
    if (!result.success && request.subscribe && out.state === "established") {
      if (this.#remembered.get(key)?.subscriptionId === id) this.#forget(key);
    }
    return result;
  }

  /** What to replay to the connection at `index` after it was redialled. */
  replay(index: number): Uint8Array[] {
    const keys = this.#byConnection.get(index);
    if (!keys) return [];
    const out: Uint8Array[] = [];
    for (const key of keys) {
      const r = this.#remembered.get(key)!;
      if (r.out === index) out.push(r.bytes);
    }
    return out;
  }

  /**
   * The connection at `index` is gone for good (its index may be reused): forget what was
   * forwarded to it and from it, and stop re-sending for subscriptions registered on it.
   */
  connectionEnded(index: number): void {
    for (const set of this.#pending.values()) {
      for (const p of set) if (p.origin === index) p.abort.abort();
    }
    const keys = this.#byConnection.get(index);
    if (keys) { for (const key of [...keys]) this.#forget(key); }
    this.#byConnection.delete(index);
  }

  #remember(key: string, entry: Remembered): void {
    this.#remembered.set(key, entry);
    this.#index(entry.out).add(key);
    this.#index(entry.origin).add(key);
  }

  #forget(key: string): void {
    const r = this.#remembered.get(key);
    if (!r) return;
    this.#remembered.delete(key);
    for (const index of [r.out, r.origin]) {
      const keys = this.#byConnection.get(index);
      keys?.delete(key);
      if (keys?.size === 0) this.#byConnection.delete(index);
    }
  }

  #index(connection: number): Set<string> {
    let keys = this.#byConnection.get(connection);
    if (!keys) this.#byConnection.set(connection, keys = new Set());
    return keys;
  }
}

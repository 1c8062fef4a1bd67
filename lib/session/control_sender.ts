/**
 * Reliable delivery of control requests (discovery, join, welcome, update, leave, close).
 *
 * A tracked request remembers who must answer. Any reply with the same message id removes its
 * sender from the missing set; when the set is empty the request succeeded. Otherwise it is
 * re-sent every interval (restamped by the app: fresh token and signature, same id) and fails
 * after `maxRetries` re-sends, reporting who never answered.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { Name } from "../names/name.ts";
import type { Publish } from "../wire/codec.ts";
import type { OutMessage } from "./host.ts";

/** Outcome of a tracked request. */
export interface ControlResult {
  /** Every expected replier answered. */
  ok: boolean;
  /** Replies received, in arrival order. */
  replies: Publish[];
  /** Repliers that never answered. */
  missing: Name[];
}

interface Tracked {
  message: OutMessage;
  missing: Map<string, Name>;
  replies: Publish[];
  resends: number;
  timer: TimerHandle | undefined;
  done: (r: ControlResult) => void;
}

/** Options of {@link ControlSender}. */
export interface ControlSenderOptions {
  clock: Clock;
  intervalMs: number;
  maxRetries: number;
  /** Sends (restamps) a message again. */
  resend: (message: OutMessage) => void;
}

/** Key of a replier: full name, or name without id when any instance may answer. */
export function replierKey(name: Name, anyInstance = false): string {
  return anyInstance ? name.withoutId().key : name.key;
}

/** Tracks outstanding control requests of one session. */
export class ControlSender {
  readonly #o: ControlSenderOptions;
  readonly #pending = new Map<number, Tracked>();

  constructor(options: ControlSenderOptions) {
    this.#o = options;
  }

  /**
   * Starts tracking `message` (the caller sends it). `repliers` must answer; with `anyInstance`
   * any instance of their name may (discovery). Resolves when all answered or retries ran out.
   * With no repliers it resolves at once.
   */
  track(message: OutMessage, repliers: Name[], anyInstance = false): Promise<ControlResult> {
    return new Promise((done) => {
      const missing = new Map<string, Name>();
      for (const r of repliers) missing.set(replierKey(r, anyInstance), r);
      if (missing.size === 0) return done({ ok: true, replies: [], missing: [] });
      const t: Tracked = { message, missing, replies: [], resends: 0, timer: undefined, done };
      this.#pending.set(message.messageId, t);
      this.#arm(t);
    });
  }

  #arm(t: Tracked): void {
    t.timer = this.#o.clock.setTimeout(() => {
      if (this.#pending.get(t.message.messageId) !== t) return;
      if (t.resends >= this.#o.maxRetries) {
        this.#pending.delete(t.message.messageId);
        t.done({ ok: false, replies: t.replies, missing: [...t.missing.values()] });
        return;
      }
      t.resends++;
      this.#o.resend(t.message);
      this.#arm(t);
    }, this.#o.intervalMs);
  }

  /**
   * Records a reply (any reply type: SLIM matches on the id alone). Returns true when it belonged
   * to a tracked request.
   */
  onReply(messageId: number, source: Name, publish: Publish, anyInstance = false): boolean {
    const t = this.#pending.get(messageId);
    if (!t) return false;
    const key = replierKey(source, anyInstance);
    if (!t.missing.has(key)) {
      // Discovery replies come from a concrete instance of the name asked for.
      const loose = replierKey(source, true);
      if (!t.missing.has(loose)) return false;
      t.missing.delete(loose);
    } else {
      t.missing.delete(key);
    }
    t.replies.push(publish);
    if (t.missing.size === 0) this.#finish(messageId, t, true);
    return true;
  }

  /** A member left: nobody waits for it any more. */
  forget(name: Name): void {
    for (const [id, t] of this.#pending) {
      if (t.missing.delete(name.key) && t.missing.size === 0) this.#finish(id, t, true);
    }
  }

  /** True while a request with this id is outstanding. */
  pending(messageId: number): boolean {
    return this.#pending.has(messageId);
  }

  /** Stops everything; outstanding requests fail. */
  cancelAll(): void {
    for (const [id, t] of [...this.#pending]) this.#finish(id, t, false);
  }

  #finish(id: number, t: Tracked, ok: boolean): void {
    this.#pending.delete(id);
    this.#o.clock.clearTimeout(t.timer);
    t.done({ ok, replies: t.replies, missing: [...t.missing.values()] });
  }
}

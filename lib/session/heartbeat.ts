/**
 * Liveness: every member beats every {@link HEARTBEAT_INTERVAL_MS} unless it sent traffic of its
 * own meanwhile, and marks offline any member it heard nothing from for
 * {@link HEARTBEAT_MISSES} periods. Any message from a member counts as a sign of life.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { Name } from "../names/name.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_MISSES } from "./config.ts";

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  clock: Clock;
  /** Sends one HEARTBEAT to the session's control destination. */
  beat: () => void;
  /** A tracked member went silent. */
  offline: (name: Name) => void;
  /** @default 10 s */
  intervalMs?: number;
}

/** The heartbeat of one session. */
export class Heartbeat {
  readonly #o: HeartbeatOptions;
  readonly #missed = new Map<string, { name: Name; missed: number }>();
  #timer: TimerHandle | undefined;
  #active = false;
  #forced = false;
  /** True once there is somewhere to send beats (the peer, or the control channel). */
  enabled = false;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** Starts ticking (from session creation, as in SLIM). */
  start(): void {
    const tick = () => {
      this.#tick();
      this.#timer = this.#o.clock.setTimeout(tick, this.#o.intervalMs ?? HEARTBEAT_INTERVAL_MS);
    };
    this.#timer = this.#o.clock.setTimeout(tick, this.#o.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  stop(): void {
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Watches a member. */
  track(name: Name): void {
    this.#missed.set(name.key, { name, missed: 0 });
  }

  /** Stops watching a member. */
  untrack(name: Name): void {
    this.#missed.delete(name.key);
  }

  /** A message arrived from `name`. */
  seen(name: Name): void {
    const m = this.#missed.get(name.key);
    if (m) m.missed = 0;
  }

  /** We sent traffic the peers will see: the next beat is not needed. */
  activity(): void {
    this.#active = true;
  }

  /** Beat at the next tick even after activity (a member came back). */
  force(): void {
    this.#forced = true;
  }

  #tick(): void {
    for (const [key, m] of this.#missed) {
      m.missed++;
      if (m.missed >= HEARTBEAT_MISSES) {
        this.#missed.delete(key);
        this.#o.offline(m.name);
      }
    }
    if (this.enabled && (!this.#active || this.#forced || this.#missed.size === 0)) this.#o.beat();
    this.#active = false;
    this.#forced = false;
  }
}

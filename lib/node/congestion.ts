/**
 * Output links that stop keeping up: a subscriber that stopped reading (its HTTP/2 flow-control
 * window closed), so what the router writes to it piles up above the transport's high-water mark.
 *
 * The router writes without awaiting. After each received batch, an input that wrote to a
 * congested output waits for it to drain, which pushes back on that input's sender through flow
 * control: a fast publisher is slowed to the pace of its subscribers. Left unbounded, one
 * subscriber that never reads would stall every publisher that reaches it, and with them all of
 * their other traffic. So the wait is bounded per output link, and an output that stays stuck is
 * given up on, then closed.
 *
 * States of one output link, one way except that draining (or the link going away) returns it
 * to `normal` from any state:
 * - `normal`: not tracked. Nothing here runs on the publish path but a `Set.size` test.
 * - `waiting`: found congested after a write; inputs that wrote to it wait for it to drain, all
 *   sharing one deadline `waitMs` after it was first found congested.
 * - `shedding`: the deadline passed; waiting inputs resume, and what is routed to the link is
 *   dropped (reason {@link CONGESTED}) instead of queued, until it drains.
 * - `closed`: still congested `closeMs` after it was first found congested; the link is closed
 *   with a log line naming the peer.
 *
 * Timers run on the injected {@link Clock}, so tests drive the states with fake time.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { Link } from "../link/link.ts";
import type { Logger } from "../log.ts";

/** Drop reason of messages not written to a link being shed. */
export const CONGESTED = "congested";

/** Bounds of the wait for a congested output link (slim-ts specific: SLIM YAML has no key). */
export interface CongestionLimits {
  /**
   * How long inputs wait for a congested output link to drain before dropping what is routed to
   * it (slim-ts specific; no SLIM YAML key).
   * @default 2000
   */
  congestionWaitMs?: number;
  /**
   * How long an output link may stay congested before it is closed (slim-ts specific; no SLIM
   * YAML key). At least `congestionWaitMs`.
   * @default 30000
   */
  congestionCloseMs?: number;
}

/** Default of {@link CongestionLimits.congestionWaitMs}. */
export const DEFAULT_CONGESTION_WAIT_MS = 2000;
/** Default of {@link CongestionLimits.congestionCloseMs}. */
export const DEFAULT_CONGESTION_CLOSE_MS = 30_000;

/** Options of {@link Congestion}. */
export interface CongestionOptions extends CongestionLimits {
  clock: Clock;
  logger: Logger;
  /** Closes a link that stayed congested; `reason` is for its log line and error. */
  close(link: Link, reason: string): void;
}

/** One congestion episode of one output link. */
interface Episode {
  since: number;
  shedding: boolean;
  /** Resolves when the link drains, goes away, or the wait deadline passes. */
  wait: Promise<void>;
  release: () => void;
  timer: TimerHandle | undefined;
}

/** Congested output links of one router. */
export class Congestion {
  /**
   * Links being shed: the router drops what it routes to them. Read on the publish path, guarded
   * by `size`.
   */
  readonly shedding: ReadonlySet<Link>;
  /** Links found above their high-water mark after a write, since the last wait (router-filled). */
  readonly found = new Set<Link>();
  readonly #shedding = new Set<Link>();
  readonly #episodes = new Map<Link, Episode>();
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #waitMs: number;
  readonly #closeMs: number;
  readonly #close: (link: Link, reason: string) => void;

  constructor(options: CongestionOptions) {
    this.shedding = this.#shedding;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#waitMs = Math.max(0, options.congestionWaitMs ?? DEFAULT_CONGESTION_WAIT_MS);
    this.#closeMs = Math.max(
      this.#waitMs,
      options.congestionCloseMs ?? DEFAULT_CONGESTION_CLOSE_MS,
    );
    this.#close = options.close;
  }

  /** Output links currently congested (waiting or shedding). */
  get size(): number {
    return this.#episodes.size;
  }

  /**
   * Waits until every link in {@link found} drained or reached its deadline. Links already being
   * shed are not waited for.
   */
  async waitForDrain(): Promise<void> {
    const found = this.found;
    while (found.size > 0) {
      const waits: Promise<void>[] = [];
      for (const link of found) {
        if (link.state !== "established" || !link.transport.congested) continue;
        const episode = this.#episodes.get(link) ?? this.#begin(link);
        if (!episode.shedding) waits.push(episode.wait);
      }
      found.clear();
      if (waits.length === 0) return;
      await Promise.all(waits);
    }
  }

  /** Forgets `link` (it was retired): no more timers, nobody waits for it. */
  forget(link: Link): void {
    this.found.delete(link);
    const episode = this.#episodes.get(link);
    if (episode) this.#end(link, episode, false);
  }

  #begin(link: Link): Episode {
    let release!: () => void;
    const wait = new Promise<void>((r) => release = r);
    const episode: Episode = {
      since: this.#clock.now(),
      shedding: false,
      wait,
      release,
      timer: undefined,
    };
    this.#episodes.set(link, episode);
    episode.timer = this.#clock.setTimeout(() => this.#shed(link, episode), this.#waitMs);
    // Resolves on drain, and also when the transport closes.
    link.transport.drained().then(() => this.#end(link, episode, true));
    return episode;
  }

  #shed(link: Link, episode: Episode): void {
    if (this.#episodes.get(link) !== episode) return;
    episode.shedding = true;
    this.#shedding.add(link);
    episode.release();
    this.#log.warn("connection not keeping up; dropping messages routed to it", {
      peer: link.remote,
      link_id: link.linkId,
      conn: link.index,
      waited_ms: this.#waitMs,
      close_after_ms: this.#closeMs,
    });
    episode.timer = this.#clock.setTimeout(
      () => this.#closeStuck(link, episode),
      this.#closeMs - this.#waitMs,
    );
  }

  #closeStuck(link: Link, episode: Episode): void {
    if (this.#episodes.get(link) !== episode) return;
    const ms = Math.round(this.#clock.now() - episode.since);
    this.#end(link, episode, false);
    const reason = `closed by the node: the peer did not read what was sent to it for ${ms} ms`;
    this.#log.warn("closing connection that stopped reading", {
      peer: link.remote,
      link_id: link.linkId,
      conn: link.index,
      congested_ms: ms,
    });
    this.#close(link, reason);
  }

  #end(link: Link, episode: Episode, drained: boolean): void {
    if (this.#episodes.get(link) !== episode) return;
    this.#episodes.delete(link);
    this.#clock.clearTimeout(episode.timer);
    episode.release();
    if (!this.#shedding.delete(link) || !drained) return;
    // Drain waiters are also released when the stream ends: that is no recovery.
    if (link.state !== "established" || link.transport.isClosed) return;
    this.#log.info("connection keeping up again; no longer dropping", {
      peer: link.remote,
      link_id: link.linkId,
      conn: link.index,
      congested_ms: Math.round(this.#clock.now() - episode.since),
    });
  }
}

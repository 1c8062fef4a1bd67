/**
 * The consuming side of a session's data: acknowledgements, in-order delivery per producer,
 * duplicate suppression and gap recovery.
 *
 * Reliable mode, per producer: the first message received is delivered and becomes the baseline
 * (a stream can be joined midway); later ones are delivered in id order (ids wrap at 2^31; "after"
 * means a forward distance of at most 2^30); duplicates and stale ids are dropped but still
 * acknowledged; a gap triggers one RTX request per missing id, re-sent every interval. A gap that
 * cannot be filled (an error RTX reply, or retries exhausted) is reported as lost and delivery
 * continues — unlike SLIM 2.0.0-alpha.10, which blocks that producer forever on exhaustion.
 * Publish-to messages and best-effort sessions are delivered at once, unordered.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { Name } from "../names/name.ts";
import { SessionMessageType } from "../wire/codec.ts";
import { MAX_PUBLISH_ID, PRODUCER_BUFFER_SIZE } from "./config.ts";
import type { OutMessage } from "./host.ts";

const WINDOW = 0x40000000; // 2^30
const MODULUS = MAX_PUBLISH_ID + 1; // 2^31
const EMPTY = new Uint8Array(0);

/** A data message ready for the application. */
export interface Delivery {
  source: Name;
  messageId: number;
  payloadType: string;
  payload: Uint8Array;
  metadata: Record<string, string>;
  identity: string;
}

/** Non-fatal receive problems surfaced to the application. */
export type ReceiveProblem = {
  type: "message-lost";
  source: Name;
  /** The first id lost. */
  messageId: number;
  /** How many consecutive ids were lost from `messageId`. @default 1 */
  count?: number;
};

interface Rtx {
  timer: TimerHandle | undefined;
  resends: number;
}

interface Producer {
  name: Name;
  /** Last id delivered (or skipped as lost). */
  last: number | undefined;
  /** Highest id seen: ids between `last` and it are buffered, being requested, or lost. */
  highest: number | undefined;
  buffered: Map<number, Delivery>;
  lost: Set<number>;
  /** Consecutive lost ids `[from, count]`, too many to request (beyond the producer's buffer). */
  lostRanges: [number, number][];
  rtx: Map<number, Rtx>;
}

/** Options of {@link DataReceiver}. */
export interface DataReceiverOptions {
  clock: Clock;
  reliable: boolean;
  intervalMs: number;
  maxRetries: number;
  send: (batch: OutMessage[]) => void;
  deliver: (d: Delivery) => void;
  problem: (p: ReceiveProblem) => void;
}

/** Data consumer of one session. */
export class DataReceiver {
  readonly #o: DataReceiverOptions;
  readonly #producers = new Map<string, Producer>();
  /** Recent publish-to ids per producer, so a retransmitted one is delivered once. */
  readonly #directSeen = new Map<string, Set<number>>();

  constructor(options: DataReceiverOptions) {
    this.#o = options;
  }

  /** A decrypted MSG. `rtxReply` marks an answer to our retransmission request. */
  onMessage(d: Delivery, rtxReply = false, publishTo = false): void {
    const o = this.#o;
    if (!o.reliable) {
      o.deliver(d);
      return;
    }
    if (!rtxReply) {
      o.send([{
        type: SessionMessageType.MSG_ACK,
        destination: d.source,
        messageId: d.messageId,
        app: { payloadType: "", blob: EMPTY },
        metadata: publishTo ? { PUBLISH_TO: "TRUE" } : undefined,
      }]);
    }
    if (publishTo) {
      let seen = this.#directSeen.get(d.source.key);
      if (!seen) this.#directSeen.set(d.source.key, seen = new Set());
      if (seen.has(d.messageId)) return;
      seen.add(d.messageId);
      if (seen.size > 1024) seen.delete(seen.values().next().value!);
      o.deliver(d);
      return;
    }
    const p = this.#producer(d.source);
    // Whatever copy filled it (an RTX reply or the sender's own retransmission), stop asking.
    this.#stopRtx(p, d.messageId);
    if (p.last === undefined) {
      p.last = p.highest = d.messageId;
      o.deliver(d);
      return;
    }
    const dist = (d.messageId - p.last + MODULUS) % MODULUS;
    if (dist === 0 || dist > WINDOW) return; // duplicate or stale
    if (dist === 1) {
      p.last = d.messageId;
      if (p.highest === undefined || (p.highest - p.last + MODULUS) % MODULUS > WINDOW) {
        p.highest = p.last;
      }
      o.deliver(d);
      this.#release(p);
      return;
    }
    if (p.buffered.has(d.messageId)) return;
    p.buffered.set(d.messageId, d);
    // Newly missing ids are those between the highest id seen and this one (earlier gaps are
    // already being asked for). Only the newest PRODUCER_BUFFER_SIZE of them can still be at the
    // producer; the older ones are lost at once, as one range: asking for a huge gap one timer
    // per id would let a single forged message exhaust memory.
    const highest = p.highest ?? p.last;
    const fresh = (d.messageId - highest + MODULUS) % MODULUS;
    if (fresh === 0 || fresh > WINDOW) return;
    p.highest = d.messageId;
    const first = Math.max(1, fresh - PRODUCER_BUFFER_SIZE);
    if (first > 1) p.lostRanges.push([(highest + 1) % MODULUS, first - 1]);
    for (let i = first; i < fresh; i++) {
      const id = (highest + i) % MODULUS;
      if (!p.buffered.has(id) && !p.rtx.has(id) && !p.lost.has(id)) this.#requestRtx(p, id);
    }
    if (first > 1) this.#release(p);
  }

  /** The producer no longer has message `messageId`. */
  onRtxError(source: Name, messageId: number): void {
    const p = this.#producers.get(source.key);
    if (!p || p.last === undefined) return;
    this.#stopRtx(p, messageId);
    this.#markLost(p, messageId);
  }

  /**
   * Declares that `name`'s stream starts at id 1 (a P2P peer, a member who joined after us), so
   * a lost first message is recovered instead of its successor becoming the baseline.
   */
  expectFromStart(name: Name): void {
    const p = this.#producer(name);
    if (p.last === undefined && p.buffered.size === 0) p.last = 0;
  }

  /** Forgets a producer (left or removed): its next message re-baselines. */
  removeProducer(name: Name): void {
    const p = this.#producers.get(name.key);
    if (!p) return;
    for (const r of p.rtx.values()) this.#o.clock.clearTimeout(r.timer);
    this.#producers.delete(name.key);
    this.#directSeen.delete(name.key);
  }

  /** Stops all timers. */
  close(): void {
    for (const p of this.#producers.values()) {
      for (const r of p.rtx.values()) this.#o.clock.clearTimeout(r.timer);
    }
    this.#producers.clear();
  }

  #producer(name: Name): Producer {
    let p = this.#producers.get(name.key);
    if (!p) {
      p = {
        name,
        last: undefined,
        highest: undefined,
        buffered: new Map(),
        lost: new Set(),
        lostRanges: [],
        rtx: new Map(),
      };
      this.#producers.set(name.key, p);
    }
    return p;
  }

  #requestRtx(p: Producer, id: number): void {
    const r: Rtx = { timer: undefined, resends: 0 };
    p.rtx.set(id, r);
    const send = () =>
      this.#o.send([{
        type: SessionMessageType.RTX_REQUEST,
        destination: p.name,
        messageId: id,
        app: { payloadType: "", blob: EMPTY },
      }]);
    const arm = () => {
      r.timer = this.#o.clock.setTimeout(() => {
        if (p.rtx.get(id) !== r) return;
        if (r.resends >= this.#o.maxRetries) {
          p.rtx.delete(id);
          this.#markLost(p, id);
          return;
        }
        r.resends++;
        send();
        arm();
      }, this.#o.intervalMs);
    };
    send();
    arm();
  }

  #stopRtx(p: Producer, id: number): void {
    const r = p.rtx.get(id);
    if (!r) return;
    this.#o.clock.clearTimeout(r.timer);
    p.rtx.delete(id);
  }

  #markLost(p: Producer, id: number): void {
    const dist = (id - p.last! + MODULUS) % MODULUS;
    if (dist === 0 || dist > WINDOW) return;
    p.lost.add(id);
    this.#release(p);
  }

  /** Delivers everything now in order after the last delivered id. */
  #release(p: Producer): void {
    while (true) {
      const next = (p.last! + 1) % MODULUS;
      const d = p.buffered.get(next);
      if (d) {
        p.buffered.delete(next);
        p.last = next;
        this.#o.deliver(d);
        continue;
      }
      if (p.lost.has(next)) {
        p.lost.delete(next);
        p.last = next;
        this.#o.problem({ type: "message-lost", source: p.name, messageId: next });
        continue;
      }
      const range = p.lostRanges.findIndex(([from]) => from === next);
      if (range >= 0) {
        const [from, count] = p.lostRanges[range];
        p.lostRanges.splice(range, 1);
        p.last = (from + count - 1) % MODULUS;
        this.#o.problem({ type: "message-lost", source: p.name, messageId: from, count });
        continue;
      }
      return;
    }
  }
}

/**
 * The producing side of a session's data: message ids, acknowledgements, retransmission and
 * answers to retransmission requests.
 *
 * Reliable mode: every message is acknowledged by each receiving member present when it was sent;
 * missing acks trigger a unicast copy to each silent member every interval, and after
 * `maxRetries` copies the silent members are reported (the session marks them offline). The last
 * {@link PRODUCER_BUFFER_SIZE} messages are kept to answer RTX requests. Best effort: sent once,
 * complete at once, acks and RTX requests ignored.
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import { SessionError, TimeoutError } from "../errors.ts";
import type { Name } from "../names/name.ts";
import { BROADCAST_FANOUT, SessionMessageType } from "../wire/codec.ts";
import { MAX_PUBLISH_ID, PRODUCER_BUFFER_SIZE } from "./config.ts";
import type { OutMessage } from "./host.ts";

/** Metadata key marking a reply to one member of a group. */
export const PUBLISH_TO = "PUBLISH_TO";

interface Stored {
  id: number;
  destination: Name;
  fanout: number;
  payloadType: string;
  blob: Uint8Array;
  metadata: Record<string, string> | undefined;
}

interface Pending {
  stored: Stored;
  missing: Map<string, Name>;
  resends: number;
  timer: TimerHandle | undefined;
  resolve(): void;
  reject(e: Error): void;
}

/** Options of {@link DataSender}. */
export interface DataSenderOptions {
  clock: Clock;
  /** Group sessions broadcast with fanout 256 and allow `publishTo`. */
  group: boolean;
  reliable: boolean;
  intervalMs: number;
  maxRetries: number;
  send: (batch: OutMessage[]) => void;
  /** Members that never acknowledged a message (reliable mode). */
  onSilent: (names: Name[]) => void;
}

/** Data producer of one session. */
export class DataSender {
  /** Where sequential messages go: the data channel, or the peer's full name. */
  destination: Name;
  readonly #o: DataSenderOptions;
  readonly #endpoints = new Map<string, Name>();
  readonly #buffer = new Map<number, Stored>();
  readonly #pending = new Map<number, Pending>();
  /** Messages someone asked to have retransmitted, kept while they may ask again. */
  readonly #pinned = new Map<number, { stored: Stored; timer: TimerHandle | undefined }>();
  /** Messages published before any receiver existed. */
  #unsent: Stored[] = [];
  #nextId = 0;
  #closed = false;

  constructor(destination: Name, options: DataSenderOptions) {
    this.destination = destination;
    this.#o = options;
  }

  /** Receivers data is sent to (and acknowledgements expected from). */
  get endpoints(): Name[] {
    return [...this.#endpoints.values()];
  }

  /** Adds a receiving member; flushes what was published before the first one existed. */
  addEndpoint(name: Name): void {
    this.#endpoints.set(name.key, name);
    if (this.#unsent.length > 0) {
      const unsent = this.#unsent;
      this.#unsent = [];
      for (const s of unsent) this.#transmit(s, this.#pending.get(s.id));
    }
  }

  /** Removes a member: nobody waits for its acknowledgements any more. */
  removeEndpoint(name: Name): void {
    this.#endpoints.delete(name.key);
    for (const [id, p] of this.#pending) {
      if (p.missing.delete(name.key) && p.missing.size === 0) this.#complete(id, p);
    }
  }

  /**
   * Publishes a payload. Sequential (to the session destination) unless `to` names one member
   * of a group (publish-to: random id, fanout 1, `PUBLISH_TO` metadata). Resolves when
   * acknowledged (reliable) or at once (best effort).
   */
  publish(
    payloadType: string,
    blob: Uint8Array,
    metadata: Record<string, string> | undefined,
    to?: Name,
  ): Promise<void> {
    if (this.#closed) return Promise.reject(new SessionError("session closed"));
    let stored: Stored;
    if (to && this.#o.group) {
      if (!this.#endpoints.has(to.key)) {
        return Promise.reject(new SessionError(`${to} is not a member of this session`));
      }
      const id = 0x80000000 + Math.floor(Math.random() * (0xffffffff - 0x80000000));
      stored = {
        id,
        destination: to,
        fanout: 1,
        payloadType,
        blob,
        metadata: { ...metadata, [PUBLISH_TO]: "TRUE" },
      };
    } else {
      this.#nextId = (this.#nextId + 1) % (MAX_PUBLISH_ID + 1);
      stored = {
        id: this.#nextId,
        destination: this.destination,
        fanout: this.#o.group ? BROADCAST_FANOUT : 1,
        payloadType,
        blob,
        metadata: metadata && Object.keys(metadata).length > 0 ? metadata : undefined,
      };
      this.#buffer.set(stored.id, stored);
      if (this.#buffer.size > PRODUCER_BUFFER_SIZE) {
        this.#buffer.delete(this.#buffer.keys().next().value!);
      }
    }
    if (!this.#o.reliable) {
      if (this.#endpoints.size === 0 && !to) this.#unsent.push(stored);
      else this.#transmit(stored, undefined);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const missing = new Map<string, Name>();
      if (to && this.#o.group) missing.set(to.key, to);
      else for (const [k, n] of this.#endpoints) missing.set(k, n);
      const p: Pending = { stored, missing, resends: 0, timer: undefined, resolve, reject };
      this.#pending.set(stored.id, p);
      if (this.#endpoints.size === 0) {
        this.#unsent.push(stored);
        return;
      }
      this.#transmit(stored, p);
    });
  }

  #transmit(s: Stored, p: Pending | undefined): void {
    this.#o.send([this.#message(s, SessionMessageType.MSG, s.destination)]);
    if (p) {
      if (p.missing.size === 0) {
        for (const [k, n] of this.#endpoints) p.missing.set(k, n);
      }
      this.#arm(p);
    }
  }

  #message(s: Stored, type: SessionMessageType, destination: Name): OutMessage {
    return {
      type,
      destination,
      fanout: s.fanout,
      messageId: s.id,
      app: { payloadType: s.payloadType, blob: s.blob },
      metadata: s.metadata,
    };
  }

  #arm(p: Pending): void {
    this.#o.clock.clearTimeout(p.timer);
    p.timer = this.#o.clock.setTimeout(() => {
      if (this.#pending.get(p.stored.id) !== p) return;
      if (p.resends >= this.#o.maxRetries) {
        this.#pending.delete(p.stored.id);
        const silent = [...p.missing.values()];
        this.#o.onSilent(silent);
        if (this.#o.group) p.resolve();
        else {
          p.reject(
            new TimeoutError(
              `message ${p.stored.id} not acknowledged by ${
                silent.join(", ")
              } after ${this.#o.maxRetries} retransmissions`,
            ),
          );
        }
        return;
      }
      p.resends++;
      // A unicast copy to each member that has not acknowledged, same id and fanout.
      this.#o.send(
        [...p.missing.values()].map((n) => this.#message(p.stored, SessionMessageType.MSG, n)),
      );
      this.#arm(p);
    }, this.#o.intervalMs);
  }

  /** An acknowledgement (or a retransmission request, which SLIM also counts as one). */
  onAck(messageId: number, source: Name): void {
    const p = this.#pending.get(messageId);
    if (!p) return;
    if (p.missing.delete(source.key) && p.missing.size === 0) this.#complete(messageId, p);
  }

  #complete(id: number, p: Pending): void {
    this.#pending.delete(id);
    this.#o.clock.clearTimeout(p.timer);
    p.resolve();
  }

  /** Answers a retransmission request: the stored message again, or an error reply. */
  onRtxRequest(messageId: number, requester: Name): void {
    if (!this.#o.reliable) return;
    // Look the message up before the request counts as an ack (which may release it), and keep
    // it while the requester may still ask again, even once 512 newer ones pushed it out.
    const s = this.#buffer.get(messageId) ?? this.#pending.get(messageId)?.stored ??
      this.#pinned.get(messageId)?.stored;
    if (s) this.#pin(s);
    this.onAck(messageId, requester);
    if (s) {
      this.#o.send([this.#message(s, SessionMessageType.RTX_REPLY, requester)]);
      return;
    }
    this.#o.send([{
      type: SessionMessageType.RTX_REPLY,
      destination: requester,
      fanout: 1,
      messageId,
      app: { payloadType: "", blob: new Uint8Array(0) },
      error: true,
    }]);
  }

  #pin(s: Stored): void {
    const old = this.#pinned.get(s.id);
    this.#o.clock.clearTimeout(old?.timer);
    const timer = this.#o.clock.setTimeout(
      () => this.#pinned.delete(s.id),
      (this.#o.maxRetries + 1) * this.#o.intervalMs,
    );
    this.#pinned.set(s.id, { stored: s, timer });
  }

  /** Fails everything outstanding. */
  close(reason = "session closed"): void {
    this.#closed = true;
    for (const p of this.#pinned.values()) this.#o.clock.clearTimeout(p.timer);
    this.#pinned.clear();
    for (const [id, p] of this.#pending) {
      this.#o.clock.clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new SessionError(reason));
    }
    this.#unsent = [];
  }
}

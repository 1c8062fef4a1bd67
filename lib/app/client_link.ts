/**
 * The app's link to its node: dial, negotiate as dialler, subscribe with acknowledgement, and
 * survive node restarts.
 *
 * States:
 * - `connecting`: first dial and negotiation; a failure here is reported to the caller.
 * - `established`: messages flow; sends go straight to the link.
 * - `reconnecting`: the stream ended unexpectedly; redialling with backoff, reusing the link id.
 *   Sends are queued, bounded in messages and in bytes (the oldest are dropped first: sessions
 *   retransmit what matters), and flushed once the subscriptions have been replayed (with
 *   `subscription_id 0`, as SLIM does, so the node sends no acks).
 * - `closed`: closed by the owner, or reconnection attempts exhausted. Terminal.
 * @module
 */
import { ClosedError, SlimError, TimeoutError } from "../errors.ts";
import type { BackoffConfig } from "../config/schema.ts";
import { checkClientTlsOptions } from "../config/tls_material.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { dialLink } from "../link/dial.ts";
import type { Link } from "../link/link.ts";
import { createLogger, type Logger } from "../log.ts";
import type { Name } from "../names/name.ts";
import type { ClientTls, DialedChannel } from "../transport/grpc_client.ts";
import { redactEndpoint } from "../transport/redact.ts";
import {
  decodeMessage,
  DEFAULT_TTL,
  encodeMessage,
  makeMessage,
  type Message,
  nameToProto,
} from "../wire/codec.ts";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";

/** Lifecycle states of a {@link ClientLink}. */
export type ClientLinkState = "connecting" | "established" | "reconnecting" | "closed";

/** How long a subscription may go unacknowledged (the real app waits 10 s, re-sending at 5 s). */
export const SUBSCRIBE_ACK_TIMEOUT_MS = 10_000;
const SUBSCRIBE_RESEND_MS = 5_000;
/** Default of {@link ClientLinkOptions.reconnectQueueMessages}. */
export const DEFAULT_RECONNECT_QUEUE_MESSAGES = 10_000;
/** Default of {@link ClientLinkOptions.reconnectQueueBytes}: 16 MiB. */
export const DEFAULT_RECONNECT_QUEUE_BYTES = 16 * 1024 * 1024;

/** Options of {@link ClientLink.connect}. */
export interface ClientLinkOptions {
  /** `http://host:port`, `https://host:port` or `unix:///path` (SLIM YAML `endpoint`). */
  endpoint: string;
  /** TLS settings for `https://` (SLIM YAML `tls`). */
  tls?: ClientTls;
  /** Extra request headers, e.g. `authorization` (SLIM YAML `headers`, `auth`). */
  headers?: Record<string, string>;
  /** @default 10 s (SLIM YAML `connect_timeout`) */
  connectTimeoutMs?: number;
  /** Reconnection delays. @default exponential 1 ms, 100 ms, then 1 s (SLIM YAML `backoff`) */
  backoff?: BackoffConfig;
  /** Link id, reused on reconnect. @default a random UUID (SLIM YAML `link_id`) */
  linkId?: string;
  /** @default true (SLIM YAML `require_header_mac`) */
  requireHeaderMac?: boolean;
  /** Node id announced in negotiation. @default `node-<uuid>` */
  nodeId?: string;
  /** Largest message accepted. @default 4 MiB */
  maxMessageSize?: number;
  /**
   * Messages kept while reconnecting; beyond, the oldest are dropped (slim-ts specific; no SLIM
   * YAML key).
   * @default 10000
   */
  reconnectQueueMessages?: number;
  /**
   * Bytes of messages kept while reconnecting; beyond, the oldest are dropped, and a message
   * larger than this is dropped itself (slim-ts specific; no SLIM YAML key).
   * @default 16 MiB
   */
  reconnectQueueBytes?: number;
  logger?: Logger;
  clock?: Clock;
}

/** Receives every message from the node (MAC already verified). */
export type MessageHandler = (message: Message) => void;

/** Link state changes, for the app's events. */
export type LinkEvent =
  | { type: "disconnected"; reason: string }
  | { type: "reconnected"; attempts: number }
  | { type: "closed"; reason?: string };

interface Subscription {
  source: Name;
  name: Name;
  /** Id the node knows it by: ours, or 0 after a reconnect replay. */
  id: bigint;
}

interface PendingAck {
  resolve(): void;
  reject(e: Error): void;
}

/** The app side of one link to a node. */
export class ClientLink {
  /** The endpoint, without credentials (for messages and logs). */
  readonly endpoint: string;
  readonly linkId: string;
  #state: ClientLinkState = "connecting";
  readonly #options: ClientLinkOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #nodeId: string;
  #onMessage: MessageHandler;
  #onEvent: (e: LinkEvent) => void = () => {};
  #channel: DialedChannel | undefined;
  #link: Link | undefined;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #pendingAcks = new Map<bigint, PendingAck>();
  #nextSubId: bigint;
  /** Sends held while reconnecting: `#queue[#queueHead..]`, oldest first. */
  #queue: Uint8Array[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  /** Held sends dropped during this reconnection (for its log lines). */
  #queueDropped = 0;
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  #reconnectTimer: TimerHandle | undefined;
  #closed: Promise<void> | undefined;

  private constructor(options: ClientLinkOptions, onMessage: MessageHandler) {
    this.#options = options;
    this.endpoint = redactEndpoint(options.endpoint);
    this.linkId = options.linkId ?? crypto.randomUUID();
    this.#log = options.logger ?? createLogger("slim::app");
    this.#clock = options.clock ?? systemClock;
    this.#nodeId = options.nodeId ?? `node-${crypto.randomUUID()}`;
    this.#onMessage = onMessage;
    this.#maxQueued = options.reconnectQueueMessages ?? DEFAULT_RECONNECT_QUEUE_MESSAGES;
    this.#maxQueuedBytes = options.reconnectQueueBytes ?? DEFAULT_RECONNECT_QUEUE_BYTES;
    const seed = crypto.getRandomValues(new Uint32Array(2));
    this.#nextSubId = ((BigInt(seed[0]) << 32n) | BigInt(seed[1])) & ((1n << 62n) - 1n) | 1n;
  }

  /**
   * Dials and negotiates. Rejects with {@link ConfigError} naming the option (`tls.ca`,
   * `tls.cert`, `tls.key`) when TLS material does not parse or the key is not the certificate's,
   * with {@link TransportError} naming the endpoint when the node cannot be reached, or with the
   * negotiation error.
   */
  static async connect(options: ClientLinkOptions, onMessage: MessageHandler): Promise<ClientLink> {
    checkClientTlsOptions(options.tls, "tls");
    const link = new ClientLink(options, onMessage);
    await link.#dial();
    link.#state = "established";
    return link;
  }

  /** Current state. */
  get state(): ClientLinkState {
    return this.#state;
  }

  /** Receives link events (disconnects, reconnects, close). */
  set onEvent(handler: (e: LinkEvent) => void) {
    this.#onEvent = handler;
  }

  async #dial(): Promise<void> {
    const o = this.#options;
    const { link, channel } = await dialLink({
      endpoint: o.endpoint,
      tls: o.tls,
      headers: o.headers,
      connectTimeoutMs: o.connectTimeoutMs,
      maxMessageSize: o.maxMessageSize,
      linkId: this.linkId,
      nodeId: this.#nodeId,
      requireHeaderMac: o.requireHeaderMac ?? true,
    });
    this.#channel = channel;
    this.#link = link;
    this.#log.debug("link established", { endpoint: this.endpoint, link_id: this.linkId });
    this.#pump(link, channel);
  }

  async #pump(link: Link, channel: DialedChannel): Promise<void> {
    let reason = "stream ended";
    try {
      for await (const batch of link.batches()) {
        for (const bytes of batch) this.#receive(link, bytes);
      }
    } catch (e) {
      reason = (e as Error).message;
    }
    channel.destroy();
    if (this.#link !== link) return;
    this.#link = undefined;
    this.#channel = undefined;
    if (this.#state === "closed") return;
    this.#log.info("link to node lost; reconnecting", { endpoint: this.endpoint, reason });
    this.#state = "reconnecting";
    this.#onEvent({ type: "disconnected", reason });
    this.#reconnect(0);
  }

  #receive(link: Link, bytes: Uint8Array): void {
    const bad = link.checkReceived(bytes);
    if (bad) {
      this.#log.warn("dropped message from node", { endpoint: this.endpoint, reason: bad });
      return;
    }
    let message: Message;
    try {
      message = decodeMessage(bytes);
    } catch (e) {
      this.#log.warn("dropped undecodable message from node", {
        endpoint: this.endpoint,
        reason: (e as Error).message,
      });
      return;
    }
    if (message.messageType.case === "subscriptionAck") {
      const ack = message.messageType.value;
      const pending = this.#pendingAcks.get(ack.subscriptionId);
      if (!pending) return;
      this.#pendingAcks.delete(ack.subscriptionId);
      if (ack.success) pending.resolve();
      else pending.reject(new SlimError("transport", `subscription refused: ${ack.error}`));
      return;
    }
    try {
      this.#onMessage(message);
    } catch (e) {
      this.#log.error("message handler failed", { error: (e as Error).message });
    }
  }

  #reconnect(attempt: number): void {
    const delay = backoffDelay(this.#options.backoff ?? DEFAULT_BACKOFF, attempt);
    if (delay === undefined) {
      this.#log.error("giving up reconnecting", { endpoint: this.endpoint, attempts: attempt });
      this.#fail(`reconnection attempts exhausted after ${attempt} tries`);
      return;
    }
    this.#reconnectTimer = this.#clock.setTimeout(async () => {
      if (this.#state !== "reconnecting") return;
      try {
        await this.#dial();
      } catch (e) {
        this.#log.debug("reconnect attempt failed", {
          endpoint: this.endpoint,
          attempt: attempt + 1,
          reason: (e as Error).message,
        });
        if (this.#state === "reconnecting") this.#reconnect(attempt + 1);
        return;
      }
      if (this.#state !== "reconnecting") return;
      // Replay subscriptions without acks, then what was queued meanwhile.
      for (const s of this.#subscriptions.values()) {
        s.id = 0n;
        this.#sendSubscribe(s, true, "");
      }
      const queued = this.#takeQueue();
      for (const m of queued) this.#link!.send(m);
      this.#state = "established";
      this.#log.info("link to node re-established", {
        endpoint: this.endpoint,
        link_id: this.linkId,
        attempts: attempt + 1,
        sent_queued: queued.length,
        dropped_queued: this.#queueDropped || undefined,
      });
      this.#queueDropped = 0;
      this.#onEvent({ type: "reconnected", attempts: attempt + 1 });
    }, delay);
  }

  #fail(reason: string): void {
    this.#state = "closed";
    for (const p of this.#pendingAcks.values()) p.reject(new ClosedError(reason));
    this.#pendingAcks.clear();
    this.#takeQueue();
    this.#onEvent({ type: "closed", reason });
  }

  /** Sends an encoded message (MAC'd by the link). Queued while reconnecting. */
  sendBytes(bytes: Uint8Array): void {
    if (this.#state === "closed") throw new ClosedError("link to the node is closed");
    if (this.#state === "established" && this.#link) {
      this.#link.send(bytes);
      return;
    }
    this.#enqueue(bytes);
  }

  /** Sends held while reconnecting (messages and bytes). */
  get queued(): { messages: number; bytes: number } {
    return { messages: this.#queue.length - this.#queueHead, bytes: this.#queuedBytes };
  }

  /** Holds a send for the reconnection, dropping the oldest beyond either bound. */
  #enqueue(bytes: Uint8Array): void {
    if (bytes.length > this.#maxQueuedBytes) return this.#dropped(1);
    let dropped = 0;
    while (
      this.#queue.length - this.#queueHead >= this.#maxQueued ||
      this.#queuedBytes + bytes.length > this.#maxQueuedBytes
    ) {
      if (this.#queueHead === this.#queue.length) break;
      this.#queuedBytes -= this.#queue[this.#queueHead].length;
      this.#queue[this.#queueHead++] = EMPTY;
      dropped++;
    }
    // Compact now and then: dropping from the front stays O(1) per message.
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (this.#queue.length - this.#queueHead >= this.#maxQueued) return this.#dropped(dropped + 1);
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (dropped > 0) this.#dropped(dropped);
  }

  #dropped(n: number): void {
    // Once per reconnection: the count is in the "re-established" line.
    if (this.#queueDropped === 0) {
      this.#log.warn("reconnect queue full; dropping the oldest messages", {
        endpoint: this.endpoint,
        max_messages: this.#maxQueued,
        max_bytes: this.#maxQueuedBytes,
      });
    }
    this.#queueDropped += n;
  }

  /** Empties the queue, returning what it held, oldest first. */
  #takeQueue(): Uint8Array[] {
    const held = this.#queue.slice(this.#queueHead);
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    return held;
  }

  /** Sends a message (MAC'd by the link). Queued while reconnecting. */
  send(message: Message): void {
    this.sendBytes(encodeMessage(message));
  }

  /** True while the node is not keeping up with our sends. */
  get congested(): boolean {
    return this.#channel?.transport.congested ?? false;
  }

  /** Resolves when the output buffer drained. */
  drained(): Promise<void> {
    return this.#channel?.transport.drained() ?? Promise.resolve();
  }

  /**
   * Subscribes `name` (as `source`, with `identity` in the header) and waits for the node's
   * acknowledgement. Kept for replay after reconnects.
   */
  async subscribe(source: Name, name: Name, identity: () => Promise<string>): Promise<void> {
    const sub: Subscription = { source, name, id: this.#nextSubId++ };
    this.#subscriptions.set(name.key, sub);
    try {
      await this.#withAck(sub, async () => this.#sendSubscribe(sub, true, await identity()));
    } catch (e) {
      this.#subscriptions.delete(name.key);
      throw e;
    }
  }

  /** Unsubscribes `name`, waiting for the acknowledgement when the node can send one. */
  async unsubscribe(name: Name, identity: () => Promise<string>): Promise<void> {
    const sub = this.#subscriptions.get(name.key);
    if (!sub) return;
    this.#subscriptions.delete(name.key);
    if (this.#state === "closed") return;
    const token = await identity();
    if (sub.id === 0n) {
      this.#sendSubscribe(sub, false, token);
      return;
    }
    await this.#withAck(sub, () => Promise.resolve(this.#sendSubscribe(sub, false, token)));
  }

  async #withAck(sub: Subscription, send: () => Promise<void>): Promise<void> {
    if (this.#state === "closed") throw new ClosedError("link to the node is closed");
    const id = sub.id;
    const acked = new Promise<void>((resolve, reject) => {
      this.#pendingAcks.set(id, { resolve, reject });
    });
    let resend: TimerHandle | undefined, fail: TimerHandle | undefined;
    try {
      await send();
      resend = this.#clock.setTimeout(() => send().catch(() => {}), SUBSCRIBE_RESEND_MS);
      fail = this.#clock.setTimeout(() => {
        const p = this.#pendingAcks.get(id);
        this.#pendingAcks.delete(id);
        p?.reject(
          new TimeoutError(
            `subscription of ${sub.name} not acknowledged by ${this.endpoint} within ${
              SUBSCRIBE_ACK_TIMEOUT_MS / 1000
            } s`,
          ),
        );
      }, SUBSCRIBE_ACK_TIMEOUT_MS);
      await acked;
    } finally {
      this.#clock.clearTimeout(resend);
      this.#clock.clearTimeout(fail);
    }
  }

  #sendSubscribe(sub: Subscription, subscribe: boolean, token: string): void {
    const header = {
      source: nameToProto(sub.source),
      destination: nameToProto(sub.name),
      identity: token,
      fanout: 1,
      ttl: DEFAULT_TTL,
    };
    const subscriptionId = sub.id;
    this.sendBytes(encodeMessage(makeMessage({
      messageType: subscribe
        ? { case: "subscribe", value: { header, subscriptionId } }
        : { case: "unsubscribe", value: { header, subscriptionId } },
    })));
  }

  /** Closes the link (half-closes the stream, then the connection). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#clock.clearTimeout(this.#reconnectTimer);
      const channel = this.#channel;
      this.#fail("closed");
      this.#link = undefined;
      this.#channel = undefined;
      if (channel) {
        let timer: TimerHandle | undefined;
        await Promise.race([
          channel.close().catch(() => {}),
          new Promise((r) => timer = systemClock.setTimeout(r as () => void, 1000)),
        ]);
        systemClock.clearTimeout(timer);
        channel.destroy();
      }
    })();
    return this.#closed;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The router: connection table, subscription handling and message forwarding of a node.
 *
 * Hot path (publish): parse the header in place, check the link MAC, decrement the TTL, look the
 * destination up, and for each output link lay the message out directly in that link's output
 * buffer with a fresh MAC. No payload decode, no per-message await, no per-message logging: drops
 * are counted per link and reason, and logged on the 1st, 10th, 100th... occurrence.
 *
 * Cold path (subscribe/unsubscribe): decoded fully, acknowledged, optionally propagated to the
 * `forward_to` connection with acknowledgement tracking.
 * @module
 */
import { ProtocolError } from "../errors.ts";
import type { Link } from "../link/link.ts";
import type { Logger } from "../log.ts";
import { formatId } from "../names/name.ts";
import { encodeMessage, makeMessage } from "../wire/codec.ts";
import {
  KIND_LINK,
  KIND_PUBLISH,
  KIND_SUBSCRIBE,
  KIND_SUBSCRIPTION_ACK,
  KIND_UNSUBSCRIBE,
  MessageView,
  type NameView,
} from "../wire/message_view.ts";
import { Cursor } from "../wire/protowire.ts";
import { SubscriptionTable, UnsubscribeError } from "./subscription_table.ts";

/** Delay between re-sends of a subscription propagated to `forward_to`, and their number. */
const FORWARD_ACK_TIMEOUT_MS = 5000;
const FORWARD_ACK_RESENDS = 3;

const decoder = new TextDecoder();

/** Per-link counters. */
export interface LinkStats {
  received: number;
  forwarded: number;
  dropped: Map<string, number>;
}

interface PendingAck {
  resolve(result: { success: boolean; error: string }): void;
}

/** Options of {@link Router}. */
export interface RouterOptions {
  logger: Logger;
}

/** Routes messages between the links of one node. */
export class Router {
  readonly table: SubscriptionTable = new SubscriptionTable();
  readonly #log: Logger;
  readonly #links: (Link | undefined)[] = [];
  readonly #free: number[] = [];
  readonly #stats = new Map<Link, LinkStats>();
  /** Counters of links already detached, so that node totals never go down. */
  readonly #retired: LinkStats = { received: 0, forwarded: 0, dropped: new Map() };
  readonly #view = new MessageView();
  readonly #targets: number[] = [];
  readonly #congested = new Set<Link>();
  /** Subscriptions we propagated, awaiting the peer's ack: `${conn}:${id}`. */
  readonly #pendingAcks = new Map<string, PendingAck>();
  /** Subscription ids already propagated (loop prevention). */
  readonly #propagated = new Set<bigint>();

  constructor(options: RouterOptions) {
    this.#log = options.logger;
  }

  /** Registers a link and returns its connection index (freed slots are reused, newest first). */
  attach(link: Link): number {
    const index = this.#free.length > 0 ? this.#free.pop()! : this.#links.length;
    this.#links[index] = link;
    link.index = index;
    this.#stats.set(link, { received: 0, forwarded: 0, dropped: new Map() });
    return index;
  }

  /** Forgets a link and everything it subscribed. Returns the number of subscriptions removed. */
  detach(link: Link): number {
    if (link.index < 0 || this.#links[link.index] !== link) return 0;
    const removed = this.table.removeConnection(link.index);
    this.#links[link.index] = undefined;
    this.#free.push(link.index);
    for (const [key, pending] of this.#pendingAcks) {
      if (key.startsWith(`${link.index}:`)) {
        this.#pendingAcks.delete(key);
        pending.resolve({ success: false, error: "connection closed" });
      }
    }
    this.#congested.delete(link);
    const stats = this.#stats.get(link);
    if (stats) addStats(this.#retired, stats);
    this.#stats.delete(link);
    link.state = "closed";
    return removed;
  }

  /** The link at a connection index. */
  link(index: number): Link | undefined {
    return this.#links[index];
  }

  /** Live links. */
  links(): Link[] {
    return this.#links.filter((l): l is Link => l !== undefined);
  }

  /** Counters of a link. */
  stats(link: Link): LinkStats | undefined {
    return this.#stats.get(link);
  }

  /** Counters of every link the router ever had (monotonic: Prometheus counters). */
  totals(): LinkStats {
    const sum: LinkStats = { received: 0, forwarded: 0, dropped: new Map() };
    addStats(sum, this.#retired);
    for (const stats of this.#stats.values()) addStats(sum, stats);
    return sum;
  }

  /**
   * Processes everything the link receives until its stream ends. Throws
   * {@link ProtocolError} when the peer breaks framing or sends undecodable bytes.
   */
  async run(link: Link): Promise<void> {
    const stats = this.#stats.get(link)!;
    for await (const batch of link.batches()) {
      stats.received += batch.length;
      for (let i = 0; i < batch.length; i++) this.process(link, batch[i]);
      if (this.#congested.size > 0) await this.#waitForDrain();
    }
  }

  async #waitForDrain(): Promise<void> {
    while (this.#congested.size > 0) {
      const waits: Promise<void>[] = [];
      for (const l of this.#congested) {
        if (l.transport.congested && l.state === "established") waits.push(l.transport.drained());
      }
      this.#congested.clear();
      if (waits.length === 0) return;
      await Promise.all(waits);
    }
  }

  /** Handles one received message. */
  process(link: Link, bytes: Uint8Array): void {
    const view = this.#view;
    try {
      view.parse(bytes);
    } catch (e) {
      throw new ProtocolError(`malformed message: ${(e as Error).message}`, { cause: e });
    }
    const invalid = view.invalidReason();
    if (invalid) return this.#drop(link, invalid);
    switch (view.kind) {
      case KIND_PUBLISH:
        if (!this.#admit(link, view)) return;
        return this.#publish(link, view);
      case KIND_SUBSCRIBE:
      case KIND_UNSUBSCRIBE:
        if (!this.#admit(link, view)) return;
        return this.#subscription(link, view);
      case KIND_SUBSCRIPTION_ACK:
        return this.#subscriptionAck(link, bytes);
      case KIND_LINK:
        // A second negotiation is ignored, as by the real node.
        return this.#drop(link, "link message after negotiation");
    }
  }

  /** MAC and TTL checks shared by every routed message. */
  #admit(link: Link, view: MessageView): boolean {
    const mac = link.mac;
    if (mac) {
      if (!view.hasMac) {
        this.#drop(link, "missing SLIM header integrity tag");
        return false;
      }
      if (!view.verifyMac(mac.linkId, mac.hmac, mac.tag)) {
        this.#drop(link, "SLIM header integrity tag mismatch");
        return false;
      }
    }
    if (view.ttl <= 1) {
      this.#drop(link, view.ttl === 0 ? "ttl is 0" : "ttl expired");
      return false;
    }
    return true;
  }

  #publish(link: Link, view: MessageView): void {
    const incoming = link.index;
    const ttl = view.ttl - 1;
    const targets = this.#targets;
    targets.length = 0;
    if (view.forwardTo) {
      const t = view.forwardToIndex;
      if (t >= 0 && t !== incoming && this.#links[t]) targets.push(t);
    } else {
      const dst = view.destination;
      // Peer-to-peer forwarding is one hop: what came from a peer never goes to another peer.
      const fromPeer = link.category === "peer";
      if (view.fanout === 1) {
        const t = this.table.matchOne(dst.prefixKey(), dst.idKey(), incoming, fromPeer);
        if (t >= 0) targets.push(t);
      } else {
        this.table.matchAll(dst.prefixKey(), dst.idKey(), incoming, targets, fromPeer);
      }
    }
    if (targets.length === 0) return this.#drop(link, "no route for destination");
    this.#forward(view, ttl, incoming, targets);
    this.#stats.get(link)!.forwarded += targets.length;
  }

  /** Writes the message to each target link with that link's MAC. */
  #forward(view: MessageView, ttl: number, incoming: number, targets: number[]): void {
    let sizeMac = -1, sizePlain = -1;
    for (let i = 0; i < targets.length; i++) {
      const out = this.#links[targets[i]];
      if (!out || out.state !== "established") continue;
      const mac = out.mac;
      let size: number;
      if (mac) {
        if (sizeMac < 0) sizeMac = view.forwardSize(ttl, incoming, true);
        size = sizeMac;
      } else {
        if (sizePlain < 0) sizePlain = view.forwardSize(ttl, incoming, false);
        size = sizePlain;
      }
      const buf = out.transport.reserve(size);
      const macAt = view.writeForward(buf, 0, ttl, incoming, mac !== undefined);
      if (mac) view.signForward(mac.linkId, mac.hmac, ttl, buf, macAt);
      if (out.transport.congested) this.#congested.add(out);
    }
  }

  #subscription(link: Link, view: MessageView): void {
    const subscribe = view.kind === KIND_SUBSCRIBE;
    const subId = (BigInt(view.subIdHi) << 32n) | BigInt(view.subIdLo);
    const dst = view.destination;
    const prefixKey = dst.prefixKey(), idKey = dst.idKey();
    const id = nameIdOf(dst);
    const nameText = this.#nameText(view.buf, dst, id);
    let target = link;
    if (view.recvFrom) {
      const t = this.#links[view.recvFromIndex];
      if (!t) return this.#ack(link, subId, false, `connection not found: ${view.recvFromIndex}`);
      target = t;
    }
    const ttl = view.ttl - 1;
    let error: string | undefined;
    if (subscribe) {
      if (subId !== 0n && this.#propagated.has(subId)) {
        // Already propagated by us: a loop. Acknowledge and ignore, like the real node.
        return this.#ack(link, subId, true, "");
      }
      if (!dst.strPresent && !this.table.hasPrefix(prefixKey)) {
        // The real node's connection task panics here; refuse just this subscription.
        this.#drop(link, "subscribe without str_name for an unknown name");
        return this.#ack(link, subId, false, "string name missing in subscription");
      }
      const strings = dst.strPresent ? strComponents(view.buf, dst) : ["", "", ""] as const;
      this.table.add(prefixKey, strings, idKey, id, target.index, target.category, subId);
      if (this.#log.enabled("debug")) {
        this.#log.debug("subscribe", { name: nameText, conn: target.index, sub_id: subId });
      }
    } else {
      try {
        this.table.remove(prefixKey, idKey, target.index, subId, formatId(id));
        if (this.#log.enabled("debug")) {
          this.#log.debug("unsubscribe", { name: nameText, conn: target.index, sub_id: subId });
        }
      } catch (e) {
        if (!(e instanceof UnsubscribeError)) throw e;
        error = e.message;
        this.#log.debug("unsubscribe refused", { name: nameText, peer: link.remote, error });
      }
    }
    const forwardTo = view.forwardTo ? this.#links[view.forwardToIndex] : undefined;
    if (forwardTo && forwardTo !== link && !error) {
      this.#propagate(view, ttl, link, forwardTo, subId);
      return;
    }
    if (view.forwardTo && !forwardTo) error = `connection not found: ${view.forwardToIndex}`;
    this.#ack(link, subId, error === undefined, error ?? "");
  }

  /** Sends the subscription on to `out`, then acknowledges the origin once `out` acknowledged. */
  #propagate(view: MessageView, ttl: number, origin: Link, out: Link, subId: bigint): void {
    const size = view.forwardSize(ttl, -1, out.mac !== undefined);
    const bytes = new Uint8Array(size);
    const macAt = view.writeForward(bytes, 0, ttl, -1, out.mac !== undefined);
    if (out.mac) view.signForward(out.mac.linkId, out.mac.hmac, ttl, bytes, macAt);
    if (subId === 0n) {
      out.transport.send(bytes);
      return;
    }
    this.#propagated.add(subId);
    const key = `${out.index}:${subId}`;
    let attempts = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (result: { success: boolean; error: string }) => {
      clearTimeout(timer);
      this.#pendingAcks.delete(key);
      if (origin.state === "established") this.#ack(origin, subId, result.success, result.error);
    };
    const attempt = () => {
      if (out.state !== "established") {
        return finish({ success: false, error: "connection closed" });
      }
      if (attempts > FORWARD_ACK_RESENDS) {
        return finish({
          success: false,
          error: `remote subscription ack timed out after ${FORWARD_ACK_RESENDS} retries`,
        });
      }
      attempts++;
      out.transport.send(bytes);
      timer = setTimeout(attempt, FORWARD_ACK_TIMEOUT_MS);
    };
    this.#pendingAcks.set(key, { resolve: finish });
    attempt();
  }

  #subscriptionAck(link: Link, bytes: Uint8Array): void {
    // SubscriptionAck { 1: subscription_id, 2: success, 3: error }.
    const c = new Cursor().reset(bytes, this.#view.bodyStart);
    const end = this.#view.bodyEnd;
    let id = 0n, success = false, error = "";
    while (c.pos < end) {
      const tag = c.varint(end);
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === 0) {
        c.varint(end);
        id = (BigInt(c.hi) << 32n) | BigInt(c.lo);
      } else if (field === 2 && (tag & 7) === 0) success = c.varint(end) !== 0;
      else if (field === 3 && (tag & 7) === 2) {
        const len = c.length(end);
        error = decoder.decode(bytes.subarray(c.pos, c.pos + len));
        c.pos += len;
      } else c.skip(tag & 7, end);
    }
    const pending = this.#pendingAcks.get(`${link.index}:${id}`);
    if (pending) pending.resolve({ success, error });
    else this.#drop(link, "unexpected subscription ack");
  }

  #ack(link: Link, subId: bigint, success: boolean, error: string): void {
    if (subId === 0n || link.state !== "established") return;
    link.transport.send(encodeMessage(makeMessage({
      messageType: {
        case: "subscriptionAck",
        value: { subscriptionId: subId, success, error: success ? "" : error },
      },
    })));
  }

  #nameText(buf: Uint8Array, n: NameView, id: bigint): string {
    const base = n.strPresent ? strComponents(buf, n).join("/") : "<no str_name>";
    return `${base}/${formatId(id)}`;
  }

  #drop(link: Link, reason: string): void {
    const stats = this.#stats.get(link);
    if (!stats) return;
    const n = (stats.dropped.get(reason) ?? 0) + 1;
    stats.dropped.set(reason, n);
    // 1st, 10th, 100th...: visible without flooding the log under attack or misconfiguration.
    if (Number.isInteger(Math.log10(n))) {
      this.#log.warn("dropped message", {
        peer: link.remote,
        link_id: link.linkId,
        conn: link.index,
        reason,
        count: n,
      });
    }
  }
}

function strComponents(buf: Uint8Array, n: NameView): [string, string, string] {
  const s = n.str;
  return [
    decoder.decode(buf.subarray(s[0], s[1])),
    decoder.decode(buf.subarray(s[2], s[3])),
    decoder.decode(buf.subarray(s[4], s[5])),
  ];
}

function nameIdOf(n: NameView): bigint {
  if (!n.idPresent) return (1n << 128n) - 1n;
  const i = n.id;
  return (BigInt(i[1]) << 96n) | (BigInt(i[0]) << 64n) | (BigInt(i[3]) << 32n) | BigInt(i[2]);
}

function addStats(into: LinkStats, from: LinkStats): void {
  into.received += from.received;
  into.forwarded += from.forwarded;
  for (const [reason, n] of from.dropped) {
    into.dropped.set(reason, (into.dropped.get(reason) ?? 0) + n);
  }
}

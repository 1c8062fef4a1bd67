/**
 * The router: connection table, subscription handling and message forwarding of a node.
 *
 * Hot path (publish): parse the header in place, check the link MAC, decrement the TTL, look the
 * destination up, and for each output link lay the message out directly in that link's output
 * buffer with a fresh MAC. No payload decode, no per-message await, no per-message logging: drops
 * are counted per link and reason, and logged on the 1st, 10th, 100th... occurrence.
 *
 * Backpressure: after a batch that left an output link above its high-water mark, the input
 * waits for that output to drain, for a bounded time per output link (`congestion.ts`); an output
 * that stays stuck has what is routed to it dropped (reason "congested", counted on that link),
 * then is closed, so one subscriber that stops reading never stalls its publishers' other
 * traffic. When nothing is congested, no await happens beyond the one per received batch.
 *
 * Cold path (subscribe/unsubscribe): decoded fully, acknowledged, optionally propagated to the
 * `forward_to` connection with acknowledgement tracking (`forward_to.ts`), and synchronised with
 * peer nodes (`peer_sync.ts`).
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { ProtocolError, TransportError } from "../errors.ts";
import type { Link } from "../link/link.ts";
import type { Logger } from "../log.ts";
import { formatId } from "../names/name.ts";
import { decodeMessage, DEFAULT_TTL, encodeMessage, makeMessage } from "../wire/codec.ts";
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
import { type AckResult, AckWaiters } from "./ack_waiters.ts";
import { CONGESTED, Congestion, type CongestionLimits } from "./congestion.ts";
import { ForwardedSubscriptions, type ForwardToLimits } from "./forward_to.ts";
import { PeerSync, type PeerTopology, type RouteName, STANDALONE } from "./peer_sync.ts";
import { SubscriptionTable, UnsubscribeError } from "./subscription_table.ts";

const decoder = new TextDecoder();

/** Per-link counters. */
export interface LinkStats {
  received: number;
  forwarded: number;
  dropped: Map<string, number>;
}

/** Options of {@link Router}. */
export interface RouterOptions extends CongestionLimits, ForwardToLimits {
  logger: Logger;
  /**
   * How subscriptions travel between peer nodes.
   * @default standalone (TTL 8, relayed); full mesh when SLIM YAML `peers` is configured
   */
  peerTopology?: PeerTopology;
  /**
   * Whether a publish that came from a peer may go on to another peer. SLIM relays in standalone
   * topologies and applies the one-hop rule in a full mesh (SLIM YAML `peers`).
   * @default true
   */
  relayPeerPublishes?: boolean;
  /** Timers of acknowledgement and congestion waits. @default the system clock */
  clock?: Clock;
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
  readonly #acks: AckWaiters;
  readonly #congestion: Congestion;
  /** The congestion tracker's sets, held directly for the publish path. */
  readonly #found: Set<Link>;
  readonly #shedding: ReadonlySet<Link>;
  /** Links the router closed itself, with the reason their `run` reports. */
  readonly #closedByUs = new Map<Link, string>();
  /** Subscriptions propagated through `forward_to`: acks, re-sends, loops, replays. */
  readonly forwards: ForwardedSubscriptions;
  readonly #relayPeerPublishes: boolean;
  /** Peer links and the subscriptions announced on them. */
  readonly peers: PeerSync;

  constructor(options: RouterOptions) {
    this.#log = options.logger;
    const clock = options.clock ?? systemClock;
    this.#acks = new AckWaiters(clock);
    this.forwards = new ForwardedSubscriptions(this.#acks, options);
    this.#congestion = new Congestion({
      ...options,
      clock,
      logger: options.logger,
      close: (link, reason) => this.#closeLink(link, reason),
    });
    this.#found = this.#congestion.found;
    this.#shedding = this.#congestion.shedding;
    this.#relayPeerPublishes = options.relayPeerPublishes ?? true;
    this.peers = new PeerSync(
      {
        table: this.table,
        link: (index) => this.#links[index],
        awaitAck: (link, id, timeoutMs) => this.#acks.wait(link.index, id, timeoutMs),
      },
      options.peerTopology ?? STANDALONE,
      options.logger.child("peers"),
    );
  }

  /**
   * Registers a link and returns its connection index (freed slots are reused, newest first).
   * A peer link is sent the table at once.
   */
  attach(link: Link): number {
    const index = this.#free.length > 0 ? this.#free.pop()! : this.#links.length;
    this.#install(index, link);
    return index;
  }

  /**
   * Puts a redialled link back at the connection index of the one it replaces, keeping what was
   * learned on it, as SLIM does for a dialler; then syncs a peer, or replays to anything else the
   * subscriptions sent to it through `forward_to` (with id 0: nobody waits for their acks).
   */
  reattach(index: number, link: Link): void {
    const old = this.#links[index];
    if (old && old !== link) this.#retire(old);
    this.#install(index, link);
    if (link.category === "peer") return;
    for (const bytes of this.forwards.replay(index)) link.send(bytes);
  }

  #install(index: number, link: Link): void {
    this.#links[index] = link;
    link.index = index;
    this.#stats.set(link, { received: 0, forwarded: 0, dropped: new Map() });
    if (link.category === "peer") this.peers.add(link);
  }

  /**
   * A dialled link dropped and will be redialled: stop using it, but keep its index and the
   * routes learned on it until {@link reattach} or {@link detach}.
   */
  suspend(link: Link): void {
    if (link.index < 0 || this.#links[link.index] !== link) return;
    this.#retire(link);
  }

  #retire(link: Link): void {
    this.peers.remove(link.index);
    this.#acks.failConnection(link.index, "connection closed");
    this.#congestion.forget(link);
    const stats = this.#stats.get(link);
    if (stats) addStats(this.#retired, stats);
    this.#stats.delete(link);
    link.state = "closed";
  }

  /**
   * Forgets a link and everything it subscribed, and withdraws from the peers the names its loss
   * made unreachable. Returns the number of subscriptions removed.
   */
  detach(link: Link): number {
    if (link.index < 0 || this.#links[link.index] !== link) return 0;
    const index = link.index;
    this.#retire(link);
    const removed = this.table.removeConnection(index);
    this.#links[index] = undefined;
    this.#free.push(index);
    this.forwards.connectionEnded(index);
    this.peers.withdrawLost(removed);
    return removed.length;
  }

  /** The link at a connection index. */
  link(index: number): Link | undefined {
    return this.#links[index];
  }

  /** Registered links, including dialled ones waiting to be redialled (state `closed`). */
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

  /** Output links currently congested (waited for, or being shed). */
  get congested(): number {
    return this.#congestion.size;
  }

  /**
   * Processes everything the link receives until its stream ends. Throws
   * {@link ProtocolError} when the peer breaks framing or sends undecodable bytes, and
   * {@link TransportError} when the router closed the link (it stopped reading).
   */
  async run(link: Link): Promise<void> {
    const stats = this.#stats.get(link)!;
    const found = this.#found;
    try {
      for await (const batch of link.batches()) {
        stats.received += batch.length;
        for (let i = 0; i < batch.length; i++) this.process(link, batch[i]);
        if (found.size > 0) await this.#congestion.waitForDrain();
      }
    } catch (e) {
      if (!this.#closedByUs.has(link)) throw e;
    }
    const reason = this.#closedByUs.get(link);
    if (reason !== undefined) {
      this.#closedByUs.delete(link);
      throw new TransportError(reason);
    }
  }

  /** Ends a link from the router's side; its owner sees `run` fail with `reason`. */
  #closeLink(link: Link, reason: string): void {
    if (link.state !== "established") return;
    this.#closedByUs.set(link, reason);
    link.state = "closing";
    link.transport.abort(new TransportError(reason));
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
      if (!view.verifyMac(mac.linkId, mac.incoming, mac.tag)) {
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
      // In a full mesh, peer-to-peer forwarding is one hop: what came from a peer never goes to
      // another peer. Standalone peers relay.
      const fromPeer = link.category === "peer" && !this.#relayPeerPublishes;
      if (view.fanout === 1) {
        const t = this.table.matchOne(dst.prefixKey(), dst.idKey(), incoming, fromPeer);
        if (t >= 0) targets.push(t);
      } else {
        this.table.matchAll(dst.prefixKey(), dst.idKey(), incoming, targets, fromPeer);
      }
    }
    if (targets.length === 0) return this.#drop(link, "no route for destination");
    this.#stats.get(link)!.forwarded += this.#forward(view, ttl, incoming, targets);
  }

  /**
   * Writes the message to each target link with that link's MAC; returns how many it was
   * written to.
   */
  #forward(view: MessageView, ttl: number, incoming: number, targets: number[]): number {
    let sizeMac = -1, sizePlain = -1, written = 0;
    const shedding = this.#shedding;
    for (let i = 0; i < targets.length; i++) {
      const out = this.#links[targets[i]];
      if (!out || out.state !== "established") continue;
      if (shedding.size !== 0 && shedding.has(out)) {
        this.#drop(out, CONGESTED);
        continue;
      }
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
      if (mac) view.signForward(mac.linkId, mac.outgoing, ttl, buf, macAt);
      if (out.transport.congested) this.#found.add(out);
      written++;
    }
    return written;
  }

  #subscription(link: Link, view: MessageView): void {
    const subscribe = view.kind === KIND_SUBSCRIBE;
    const subId = (BigInt(view.subIdHi) << 32n) | BigInt(view.subIdLo);
    const dst = view.destination;
    const prefixKey = dst.prefixKey(), idKey = dst.idKey();
    const id = nameIdOf(dst);
    let target = link;
    if (view.recvFrom) {
      const t = this.#links[view.recvFromIndex];
      if (!t) return this.#ack(link, subId, false, `connection not found: ${view.recvFromIndex}`);
      target = t;
    }
    const ttl = view.ttl - 1;
    if (subscribe && (this.forwards.isPending(subId) || this.peers.seen(subId))) {
      // Already sent on by us: a loop. Acknowledge and ignore, like the real node.
      return this.#ack(link, subId, true, "");
    }
    // Captured before an unsubscribe may drop the prefix: peers are told the name's strings.
    const strings = dst.strPresent ? strComponents(view.buf, dst) : this.table.strings(prefixKey);
    const debug = this.#log.enabled("debug");
    let transition = false;
    let error: string | undefined;
    if (subscribe) {
      if (!strings) {
        // The real node's connection task panics here; refuse just this subscription.
        this.#drop(link, "subscribe without str_name for an unknown name");
        return this.#ack(link, subId, false, "string name missing in subscription");
      }
      transition = this.table.add(
        prefixKey,
        strings,
        idKey,
        id,
        target.index,
        target.category,
        subId,
      );
      if (debug) {
        this.#log.debug("subscribe", {
          name: nameText(strings, id),
          conn: target.index,
          sub_id: subId,
        });
      }
    } else {
      try {
        transition = this.table.remove(prefixKey, idKey, target.index, subId, formatId(id));
      } catch (e) {
        if (!(e instanceof UnsubscribeError)) throw e;
        // Real peers may unsubscribe a shared name with another subscriber's id: drop the name
        // for that connection rather than keep a stale route.
        const lenient = target.category === "peer"
          ? this.table.removeName(prefixKey, idKey, target.index)
          : undefined;
        if (lenient === undefined) error = e.message;
        else transition = lenient;
      }
      if (debug) {
        this.#log.debug(error ? "unsubscribe refused" : "unsubscribe", {
          name: nameText(strings, id),
          conn: target.index,
          sub_id: subId,
          error,
        });
      }
    }
    const forwardTo = view.forwardTo ? this.#links[view.forwardToIndex] : undefined;
    if (view.forwardTo && !forwardTo && !error) {
      error = `connection not found: ${view.forwardToIndex}`;
    }
    if (error) return this.#ack(link, subId, false, error);
    const propagated = forwardTo && forwardTo !== link
      ? this.#propagate(view, ttl, forwardTo, target.index, subId, subscribe)
      : undefined;
    let synced: Promise<void> | undefined;
    if (strings) {
      const name: RouteName = { prefixKey, idKey, strings };
      if (target.category !== "peer") {
        if (transition) synced = this.peers.announce(subscribe, name, target.category, subId);
      } else if (ttl >= 2) {
        synced = this.peers.relay(subscribe, name, subId, ttl, target.index);
      }
    }
    if (!propagated && !synced) return this.#ack(link, subId, true, "");
    if (propagated && !(propagated instanceof Promise) && !synced) {
      return this.#ack(link, subId, propagated.success, propagated.error);
    }
    // Peers failing is not the origin's problem; the forward_to connection failing is.
    Promise.all([propagated, synced]).then(([result]) => {
      this.#ack(link, subId, result?.success ?? true, result?.error ?? "");
    });
  }

  /**
   * Sends the subscription on to `out` (the `forward_to` connection), re-sending while it is not
   * acknowledged. Resolves with `out`'s acknowledgement, or undefined for id 0 (never
   * acknowledged); a plain result when it was refused at once.
   */
  #propagate(
    view: MessageView,
    ttl: number,
    out: Link,
    origin: number,
    subId: bigint,
    subscribe: boolean,
  ): AckResult | Promise<AckResult> | undefined {
    const size = view.forwardSize(ttl, -1, out.mac !== undefined);
    const bytes = new Uint8Array(size);
    const macAt = view.writeForward(bytes, 0, ttl, -1, out.mac !== undefined);
    if (out.mac) view.signForward(out.mac.linkId, out.mac.outgoing, ttl, bytes, macAt);
    const buf = view.buf;
    return this.forwards.send({
      out,
      origin,
      subscriptionId: subId,
      subscribe,
      nameKey: view.destination.prefixKey() + view.destination.idKey(),
      bytes,
      replay: () => replayForm(buf),
    });
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
    if (this.#acks.resolve(link.index, id, { success, error })) return;
    // Peers acknowledge our table syncs, which nobody waits for.
    if (link.category !== "peer") this.#drop(link, "unexpected subscription ack");
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

/**
 * A Subscribe as a redialled link is told it again: id 0 (no ack expected), app-originated TTL,
 * no per-hop fields, no MAC (the link signs it when sending).
 */
function replayForm(bytes: Uint8Array): Uint8Array | undefined {
  const message = decodeMessage(bytes);
  if (message.messageType.case !== "subscribe") return undefined;
  const sub = message.messageType.value;
  sub.subscriptionId = 0n;
  const h = sub.header!;
  h.ttl = DEFAULT_TTL;
  h.recvFrom = undefined;
  h.forwardTo = undefined;
  h.incomingConn = undefined;
  h.headerMac = undefined;
  return encodeMessage(message);
}

function strComponents(buf: Uint8Array, n: NameView): [string, string, string] {
  const s = n.str;
  return [
    decoder.decode(buf.subarray(s[0], s[1])),
    decoder.decode(buf.subarray(s[2], s[3])),
    decoder.decode(buf.subarray(s[4], s[5])),
  ];
}

function nameText(strings: readonly string[] | undefined, id: bigint): string {
  return `${strings ? strings.join("/") : "<no str_name>"}/${formatId(id)}`;
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

/**
 * Subscription synchronisation between peer nodes (links negotiated as `PEER`).
 *
 * What SLIM does, and so what we do:
 * - When a peer link comes up (either role, and again after every reconnect), send the peer one
 *   `Subscribe` per name we know, with the id of the subscription that created the entry: a
 *   full table sync. Standalone nodes include names learned from other peers; full-mesh replicas
 *   do not (every replica hears every other one directly).
 * - Afterwards, announce every (name, category) aggregate of a non-peer connection going 0→1
 *   (Subscribe) or 1→0 (Unsubscribe) to all peers, with the topology TTL (8 standalone, 2 full
 *   mesh), and acknowledge the origin once the peers acknowledged (or after 5 s: a silent peer
 *   delays, never fails, a subscription).
 * - Relay what a peer announces to the other peers while the remaining TTL is at least 2.
 * - Remember every subscription id we sent to peers: one that comes back is a loop, acknowledged
 *   and ignored.
 * - When names become unreachable because a connection dropped, withdraw them from the peers.
 *
 * Node-originated messages carry no identity and no MAC (peer links are neither signed nor
 * verified). Unlike the real node, an Unsubscribe carries the id that was announced for that
 * (name, category), not the id of the last subscriber to leave, so peers find the record.
 * @module
 */
import type { Link } from "../link/link.ts";
import type { ConnectionCategory } from "../link/negotiation.ts";
import type { Logger } from "../log.ts";
import { create } from "@bufbuild/protobuf";
import { encodeMessage, makeMessage, type Name as ProtoName, NameSchema } from "../wire/codec.ts";
import type { AckResult } from "./ack_waiters.ts";
import type { RemovedRoute, SubscriptionTable } from "./subscription_table.ts";

/** How subscriptions travel between peers. */
export interface PeerTopology {
  /** TTL of the subscriptions this node originates towards peers. */
  readonly ttl: number;
  /** Whether a full sync includes names learned from other peers. */
  readonly syncPeerLearned: boolean;
}

/** Peer links configured one by one (`connection_type: peer`, no `peers:`): relay everything. */
export const STANDALONE: PeerTopology = { ttl: 8, syncPeerLearned: true };
/** Replicas of one deployment (`peers:`): one hop, never relayed. */
export const FULL_MESH: PeerTopology = { ttl: 2, syncPeerLearned: false };

/** How long the origin's acknowledgement waits for the peers'. */
export const PEER_ACK_TIMEOUT_MS = 5000;

/** A name as the subscription table keys it, with its strings. */
export interface RouteName {
  prefixKey: string;
  idKey: string;
  strings: readonly [string, string, string];
}

/** What peer sync needs from its router. */
export interface PeerSyncHost {
  readonly table: SubscriptionTable;
  link(index: number): Link | undefined;
  /** The peer's acknowledgement of `subscriptionId`, or undefined after the timeout. */
  awaitAck(link: Link, subscriptionId: bigint, timeoutMs: number): Promise<AckResult | undefined>;
}

/** Peer links of one node and what was announced on them. */
export class PeerSync {
  readonly topology: PeerTopology;
  readonly #host: PeerSyncHost;
  readonly #log: Logger;
  readonly #peers = new Set<number>();
  /** Subscription ids announced or relayed to peers (loop prevention). */
  readonly #seen = new Set<bigint>();
  /** (name, category) → the subscription id announced for it. */
  readonly #announced = new Map<string, bigint>();

  constructor(host: PeerSyncHost, topology: PeerTopology, logger: Logger) {
    this.#host = host;
    this.topology = topology;
    this.#log = logger;
  }

  /** True when `subscriptionId` was sent to peers by this node: it looped back. */
  seen(subscriptionId: bigint): boolean {
    return subscriptionId !== 0n && this.#seen.has(subscriptionId);
  }

  /** A peer link came up (or back): register it and send it our table. */
  add(link: Link): void {
    this.#peers.add(link.index);
    const names = new Map<string, { name: RouteName; category: ConnectionCategory; id: bigint }>();
    this.#host.table.forEachSubscription((r) => {
      if (r.connection === link.index) return;
      if (r.category === "peer" && !this.topology.syncPeerLearned) return;
      const key = r.prefixKey + r.idKey;
      if (!names.has(key)) names.set(key, { name: r, category: r.category, id: r.subscriptionId });
    });
    for (const { name, category, id } of names.values()) {
      this.#remember(announcedKey(name, category), id);
      link.send(subscription(true, name, id, this.topology.ttl));
    }
    this.#log.info("peer table sync sent", {
      conn: link.index,
      link_id: link.linkId,
      remote_node: link.remoteNodeId || undefined,
      names: names.size,
    });
  }

  /** A peer link went away (for good or until it reconnects). */
  remove(index: number): void {
    this.#peers.delete(index);
  }

  /**
   * A non-peer connection's (un)subscription made the (name, category) aggregate go 0→1 or 1→0:
   * tell every peer. Returns what to wait for before acknowledging the origin, or undefined when
   * there is nothing to wait for.
   */
  announce(
    add: boolean,
    name: RouteName,
    category: ConnectionCategory,
    subscriptionId: bigint,
  ): Promise<void> | undefined {
    const id = this.#record(add, name, category, subscriptionId, -1);
    return id === undefined ? undefined : this.#send(add, name, id, this.topology.ttl, -1);
  }

  /** A peer's (un)subscription with `ttl` hops left: pass it on to the other peers. */
  relay(
    add: boolean,
    name: RouteName,
    subscriptionId: bigint,
    ttl: number,
    from: number,
  ): Promise<void> | undefined {
    const id = this.#record(add, name, "peer", subscriptionId, from);
    return id === undefined ? undefined : this.#send(add, name, id, ttl, from);
  }

  /** A connection dropped: withdraw from the peers what it made us announce. */
  withdrawLost(removed: readonly RemovedRoute[]): void {
    for (const r of removed) {
      if (!r.last) continue;
      const key = announcedKey(r, r.category);
      const id = this.#announced.get(key);
      if (id === undefined) continue;
      this.#forget(key, id);
      this.#send(false, r, id, this.topology.ttl, -1);
    }
  }

  /** Withdraws everything this node announced (it is shutting down). */
  withdrawAll(): void {
    const table = this.#host.table;
    const seen = new Set<string>();
    table.forEachSubscription((r) => {
      const key = announcedKey(r, r.category);
      const id = this.#announced.get(key);
      if (id === undefined || seen.has(key)) return;
      seen.add(key);
      this.#send(false, r, id, this.topology.ttl, r.category === "peer" ? r.connection : -1);
    });
    this.#announced.clear();
    this.#seen.clear();
  }

  /**
   * Books what is about to be sent to the peers (all but `exclude`) for (name, category) and
   * returns the id to send, or undefined when there is no peer to send it to. A withdrawal is
   * booked even then, so a stale id is never sent later.
   */
  #record(
    add: boolean,
    name: RouteName,
    category: ConnectionCategory,
    id: bigint,
    exclude: number,
  ): bigint | undefined {
    const key = announcedKey(name, category);
    const targets = this.#peers.size - (this.#peers.has(exclude) ? 1 : 0);
    if (!add) {
      const announced = this.#announced.get(key) ?? id;
      this.#forget(key, announced);
      return targets > 0 ? announced : undefined;
    }
    if (targets === 0) return undefined;
    this.#remember(key, id);
    return id;
  }

  #remember(key: string, id: bigint): void {
    this.#announced.set(key, id);
    if (id !== 0n) this.#seen.add(id);
  }

  #forget(key: string, id: bigint): void {
    this.#announced.delete(key);
    this.#seen.delete(id);
  }

  #send(
    add: boolean,
    name: RouteName,
    id: bigint,
    ttl: number,
    exclude: number,
  ): Promise<void> | undefined {
    if (this.#peers.size === 0) return undefined;
    const bytes = subscription(add, name, id, ttl);
    const acks: Promise<unknown>[] = [];
    for (const index of this.#peers) {
      if (index === exclude) continue;
      const link = this.#host.link(index);
      if (!link || link.state !== "established") continue;
      link.send(bytes);
      // Id 0 (a reconnect replay) is never acknowledged.
      if (id !== 0n) acks.push(this.#awaitAck(link, id, add, name));
    }
    return acks.length > 0 ? Promise.all(acks).then(() => {}) : undefined;
  }

  async #awaitAck(link: Link, id: bigint, add: boolean, name: RouteName): Promise<void> {
    const result = await this.#host.awaitAck(link, id, PEER_ACK_TIMEOUT_MS);
    if (result?.success) return;
    // Non-fatal, as in SLIM: the origin is acknowledged anyway.
    this.#log.warn(result ? "peer refused a subscription" : "peer did not acknowledge in time", {
      conn: link.index,
      remote_node: link.remoteNodeId || undefined,
      name: name.strings.join("/"),
      action: add ? "subscribe" : "unsubscribe",
      sub_id: id,
      error: result?.error || undefined,
    });
  }
}

function announcedKey(name: { prefixKey: string; idKey: string }, category: ConnectionCategory) {
  return `${name.prefixKey}${name.idKey}${category}`;
}

/** A node-originated Subscribe/Unsubscribe: source = destination = the name. */
function subscription(add: boolean, name: RouteName, id: bigint, ttl: number): Uint8Array {
  const wire = routeNameToProto(name);
  const header = { source: wire, destination: wire, fanout: 1, ttl };
  return encodeMessage(makeMessage({
    messageType: add
      ? { case: "subscribe", value: { header, subscriptionId: id } }
      : { case: "unsubscribe", value: { header, subscriptionId: id } },
  }));
}

/** The wire name of a table entry: hashes and id from the keys, strings as recorded. */
export function routeNameToProto(name: RouteName): ProtoName {
  const [c0, c1, c2] = keyWords(name.prefixKey);
  const [id0, id1] = keyWords(name.idKey);
  return create(NameSchema, {
    name: { component0: c0, component1: c1, component2: c2, nameId: { id0, id1 } },
    strName: {
      strComponent0: name.strings[0],
      strComponent1: name.strings[1],
      strComponent2: name.strings[2],
    },
  });
}

/** Reads back the u64 words packed by `prefixKeyOf` / `idKeyOf` (four UTF-16 units each). */
function keyWords(key: string): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < key.length; i += 4) {
    const lo = (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)) >>> 0;
    const hi = (key.charCodeAt(i + 2) | (key.charCodeAt(i + 3) << 16)) >>> 0;
    out.push((BigInt(hi) << 32n) | BigInt(lo));
  }
  return out;
}

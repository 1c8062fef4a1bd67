/**
 * Subscription table: name prefix → instance id → connections, per connection category.
 *
 * Matching follows the real node:
 * - a destination with a specific id matches only connections subscribed to exactly that id;
 * - a destination with the NULL id matches every connection subscribed under the prefix (any id,
 *   NULL included);
 * - `fanout == 1` picks one connection round-robin (categories in preference order local, remote,
 *   peer, edge), anything else returns all matches; the incoming connection is never returned.
 *
 * Bookkeeping is per connection and subscription id, so a connection that subscribed the same
 * name twice keeps its route until both subscriptions are gone, and a closed connection can be
 * purged in one call.
 * @module
 */
import type { ConnectionCategory } from "../link/negotiation.ts";
import { NULL_ID_KEY } from "../wire/message_view.ts";

/** Category order used for single picks (index = preference). */
export const CATEGORY_ORDER: readonly ConnectionCategory[] = ["local", "remote", "peer", "edge"];
const CATEGORY_INDEX: Record<ConnectionCategory, number> = {
  local: 0,
  remote: 1,
  peer: 2,
  edge: 3,
};

/** A de-duplicated list of connections with a round-robin cursor. */
class ConnList {
  readonly conns: number[] = [];
  cursor = 0;

  add(c: number): void {
    if (!this.conns.includes(c)) this.conns.push(c);
  }

  remove(c: number): void {
    const i = this.conns.indexOf(c);
    if (i >= 0) {
      this.conns[i] = this.conns[this.conns.length - 1];
      this.conns.pop();
    }
  }

  /** Next connection other than `skip`, or -1. */
  next(skip: number): number {
    const cs = this.conns, n = cs.length;
    if (n === 1) return cs[0] !== skip ? cs[0] : -1;
    for (let i = 0; i < n; i++) {
      const c = cs[this.cursor++ % n];
      if (c !== skip) return c;
    }
    return -1;
  }
}

interface IdEntry {
  readonly id: bigint;
  /** One list per category, in {@link CATEGORY_ORDER}. */
  readonly slots: ConnList[];
}

/** Everything subscribed under one `org/ns/service` prefix. */
class PrefixEntry {
  readonly strings: readonly [string, string, string];
  readonly ids = new Map<string, IdEntry>();
  /** Union of the connections of every id, per category. */
  readonly aggregates: ConnList[] = [
    new ConnList(),
    new ConnList(),
    new ConnList(),
    new ConnList(),
  ];

  constructor(strings: readonly [string, string, string]) {
    this.strings = strings;
  }

  rebuildAggregate(cat: number): void {
    const agg = this.aggregates[cat];
    agg.conns.length = 0;
    for (const e of this.ids.values()) for (const c of e.slots[cat].conns) agg.add(c);
  }
}

/** Where a subscription record points. */
interface SubRecord {
  prefixKey: string;
  idKey: string;
  category: number;
}

/** A route as listed by {@link SubscriptionTable.list}. */
export interface RouteEntry {
  name: string;
  id: bigint;
  connections: { connection: number; category: ConnectionCategory }[];
}

/** One subscription removed with its connection (see {@link SubscriptionTable.removeConnection}). */
export interface RemovedRoute {
  prefixKey: string;
  idKey: string;
  /** The name's three strings (kept, since the prefix may be gone from the table). */
  strings: readonly [string, string, string];
  category: ConnectionCategory;
  /** True when no connection of this category is left for (prefix, id). */
  last: boolean;
}

/** One subscription record, as visited by {@link SubscriptionTable.forEachSubscription}. */
export interface SubscriptionRecord {
  prefixKey: string;
  idKey: string;
  strings: readonly [string, string, string];
  connection: number;
  category: ConnectionCategory;
  subscriptionId: bigint;
}

/** Why an unsubscribe failed; the message mirrors the real node's. */
export class UnsubscribeError extends Error {}

/** The routing table of one node. */
export class SubscriptionTable {
  readonly #prefixes = new Map<string, PrefixEntry>();
  /**
   * connection → subscription id → records. A list, because reconnect replays send every
   * subscription with id 0 and each must still be purged with its connection.
   */
  readonly #records = new Map<number, Map<bigint, SubRecord[]>>();

  /** True when the prefix is known (its strings are recorded). */
  hasPrefix(prefixKey: string): boolean {
    return this.#prefixes.has(prefixKey);
  }

  /**
   * Adds a subscription. `strings` are needed the first time a prefix is seen. Returns true when
   * this was the first connection of its category for (prefix, id).
   */
  add(
    prefixKey: string,
    strings: readonly [string, string, string],
    idKey: string,
    id: bigint,
    connection: number,
    category: ConnectionCategory,
    subscriptionId: bigint,
  ): boolean {
    let prefix = this.#prefixes.get(prefixKey);
    if (!prefix) {
      prefix = new PrefixEntry(strings);
      this.#prefixes.set(prefixKey, prefix);
    }
    let entry = prefix.ids.get(idKey);
    if (!entry) {
      entry = { id, slots: [new ConnList(), new ConnList(), new ConnList(), new ConnList()] };
      prefix.ids.set(idKey, entry);
    }
    const cat = CATEGORY_INDEX[category];
    const first = entry.slots[cat].conns.length === 0;
    entry.slots[cat].add(connection);
    prefix.aggregates[cat].add(connection);
    let records = this.#records.get(connection);
    if (!records) {
      records = new Map();
      this.#records.set(connection, records);
    }
    const record = { prefixKey, idKey, category: cat };
    const list = records.get(subscriptionId);
    if (!list) records.set(subscriptionId, [record]);
    else if (!list.some((r) => r.prefixKey === prefixKey && r.idKey === idKey)) list.push(record);
    return first;
  }

  /**
   * Removes the subscription `subscriptionId` of `connection` for (prefix, id). Throws
   * {@link UnsubscribeError} when no such subscription exists. Returns true when the last
   * connection of its category for (prefix, id) went away.
   */
  remove(
    prefixKey: string,
    idKey: string,
    connection: number,
    subscriptionId: bigint,
    idText: string,
  ): boolean {
    const prefix = this.#prefixes.get(prefixKey);
    if (!prefix) throw new UnsubscribeError("subscription not found");
    if (!prefix.ids.has(idKey)) throw new UnsubscribeError(`id not found: ${idText}`);
    const records = this.#records.get(connection);
    const list = records?.get(subscriptionId);
    const at = list?.findIndex((r) => r.prefixKey === prefixKey && r.idKey === idKey) ?? -1;
    if (!records || !list || at < 0) {
      throw new UnsubscribeError(`subscription id not found: ${subscriptionId}`);
    }
    const record = list[at];
    list.splice(at, 1);
    if (list.length === 0) records.delete(subscriptionId);
    if (records.size === 0) this.#records.delete(connection);
    for (const rs of records.values()) {
      if (rs.some((r) => r.prefixKey === prefixKey && r.idKey === idKey)) return false;
    }
    return this.#unlink(prefix, prefixKey, idKey, connection, record.category);
  }

  #unlink(
    prefix: PrefixEntry,
    prefixKey: string,
    idKey: string,
    connection: number,
    cat: number,
  ): boolean {
    const entry = prefix.ids.get(idKey);
    if (!entry) return false;
    entry.slots[cat].remove(connection);
    const last = entry.slots[cat].conns.length === 0;
    if (entry.slots.every((s) => s.conns.length === 0)) prefix.ids.delete(idKey);
    prefix.rebuildAggregate(cat);
    if (prefix.ids.size === 0) this.#prefixes.delete(prefixKey);
    return last;
  }

  /**
   * Removes every subscription `connection` holds for (prefix, id), whatever its id. Lenient
   * counterpart of {@link remove} for peers that unsubscribe with an id other than the one they
   * subscribed with (a known real-node behaviour). Returns undefined when there was nothing to
   * remove, else whether the last connection of its category went away.
   */
  removeName(prefixKey: string, idKey: string, connection: number): boolean | undefined {
    const prefix = this.#prefixes.get(prefixKey);
    const records = this.#records.get(connection);
    if (!prefix || !records) return undefined;
    let category = -1;
    for (const [subId, list] of records) {
      const kept = list.filter((r) => {
        if (r.prefixKey !== prefixKey || r.idKey !== idKey) return true;
        category = r.category;
        return false;
      });
      if (kept.length === 0) records.delete(subId);
      else if (kept.length !== list.length) records.set(subId, kept);
    }
    if (records.size === 0) this.#records.delete(connection);
    if (category < 0) return undefined;
    return this.#unlink(prefix, prefixKey, idKey, connection, category);
  }

  /** Forgets everything `connection` subscribed; returns one entry per subscription it had. */
  removeConnection(connection: number): RemovedRoute[] {
    const records = this.#records.get(connection);
    if (!records) return [];
    this.#records.delete(connection);
    const removed: RemovedRoute[] = [];
    for (const list of records.values()) {
      for (const r of list) {
        const prefix = this.#prefixes.get(r.prefixKey);
        if (!prefix) continue;
        const strings = prefix.strings;
        const last = this.#unlink(prefix, r.prefixKey, r.idKey, connection, r.category);
        removed.push({
          prefixKey: r.prefixKey,
          idKey: r.idKey,
          strings,
          category: CATEGORY_ORDER[r.category],
          last,
        });
      }
    }
    return removed;
  }

  /** Visits every subscription record (cold path: full table syncs towards peers). */
  forEachSubscription(visit: (record: SubscriptionRecord) => void): void {
    for (const [connection, records] of this.#records) {
      for (const [subscriptionId, list] of records) {
        for (const r of list) {
          const prefix = this.#prefixes.get(r.prefixKey);
          if (!prefix) continue;
          visit({
            prefixKey: r.prefixKey,
            idKey: r.idKey,
            strings: prefix.strings,
            connection,
            category: CATEGORY_ORDER[r.category],
            subscriptionId,
          });
        }
      }
    }
  }

  /** The strings of a known prefix. */
  strings(prefixKey: string): readonly [string, string, string] | undefined {
    return this.#prefixes.get(prefixKey)?.strings;
  }

  /** One connection for the destination, or -1. */
  matchOne(prefixKey: string, idKey: string, incoming: number, excludePeer = false): number {
    const prefix = this.#prefixes.get(prefixKey);
    if (!prefix) return -1;
    if (idKey !== NULL_ID_KEY) {
      const entry = prefix.ids.get(idKey);
      if (!entry) return -1;
      for (let cat = 0; cat < 4; cat++) {
        if (excludePeer && cat === 2) continue;
        const c = entry.slots[cat].next(incoming);
        if (c >= 0) return c;
      }
      return -1;
    }
    for (let cat = 0; cat < 4; cat++) {
      if (excludePeer && cat === 2) continue;
      const c = prefix.aggregates[cat].next(incoming);
      if (c >= 0) return c;
    }
    return -1;
  }

  /** Every connection matching the destination (no duplicates), appended to `out`. */
  matchAll(
    prefixKey: string,
    idKey: string,
    incoming: number,
    out: number[],
    excludePeer = false,
  ): void {
    const prefix = this.#prefixes.get(prefixKey);
    if (!prefix) return;
    const lists = idKey === NULL_ID_KEY ? prefix.aggregates : prefix.ids.get(idKey)?.slots;
    if (!lists) return;
    for (let cat = 0; cat < 4; cat++) {
      if (excludePeer && cat === 2) continue;
      for (const c of lists[cat].conns) {
        if (c !== incoming && !out.includes(c)) out.push(c);
      }
    }
  }

  /** Snapshot of all routes, for listings. */
  list(): RouteEntry[] {
    const out: RouteEntry[] = [];
    for (const prefix of this.#prefixes.values()) {
      for (const entry of prefix.ids.values()) {
        const connections: RouteEntry["connections"] = [];
        entry.slots.forEach((slot, cat) => {
          for (const c of slot.conns) {
            connections.push({ connection: c, category: CATEGORY_ORDER[cat] });
          }
        });
        out.push({ name: prefix.strings.join("/"), id: entry.id, connections });
      }
    }
    return out;
  }

  /** Number of (prefix, id) routes. */
  get size(): number {
    let n = 0;
    for (const p of this.#prefixes.values()) n += p.ids.size;
    return n;
  }
}

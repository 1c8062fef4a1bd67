import assert from "node:assert/strict";
import type { ConnectionCategory } from "../../lib/link/negotiation.ts";
import { formatId, Name, NULL_ID } from "../../lib/names/name.ts";
import {
  CATEGORY_ORDER,
  type RouteEntry,
  SubscriptionTable,
  UnsubscribeError,
} from "../../lib/node/subscription_table.ts";
import { idKeyOf, NULL_ID_KEY, prefixKeyOf } from "../../lib/wire/message_view.ts";

const A = 0x514ee475d0a5553e5ac7df7233d30afan;
const B = 0xe9e0db6bb5e8c4a004d3a1d6bd0ef3c7n;
const C = 3n;

const alice = (id: bigint = NULL_ID) => Name.of("org", "ns", "alice", id);
const bob = (id: bigint = NULL_ID) => Name.of("org", "ns", "bob", id);
const carol = (id: bigint = NULL_ID) => Name.of("org", "ns", "carol", id);

const pk = (n: Name) => prefixKeyOf(n.hashes[0], n.hashes[1], n.hashes[2]);
const ik = (n: Name) => idKeyOf(n.id);

function add(
  t: SubscriptionTable,
  n: Name,
  conn: number,
  category: ConnectionCategory = "edge",
  subId: bigint = BigInt(conn) * 1000n + (n.id & 0xffn),
): boolean {
  return t.add(pk(n), n.components, ik(n), n.id, conn, category, subId);
}

function remove(t: SubscriptionTable, n: Name, conn: number, subId: bigint): boolean {
  return t.remove(pk(n), ik(n), conn, subId, formatId(n.id));
}

function all(t: SubscriptionTable, n: Name, incoming = -1, excludePeer = false): number[] {
  const out: number[] = [];
  t.matchAll(pk(n), ik(n), incoming, out, excludePeer);
  return out;
}

const one = (t: SubscriptionTable, n: Name, incoming = -1, excludePeer = false) =>
  t.matchOne(pk(n), ik(n), incoming, excludePeer);

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

function picks(t: SubscriptionTable, n: Name, count: number, incoming = -1): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const c = one(t, n, incoming);
    m.set(c, (m.get(c) ?? 0) + 1);
  }
  return m;
}

Deno.test("subscription table - specific id matches only that id; NULL destination matches any", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1);
  add(t, alice(B), 2);
  add(t, alice(), 3); // subscribed with the NULL id
  add(t, bob(A), 4);

  // Unicast: exactly the subscribers of (prefix, id).
  assert.deepEqual(all(t, alice(A)), [1]);
  assert.deepEqual(all(t, alice(B)), [2]);
  assert.equal(one(t, alice(A)), 1);
  assert.equal(one(t, alice(B)), 2);
  // The NULL-id subscription does not match a specific id, and an unknown id matches nothing.
  assert.deepEqual(all(t, alice(C)), []);
  assert.equal(one(t, alice(C)), -1);
  // NULL destination: every connection under the prefix, NULL subscription included.
  assert.deepEqual(sorted(all(t, alice())), [1, 2, 3]);
  const anycast = new Set([one(t, alice()), one(t, alice()), one(t, alice())]);
  assert.deepEqual(sorted([...anycast]), [1, 2, 3]);
  // Prefixes are independent; same id under another prefix.
  assert.deepEqual(all(t, bob(A)), [4]);
  assert.deepEqual(all(t, bob()), [4]);
  assert.deepEqual(all(t, carol()), []);
  assert.equal(one(t, carol()), -1);
  assert.equal(one(t, carol(A)), -1);
  // Keys: NULL destination key is the NULL_ID key.
  assert.equal(ik(alice()), NULL_ID_KEY);
  assert.equal(t.size, 4);
  assert.equal(t.hasPrefix(pk(alice())), true);
  assert.equal(t.hasPrefix(pk(carol())), false);
});

Deno.test("subscription table - round-robin anycast spreads evenly over N connections", () => {
  for (const n of [2, 3, 5, 8]) {
    const t = new SubscriptionTable();
    // NULL destination over connections each subscribed with its own id.
    for (let c = 0; c < n; c++) add(t, alice(BigInt(c + 100)), c);
    const spread = picks(t, alice(), n * 100);
    assert.equal(spread.size, n, `all ${n} connections used`);
    for (const [c, k] of spread) assert.equal(k, 100, `connection ${c} of ${n}`);
    // Specific id shared by N connections (several instances of one id).
    const u = new SubscriptionTable();
    for (let c = 0; c < n; c++) add(u, alice(A), 10 + c);
    const spread2 = picks(u, alice(A), n * 50);
    assert.equal(spread2.size, n);
    for (const [c, k] of spread2) assert.equal(k, 50, `connection ${c} of ${n}, specific id`);
  }
});

Deno.test("subscription table - matchOne never returns the incoming connection", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1);
  add(t, alice(B), 2);
  add(t, alice(C), 3);
  const spread = picks(t, alice(), 300, 2);
  assert.equal(spread.has(2), false);
  assert.deepEqual(sorted([...spread.keys()]), [1, 3]);
  assert.ok(Math.abs(spread.get(1)! - spread.get(3)!) <= 150, JSON.stringify([...spread]));
  // The only subscriber is the sender: no route.
  assert.equal(one(t, alice(A), 1), -1);
  const solo = new SubscriptionTable();
  add(solo, alice(A), 7);
  add(solo, alice(A), 8);
  for (let i = 0; i < 10; i++) assert.equal(one(solo, alice(A), 7), 8);
  for (let i = 0; i < 10; i++) assert.equal(one(solo, alice(), 8), 7);
});

Deno.test("subscription table - matchAll de-duplicates and excludes the incoming connection", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1);
  add(t, alice(B), 1); // same connection, two ids
  add(t, alice(), 1); // and the NULL id
  add(t, alice(B), 2);
  add(t, alice(A), 3, "local");
  assert.deepEqual(sorted(all(t, alice())), [1, 2, 3]);
  assert.deepEqual(sorted(all(t, alice(), 1)), [2, 3]);
  assert.deepEqual(sorted(all(t, alice(B))), [1, 2]);
  assert.deepEqual(all(t, alice(B), 2), [1]);
  assert.deepEqual(sorted(all(t, alice(A))), [1, 3]);
  // Appends to what the caller already has, without duplicates.
  const out = [3];
  t.matchAll(pk(alice()), NULL_ID_KEY, -1, out);
  assert.deepEqual(sorted(out), [1, 2, 3]);
});

Deno.test("subscription table - matchOne prefers local, then remote, then peer, then edge", () => {
  assert.deepEqual(CATEGORY_ORDER, ["local", "remote", "peer", "edge"]);
  for (const dest of [alice(A), alice()]) {
    const t = new SubscriptionTable();
    add(t, alice(A), 10, "edge");
    add(t, alice(A), 20, "peer");
    add(t, alice(A), 30, "remote");
    add(t, alice(A), 40, "local");
    const label = dest.toString();
    for (let i = 0; i < 5; i++) assert.equal(one(t, dest), 40, label);
    assert.equal(one(t, dest, 40), 30, `${label}: local is the sender`);
    assert.equal(one(t, dest, -1, false), 40);
    remove(t, alice(A), 40, 40_000n + (A & 0xffn));
    assert.equal(one(t, dest), 30, label);
    assert.equal(one(t, dest, 30), 20, label);
    // 1-hop rule: peers excluded.
    assert.equal(one(t, dest, 30, true), 10, label);
    assert.deepEqual(sorted(all(t, dest, -1, true)), [10, 30], label);
    remove(t, alice(A), 30, 30_000n + (A & 0xffn));
    assert.equal(one(t, dest), 20, label);
    assert.equal(one(t, dest, -1, true), 10, label);
    remove(t, alice(A), 20, 20_000n + (A & 0xffn));
    assert.equal(one(t, dest), 10, label);
    assert.equal(one(t, dest, 10), -1, label);
  }
});

Deno.test("subscription table - unsubscribe errors carry the real node's messages", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1, "edge", 5n);
  const err = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof UnsubscribeError, String(e));
      return e.message;
    }
    throw new Error("expected an UnsubscribeError");
  };
  // Right name and connection, wrong subscription id.
  assert.equal(err(() => remove(t, alice(A), 1, 6n)), "subscription id not found: 6");
  // Unknown prefix.
  assert.equal(err(() => remove(t, bob(A), 1, 5n)), "subscription not found");
  // Known prefix, unknown id.
  assert.equal(err(() => remove(t, alice(B), 1, 5n)), `id not found: ${formatId(B)}`);
  assert.equal(
    err(() => remove(t, alice(B), 1, 5n)),
    "id not found: e9e0db6b-b5e8-c4a0-04d3-a1d6bd0ef3c7",
  );
  assert.equal(err(() => remove(t, alice(), 1, 5n)), "id not found: NULL_COMPONENT");
  // The subscription id of another connection.
  assert.equal(err(() => remove(t, alice(A), 2, 5n)), "subscription id not found: 5");
  // Nothing changed.
  assert.deepEqual(all(t, alice(A)), [1]);
  assert.equal(remove(t, alice(A), 1, 5n), true, "last connection of its category");
  assert.equal(one(t, alice(A)), -1);
  assert.equal(t.size, 0);
  assert.equal(t.hasPrefix(pk(alice())), false);
});

Deno.test("subscription table - add/remove report first and last of a category", () => {
  const t = new SubscriptionTable();
  assert.equal(add(t, alice(A), 1, "edge", 1n), true);
  assert.equal(add(t, alice(A), 2, "edge", 2n), false);
  assert.equal(add(t, alice(A), 3, "peer", 3n), true);
  assert.equal(remove(t, alice(A), 1, 1n), false);
  assert.equal(remove(t, alice(A), 2, 2n), true);
  assert.equal(remove(t, alice(A), 3, 3n), true);
});

Deno.test("subscription table - the same name subscribed twice by one connection survives one unsubscribe", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1, "edge", 100n);
  add(t, alice(A), 1, "edge", 101n);
  add(t, alice(A), 2, "edge", 200n);
  assert.deepEqual(sorted(all(t, alice(A))), [1, 2], "no duplicate route");
  assert.equal(remove(t, alice(A), 1, 100n), false);
  assert.deepEqual(sorted(all(t, alice(A))), [1, 2], "still routed to 1");
  assert.equal(remove(t, alice(A), 1, 101n), false, "connection 2 is still subscribed");
  assert.deepEqual(all(t, alice(A)), [2]);
  assert.equal(remove(t, alice(A), 2, 200n), true);
  assert.deepEqual(all(t, alice(A)), []);
  assert.deepEqual(t.list(), []);
});

Deno.test("subscription table - removeConnection purges everything of that connection only", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1, "edge", 1n);
  add(t, bob(), 1, "edge", 2n);
  add(t, carol(C), 1, "edge", 3n);
  add(t, alice(A), 2, "edge", 4n);
  add(t, bob(), 2, "edge", 5n);
  add(t, alice(B), 3, "remote", 6n);
  assert.equal(t.removeConnection(1).length, 3);
  assert.deepEqual(all(t, alice(A)), [2]);
  assert.deepEqual(all(t, bob()), [2]);
  assert.deepEqual(all(t, carol(C)), []);
  assert.equal(t.hasPrefix(pk(carol())), false, "empty prefix forgotten");
  assert.deepEqual(sorted(all(t, alice())), [2, 3]);
  for (let i = 0; i < 6; i++) assert.notEqual(one(t, alice()), 1);
  assert.equal(t.removeConnection(1).length, 0, "nothing left");
  assert.equal(t.removeConnection(42).length, 0, "unknown connection");
  // Its subscription ids are gone too.
  assert.throws(() => remove(t, alice(A), 1, 1n), UnsubscribeError);
  // The others are intact.
  assert.equal(remove(t, alice(A), 2, 4n), true);
  assert.equal(t.size, 2);
});

Deno.test("subscription table - removeConnection purges routes recorded under a shared subscription id 0", () => {
  // Reconnect replays (wire.md §5.9) re-send every subscription of a link with
  // subscription_id = 0, so one connection can hold several routes added with id 0.
  const t = new SubscriptionTable();
  add(t, alice(A), 1, "edge", 0n);
  add(t, bob(B), 1, "edge", 0n);
  add(t, carol(C), 1, "edge", 0n);
  assert.deepEqual(all(t, alice(A)), [1]);
  assert.deepEqual(all(t, bob(B)), [1]);
  t.removeConnection(1);
  // A closed connection's index is reused for the next link: no route may survive it.
  assert.deepEqual(
    t.list().map((r) => `${r.name}/${formatId(r.id)} -> ${r.connections.map((c) => c.connection)}`),
    [],
  );
  assert.equal(one(t, alice(A)), -1);
  assert.equal(one(t, bob(B)), -1);
  assert.equal(one(t, carol(C)), -1);
});

Deno.test("subscription table - list() shows every (name, id) with its connections and categories", () => {
  const t = new SubscriptionTable();
  add(t, alice(A), 1, "edge", 1n);
  add(t, alice(A), 2, "local", 2n);
  add(t, alice(), 3, "peer", 3n);
  add(t, bob(B), 4, "remote", 4n);
  const norm = (entries: RouteEntry[]) =>
    entries
      .map((e) => ({
        name: e.name,
        id: e.id,
        connections: [...e.connections].sort((a, b) => a.connection - b.connection),
      }))
      .sort((a, b) => `${a.name}${a.id}`.localeCompare(`${b.name}${b.id}`));
  assert.deepEqual(
    norm(t.list()),
    norm([
      {
        name: "org/ns/alice",
        id: A,
        connections: [{ connection: 1, category: "edge" }, { connection: 2, category: "local" }],
      },
      { name: "org/ns/alice", id: NULL_ID, connections: [{ connection: 3, category: "peer" }] },
      { name: "org/ns/bob", id: B, connections: [{ connection: 4, category: "remote" }] },
    ]),
  );
  assert.equal(t.size, 3);
  t.removeConnection(3);
  assert.deepEqual(norm(t.list()).map((e) => e.id), [A, B]);
  assert.equal(t.size, 2);
});

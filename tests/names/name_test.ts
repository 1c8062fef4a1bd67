import assert from "node:assert/strict";
import { createXXHash64 } from "hash-wasm";
import { NameError } from "../../lib/errors.ts";
import { hashComponent, xxh3_128 } from "../../lib/names/hash.ts";
import {
  formatId,
  idFromIdentity,
  joinId,
  Name,
  NULL_ID,
  parseId,
  RESERVED_ID_FLOOR,
  splitId,
} from "../../lib/names/name.ts";
import { decodeMessage, type Name as ProtoName } from "../../lib/wire/codec.ts";
import { loadCapture, thrown, where } from "../fixtures/captures.ts";

/** wire.md §4 component hash vectors. */
const HASH_VECTORS: [string, bigint][] = [
  ["org", 9745323415579563579n],
  ["ns", 17219925055306830033n],
  ["alice", 8903823788458029442n],
  ["bob", 5309210987355009988n],
  ["agntcy", 0x169ca82eb17d6bc2n],
  ["default", 0x219303c7c93f9668n],
];

const ALICE_ID = 0x514ee475d0a5553e5ac7df7233d30afan;
const ALICE_UUID = "514ee475-d0a5-553e-5ac7-df7233d30afa";

Deno.test("names - component hashes match the wire.md vectors (XXH64 of bytes ‖ 0xFF)", () => {
  for (const [text, expected] of HASH_VECTORS) {
    assert.equal(hashComponent(text), expected, `hash of ${JSON.stringify(text)}`);
  }
  assert.equal(hashComponent("org"), 0x873e580376ea963bn);
  assert.equal(hashComponent("ns"), 0xeef9769a4c6990d1n);
  assert.equal(hashComponent("alice"), 0x7b90bc8fa5b6b182n);
  assert.equal(hashComponent("bob"), 0x49ae1b437ae573c4n);
});

Deno.test("names - plain XXH64 (no 0xFF terminator) gives different values", async () => {
  const plain = await createXXHash64(0, 0);
  const plainOf = (s: string) => {
    plain.init();
    plain.update(new TextEncoder().encode(s));
    return BigInt("0x" + plain.digest("hex"));
  };
  assert.equal(plainOf("org"), 14087583772206246677n, "wire.md's plain XXH64 value of 'org'");
  for (const [text] of HASH_VECTORS) {
    assert.notEqual(hashComponent(text), plainOf(text), text);
  }
  // The framing is exactly "bytes then 0xFF": plain XXH64 over that input gives our value.
  plain.init();
  plain.update(new Uint8Array([...new TextEncoder().encode("alice"), 0xff]));
  assert.equal(BigInt("0x" + plain.digest("hex")), hashComponent("alice"));
});

Deno.test("names - hashes are computed over UTF-8 bytes", () => {
  const a = hashComponent("é");
  assert.notEqual(a, hashComponent("e"));
  assert.equal(a, hashComponent("\u00e9"));
  assert.notEqual(a, hashComponent("e\u0301"), "no Unicode normalisation");
});

Deno.test("names - app id of org/ns/alice_OzBvxp1y is XXH3-128 = 514ee475…0afa", () => {
  assert.equal(xxh3_128("org/ns/alice_OzBvxp1y"), ALICE_ID);
  assert.equal(idFromIdentity("org/ns/alice_OzBvxp1y"), ALICE_ID);
  assert.notEqual(idFromIdentity("org/ns/alice_OzBvxp1z"), ALICE_ID);
  const id = idFromIdentity("anything");
  assert.ok(id >= 0n && id < RESERVED_ID_FLOOR);
});

Deno.test("names - UUID formatting both ways and id halves", () => {
  assert.equal(formatId(ALICE_ID), ALICE_UUID);
  assert.equal(parseId(ALICE_UUID), ALICE_ID);
  assert.equal(parseId(ALICE_UUID.toUpperCase()), ALICE_ID);
  assert.deepEqual(splitId(ALICE_ID), [0x514ee475d0a5553en, 0x5ac7df7233d30afan]);
  assert.equal(joinId(0x514ee475d0a5553en, 0x5ac7df7233d30afan), ALICE_ID);
  assert.equal(formatId(1n), "00000000-0000-0000-0000-000000000001");
  assert.equal(formatId(0n), "00000000-0000-0000-0000-000000000000");
  assert.equal(formatId(1n << 64n), "00000000-0000-0001-0000-000000000000");
  assert.equal(formatId(NULL_ID - 1n), "ffffffff-ffff-ffff-ffff-fffffffffffe");
  assert.equal(parseId("00000000-0000-0001-0000-000000000000"), 1n << 64n);
  assert.equal(parseId("16"), 16n);
  assert.equal(parseId("0x10"), 16n);
  for (const id of [0n, 1n, 0xffn << 60n, ALICE_ID, NULL_ID - 51n, NULL_ID - 1n]) {
    assert.equal(parseId(formatId(id)), id, `round trip of ${id}`);
    assert.equal(joinId(...splitId(id)), id);
  }

  const alice = Name.parse(`org/ns/alice/${ALICE_UUID}`);
  assert.equal(alice.id, ALICE_ID);
  assert.equal(alice.hasId, true);
  assert.equal(alice.toString(), `org/ns/alice/${ALICE_UUID}`);
  assert.equal(Name.parse(alice.toString()).equals(alice), true);
  assert.deepEqual(alice.components, ["org", "ns", "alice"]);
  assert.deepEqual(alice.hashes, [HASH_VECTORS[0][1], HASH_VECTORS[1][1], HASH_VECTORS[2][1]]);
  assert.equal(Name.parse("org/ns/alice/0x10").id, 16n);
  assert.equal(Name.parse(" org / ns / alice ").base, "org/ns/alice");
});

Deno.test("names - NULL id: u128::MAX, printed NULL_COMPONENT, default of names without id", () => {
  assert.equal(NULL_ID, (1n << 128n) - 1n);
  assert.deepEqual(splitId(NULL_ID), [0xffffffffffffffffn, 0xffffffffffffffffn]);
  assert.equal(formatId(NULL_ID), "NULL_COMPONENT");
  assert.equal(parseId("NULL_COMPONENT"), NULL_ID);
  assert.equal(parseId("ffffffff-ffff-ffff-ffff-ffffffffffff"), NULL_ID);

  const any = Name.parse("org/ns/alice");
  assert.equal(any.id, NULL_ID);
  assert.equal(any.hasId, false);
  assert.equal(any.toString(), "org/ns/alice");
  const explicit = Name.parse("org/ns/alice/NULL_COMPONENT");
  assert.equal(explicit.id, NULL_ID);
  assert.equal(explicit.toString(), "org/ns/alice");
  assert.ok(explicit.equals(any));

  const specific = any.withId(ALICE_ID);
  assert.ok(specific.samePrefix(any));
  assert.ok(!specific.equals(any));
  assert.ok(specific.withoutId().equals(any));
  assert.notEqual(specific.key, any.key);
  assert.equal(Name.of("org", "ns", "alice").key, any.key);
});

Deno.test("names - parse errors throw NameError naming the input", () => {
  const bad = [
    "",
    "org//alice",
    "/ns/alice",
    "org/ns/",
    "org/ns",
    "org",
    "a/b/c/d/e",
    "org/ns/alice/",
    "org/ns/alice/not-an-id",
    "org/ns/alice/0xzz",
    "org/ns/alice/-1",
    "org/ns/alice/340282366920938463463374607431768211456", // 2^128
    "org/ns/alice/0x1" + "0".repeat(32), // 2^128
    "org/ns/alice/514ee475-d0a5-553e-5ac7-df7233d30af", // UUID one digit short
  ];
  for (const text of bad) {
    const e = thrown(() => Name.parse(text));
    assert.ok(e instanceof NameError, `${JSON.stringify(text)} threw ${e}`);
    assert.equal((e as NameError).code, "name");
    assert.ok(
      e.message.includes(JSON.stringify(text)),
      `message ${JSON.stringify(e.message)} does not name ${JSON.stringify(text)}`,
    );
  }
  // Largest id is accepted.
  assert.equal(Name.parse("org/ns/alice/340282366920938463463374607431768211455").id, NULL_ID);
  // parseId alone names the id text.
  const e = thrown(() => parseId("nope"));
  assert.ok(e instanceof NameError);
  assert.match(e.message, /"nope"/);
  // Name.of validates components and the id range.
  assert.ok(thrown(() => Name.of("org", " ", "alice")) instanceof NameError);
  assert.ok(thrown(() => Name.of("org", "n/s", "alice")) instanceof NameError);
  assert.ok(thrown(() => Name.of("org", "ns", "alice", -1n)) instanceof NameError);
  assert.ok(thrown(() => Name.of("org", "ns", "alice", NULL_ID + 1n)) instanceof NameError);
});

function checkWireName(proto: ProtoName | undefined, label: string): Name {
  assert.ok(proto?.name, `${label}: encoded name present`);
  assert.ok(proto.strName, `${label}: str_name present`);
  const s = proto.strName;
  const e = proto.name;
  assert.equal(hashComponent(s.strComponent0), e.component0, `${label}: component_0`);
  assert.equal(hashComponent(s.strComponent1), e.component1, `${label}: component_1`);
  assert.equal(hashComponent(s.strComponent2), e.component2, `${label}: component_2`);
  const id = e.nameId ? joinId(e.nameId.id0, e.nameId.id1) : NULL_ID;
  const rebuilt = Name.of(s.strComponent0, s.strComponent1, s.strComponent2, id);
  assert.deepEqual(rebuilt.hashes, [e.component0, e.component1, e.component2], label);
  return rebuilt;
}

Deno.test("names - every name in p2p-basic re-hashes from its str_name", () => {
  let names = 0;
  const seen = new Set<string>();
  for (const f of loadCapture("p2p-basic.jsonl")) {
    const m = decodeMessage(f.raw);
    const t = m.messageType;
    if (t.case !== "subscribe" && t.case !== "publish") continue;
    const h = t.value.header;
    assert.ok(h, where(f));
    const src = checkWireName(h.source, `${where(f)} source`);
    const dst = checkWireName(h.destination, `${where(f)} destination`);
    names += 2;
    seen.add(src.toString()).add(dst.toString());
    // SDK apps derive their id from their identity token id (the part before the first ':').
    assert.equal(src.id, idFromIdentity(h.identity.split(":")[0]), `${where(f)} source id`);
  }
  assert.equal(names, 2 * 22, "2 subscribes + 20 publishes, two names each");
  assert.ok(seen.has(`org/ns/alice/${ALICE_UUID}`), [...seen].join(", "));
  assert.ok(seen.has("org/ns/alice"), "the discovery request goes to alice with the NULL id");
});

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { equalBytes, HMAC_PADDING_ROOM, HmacSha256 } from "../../lib/link/hmac_sha256.ts";
import { fromHex, prng, randomBytes, toHex } from "../fixtures/captures.ts";

const text = (s: string) => new TextEncoder().encode(s);
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

/** RFC 4231 §4 test cases (case 5, a truncated output, is not applicable). */
const RFC4231: { name: string; key: Uint8Array; data: Uint8Array; mac: string }[] = [
  {
    name: "1",
    key: fill(20, 0x0b),
    data: text("Hi There"),
    mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    name: "2",
    key: text("Jefe"),
    data: text("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    name: "3",
    key: fill(20, 0xaa),
    data: fill(50, 0xdd),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    name: "4",
    key: fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    data: fill(50, 0xcd),
    mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  {
    name: "6 (131-byte key)",
    key: fill(131, 0xaa),
    data: text("Test Using Larger Than Block-Size Key - Hash Key First"),
    mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    name: "7 (131-byte key, 152-byte data)",
    key: fill(131, 0xaa),
    data: text(
      "This is a test using a larger than block-size key and a larger than block-size data. " +
        "The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

Deno.test("hmac-sha256 - RFC 4231 test cases 1-4, 6, 7", () => {
  for (const t of RFC4231) {
    assert.equal(toHex(new HmacSha256(t.key).mac(t.data)), t.mac, `RFC 4231 case ${t.name}`);
    // The reference implementations agree with the vector (guards the vector text itself).
    assert.equal(toHex(hmac(sha256, t.key, t.data)), t.mac, `noble, case ${t.name}`);
  }
});

Deno.test("hmac-sha256 - equals @noble/hashes for every message length 0..300", () => {
  const rand = prng(4231);
  for (const keyLen of [32, 0, 1, 55, 63, 64, 65, 100, 131]) {
    const key = randomBytes(rand, keyLen);
    const mine = new HmacSha256(key);
    for (let len = 0; len <= 300; len++) {
      const data = randomBytes(rand, len);
      const expected = toHex(hmac(sha256, key, data));
      assert.equal(toHex(mine.mac(data)), expected, `key ${keyLen} B, message ${len} B`);
    }
  }
});

Deno.test("hmac-sha256 - long messages and node:crypto agreement", () => {
  const rand = prng(99);
  const key = randomBytes(rand, 32);
  const mine = new HmacSha256(key);
  for (const len of [511, 512, 1023, 1024, 1025, 5000, 70_000]) {
    const data = randomBytes(rand, len);
    const expected = createHmac("sha256", key).update(data).digest("hex");
    assert.equal(toHex(mine.mac(data)), expected, `${len} B`);
  }
});

Deno.test("hmac-sha256 - an instance is reusable and does not alter its input", () => {
  const key = text("k".repeat(32));
  const mine = new HmacSha256(key);
  const a = text("first message");
  const b = text("second, longer message ".repeat(10));
  const copyA = a.slice();
  const tagA = toHex(mine.mac(a));
  mine.mac(b);
  assert.equal(toHex(mine.mac(a)), tagA, "same tag after other computations");
  assert.equal(toHex(a), toHex(copyA), "input untouched");
  assert.equal(tagA, toHex(hmac(sha256, key, a)));
});

Deno.test("hmac-sha256 - macInPlace writes into an offset of a larger buffer", () => {
  const rand = prng(5);
  const key = randomBytes(rand, 32);
  const mine = new HmacSha256(key);
  for (const len of [0, 1, 55, 56, 63, 64, 119, 120, 203, 300]) {
    const data = randomBytes(rand, len);
    const buf = new Uint8Array(len + HMAC_PADDING_ROOM);
    buf.set(data);
    const out = new Uint8Array(100).fill(0xee);
    mine.macInPlace(buf, len, out, 37);
    assert.equal(toHex(out.subarray(37, 69)), toHex(hmac(sha256, key, data)), `length ${len}`);
    assert.ok(out.subarray(0, 37).every((x) => x === 0xee), "bytes before the offset untouched");
    assert.ok(out.subarray(69).every((x) => x === 0xee), "bytes after the tag untouched");
    assert.equal(toHex(buf.subarray(0, len)), toHex(data), "message bytes untouched");
  }
  // The output may be the input buffer itself (past the message and its padding room).
  const big = new Uint8Array(64 + HMAC_PADDING_ROOM + 32);
  big.set(text("in-place"));
  mine.macInPlace(big, 8, big, 64 + HMAC_PADDING_ROOM);
  assert.equal(
    toHex(big.subarray(64 + HMAC_PADDING_ROOM)),
    toHex(hmac(sha256, key, text("in-place"))),
  );
});

Deno.test("hmac-sha256 - scratch grows and keeps padding room", () => {
  const mine = new HmacSha256(new Uint8Array(32));
  for (const len of [0, 10, 1000, 5000]) {
    assert.ok(mine.scratch(len).length >= len + HMAC_PADDING_ROOM, `scratch(${len})`);
  }
  assert.equal(HMAC_PADDING_ROOM >= 72, true, "SHA-256 padding needs up to 72 bytes");
});

Deno.test("hmac-sha256 - equalBytes compares ranges", () => {
  const a = Uint8Array.of(1, 2, 3, 4, 5);
  const b = Uint8Array.of(9, 2, 3, 4, 9);
  assert.equal(equalBytes(a, 1, b, 1, 3), true);
  assert.equal(equalBytes(a, 0, b, 0, 2), false);
  assert.equal(equalBytes(a, 1, b, 1, 4), false);
  assert.equal(equalBytes(a, 0, b, 0, 0), true);
});

Deno.test("hmac-sha256 - the prefix memo never changes a tag, whatever the message order", () => {
  // Messages that share 0..n leading blocks with the previous one, shrink, grow past the memo
  // limit, and differ only in their last byte: every tag must still equal noble's.
  const rand = prng(77);
  const key = randomBytes(rand, 32);
  const mine = new HmacSha256(key), external = new HmacSha256(key);
  const base = randomBytes(rand, 3000);
  const lengths = [420, 420, 64, 128, 0, 63, 65, 419, 2047, 2048, 2049, 2200, 3000, 130, 420];
  for (let round = 0; round < 400; round++) {
    const len = round < lengths.length ? lengths[round] : Math.floor(rand() * 700);
    const data = base.slice(0, len);
    // Change one byte somewhere (or nothing) so that the shared prefix varies.
    const pick = rand();
    if (len > 0 && pick < 0.7) data[Math.floor(rand() * len)] ^= 1 + Math.floor(rand() * 254);
    const expected = toHex(hmac(sha256, key, data));
    assert.equal(toHex(mine.mac(data)), expected, `round ${round}, ${len} B`);
    // The same through a caller's buffer (the memo is then compared byte by byte).
    const buf = new Uint8Array(len + HMAC_PADDING_ROOM);
    buf.set(data);
    const out = new Uint8Array(32);
    external.macInPlace(buf, len, out, 0);
    assert.equal(toHex(out), expected, `round ${round}, ${len} B, caller's buffer`);
  }
});

Deno.test("hmac-sha256 - two instances with one key keep separate memos", () => {
  const key = text("m".repeat(32));
  const a = new HmacSha256(key), b = new HmacSha256(key);
  const x = text("x".repeat(300)), y = text("y".repeat(300));
  for (let i = 0; i < 3; i++) {
    assert.equal(toHex(a.mac(x)), toHex(hmac(sha256, key, x)));
    assert.equal(toHex(b.mac(y)), toHex(hmac(sha256, key, y)));
  }
});

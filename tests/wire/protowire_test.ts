import assert from "node:assert/strict";
import { ProtocolError } from "../../lib/errors.ts";
import {
  Cursor,
  varintSize32,
  varintSize64,
  writeVarint32,
  writeVarint64,
  WT_I32,
  WT_I64,
  WT_LEN,
  WT_VARINT,
} from "../../lib/wire/protowire.ts";
import { fromHex, prng, thrown, toHex } from "../fixtures/captures.ts";

/** Reference LEB128 encoder over bigints, independent of the code under test. */
function refVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Uint8Array.from(out);
}

const halves = (v: bigint): [number, number] => [
  Number(v & 0xffffffffn),
  Number((v >> 32n) & 0xffffffffn),
];

const EDGE_VALUES: bigint[] = [
  0n,
  1n,
  127n,
  128n,
  255n,
  16383n,
  16384n,
  (1n << 28n) - 1n,
  1n << 28n,
  (1n << 31n) - 1n,
  1n << 31n,
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 32n) + 1n,
  (1n << 35n) - 1n,
  1n << 35n,
  0x123456789abcdefn,
  1n << 53n,
  (1n << 56n) - 1n,
  1n << 56n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
];

function checkRoundTrip(v: bigint): void {
  const [lo, hi] = halves(v);
  const expected = refVarint(v);
  const buf = new Uint8Array(16).fill(0xee);
  const end = writeVarint64(buf, 3, lo, hi);
  assert.equal(end - 3, expected.length, `length of ${v}`);
  assert.equal(toHex(buf.subarray(3, end)), toHex(expected), `encoding of ${v}`);
  assert.equal(buf[2], 0xee, "no write before pos");
  assert.equal(buf[end], 0xee, "no write past the varint");
  assert.equal(varintSize64(lo, hi), expected.length, `varintSize64(${v})`);
  const c = new Cursor().reset(buf, 3);
  const ret = c.varint(end);
  assert.equal(c.pos, end, `cursor position after ${v}`);
  assert.equal(c.lo, lo, `lo of ${v}`);
  assert.equal(c.hi, hi, `hi of ${v}`);
  assert.equal(ret, lo);
  assert.equal((BigInt(c.hi) << 32n) | BigInt(c.lo), v);
  if (hi === 0) {
    const b32 = new Uint8Array(8);
    const e32 = writeVarint32(b32, 0, lo);
    assert.equal(toHex(b32.subarray(0, e32)), toHex(expected), `writeVarint32(${v})`);
    assert.equal(varintSize32(lo), expected.length, `varintSize32(${v})`);
  }
}

Deno.test("protowire - varint round trip of edge values via lo/hi halves", () => {
  for (const v of EDGE_VALUES) checkRoundTrip(v);
  assert.equal(toHex(refVarint((1n << 64n) - 1n)), "ffffffffffffffffff01");
});

Deno.test("protowire - varint round trip of random 64-bit values of every bit length", () => {
  const rand = prng(64);
  for (let bits = 1; bits <= 64; bits++) {
    for (let k = 0; k < 20; k++) {
      let v = 1n << BigInt(bits - 1);
      for (let i = 0; i < bits - 1; i++) if (rand() < 0.5) v |= 1n << BigInt(i);
      checkRoundTrip(v);
    }
  }
});

Deno.test("protowire - decodes non-minimal varints", () => {
  // 0 written on two bytes is still 0.
  const c = new Cursor().reset(fromHex("8000"), 0);
  c.varint(2);
  assert.deepEqual([c.lo, c.hi, c.pos], [0, 0, 2]);
  const e = new Cursor().reset(fromHex("ff80808000"), 0);
  e.varint(5);
  assert.deepEqual([e.lo, e.hi, e.pos], [0x7f, 0, 5]);
});

Deno.test("protowire - truncated varint throws ProtocolError", () => {
  for (const hex of ["", "80", "ffff", "ffffffffffffffffff"]) {
    const b = fromHex(hex);
    const e = thrown(() => new Cursor().reset(b, 0).varint(b.length));
    assert.ok(e instanceof ProtocolError, `${hex}: ${e}`);
    assert.match(e.message, /truncated varint/);
  }
  // The end bound is honoured even when the buffer continues.
  const b = fromHex("808001");
  const e = thrown(() => new Cursor().reset(b, 0).varint(2));
  assert.ok(e instanceof ProtocolError);
});

Deno.test("protowire - an 11-byte varint throws ProtocolError", () => {
  const b = fromHex("ffffffffffffffffffff01");
  const e = thrown(() => new Cursor().reset(b, 0).varint(b.length));
  assert.ok(e instanceof ProtocolError, String(e));
  assert.match(e.message, /10 bytes/);
  const z = fromHex("8080808080808080808000");
  assert.ok(thrown(() => new Cursor().reset(z, 0).varint(z.length)) instanceof ProtocolError);
});

Deno.test("protowire - length() and skip() check bounds", () => {
  // length 3 with 3 bytes available
  const c = new Cursor().reset(fromHex("03aabbcc"), 0);
  assert.equal(c.length(4), 3);
  assert.equal(c.pos, 1);
  // length 4 with 3 bytes available
  const e = thrown(() => new Cursor().reset(fromHex("03aabb"), 0).length(3));
  assert.ok(e instanceof ProtocolError);
  assert.match(e.message, /length exceeds message/);
  // length ≥ 2^32 is refused
  const big = fromHex("8080808010");
  assert.ok(thrown(() => new Cursor().reset(big, 0).length(big.length)) instanceof ProtocolError);

  const s = new Cursor().reset(fromHex("ac02 03616263 0102030405060708 01020304 ff"), 0);
  s.skip(WT_VARINT, 20);
  assert.equal(s.pos, 2);
  s.skip(WT_LEN, 20);
  assert.equal(s.pos, 6);
  s.skip(WT_I64, 20);
  assert.equal(s.pos, 14);
  s.skip(WT_I32, 20);
  assert.equal(s.pos, 18);
  assert.ok(thrown(() => s.skip(3, 20)) instanceof ProtocolError, "group wire type");
  assert.ok(thrown(() => s.skip(7, 20)) instanceof ProtocolError);
  assert.ok(
    thrown(() => new Cursor().reset(new Uint8Array(4), 0).skip(WT_I64, 4)) instanceof
      ProtocolError,
  );
  assert.ok(
    thrown(() => new Cursor().reset(new Uint8Array(3), 0).skip(WT_I32, 3)) instanceof
      ProtocolError,
  );
  assert.ok(
    thrown(() => new Cursor().reset(fromHex("05aabb"), 0).skip(WT_LEN, 3)) instanceof
      ProtocolError,
  );
});

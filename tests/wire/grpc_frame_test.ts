import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ProtocolError } from "../../lib/errors.ts";
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  Deframer,
  frame,
  GRPC_PREFIX,
  writePrefix,
} from "../../lib/wire/grpc_frame.ts";
import { concat, prng, randomBytes, thrown, toHex } from "../fixtures/captures.ts";

/** Messages of assorted sizes, empty ones and a 70 KB one included, with distinct contents. */
function sampleMessages(): Uint8Array[] {
  const rand = prng(0x5eed);
  const sizes = [0, 1, 4, 5, 6, 0, 0, 127, 128, 70_000, 0, 3, 16_384, 2, 0];
  return sizes.map((n) => randomBytes(rand, n));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function assertMessages(got: Uint8Array[], expected: Uint8Array[], label: string): void {
  if (got.length !== expected.length) {
    throw new Error(`${label}: ${got.length} messages, expected ${expected.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    if (!sameBytes(got[i], expected[i])) {
      throw new Error(
        `${label}: message ${i} differs (length ${got[i].length}, expected ${expected[i].length})`,
      );
    }
  }
}

Deno.test("deframer - frame() writes flag 0 and a big-endian length", () => {
  assert.equal(toHex(frame(Uint8Array.of(0xaa, 0xbb))), "0000000002aabb");
  assert.equal(toHex(frame(new Uint8Array(0))), "0000000000");
  const buf = new Uint8Array(9).fill(0xee);
  writePrefix(buf, 2, 0x01020304);
  assert.equal(toHex(buf), "eeee0001020304eeee");
  writePrefix(buf, 0, 70_000);
  assert.equal(toHex(buf.subarray(0, 5)), "0000011170");
  assert.equal(GRPC_PREFIX, 5);
  assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 4 * 1024 * 1024);
});

Deno.test("deframer - the whole stream in one chunk yields the messages", () => {
  const messages = sampleMessages();
  const d = new Deframer();
  const out: Uint8Array[] = [];
  d.push(concat(messages.map(frame)), out);
  assertMessages(out, messages, "one chunk");
  assert.equal(d.partial, false);
});

Deno.test("deframer - any single cut point yields the same messages", () => {
  const messages = sampleMessages();
  const stream = concat(messages.map(frame));
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new Deframer();
    const out: Uint8Array[] = [];
    d.push(stream.subarray(0, cut), out);
    d.push(stream.subarray(cut), out);
    assertMessages(out, messages, `cut at ${cut}`);
    assert.equal(d.partial, false, `partial after cut at ${cut}`);
  }
});

Deno.test("deframer - random chunk sizes (seeded) yield the same messages", () => {
  const messages = sampleMessages();
  const stream = concat(messages.map(frame));
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed);
    // Mix tiny chunks (prefix splits) with large ones.
    const maxChunk = [2, 7, 64, 1000, 20_000, 100_000][seed % 6];
    const d = new Deframer();
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < stream.length) {
      const n = 1 + Math.floor(rand() * maxChunk);
      // Copy each chunk into a fresh buffer, as a transport would hand it over.
      d.push(stream.slice(off, off + n), out);
      off += n;
    }
    assertMessages(out, messages, `seed ${seed} (max chunk ${maxChunk})`);
    assert.equal(d.partial, false);
  }
});

Deno.test("deframer - byte-by-byte and empty chunks", () => {
  const messages = sampleMessages().filter((m) => m.length < 1000);
  const stream = concat(messages.map(frame));
  const d = new Deframer();
  const out: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i++) {
    d.push(new Uint8Array(0), out);
    d.push(stream.slice(i, i + 1), out);
  }
  assertMessages(out, messages, "byte by byte");
});

Deno.test("deframer - partial is true mid-message and mid-prefix, false at boundaries", () => {
  const msg = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
  const f = frame(msg);
  const d = new Deframer();
  const out: Uint8Array[] = [];
  assert.equal(d.partial, false);
  d.push(f.subarray(0, 3), out); // inside the prefix
  assert.equal(d.partial, true);
  assert.equal(out.length, 0);
  d.push(f.subarray(3, 5), out); // prefix complete, body missing
  assert.equal(d.partial, true);
  assert.equal(out.length, 0);
  d.push(f.subarray(5, 9), out); // inside the body
  assert.equal(d.partial, true);
  d.push(f.subarray(9), out);
  assert.equal(d.partial, false);
  assert.equal(toHex(out[0]), toHex(msg));
  // A complete message followed by the start of another.
  d.push(concat([f, f.subarray(0, 7)]), out);
  assert.equal(out.length, 2);
  assert.equal(d.partial, true);
  // An empty message completes with its prefix.
  const e = new Deframer();
  const eo: Uint8Array[] = [];
  e.push(frame(new Uint8Array(0)).subarray(0, 4), eo);
  assert.equal(e.partial, true);
  e.push(Uint8Array.of(0), eo);
  assert.equal(e.partial, false);
  assert.equal(eo.length, 1);
  assert.equal(eo[0].length, 0);
});

Deno.test("deframer - compressed flag 1 is a ProtocolError mentioning compression", () => {
  const bad = Uint8Array.of(1, 0, 0, 0, 2, 0xaa, 0xbb);
  let e = thrown(() => new Deframer().push(bad, []));
  assert.ok(e instanceof ProtocolError, String(e));
  assert.match(e.message, /compress/i);
  // Also when the flag arrives alone and the rest of the prefix later.
  const d = new Deframer();
  d.push(bad.subarray(0, 1), []);
  e = thrown(() => d.push(bad.subarray(1), []));
  assert.ok(e instanceof ProtocolError);
  assert.match(e.message, /compress/i);
  // And after a valid message in the same chunk.
  e = thrown(() => new Deframer().push(concat([frame(Uint8Array.of(1)), bad]), []));
  assert.match(e.message, /compress/i);
});

Deno.test("deframer - flag byte 7 is a ProtocolError naming the flag", () => {
  const e = thrown(() => new Deframer().push(Uint8Array.of(7, 0, 0, 0, 0), []));
  assert.ok(e instanceof ProtocolError);
  assert.match(e.message, /flag/);
  assert.match(e.message, /7/);
  const e2 = thrown(() => new Deframer().push(Uint8Array.of(0x80, 0, 0, 0, 0), []));
  assert.ok(e2 instanceof ProtocolError);
});

Deno.test("deframer - a length above the maximum is a ProtocolError naming both sizes", () => {
  const prefix = (n: number) => {
    const b = new Uint8Array(5);
    writePrefix(b, 0, n);
    return b;
  };
  let e = thrown(() => new Deframer(1000).push(prefix(1001), []));
  assert.ok(e instanceof ProtocolError);
  assert.match(e.message, /1001/);
  assert.match(e.message, /1000/);
  // The limit itself is allowed.
  const d = new Deframer(1000);
  const out: Uint8Array[] = [];
  d.push(prefix(1000), out);
  assert.equal(d.partial, true);
  d.push(new Uint8Array(1000), out);
  assert.equal(out.length, 1);
  assert.equal(out[0].length, 1000);
  // Default maximum is 4 MiB; the check happens on the prefix, before buffering anything.
  e = thrown(() => new Deframer().push(prefix(DEFAULT_MAX_MESSAGE_SIZE + 1), []));
  assert.match(e.message, new RegExp(String(DEFAULT_MAX_MESSAGE_SIZE + 1)));
  assert.match(e.message, new RegExp(String(DEFAULT_MAX_MESSAGE_SIZE)));
  // 0xffffffff (would be negative if read as a signed 32-bit value).
  e = thrown(() => new Deframer().push(Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff), []));
  assert.ok(e instanceof ProtocolError);
  assert.match(e.message, /4294967295/);
  // Split prefix: the check also applies when the length arrives in pieces.
  const s = new Deframer(1000);
  s.push(prefix(5000).subarray(0, 2), []);
  e = thrown(() => s.push(prefix(5000).subarray(2), []));
  assert.match(e.message, /5000/);
});

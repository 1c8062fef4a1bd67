/**
 * The HTTP/2 frame codec: builders produce RFC 9113 layouts, and the incremental reader yields
 * the same frames for any chunking of the input (down to one octet at a time), streams DATA
 * without buffering, strips padding, and rejects what must be rejected.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { concat, fromHex, toHex } from "../fixtures/captures.ts";
import {
  ErrorCode,
  Flag,
  FrameType,
  Http2Error,
  Setting,
} from "../../lib/transport/h2/constants.ts";
import {
  encodeFrame,
  type FrameHandler,
  FrameReader,
  goawayFrame,
  headersFrames,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from "../../lib/transport/h2/frame.ts";

type Event =
  | { kind: "frame"; type: number; flags: number; stream: number; payload: string }
  | { kind: "data"; stream: number; flags: number; length: number; body: string; overhead: number };

/** Collects what the reader reports, merging DATA pieces per frame. */
function collector(): { handler: FrameHandler; events: Event[]; pieces: number } {
  const events: Event[] = [];
  let body: Uint8Array[] = [];
  let start = { stream: 0, flags: 0, length: 0 };
  const out = {
    events,
    pieces: 0,
    handler: {
      onFrame(type, flags, stream, payload) {
        events.push({ kind: "frame", type, flags, stream, payload: toHex(payload) });
      },
      onDataStart(stream, flags, length) {
        start = { stream, flags, length };
        body = [];
      },
      onData(_stream, data) {
        out.pieces++;
        body.push(data.slice());
      },
      onDataEnd(stream, flags, overhead) {
        events.push({
          kind: "data",
          stream,
          flags,
          length: start.length,
          body: toHex(concat(body)),
          overhead,
        });
        assertEquals(start.stream, stream);
        assertEquals(start.flags, flags);
      },
    } as FrameHandler,
  };
  return out;
}

function parse(bytes: Uint8Array, chunk = bytes.length, maxFrameSize = 16384): Event[] {
  const c = collector();
  const reader = new FrameReader(c.handler, maxFrameSize, 65536);
  for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  assertEquals(reader.atBoundary, true);
  return c.events;
}

Deno.test("frame - builders match RFC 9113 layouts", () => {
  assertEquals(
    toHex(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 4194304], [Setting.ENABLE_PUSH, 0]])),
    "00000c040000000000" + "000400400000" + "000200000000",
  );
  assertEquals(toHex(settingsFrame([], true)), "000000040100000000");
  assertEquals(
    toHex(pingFrame(fromHex("0102030405060708"), true)),
    "000008060100000000" + "0102030405060708",
  );
  assertEquals(
    toHex(goawayFrame(7, ErrorCode.PROTOCOL_ERROR, "x")),
    "000009070000000000" + "00000007" + "00000001" + "78",
  );
  assertEquals(toHex(rstStreamFrame(3, ErrorCode.CANCEL)), "000004030000000003" + "00000008");
  assertEquals(toHex(windowUpdateFrame(0, 0x7fffffff)), "000004080000000000" + "7fffffff");
  assertEquals(
    toHex(encodeFrame(FrameType.DATA, Flag.END_STREAM, 0x7fffffff, fromHex("aabb"))),
    "00000200017fffffff" + "aabb",
  );
});

Deno.test("frame - a header block larger than the frame size becomes HEADERS + CONTINUATIONs", () => {
  const block = new Uint8Array(40_000).map((_, i) => i & 0xff);
  const bytes = headersFrames(5, block, true, 16384);
  const events = parse(bytes);
  assertEquals(events.map((e) => e.kind === "frame" && [e.type, e.flags, e.stream]), [
    [FrameType.HEADERS, Flag.END_STREAM, 5],
    [FrameType.CONTINUATION, 0, 5],
    [FrameType.CONTINUATION, Flag.END_HEADERS, 5],
  ]);
  const payloads = events.map((e) => e.kind === "frame" ? e.payload : "").join("");
  assertEquals(payloads, toHex(block));
  // A small block is one HEADERS frame with END_HEADERS.
  const one = parse(headersFrames(1, fromHex("8286"), false, 16384));
  assertEquals(one, [{
    kind: "frame",
    type: FrameType.HEADERS,
    flags: Flag.END_HEADERS,
    stream: 1,
    payload: "8286",
  }]);
});

/** A mixed stream of frames exercising every reader state. */
function sample(): { bytes: Uint8Array; expected: Event[] } {
  const padded = concat([
    fromHex("00000e0008000000030401020304050607080900000000"), // DATA padded, pad 4, body 9
  ]);
  const body = new Uint8Array(20_000).map((_, i) => (i * 7) & 0xff);
  const bytes = concat([
    settingsFrame([[Setting.MAX_FRAME_SIZE, 32768]]),
    encodeFrame(FrameType.DATA, 0, 1, body),
    padded,
    encodeFrame(FrameType.DATA, Flag.END_STREAM, 1),
    encodeFrame(0x42, 0x0, 0, fromHex("deadbeef")), // unknown type: skipped
    encodeFrame(FrameType.DATA, Flag.PADDED, 5, fromHex("03000000")), // only padding
    pingFrame(fromHex("0000000000000001")),
    encodeFrame(FrameType.DATA, Flag.PADDED, 7, fromHex("00")), // pad length 0, no body
  ]);
  const expected: Event[] = [
    { kind: "frame", type: 4, flags: 0, stream: 0, payload: "000500008000" },
    { kind: "data", stream: 1, flags: 0, length: 20_000, body: toHex(body), overhead: 0 },
    {
      kind: "data",
      stream: 3,
      flags: Flag.PADDED,
      length: 14,
      body: "010203040506070809",
      overhead: 5,
    },
    { kind: "data", stream: 1, flags: Flag.END_STREAM, length: 0, body: "", overhead: 0 },
    { kind: "frame", type: 0x42, flags: 0, stream: 0, payload: "" },
    { kind: "data", stream: 5, flags: Flag.PADDED, length: 4, body: "", overhead: 4 },
    { kind: "frame", type: 6, flags: 0, stream: 0, payload: "0000000000000001" },
    { kind: "data", stream: 7, flags: Flag.PADDED, length: 1, body: "", overhead: 1 },
  ];
  return { bytes, expected };
}

Deno.test("frame - the reader gives the same frames for every chunk size", () => {
  const { bytes, expected } = sample();
  for (const chunk of [1, 2, 3, 5, 8, 9, 10, 13, 100, 4096, 16384, bytes.length]) {
    assertEquals(parse(bytes, chunk, 32768), expected, `chunk ${chunk}`);
  }
});

Deno.test("frame - DATA pieces are views of the input, never buffered", () => {
  const body = new Uint8Array(100_000).fill(1);
  const bytes = encodeFrame(FrameType.DATA, 0, 1, body);
  const views: Uint8Array[] = [];
  const reader = new FrameReader(
    {
      onFrame() {},
      onDataStart() {},
      onData(_s, d) {
        views.push(d);
      },
      onDataEnd() {},
    },
    1 << 20,
    65536,
  );
  const chunks = [
    bytes.subarray(0, 30_000),
    bytes.subarray(30_000, 70_000),
    bytes.subarray(70_000),
  ];
  for (const c of chunks) reader.push(c);
  assertEquals(views.map((v) => v.length), [30_000 - 9, 40_000, 30_009]);
  assertEquals(views.map((v) => v.buffer === bytes.buffer), [true, true, true]);
});

Deno.test("frame - frames above SETTINGS_MAX_FRAME_SIZE are FRAME_SIZE_ERROR", () => {
  const reader = new FrameReader(collector().handler, 16384, 65536);
  const e = assertThrows(
    () => reader.push(fromHex("004001000000000001")), // DATA of 16385 octets
    Http2Error,
    "exceeds SETTINGS_MAX_FRAME_SIZE",
  ) as Http2Error;
  assertEquals(e.errorCode, ErrorCode.FRAME_SIZE_ERROR);
  assertEquals(e.streamId, 0);
});

Deno.test("frame - non-DATA frames beyond the buffering cap are ENHANCE_YOUR_CALM", () => {
  const reader = new FrameReader(collector().handler, 1 << 20, 65536);
  const e = assertThrows(
    () => reader.push(fromHex("020000040000000000")), // SETTINGS of 128 KiB
    Http2Error,
    "octets buffered",
  ) as Http2Error;
  assertEquals(e.errorCode, ErrorCode.ENHANCE_YOUR_CALM);
  // Unknown frame types of that size are skipped without buffering.
  const c = collector();
  const r2 = new FrameReader(c.handler, 1 << 20, 65536);
  r2.push(concat([fromHex("020000ee0000000000"), new Uint8Array(0x20000)]));
  assertEquals(c.events, [{ kind: "frame", type: 0xee, flags: 0, stream: 0, payload: "" }]);
});

Deno.test("frame - padding longer than the DATA frame is PROTOCOL_ERROR", () => {
  const reader = new FrameReader(collector().handler, 16384, 65536);
  const e = assertThrows(
    () => reader.push(fromHex("000003000800000001" + "05aabb")),
    Http2Error,
    "padding",
  ) as Http2Error;
  assertEquals(e.errorCode, ErrorCode.PROTOCOL_ERROR);
  const r2 = new FrameReader(collector().handler, 16384, 65536);
  assertThrows(() => r2.push(fromHex("000000000800000001")), Http2Error, "without pad length");
});

Deno.test("frame - stop() ends parsing at once", () => {
  const events: number[] = [];
  const reader: FrameReader = new FrameReader(
    {
      onFrame(type) {
        events.push(type);
        reader.stop();
      },
      onDataStart() {},
      onData() {},
      onDataEnd() {},
    },
    16384,
    65536,
  );
  reader.push(concat([pingFrame(new Uint8Array(8)), pingFrame(new Uint8Array(8))]));
  reader.push(pingFrame(new Uint8Array(8)));
  assertEquals(events, [FrameType.PING]);
});

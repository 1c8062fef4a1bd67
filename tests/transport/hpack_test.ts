/**
 * HPACK (RFC 7541): the decoder against every example of Appendix C (C.2-C.6, plain and Huffman),
 * dynamic table evolution, malformed input, and encoder/decoder round trips.
 */
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { fromHex, toHex } from "../fixtures/captures.ts";
import { ErrorCode, Http2Error } from "../../lib/transport/h2/constants.ts";
import { type HeaderField, HpackDecoder, HpackEncoder } from "../../lib/transport/h2/hpack.ts";
import {
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
} from "../../lib/transport/h2/huffman.ts";

interface Vector {
  id: string;
  hex: string;
  /** Dynamic table size after the block. */
  size: number;
  headers: HeaderField[];
  /** Dynamic table after the block, newest first, when the RFC lists it. */
  table?: HeaderField[];
}

const REQ1: HeaderField[] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const REQ2: HeaderField[] = [...REQ1, ["cache-control", "no-cache"]];
const REQ3: HeaderField[] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];
const RESP1: HeaderField[] = [
  [":status", "302"],
  ["cache-control", "private"],
  ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
  ["location", "https://www.example.com"],
];
const RESP2: HeaderField[] = [[":status", "307"], ...RESP1.slice(1)];
const RESP3: HeaderField[] = [
  [":status", "200"],
  ["cache-control", "private"],
  ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
  ["location", "https://www.example.com"],
  ["content-encoding", "gzip"],
  ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
];

/** C.3 (plain) and C.4 (Huffman): three requests on one connection. */
function requests(hex: [string, string, string]): Vector[] {
  return [
    { id: "1", hex: hex[0], size: 57, headers: REQ1, table: [[":authority", "www.example.com"]] },
    {
      id: "2",
      hex: hex[1],
      size: 110,
      headers: REQ2,
      table: [["cache-control", "no-cache"], [":authority", "www.example.com"]],
    },
    {
      id: "3",
      hex: hex[2],
      size: 164,
      headers: REQ3,
      table: [
        ["custom-key", "custom-value"],
        ["cache-control", "no-cache"],
        [":authority", "www.example.com"],
      ],
    },
  ];
}

/** C.5 (plain) and C.6 (Huffman): three responses with a 256-octet table (evictions). */
function responses(hex: [string, string, string]): Vector[] {
  return [
    {
      id: "1",
      hex: hex[0],
      size: 222,
      headers: RESP1,
      table: [
        ["location", "https://www.example.com"],
        ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
        ["cache-control", "private"],
        [":status", "302"],
      ],
    },
    {
      id: "2",
      hex: hex[1],
      size: 222,
      headers: RESP2,
      table: [
        [":status", "307"],
        ["location", "https://www.example.com"],
        ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
        ["cache-control", "private"],
      ],
    },
    {
      id: "3",
      hex: hex[2],
      size: 215,
      headers: RESP3,
      table: [
        ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
        ["content-encoding", "gzip"],
        ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
      ],
    },
  ];
}

const C3 = requests([
  "828684410f7777772e6578616d706c652e636f6d",
  "828684be58086e6f2d6361636865",
  "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]);
const C4 = requests([
  "828684418cf1e3c2e5f23a6ba0ab90f4ff",
  "828684be5886a8eb10649cbf",
  "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]);
const C5 = responses([
  "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54" +
  "6e1768747470733a2f2f7777772e6578616d706c652e636f6d",
  "4803333037c1c0bf",
  "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f" +
  "3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076" +
  "657273696f6e3d31",
]);
const C6 = responses([
  "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f" +
  "0b97c8e9ae82ae43d3",
  "4883640effc1c0bf",
  "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335df" +
  "dfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]);

function runSequence(label: string, vectors: Vector[], tableSize: number): void {
  const decoder = new HpackDecoder(tableSize);
  for (const v of vectors) {
    const got = decoder.decode(fromHex(v.hex));
    assertEquals(got, v.headers, `${label}.${v.id} fields`);
    assertEquals(decoder.tableSize, v.size, `${label}.${v.id} table size`);
    if (v.table) assertEquals(decoder.dynamicEntries, v.table, `${label}.${v.id} table`);
  }
}

Deno.test("hpack - C.2.1 literal with indexing adds to the dynamic table", () => {
  const d = new HpackDecoder();
  const hex = "400a637573746f6d2d6b65790d637573746f6d2d686561646572";
  assertEquals(d.decode(fromHex(hex)), [["custom-key", "custom-header"]]);
  assertEquals(d.tableSize, 55);
  assertEquals(d.dynamicEntries, [["custom-key", "custom-header"]]);
});

Deno.test("hpack - C.2.2 literal without indexing, C.2.3 never indexed, C.2.4 indexed", () => {
  const d = new HpackDecoder();
  assertEquals(d.decode(fromHex("040c2f73616d706c652f70617468")), [[":path", "/sample/path"]]);
  assertEquals(d.decode(fromHex("100870617373776f726406736563726574")), [[
    "password",
    "secret",
  ]]);
  assertEquals(d.decode(fromHex("82")), [[":method", "GET"]]);
  assertEquals(d.tableSize, 0);
});

Deno.test("hpack - C.3 requests without Huffman", () => runSequence("C.3", C3, 4096));
Deno.test("hpack - C.4 requests with Huffman", () => runSequence("C.4", C4, 4096));
Deno.test("hpack - C.5 responses without Huffman (256-octet table, evictions)", () => {
  runSequence("C.5", C5, 256);
});
Deno.test("hpack - C.6 responses with Huffman (256-octet table, evictions)", () => {
  runSequence("C.6", C6, 256);
});

Deno.test("hpack - a dynamic table size update at the start of a block applies", () => {
  // Same blocks through one decoder with a size update to 256 first (allowed at block start).
  const d = new HpackDecoder(4096);
  const update = new Uint8Array([0x3f, 0xe1, 0x01]); // size update to 256 (5-bit prefix)
  const first = fromHex(C5[0].hex);
  const block = new Uint8Array(update.length + first.length);
  block.set(update);
  block.set(first, update.length);
  assertEquals(d.decode(block), RESP1);
  assertEquals(d.tableSize, 222);
  assertEquals(d.decode(fromHex(C5[1].hex)), RESP2);
  assertEquals(d.decode(fromHex(C5[2].hex)), RESP3);
  assertEquals(d.tableSize, 215);
});

Deno.test("hpack - Huffman strings of the examples", () => {
  const cases: [string, string][] = [
    ["f1e3c2e5f23a6ba0ab90f4ff", "www.example.com"],
    ["a8eb10649cbf", "no-cache"],
    ["25a849e95ba97d7f", "custom-key"],
    ["25a849e95bb8e8b4bf", "custom-value"],
    ["6402", "302"],
    ["aec3771a4b", "private"],
    ["d07abe941054d444a8200595040b8166e082a62d1bff", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["9d29ad171863c78f0b97c8e9ae82ae43d3", "https://www.example.com"],
  ];
  for (const [hex, text] of cases) {
    const bytes = fromHex(hex);
    assertEquals(huffmanDecode(bytes, 0, bytes.length), text);
    const octets = [...text].map((c) => c.charCodeAt(0));
    const out = new Uint8Array(huffmanEncodedLength(octets));
    assertEquals(huffmanEncode(octets, out, 0), out.length);
    assertEquals(toHex(out), hex, text);
  }
});

Deno.test("hpack - Huffman round trip of every octet value", () => {
  const octets = Array.from({ length: 256 * 3 }, (_, i) => (i * 37) & 0xff);
  const out = new Uint8Array(huffmanEncodedLength(octets));
  huffmanEncode(octets, out, 0);
  const text = huffmanDecode(out, 0, out.length);
  assertEquals([...text].map((c) => c.charCodeAt(0)), octets);
});

function compressionError(fn: () => unknown, includes: string): void {
  const e = assertThrows(fn, Http2Error, includes) as Http2Error;
  assertEquals(e.errorCode, ErrorCode.COMPRESSION_ERROR);
  assertEquals(e.streamId, 0);
}

Deno.test("hpack - malformed blocks are COMPRESSION_ERROR", () => {
  const d = () => new HpackDecoder();
  compressionError(() => d().decode(fromHex("80")), "index 0");
  compressionError(() => d().decode(fromHex("be")), "beyond the dynamic table");
  compressionError(() => d().decode(fromHex("ff")), "truncated integer");
  compressionError(() => d().decode(fromHex("ff8080808080808001")), "integer overflow");
  compressionError(() => d().decode(fromHex("ffffffffff0f")), "integer overflow");
  compressionError(() => d().decode(fromHex("400a6375")), "string longer");
  compressionError(() => d().decode(fromHex("40")), "truncated string");
  // Size update above our SETTINGS_HEADER_TABLE_SIZE, and after a field.
  compressionError(() => d().decode(fromHex("3fe21f")), "exceeds the limit");
  compressionError(() => d().decode(fromHex("8220")), "after a header field");
  // Huffman: EOS inside the string (30 one-bits), padding of 8 bits, padding with a zero bit.
  compressionError(() => d().decode(fromHex("0084ffffffff")), "EOS");
  compressionError(() => d().decode(fromHex("0082f1ff")), "padding");
  compressionError(() => d().decode(fromHex("00811e")), "padding");
});

Deno.test("hpack - an oversized header list is reported but the table stays in sync", () => {
  const d = new HpackDecoder();
  const big = "x".repeat(200);
  const enc = (fields: HeaderField[]) => new HpackEncoder().encode(fields);
  // Literal with incremental indexing of a 200-octet value, by hand.
  const block = new Uint8Array([
    0x40,
    0x01,
    0x61,
    0x7f,
    200 - 127,
    ...new TextEncoder().encode(big),
  ]);
  assertEquals(d.decode(block, 100), undefined);
  assertEquals(d.tableSize, 1 + 200 + 32, "entry still inserted");
  // The next block can reference it.
  assertEquals(d.decode(new Uint8Array([0xbe]), 1000), [["a", big]]);
  assertEquals(d.decode(enc([["b", "c"]]), 1000), [["b", "c"]]);
});

Deno.test("hpack - an entry larger than the table empties it", () => {
  const d = new HpackDecoder(64);
  d.decode(fromHex("400a637573746f6d2d6b65790d637573746f6d2d686561646572")); // 55 octets
  assertEquals(d.tableSize, 55);
  const value = "y".repeat(40);
  d.decode(new Uint8Array([0x40, 0x01, 0x61, value.length, ...new TextEncoder().encode(value)]));
  assertEquals(d.tableSize, 0);
  assertEquals(d.dynamicEntries, []);
});

Deno.test("hpack - encoder round trips, with and without Huffman", () => {
  const lists: HeaderField[][] = [
    [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/dataplane.proto.v1.DataPlaneService/OpenChannel"],
      [":authority", "127.0.0.1:46357"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["user-agent", "slim-ts"],
      ["authorization", "Bearer abc.def.ghi"],
    ],
    [[":status", "200"], ["content-type", "application/grpc"]],
    [["grpc-status", "12"], ["grpc-message", "unknown method /x%20y"], ["x-bin", "\x00\xff\x80"]],
    [["a".repeat(300), "b".repeat(5000)], ["", ""]],
  ];
  for (const huffman of [false, true]) {
    const enc = new HpackEncoder({ huffman });
    const dec = new HpackDecoder();
    for (const fields of lists) {
      const block = enc.encode(fields);
      assertEquals(dec.decode(block), fields);
      assertEquals(dec.tableSize, 0, "encoder never indexes");
    }
  }
  // Exact static matches take one octet; credentials are never indexed (0x1_ prefix).
  assertEquals(toHex(new HpackEncoder().encode([[":method", "POST"], [":status", "200"]])), "8388");
  const auth = new HpackEncoder().encode([["authorization", "x"]]);
  assertEquals(auth[0], 0x1f); // never indexed, name index 23 (4-bit prefix 15 + 8)
  assertEquals(auth[1], 23 - 15);
});

Deno.test("hpack - decoding is independent of how tonic-like blocks index", () => {
  // A block that indexes everything it sends, then a second block made only of indexes.
  const d = new HpackDecoder();
  const lit = (name: string, value: string) => {
    const n = new TextEncoder().encode(name);
    const v = new TextEncoder().encode(value);
    return [0x40, n.length, ...n, v.length, ...v];
  };
  const first = new Uint8Array([
    0x83,
    0x86,
    ...lit(":path", "/dataplane.proto.v1.DataPlaneService/OpenChannel"),
    ...lit("te", "trailers"),
    ...lit("content-type", "application/grpc"),
  ]);
  const fields = d.decode(first)!;
  assert(fields.length === 5);
  const second = d.decode(new Uint8Array([0x83, 0x86, 0xc0, 0xbf, 0xbe]));
  assertEquals(second, [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/dataplane.proto.v1.DataPlaneService/OpenChannel"],
    ["te", "trailers"],
    ["content-type", "application/grpc"],
  ]);
});

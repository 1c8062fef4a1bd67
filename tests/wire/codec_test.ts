import assert from "node:assert/strict";
import { type DescMessage, equals } from "@bufbuild/protobuf";
import { ProtocolError } from "../../lib/errors.ts";
import { Name, NULL_ID } from "../../lib/names/name.ts";
import {
  decodeMessage,
  encodeAad,
  encodeMessage,
  HeaderIntegrityAadSchema,
  MessageSchema,
  nameFromProto,
  NameSchema,
  nameToProto,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";
import { create } from "@bufbuild/protobuf";
import {
  assertBytes,
  type CapturedFrame,
  captureFiles,
  concat,
  fromHex,
  loadCapture,
  thrown,
  toHex,
  where,
} from "../fixtures/captures.ts";

// ---------------------------------------------------------------------------------------------
// A schema-aware "canonicaliser", independent of the code under test: walks the raw protobuf
// bytes with the message descriptors and drops proto3 implicit-presence scalar fields that carry
// their default value (what prost, the real SLIM encoder, never writes). Everything else is kept
// byte for byte, so for a frame written by real SLIM the result is the input itself.
// ---------------------------------------------------------------------------------------------

/** `FeatureSet.FieldPresence.IMPLICIT` (proto3 fields without `optional`). */
const IMPLICIT = 2;

function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let v = 0n, shift = 0n;
  for (;;) {
    if (pos >= b.length) throw new Error("truncated varint");
    const byte = b[pos++];
    v |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [v, pos];
    shift += 7n;
    if (shift > 63n) throw new Error("varint too long");
  }
}

function writeVarint(v: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Uint8Array.from(out);
}

function canonicalize(desc: DescMessage, b: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(b, pos);
    pos = afterTag;
    const number = Number(tag >> 3n), wt = Number(tag & 7n);
    let payloadStart = pos, payloadEnd = pos, isDefault = false;
    switch (wt) {
      case 0: {
        const [v, p] = readVarint(b, pos);
        pos = p;
        isDefault = v === 0n;
        break;
      }
      case 1:
      case 5: {
        const n = wt === 1 ? 8 : 4;
        isDefault = b.subarray(pos, pos + n).every((x) => x === 0);
        pos += n;
        break;
      }
      case 2: {
        const [len, p] = readVarint(b, pos);
        payloadStart = p;
        payloadEnd = p + Number(len);
        pos = payloadEnd;
        isDefault = len === 0n;
        break;
      }
      default:
        throw new Error(`wire type ${wt} in ${desc.typeName}`);
    }
    if (pos > b.length) throw new Error(`truncated field ${number} in ${desc.typeName}`);
    const field = desc.fields.find((f) => f.number === number);
    const sub = field?.fieldKind === "message"
      ? field.message
      : field?.fieldKind === "list" && field.listKind === "message"
      ? field.message
      : undefined;
    if (sub && wt === 2) {
      // Sub-messages are kept even when empty (presence); their content is canonicalised.
      const inner = canonicalize(sub, b.subarray(payloadStart, payloadEnd));
      parts.push(writeVarint(tag), writeVarint(BigInt(inner.length)), inner);
      continue;
    }
    const implicitScalar = field !== undefined && field.oneof === undefined &&
      (field.fieldKind === "scalar" || field.fieldKind === "enum") &&
      field.presence === IMPLICIT;
    if (implicitScalar && isDefault) continue;
    parts.push(b.subarray(start, pos));
  }
  return concat(parts);
}

// ---------------------------------------------------------------------------------------------

/** Frames known to be written by the protobufjs research prototype (defaults encoded). */
const PROTOTYPE_FILE = "multinode-mini-peer.jsonl";

function allFrames(): CapturedFrame[] {
  return captureFiles().flatMap((f) => loadCapture(f));
}

Deno.test("codec - the canonicaliser keeps presence-tracked fields and drops implicit defaults", () => {
  // Sanity of the test helper itself on a hand-made LinkNegotiationPayload-bearing Message:
  // link { link_negotiation { link_id "x", is_reply false (18 00), deployment_name "" (3a 00),
  // link_kem_payload empty (42 00, optional → kept) } }
  const raw = fromHex("2a0d 0a0b 0a0178 1800 3a00 4200 2800");
  const canon = canonicalize(MessageSchema, raw);
  assert.equal(toHex(canon), "2a070a050a01784200");
  assert.equal(toHex(encodeMessage(decodeMessage(raw))), toHex(canon));
});

Deno.test("codec - every captured frame decodes and re-encodes byte-for-byte", () => {
  const files = captureFiles();
  assert.ok(files.includes("p2p-basic.jsonl"), files.join(", "));
  const frames = allFrames();
  assert.ok(frames.length > 700, `only ${frames.length} frames found`);
  const nonCanonical: CapturedFrame[] = [];
  for (const f of frames) {
    const decoded = decodeMessage(f.raw);
    const again = encodeMessage(decoded);
    const canon = canonicalize(MessageSchema, f.raw);
    if (canon.length !== f.raw.length || toHex(canon) !== toHex(f.raw)) {
      nonCanonical.push(f);
      continue;
    }
    assertBytes(again, f.raw, `re-encoding of ${where(f)}`);
  }
  // Exactly the two frames of the protobufjs prototype encode proto3 defaults explicitly; any
  // other frame not round-tripping is a codec regression.
  assert.deepEqual(
    nonCanonical.map(where),
    nonCanonical.filter((f) => f.file === PROTOTYPE_FILE).map(where),
    "only the prototype capture may contain non-canonical frames",
  );
  assert.equal(nonCanonical.length, 2, nonCanonical.map(where).join("; "));
});

Deno.test("codec - the prototype's non-canonical frames re-encode to the canonical form", () => {
  const frames = loadCapture(PROTOTYPE_FILE).filter((f) =>
    toHex(canonicalize(MessageSchema, f.raw)) !== toHex(f.raw)
  );
  assert.equal(frames.length, 2);
  const kinds = frames.map((f) => decodeMessage(f.raw).messageType.case).sort();
  assert.deepEqual(kinds, ["link", "subscribe"]);
  for (const f of frames) {
    const first = decodeMessage(f.raw);
    const again = encodeMessage(first);
    const canon = canonicalize(MessageSchema, f.raw);
    // The original minus its default-valued fields (2 bytes each: tag + 0).
    assert.ok(canon.length < f.raw.length && (f.raw.length - canon.length) % 2 === 0);
    assertBytes(again, canon, `canonical re-encoding of ${where(f)}`);
    assert.ok(equals(MessageSchema, decodeMessage(again), first), where(f));
  }
  // The link request carried is_reply=false (18 00) and deployment_name "" (3a 00).
  const link = frames.find((f) => decodeMessage(f.raw).messageType.case === "link")!;
  const hex = toHex(link.raw);
  assert.ok(hex.includes("1800") && hex.includes("3a00"), hex);
  assert.equal(link.raw.length - encodeMessage(decodeMessage(link.raw)).length, 4);
});

Deno.test("codec - decodeMessage rejects malformed bytes with ProtocolError", () => {
  for (const bad of ["0a", "0a05010203", "1a8080808080808080808001", "07"]) {
    const e = thrown(() => decodeMessage(fromHex(bad)));
    assert.ok(e instanceof ProtocolError, `${bad}: ${e}`);
    assert.match(e.message, /malformed protobuf message/);
  }
  // The empty buffer is a valid (empty) Message.
  assert.equal(decodeMessage(new Uint8Array(0)).messageType.case, undefined);
});

Deno.test("codec - nameToProto / nameFromProto round trip", () => {
  const cases = [
    Name.parse("org/ns/alice/514ee475-d0a5-553e-5ac7-df7233d30afa"),
    Name.parse("org/ns/bob"),
    Name.parse("agntcy/default/x/0"),
    Name.of("a", "b", "c", NULL_ID - 1n),
  ];
  for (const name of cases) {
    const proto = nameToProto(name);
    assert.equal(proto.name?.component0, name.hashes[0]);
    assert.equal(proto.name?.component1, name.hashes[1]);
    assert.equal(proto.name?.component2, name.hashes[2]);
    assert.ok(proto.name?.nameId, "name_id is always present (NULL included)");
    assert.equal((proto.name.nameId.id0 << 64n) | proto.name.nameId.id1, name.id);
    assert.deepEqual(
      [proto.strName?.strComponent0, proto.strName?.strComponent1, proto.strName?.strComponent2],
      [...name.components],
    );
    const back = nameFromProto(proto);
    assert.ok(back.equals(name), name.toString());
    assert.deepEqual(back.components, name.components);
    assert.equal(back.toString(), name.toString());
    // And through the wire bytes.
    const wire = decodeMessage(encodeMessage(create(MessageSchema, {
      messageType: { case: "subscribe", value: { header: { source: proto, destination: proto } } },
    })));
    assert.equal(wire.messageType.case, "subscribe");
    const viaWire = nameFromProto(
      wire.messageType.case === "subscribe"
        ? wire.messageType.value.header?.destination
        : undefined,
    );
    assert.ok(viaWire.equals(name));
  }
  // The NULL id travels as both halves all-ones.
  const nul = nameToProto(Name.parse("org/ns/bob"));
  assert.equal(nul.name?.nameId?.id0, 0xffffffffffffffffn);
  assert.equal(nul.name?.nameId?.id1, 0xffffffffffffffffn);
  // An absent name_id reads as NULL; strings default to "".
  const bare = create(NameSchema, { name: { component0: 1n, component1: 2n, component2: 3n } });
  const n = nameFromProto(bare);
  assert.equal(n.id, NULL_ID);
  assert.deepEqual(n.hashes, [1n, 2n, 3n]);
  assert.deepEqual(n.components, ["", "", ""]);
  // Missing encoded part is a protocol error.
  assert.ok(thrown(() => nameFromProto(undefined)) instanceof ProtocolError);
  assert.ok(
    thrown(() => nameFromProto(create(NameSchema, { strName: { strComponent0: "a" } }))) instanceof
      ProtocolError,
  );
});

Deno.test("codec - encodeAad omits proto3 defaults (no 4a 00 for an empty payload_type)", () => {
  assert.equal(toHex(encodeAad({})), "");
  assert.equal(toHex(encodeAad({ version: 1, payloadType: "" })), "0801");
  assert.equal(toHex(encodeAad({ version: 1, payloadType: "msg" })), "08014a036d7367");
  assert.equal(
    toHex(encodeAad({ version: 1, identity: "", sessionType: 0, sessionId: 0, messageId: 0 })),
    "0801",
  );
  const alice = nameToProto(Name.parse("org/ns/alice/1"));
  const bob = nameToProto(Name.parse("org/ns/bob"));
  const full = encodeAad({
    version: 1,
    source: alice,
    destination: bob,
    identity: "id",
    sessionType: SessionType.POINT_TO_POINT,
    sessionMessageType: SessionMessageType.DISCOVERY_REQUEST,
    sessionId: 7,
    messageId: 9,
    payloadType: "",
  });
  assert.ok(!toHex(full).endsWith("4a00"), toHex(full));
  assertBytes(full, canonicalize(HeaderIntegrityAadSchema, full), "canonical AAD");
  // Field order is by number: version first, message_id (8 → 40 09) last.
  assert.equal(full[0], 0x08);
  assert.equal(toHex(full.subarray(full.length - 2)), "4009");
});

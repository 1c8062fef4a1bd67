import assert from "node:assert/strict";
import { clone, create, equals, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { x25519 } from "@noble/curves/ed25519.js";
import { ProtocolError } from "../../lib/errors.ts";
import { HmacSha256 } from "../../lib/link/hmac_sha256.ts";
import { deriveLinkKey } from "../../lib/link/negotiation.ts";
import { joinId, Name, NULL_ID } from "../../lib/names/name.ts";
import {
  decodeMessage,
  encodeMessage,
  makeMessage,
  type Message,
  MessageSchema,
  nameToProto,
  SessionMessageType,
  SessionType,
  type SLIMHeader,
  SLIMHeaderSchema,
} from "../../lib/wire/codec.ts";
import {
  idKeyOf,
  KIND_LINK,
  KIND_PUBLISH,
  KIND_SUBSCRIBE,
  KIND_SUBSCRIPTION_ACK,
  KIND_UNSUBSCRIBE,
  MAC_LENGTH,
  MessageView,
  NULL_ID_KEY,
  prefixKeyOf,
} from "../../lib/wire/message_view.ts";
import {
  assertBytes,
  type CapturedFrame,
  concat,
  fromHex,
  loadCapture,
  prng,
  randomBytes,
  thrown,
  toHex,
  where,
} from "../fixtures/captures.ts";

const enc = new TextEncoder();

// --- wire.md §3.2 / §3.3 vectors ---------------------------------------------------------------

const LINK_ID = "00000000-0000-4000-8000-000000000001";
const ALICE_PRIVATE = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const BOB_PUBLIC = fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const LINK_KEY_HEX = "a680d00f0018165d80d2e65ba320675d9a4eef298e534a4fc97158ac37ae88bb";

const PREIMAGE_HEX =
  "534c494d2d44502d4844522d7631002400000030303030303030302d303030302d343030302d383030302d303030303030303030303031" +
  "01013b96ea7603583e87d190694c9a76f9ee82b1b6a58fbc907b01000000000000000001000000000000000103000000" +
  "6f7267020000006e7305000000616c69636501013b96ea7603583e87d190694c9a76f9eec473e57a431bae4901ffffffff" +
  "ffffffffffffffffffffffff01030000006f7267020000006e7303000000626f62030000006964310100000000000008000000";
const TAG_HEX = "fb0bbe81bebce12923d7271a290cb009be1cd337c998b0d2bed85f79ad0e2ea8";
/** Same header with recv_from = 5 and error = false: the tail after `fanout` changes. */
const PREIMAGE2_HEX = PREIMAGE_HEX.slice(0, PREIMAGE_HEX.length - 2 * 7) +
  "01" + "0500000000000000" + "00" + "0100" + "08000000";
const TAG2_HEX = "37898ad57a08ed282e27e9429c0e124f5283948bf3a714ba45cbc3cbd017e34c";

function vectorKey(): Uint8Array {
  const shared = x25519.getSharedSecret(ALICE_PRIVATE, BOB_PUBLIC);
  const key = deriveLinkKey(shared, LINK_ID);
  assert.equal(toHex(key), LINK_KEY_HEX);
  return key;
}

type HeaderInit = MessageInitShape<typeof MessageSchema>;
type HeaderFields = MessageInitShape<typeof SLIMHeaderSchema>;

function vectorHeader(extra: HeaderFields = {}): HeaderFields {
  return {
    source: nameToProto(Name.of("org", "ns", "alice", 1n)),
    destination: nameToProto(Name.parse("org/ns/bob")),
    identity: "id1",
    fanout: 1,
    ttl: 8,
    ...extra,
  };
}

function publishOf(header: HeaderFields): Uint8Array {
  const init: HeaderInit = {
    messageType: { case: "publish", value: { header, session: {} } },
  };
  return encodeMessage(makeMessage(init));
}

/** The preimage bytes written by `preimage()` (its length is not exposed: compare a prefix). */
function preimageBytes(view: MessageView, hmac: HmacSha256, expectedLength: number): Uint8Array {
  return view.preimage(enc.encode(LINK_ID), hmac, 0, false).slice(0, expectedLength);
}

Deno.test("message view - MAC preimage and tag match the wire.md §3.3 vector", () => {
  const hmac = new HmacSha256(vectorKey());
  const expected = fromHex(PREIMAGE_HEX);
  assert.equal(expected.length, 203, "the vector is 203 bytes");
  assert.equal(toHex(hmac.mac(expected)), TAG_HEX, "HMAC of the published preimage");

  const view = new MessageView().parse(publishOf(vectorHeader()));
  assert.equal(view.invalidReason(), undefined);
  assertBytes(preimageBytes(view, hmac, 203), expected, "preimage");

  // A message carrying the published tag verifies.
  const signed = new MessageView().parse(
    publishOf(vectorHeader({ headerMac: fromHex(TAG_HEX) })),
  );
  assert.equal(signed.hasMac, true);
  assert.equal(signed.verifyMac(enc.encode(LINK_ID), hmac, new Uint8Array(32)), true);

  // Signing the unsigned message for output with the same TTL produces the published tag.
  const out = new Uint8Array(view.forwardSize(8, -1, true));
  const at = view.writeForward(out, 0, 8, -1, true);
  view.signForward(enc.encode(LINK_ID), hmac, 8, out, at);
  assert.equal(toHex(out.subarray(at, at + MAC_LENGTH)), TAG_HEX);
});

Deno.test("message view - MAC vector with recv_from = 5 and error = false present", () => {
  const hmac = new HmacSha256(vectorKey());
  const expected = fromHex(PREIMAGE2_HEX);
  assert.ok(
    PREIMAGE2_HEX.endsWith(
      "03000000696431" + "01000000" + "01" + "0500000000000000" + "00" + "0100" +
        "08000000",
    ),
  );
  assert.equal(toHex(hmac.mac(expected)), TAG2_HEX, "HMAC of the published preimage");

  const view = new MessageView().parse(
    publishOf(vectorHeader({ recvFrom: 5n, error: false })),
  );
  assert.equal(view.recvFrom, true);
  assert.equal(view.recvFromIndex, 5);
  assert.equal(view.error, true, "error present");
  assert.equal(view.errorValue, false);
  assertBytes(preimageBytes(view, hmac, expected.length), expected, "preimage");

  const signed = new MessageView().parse(
    publishOf(vectorHeader({ recvFrom: 5n, error: false, headerMac: fromHex(TAG2_HEX) })),
  );
  assert.equal(signed.verifyMac(enc.encode(LINK_ID), hmac, new Uint8Array(32)), true);
  // The tag of the base vector does not verify this header (presence matters).
  const wrong = new MessageView().parse(
    publishOf(vectorHeader({ recvFrom: 5n, error: false, headerMac: fromHex(TAG_HEX) })),
  );
  assert.equal(wrong.verifyMac(enc.encode(LINK_ID), hmac, new Uint8Array(32)), false);
});

// --- (a) forwarding reproduces the real node's bytes ------------------------------------------

function publishKey(m: Message): string | undefined {
  if (m.messageType.case !== "publish") return undefined;
  const s = m.messageType.value.session;
  return s ? `${s.sessionId}/${s.messageId}/${s.sessionMessageType}` : undefined;
}

/** Checks that forwarding `input` like the node did yields `output` (MAC bytes excepted). */
function checkForward(input: CapturedFrame, output: CapturedFrame): void {
  const outMsg = decodeMessage(output.raw);
  assert.equal(outMsg.messageType.case, "publish");
  const h = outMsg.messageType.value.header!;
  assert.ok(h.incomingConn !== undefined, `${where(output)} has incoming_conn`);
  assert.equal(h.headerMac?.length, 32, `${where(output)} has a 32-byte MAC`);
  const view = new MessageView().parse(input.raw);
  assert.equal(view.invalidReason(), undefined, where(input));
  assert.equal(view.ttl, h.ttl + 1, "the node decremented the TTL once");
  const incoming = Number(h.incomingConn);
  const size = view.forwardSize(h.ttl, incoming, true);
  assert.equal(size, output.raw.length, `forwardSize for ${where(output)}`);
  const out = new Uint8Array(size + 8).fill(0xee);
  const at = view.writeForward(out, 4, h.ttl, incoming, true);
  assert.equal(out[3], 0xee, "nothing written before the offset");
  assert.equal(out[4 + size], 0xee, "nothing written past forwardSize");
  const produced = out.slice(4, 4 + size);
  const macAt = at - 4;
  assert.ok(macAt > 0 && macAt + 32 <= size, `MAC slot ${macAt}`);
  // Put the real node's tag into our slot: the rest must be identical, which also proves that
  // the slot is where the real node put its MAC.
  produced.set(h.headerMac!, macAt);
  assertBytes(produced, output.raw, `forward of ${where(input)} vs ${where(output)}`);
}

Deno.test("message view - writeForward reproduces p2p-basic's node->app publishes (MAC aside)", () => {
  const frames = loadCapture("p2p-basic.jsonl");
  const decoded = frames.map((f) => decodeMessage(f.raw));
  let pairs = 0;
  frames.forEach((f, i) => {
    const key = publishKey(decoded[i]);
    if (!key || f.direction !== "app->node") return;
    const j = frames.findIndex((g, k) =>
      k > i && g.direction === "node->app" && publishKey(decoded[k]) === key
    );
    if (j < 0) return;
    checkForward(f, frames[j]);
    pairs++;
  });
  assert.equal(pairs, 10, "every one of the 10 publishes was forwarded once");
});

/** Bytes of a publish with the hop-specific header fields cleared, to pair input and output. */
function contentKey(m: Message): string | undefined {
  if (m.messageType.case !== "publish") return undefined;
  const c = clone(MessageSchema, m);
  if (c.messageType.case !== "publish" || !c.messageType.value.header) return undefined;
  const h = c.messageType.value.header;
  h.ttl = 0;
  h.incomingConn =
    h.headerMac =
    h.recvFrom =
    h.forwardTo =
      undefined;
  return toHex(encodeMessage(c));
}

Deno.test("message view - writeForward reproduces every forwarded publish of the session captures, metadata included", () => {
  let pairs = 0, withMetadata = 0;
  const failures: string[] = [];
  for (const file of ["p2p-basic.jsonl", "p2p-mls.jsonl", "group-mls.jsonl"]) {
    const last = new Map<string, CapturedFrame>();
    for (const f of loadCapture(file)) {
      const m = decodeMessage(f.raw);
      const key = contentKey(m);
      if (!key) continue;
      if (f.direction === "app->node") {
        last.set(key, f);
        continue;
      }
      const input = last.get(key);
      if (!input) continue;
      pairs++;
      if (Object.keys(m.metadata).length > 0) withMetadata++;
      try {
        checkForward(input, f);
      } catch (e) {
        failures.push(
          `${where(f)} (metadata ${JSON.stringify(m.metadata)}): ${(e as Error).message}`,
        );
      }
    }
  }
  assert.ok(pairs >= 80, `${pairs} forwarded publishes paired`);
  assert.ok(withMetadata >= 10, `${withMetadata} of them carry metadata`);
  // The real node (prost) writes the `metadata` map (field 4) AFTER the message_type oneof body;
  // a forward that puts it first differs from offset 0 on for every message with metadata.
  assert.deepEqual(failures, [], `${failures.length} of ${pairs} forwards differ`);
});

// --- (c) sign / verify ----------------------------------------------------------------------------

function richPublish(extra: HeaderFields = {}, metadata: Record<string, string> = {}) {
  return encodeMessage(makeMessage({
    metadata,
    messageType: {
      case: "publish",
      value: {
        header: {
          source: nameToProto(Name.parse("org/ns/alice/514ee475-d0a5-553e-5ac7-df7233d30afa")),
          destination: nameToProto(Name.parse("org/ns/bob")),
          identity: "org/ns/alice_OzBvxp1y:1795239484:nonce:claims:mac",
          fanout: 1,
          ttl: 8,
          ...extra,
        },
        session: {
          sessionType: SessionType.POINT_TO_POINT,
          sessionMessageType: SessionMessageType.MSG,
          sessionId: 42,
          messageId: 7,
        },
        msg: {
          contentType: {
            case: "appPayload",
            value: { payloadType: "text/plain", blob: enc.encode("hello") },
          },
        },
      },
    },
  }));
}

Deno.test("message view - verifyMac accepts signForward output and rejects every flipped header bit", () => {
  const hmac = new HmacSha256(vectorKey());
  const linkId = enc.encode(LINK_ID);
  const tag = new Uint8Array(32);
  const view = new MessageView().parse(richPublish({ error: true }));
  const size = view.forwardSize(7, -1, true);
  const out = new Uint8Array(size);
  const at = view.writeForward(out, 0, 7, -1, true);
  view.signForward(linkId, hmac, 7, out, at);

  const check = new MessageView().parse(out);
  assert.equal(check.ttl, 7);
  assert.equal(check.verifyMac(linkId, hmac, tag), true, "own signature verifies");
  assert.equal(toHex(tag), toHex(out.subarray(at, at + 32)), "tagOut receives the computed tag");
  assert.equal(check.verifyMac(enc.encode(LINK_ID.replace("1", "2")), hmac, tag), false);
  assert.equal(check.verifyMac(linkId, new HmacSha256(new Uint8Array(32)), tag), false);

  // Every bit of the header (fields, lengths, tags, MAC) is covered; this header has no version
  // nor incoming_conn (not MAC'd) and no e2e signature. A flip may only go unnoticed when the
  // header still decodes to the very same values for protobuf-es too (e.g. the unused high bits
  // of the 10th byte of a 64-bit varint, or a scalar's wire type; see the strictness test below).
  const header = decodeMessage(out).messageType.value as { header?: SLIMHeader };
  let flips = 0, unparsable = 0, noOps = 0;
  for (let i = check.headerStart; i < check.headerEnd; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = out.slice();
      bad[i] ^= 1 << bit;
      let ok: boolean;
      try {
        ok = new MessageView().parse(bad).verifyMac(linkId, hmac, tag);
      } catch {
        unparsable++;
        continue;
      }
      flips++;
      if (!ok) continue;
      let same = false, malformed = false;
      try {
        const h = (decodeMessage(bad).messageType.value as { header?: SLIMHeader }).header;
        same = h !== undefined && equals(SLIMHeaderSchema, h, header.header!);
      } catch {
        // Bytes no protobuf decoder accepts (e.g. wire type 6): see the strictness test below.
        malformed = true;
      }
      if (malformed) continue;
      assert.ok(
        same,
        `flipping bit ${bit} of byte ${i} (${toHex(out.subarray(i - 2, i + 3))} -> ` +
          `${toHex(bad.subarray(i - 2, i + 3))}) changes the header but still verifies`,
      );
      noOps++;
    }
  }
  assert.ok(noOps < flips / 20, `${noOps} value-preserving flips of ${flips}`);
  assert.ok(flips > 1500, `${flips} flips checked (${unparsable} unparsable)`);
});

Deno.test("message view - version, incoming_conn and e2e_header_sig are not MAC'd; ttl and error are", () => {
  const hmac = new HmacSha256(vectorKey());
  const linkId = enc.encode(LINK_ID);
  const sign = (extra: HeaderFields) => {
    const v = new MessageView().parse(richPublish(extra));
    const out = new Uint8Array(v.forwardSize(v.ttl, -1, true));
    const at = v.writeForward(out, 0, v.ttl, -1, true);
    v.signForward(linkId, hmac, v.ttl, out, at);
    return toHex(out.subarray(at, at + 32));
  };
  const base = sign({});
  assert.equal(sign({ version: "9.9.9" }), base);
  assert.equal(sign({ incomingConn: 3n }), base);
  assert.equal(sign({ e2eHeaderSig: Uint8Array.of(1, 2, 3) }), base);
  assert.notEqual(sign({ ttl: 9 }), base);
  assert.notEqual(sign({ error: false }), base);
  assert.notEqual(sign({ error: true }), sign({ error: false }));
  assert.notEqual(sign({ identity: "x" }), base);
  assert.notEqual(sign({ fanout: 2 }), base);
  // recv_from / forward_to are cleared on output, so they do not change an output tag.
  assert.equal(sign({ recvFrom: 1n, forwardTo: 2n }), base);
  // A MAC of the wrong length is never accepted.
  const short = new MessageView().parse(richPublish({ headerMac: new Uint8Array(31) }));
  assert.equal(short.hasMac, false);
  assert.equal(short.verifyMac(linkId, hmac, new Uint8Array(32)), false);
  const none = new MessageView().parse(richPublish());
  assert.equal(none.hasMac, false);
  assert.equal(none.verifyMac(linkId, hmac, new Uint8Array(32)), false);
});

Deno.test("message view - header fields with an illegal wire type are rejected like protobuf-es does", () => {
  // header_mac (field 11) tagged with wire type 6 (`5e`), which no protobuf decoder accepts:
  // decodeMessage rejects the message, so the zero-copy view must not route, verify or forward it.
  const names = toBinary(
    SLIMHeaderSchema,
    create(SLIMHeaderSchema, {
      source: nameToProto(Name.parse("org/ns/a")),
      destination: nameToProto(Name.parse("org/ns/b")),
      fanout: 1,
      ttl: 8,
    }),
  );
  const lenPrefixed = (tag: number, b: Uint8Array) => {
    const len: number[] = [];
    let n = b.length;
    while (n >= 0x80) {
      len.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    len.push(n);
    return concat([Uint8Array.of(tag, ...len), b]);
  };
  for (const odd of ["5e20" + "11".repeat(32), "37" + "07", "4f" + "01"]) {
    const header = concat([names, fromHex(odd)]);
    const msg = lenPrefixed(0x1a, concat([lenPrefixed(0x0a, header), fromHex("1200")]));
    assert.ok(thrown(() => decodeMessage(msg)) instanceof ProtocolError, `codec rejects ${odd}`);
    let view: MessageView | undefined;
    try {
      view = new MessageView().parse(msg);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
      continue;
    }
    assert.notEqual(
      view.invalidReason(),
      undefined,
      `MessageView accepts header field bytes ${odd} (wire type ${
        parseInt(odd.slice(0, 2), 16) & 7
      })` +
        ` that decodeMessage rejects (hasMac=${view.hasMac}, ttl=${view.ttl})`,
    );
  }
});

// --- (d) invalidReason --------------------------------------------------------------------------

Deno.test("message view - invalidReason names what the real node would drop", () => {
  const reason = (init: HeaderInit) =>
    new MessageView().parse(encodeMessage(makeMessage(init))).invalidReason();
  const src = nameToProto(Name.parse("org/ns/alice"));
  const dst = nameToProto(Name.parse("org/ns/bob"));
  assert.equal(reason({}), "message_type not set");
  assert.equal(reason({ metadata: { a: "b" } }), "message_type not set");
  assert.equal(
    reason({ messageType: { case: "publish", value: { session: {} } } }),
    "missing SLIM header",
  );
  assert.equal(
    reason({ messageType: { case: "subscribe", value: { subscriptionId: 1n } } }),
    "missing SLIM header",
  );
  assert.equal(
    reason({
      messageType: { case: "publish", value: { header: { source: src, destination: dst } } },
    }),
    "publish without session header",
  );
  assert.equal(
    reason({
      messageType: {
        case: "publish",
        value: {
          header: { source: { strName: src.strName }, destination: dst },
          session: {},
        },
      },
    }),
    "header source name missing",
  );
  assert.equal(
    reason({
      messageType: { case: "publish", value: { header: { destination: dst }, session: {} } },
    }),
    "header source name missing",
  );
  assert.equal(
    reason({
      messageType: {
        case: "unsubscribe",
        value: { header: { source: src, destination: { strName: dst.strName } } },
      },
    }),
    "header destination name missing",
  );
  // Valid ones.
  assert.equal(
    reason({
      messageType: {
        case: "publish",
        value: { header: { source: src, destination: dst }, session: {} },
      },
    }),
    undefined,
  );
  assert.equal(
    reason({
      messageType: { case: "subscribe", value: { header: { source: src, destination: dst } } },
    }),
    undefined,
  );
  assert.equal(reason({ messageType: { case: "link", value: {} } }), undefined);
  assert.equal(reason({ messageType: { case: "subscriptionAck", value: {} } }), undefined);
});

Deno.test("message view - kind and a reused view reset between parses", () => {
  const view = new MessageView();
  const kinds: [HeaderInit, number][] = [
    [{ messageType: { case: "subscribe", value: {} } }, KIND_SUBSCRIBE],
    [{ messageType: { case: "unsubscribe", value: {} } }, KIND_UNSUBSCRIBE],
    [{ messageType: { case: "publish", value: {} } }, KIND_PUBLISH],
    [{ messageType: { case: "link", value: {} } }, KIND_LINK],
    [{ messageType: { case: "subscriptionAck", value: {} } }, KIND_SUBSCRIPTION_ACK],
    [{}, 0],
  ];
  for (const [init, kind] of kinds) {
    assert.equal(view.parse(encodeMessage(makeMessage(init))).kind, kind);
  }
  view.parse(richPublish({ headerMac: new Uint8Array(32) }, { k: "v" }));
  assert.equal(view.hasMac, true);
  assert.equal(view.metadata.length, 2);
  view.parse(encodeMessage(makeMessage({ messageType: { case: "publish", value: {} } })));
  assert.equal(view.invalidReason(), "missing SLIM header");
  assert.equal(view.metadata.length, 0);
  view.parse(richPublish());
  assert.equal(view.hasMac, false, "MAC of the previous message forgotten");
  assert.equal(view.invalidReason(), undefined);
});

// --- (e) what writeForward keeps and changes -----------------------------------------------------

Deno.test("message view - writeForward drops recv_from/forward_to, replaces ttl/incoming_conn/MAC, keeps the rest", () => {
  const rand = prng(7);
  const oldMac = randomBytes(rand, 32);
  const sig = randomBytes(rand, 71);
  const metadata = { PUBLISH_TO: "TRUE", traceparent: "00-abc-def-01" };
  const input = richPublish({
    version: "2.0.0-alpha.8",
    fanout: 256,
    ttl: 8,
    recvFrom: 3n,
    forwardTo: 4n,
    incomingConn: 9n,
    error: false,
    headerMac: oldMac,
    e2eHeaderSig: sig,
  }, metadata);
  const original = decodeMessage(input);
  const view = new MessageView().parse(input);
  assert.equal(view.forwardToIndex, 4);
  assert.equal(view.recvFromIndex, 3);

  const size = view.forwardSize(7, 2, true);
  const out = new Uint8Array(size);
  const at = view.writeForward(out, 0, 7, 2, true);
  out.set(new Uint8Array(32).fill(0xab), at);
  const fwd = decodeMessage(out);
  assert.equal(fwd.messageType.case, "publish");
  assert.equal(original.messageType.case, "publish");
  const h = fwd.messageType.value.header!;
  const o = original.messageType.value.header!;
  assert.equal(h.recvFrom, undefined);
  assert.equal(h.forwardTo, undefined);
  assert.equal(h.ttl, 7);
  assert.equal(h.incomingConn, 2n);
  assert.equal(toHex(h.headerMac!), "ab".repeat(32));
  assert.equal(h.error, false, "error=false stays present");
  assert.equal(toHex(h.e2eHeaderSig!), toHex(sig));
  assert.equal(h.version, "2.0.0-alpha.8");
  assert.equal(h.identity, o.identity);
  assert.equal(h.fanout, 256);
  assert.deepEqual(h.source, o.source);
  assert.deepEqual(h.destination, o.destination);
  assert.deepEqual(fwd.metadata, metadata);
  assert.deepEqual(fwd.messageType.value.session, original.messageType.value.session);
  assert.deepEqual(fwd.messageType.value.msg, original.messageType.value.msg);

  // Without MAC and without incoming_conn.
  const bare = new Uint8Array(view.forwardSize(5, -1, false));
  assert.equal(view.writeForward(bare, 0, 5, -1, false), -1);
  const b = decodeMessage(bare);
  assert.equal(b.messageType.case, "publish");
  const bh = b.messageType.value.header!;
  assert.equal(bh.headerMac, undefined);
  assert.equal(bh.incomingConn, undefined);
  assert.equal(bh.ttl, 5);
  assert.equal(toHex(bh.e2eHeaderSig!), toHex(sig));
  assert.equal(bh.error, false);
  // incoming_conn 0 is written (explicit presence).
  const zero = new Uint8Array(view.forwardSize(7, 0, false));
  view.writeForward(zero, 0, 7, 0, false);
  const z = decodeMessage(zero);
  assert.equal(z.messageType.case === "publish" && z.messageType.value.header?.incomingConn, 0n);
});

Deno.test("message view - writeForward output equals the canonical encoding of the forwarded message", () => {
  const rand = prng(11);
  const variants: HeaderFields[] = [
    {},
    { error: true },
    { error: false, e2eHeaderSig: randomBytes(rand, 70) },
    { version: "2.0.0-alpha.8", recvFrom: 1n, incomingConn: 5n, headerMac: randomBytes(rand, 32) },
    {
      version: "v",
      fanout: 256,
      recvFrom: 1n,
      forwardTo: 2n,
      incomingConn: 3n,
      error: true,
      headerMac: randomBytes(rand, 32),
      e2eHeaderSig: randomBytes(rand, 71),
    },
  ];
  for (const [i, extra] of variants.entries()) {
    const input = richPublish(extra);
    const view = new MessageView().parse(input);
    for (const [ttl, conn, withMac] of [[7, 1, true], [7, -1, false], [200, 300, true]] as const) {
      const out = new Uint8Array(view.forwardSize(ttl, conn, withMac));
      const at = view.writeForward(out, 0, ttl, conn, withMac);
      const mac = withMac ? out.slice(at, at + 32) : undefined;
      const expected = decodeMessage(input);
      assert.equal(expected.messageType.case, "publish");
      const h = expected.messageType.value.header!;
      h.ttl = ttl;
      h.incomingConn = conn >= 0 ? BigInt(conn) : undefined;
      h.recvFrom = h.forwardTo = undefined;
      h.headerMac = mac;
      assertBytes(out, encodeMessage(expected), `variant ${i}, ttl ${ttl}, conn ${conn}`);
    }
  }
});

Deno.test("message view - writeForward of subscribe/unsubscribe keeps subscription_id", () => {
  for (const kind of ["subscribe", "unsubscribe"] as const) {
    const input = encodeMessage(makeMessage({
      messageType: {
        case: kind,
        value: {
          header: {
            source: nameToProto(Name.parse("org/ns/alice/1")),
            destination: nameToProto(Name.parse("org/ns/alice/1")),
            ttl: 8,
            fanout: 1,
            recvFrom: 1n,
          },
          subscriptionId: 0xfedcba9876543210n,
        },
      },
    }));
    const view = new MessageView().parse(input);
    assert.equal(view.subIdLo, 0x76543210);
    assert.equal(view.subIdHi, 0xfedcba98);
    const out = new Uint8Array(view.forwardSize(7, 1, true));
    view.writeForward(out, 0, 7, 1, true);
    const m = decodeMessage(out);
    assert.equal(m.messageType.case, kind);
    if (m.messageType.case !== kind) continue;
    assert.equal(m.messageType.value.subscriptionId, 0xfedcba9876543210n);
    assert.equal(m.messageType.value.header?.recvFrom, undefined);
    assert.equal(m.messageType.value.header?.ttl, 7);
  }
});

// --- (f) keys -----------------------------------------------------------------------------------

Deno.test("message view - prefixKey/idKey equal prefixKeyOf/idKeyOf; absent name_id is NULL", () => {
  const names = [
    Name.parse("org/ns/alice/514ee475-d0a5-553e-5ac7-df7233d30afa"),
    Name.parse("org/ns/bob"),
    Name.of("a", "b", "c", 0n),
    Name.of("a", "b", "c", (1n << 64n) - 1n),
    Name.of("a", "b", "c", 1n << 64n),
    Name.of("x", "y", "z", NULL_ID - 1n),
  ];
  const view = new MessageView();
  const keys = new Set<string>();
  for (const name of names) {
    view.parse(encodeMessage(makeMessage({
      messageType: {
        case: "publish",
        value: {
          header: { source: nameToProto(name), destination: nameToProto(name) },
          session: {},
        },
      },
    })));
    const d = view.destination;
    assert.equal(d.prefixKey(), prefixKeyOf(...name.hashes), name.toString());
    assert.equal(d.idKey(), idKeyOf(name.id), name.toString());
    assert.equal(d.isNullId, name.id === NULL_ID);
    assert.equal(view.source.idKey(), d.idKey());
    keys.add(d.idKey());
    // The halves read back give the same bigint id.
    assert.equal(
      joinId(
        (BigInt(d.id[1]) << 32n) | BigInt(d.id[0]),
        (BigInt(d.id[3]) << 32n) | BigInt(d.id[2]),
      ),
      name.id,
    );
  }
  assert.equal(keys.size, names.length, "distinct ids give distinct keys");
  assert.equal(idKeyOf(NULL_ID), NULL_ID_KEY);
  assert.notEqual(prefixKeyOf(1n, 2n, 3n), prefixKeyOf(3n, 2n, 1n));
  assert.notEqual(idKeyOf(1n), idKeyOf(1n << 64n));

  // name_id absent: NULL.
  const bare = nameToProto(Name.parse("org/ns/bob"));
  bare.name!.nameId = undefined;
  view.parse(encodeMessage(makeMessage({
    messageType: { case: "subscribe", value: { header: { source: bare, destination: bare } } },
  })));
  assert.equal(view.destination.idPresent, false);
  assert.equal(view.destination.isNullId, true);
  assert.equal(view.destination.idKey(), NULL_ID_KEY);
  assert.equal(view.destination.prefixKey(), prefixKeyOf(...Name.parse("org/ns/bob").hashes));
  // An empty NameId (present, both halves 0) is id 0, not NULL.
  bare.name!.nameId = { $typeName: "dataplane.proto.v1.NameId", id0: 0n, id1: 0n };
  view.parse(encodeMessage(makeMessage({
    messageType: { case: "subscribe", value: { header: { source: bare, destination: bare } } },
  })));
  assert.equal(view.destination.idPresent, true);
  assert.equal(view.destination.isNullId, false);
  assert.equal(view.destination.idKey(), idKeyOf(0n));
});

Deno.test("message view - keys of captured names equal the keys of their bigint values", () => {
  const view = new MessageView();
  let n = 0;
  for (const f of loadCapture("p2p-basic.jsonl")) {
    const m = decodeMessage(f.raw);
    if (m.messageType.case !== "publish" && m.messageType.case !== "subscribe") continue;
    const d = m.messageType.value.header!.destination!.name!;
    view.parse(f.raw);
    assert.equal(
      view.destination.prefixKey(),
      prefixKeyOf(d.component0, d.component1, d.component2),
    );
    assert.equal(
      view.destination.idKey(),
      idKeyOf(d.nameId ? joinId(d.nameId.id0, d.nameId.id1) : NULL_ID),
      where(f),
    );
    n++;
  }
  assert.equal(n, 22);
});

import assert from "node:assert/strict";
import { x25519 } from "@noble/curves/ed25519.js";
import { LinkError } from "../../lib/errors.ts";
import { HmacSha256 } from "../../lib/link/hmac_sha256.ts";
import {
  agreeLinkKey,
  categoryOf,
  checkReply,
  checkRequest,
  connectionTypeOf,
  deriveLinkKey,
  ephemeralKey,
  isSemver,
  LinkMac,
  negotiationMessage,
  negotiationOf,
} from "../../lib/link/negotiation.ts";
import {
  decodeMessage,
  encodeMessage,
  LinkConnectionType,
  type LinkNegotiationPayload,
  LinkNegotiationPayloadSchema,
  makeMessage,
  SLIM_WIRE_VERSION,
} from "../../lib/wire/codec.ts";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  assertBytes,
  captureFiles,
  fromHex,
  loadCapture,
  thrown,
  toHex,
  where,
} from "../fixtures/captures.ts";

// RFC 7748 §6.1.
const ALICE_PRIVATE = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const ALICE_PUBLIC = fromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
const BOB_PRIVATE = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
const BOB_PUBLIC = fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
const LINK_ID = "00000000-0000-4000-8000-000000000001";
const LINK_KEY = "a680d00f0018165d80d2e65ba320675d9a4eef298e534a4fc97158ac37ae88bb";

const probe = new TextEncoder().encode("probe message");
const tagWith = (key: string) => toHex(new HmacSha256(fromHex(key)).mac(probe));

function payload(
  init: MessageInitShape<typeof LinkNegotiationPayloadSchema>,
): LinkNegotiationPayload {
  return create(LinkNegotiationPayloadSchema, {
    linkId: LINK_ID,
    slimVersion: "2.0.0-alpha.8",
    ...init,
  });
}

Deno.test("negotiation - X25519 + HKDF link key matches the wire.md §3.2 vector", () => {
  assert.equal(toHex(x25519.getPublicKey(ALICE_PRIVATE)), toHex(ALICE_PUBLIC));
  const shared = x25519.getSharedSecret(ALICE_PRIVATE, BOB_PUBLIC);
  assert.equal(toHex(shared), SHARED);
  assert.ok(SHARED.startsWith("4a5d9d5b") && SHARED.endsWith("1e161742"));
  assert.equal(toHex(deriveLinkKey(shared, LINK_ID)), LINK_KEY);
  // The salt is the link id: another id gives another key.
  assert.notEqual(toHex(deriveLinkKey(shared, LINK_ID.replace(/1$/, "2"))), LINK_KEY);
});

Deno.test("negotiation - agreeLinkKey gives both ends the vector key", () => {
  const alice = agreeLinkKey(
    { privateKey: ALICE_PRIVATE, publicKey: ALICE_PUBLIC },
    BOB_PUBLIC,
    LINK_ID,
    true,
  );
  const bob = agreeLinkKey(
    { privateKey: BOB_PRIVATE, publicKey: BOB_PUBLIC },
    ALICE_PUBLIC,
    LINK_ID,
    true,
  );
  assert.ok(alice instanceof LinkMac && bob instanceof LinkMac);
  assert.equal(toHex(alice.outgoing.mac(probe)), tagWith(LINK_KEY));
  assert.equal(toHex(bob.outgoing.mac(probe)), tagWith(LINK_KEY));
  assert.equal(new TextDecoder().decode(alice.linkId), LINK_ID);
  assert.equal(alice.tag.length, 32);
  // Fresh ephemeral keys agree with each other too.
  const a = ephemeralKey(), b = ephemeralKey();
  assert.equal(a.publicKey.length, 32);
  assert.notEqual(toHex(a.privateKey), toHex(b.privateKey));
  const ka = agreeLinkKey(a, b.publicKey, "l", true)!;
  const kb = agreeLinkKey(b, a.publicKey, "l", false)!;
  assert.equal(toHex(ka.outgoing.mac(probe)), toHex(kb.outgoing.mac(probe)));
  assert.notEqual(toHex(ka.outgoing.mac(probe)), tagWith(LINK_KEY));
});

Deno.test("negotiation - empty peer key: no MAC when not required, LinkError when required", () => {
  const own = { privateKey: ALICE_PRIVATE, publicKey: ALICE_PUBLIC };
  assert.equal(agreeLinkKey(own, new Uint8Array(0), LINK_ID, false), undefined);
  const e = thrown(() => agreeLinkKey(own, new Uint8Array(0), LINK_ID, true));
  assert.ok(e instanceof LinkError, String(e));
  assert.equal((e as LinkError).code, "link");
  assert.match(e.message, /public key length is invalid/);
});

Deno.test("negotiation - keys of the wrong length or low order are rejected", () => {
  const own = { privateKey: ALICE_PRIVATE, publicKey: ALICE_PUBLIC };
  for (const len of [31, 33, 1, 64]) {
    for (const required of [true, false]) {
      const e = thrown(() => agreeLinkKey(own, new Uint8Array(len).fill(9), LINK_ID, required));
      assert.ok(e instanceof LinkError, `${len} bytes: ${e}`);
      assert.match(e.message, /public key length is invalid/);
      assert.match(e.message, new RegExp(`${len} bytes`));
    }
  }
  // The all-zero point gives an all-zero shared secret: refused, not silently used.
  const e = thrown(() => agreeLinkKey(own, new Uint8Array(32), LINK_ID, true));
  assert.ok(e instanceof LinkError, String(e));
});

Deno.test("negotiation - isSemver", () => {
  for (
    const v of ["2.0.0-alpha.8", "0.0.0", "1.2.3", "10.20.30", "1.0.0+build.5", "1.0.0-rc.1+b"]
  ) {
    assert.equal(isSemver(v), true, v);
  }
  for (
    const v of ["notsemver", "1.2", "1", "", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3 ", "1.2.3.4"]
  ) {
    assert.equal(isSemver(v), false, JSON.stringify(v));
  }
  assert.equal(isSemver(SLIM_WIRE_VERSION), true);
});

Deno.test("negotiation - checkRequest errors", () => {
  checkRequest(payload({ isReply: false }));
  let e = thrown(() => checkRequest(payload({ isReply: true })));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /got a reply/);
  e = thrown(() => checkRequest(payload({ linkId: "" })));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /empty link_id/);
  e = thrown(() => checkRequest(payload({ slimVersion: "notsemver" })));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /unparsable remote SLIM version "notsemver"/);
});

Deno.test("negotiation - checkReply errors", () => {
  checkReply(payload({ isReply: true }), LINK_ID);
  let e = thrown(() => checkReply(payload({ isReply: true, linkId: "other" }), LINK_ID));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /"other"/);
  assert.ok(e.message.includes(JSON.stringify(LINK_ID)), e.message);
  e = thrown(() => checkReply(payload({ isReply: false }), LINK_ID));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /got a request/);
  e = thrown(() => checkReply(payload({ isReply: true, slimVersion: "1.2" }), LINK_ID));
  assert.ok(e instanceof LinkError);
  assert.match(e.message, /unparsable remote SLIM version "1.2"/);
});

Deno.test("negotiation - connection categories", () => {
  assert.equal(categoryOf(LinkConnectionType.EDGE), "edge");
  assert.equal(categoryOf(LinkConnectionType.PEER), "peer");
  assert.equal(categoryOf(LinkConnectionType.REMOTE), "remote");
  assert.equal(categoryOf(99 as LinkConnectionType), "remote", "unknown values count as remote");
  assert.equal(connectionTypeOf("edge"), LinkConnectionType.EDGE);
  assert.equal(connectionTypeOf("peer"), LinkConnectionType.PEER);
  assert.equal(connectionTypeOf("remote"), LinkConnectionType.REMOTE);
  assert.equal(connectionTypeOf("local"), LinkConnectionType.REMOTE);
  assert.equal(LinkConnectionType.EDGE, 2);
});

function rebuild(p: LinkNegotiationPayload): Uint8Array {
  return encodeMessage(negotiationMessage({
    linkId: p.linkId,
    isReply: p.isReply,
    publicKey: p.linkEcdhPublicKey,
    category: categoryOf(p.connectionType),
    nodeId: p.nodeId,
    deploymentName: p.deploymentName,
    version: p.slimVersion,
  }));
}

Deno.test("negotiation - negotiationMessage encodes like p2p-basic's captured request and reply", () => {
  const frames = loadCapture("p2p-basic.jsonl");
  const request = frames[0];
  assert.equal(request.frame, 0);
  assert.equal(request.direction, "app->node");
  // wire.md §3.1 byte layout: 2a 87 01 | 0a 84 01 | 0a 24 <link id> | 12 0d <version> | 22 20 ...
  assert.equal(toHex(request.raw.subarray(0, 8)), "2a87010a84010a24");
  const p = negotiationOf(decodeMessage(request.raw));
  assert.ok(p, "frame 0 is a link negotiation");
  assert.equal(p.isReply, false);
  assert.equal(p.connectionType, LinkConnectionType.EDGE);
  assert.equal(p.linkEcdhPublicKey.length, 32);
  checkRequest(p);
  assertBytes(rebuild(p), request.raw, "rebuilt request");
  // Without an explicit version, the default is the captured one.
  const defaulted = encodeMessage(negotiationMessage({
    linkId: p.linkId,
    isReply: false,
    publicKey: p.linkEcdhPublicKey,
    category: "edge",
    nodeId: p.nodeId,
  }));
  assertBytes(defaulted, request.raw, "request with default version");

  const reply = frames[1];
  const r = negotiationOf(decodeMessage(reply.raw));
  assert.ok(r);
  checkReply(r, p.linkId);
  assertBytes(rebuild(r), reply.raw, "rebuilt reply");
});

Deno.test("negotiation - every captured negotiation message is rebuilt byte for byte", () => {
  let n = 0;
  for (const file of captureFiles()) {
    for (const f of loadCapture(file)) {
      const m = decodeMessage(f.raw);
      const p = negotiationOf(m);
      if (!p) continue;
      assert.equal(p.linkKemPayload, undefined, "no ML-KEM in the captures");
      // Compare with the canonical encoding (one prototype frame encodes defaults explicitly).
      assertBytes(rebuild(p), encodeMessage(m), where(f));
      n++;
    }
  }
  assert.ok(n >= 40, `${n} negotiation messages`);
  // negotiationOf ignores everything else.
  assert.equal(
    negotiationOf(makeMessage({ messageType: { case: "subscriptionAck", value: {} } })),
    undefined,
  );
  assert.equal(negotiationOf(makeMessage({ messageType: { case: "link", value: {} } })), undefined);
});

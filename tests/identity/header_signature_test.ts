import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { clone, create } from "@bufbuild/protobuf";
import { AuthError } from "../../lib/errors.ts";
import {
  headerAadFromPublish,
  type IdentityVerifier,
  SharedSecretIdentity,
  SharedSecretVerifier,
  signHeader,
  signPublish,
  verifyHeader,
  verifyHeaderSync,
  verifyPublishIdentity,
} from "../../lib/identity/mod.ts";
import { derToP1363 } from "../../lib/crypto/ecdsa_der.ts";
import {
  ApplicationPayloadSchema,
  encodeAad,
  type Publish,
  PublishSchema,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";
import { errorOf, publishOf, secretOf, tokenTime, VECTORS } from "./_helpers.ts";
import { P256Verifier } from "../../lib/identity/p256_verifier.ts";

const N = p256.Point.CURVE().n;

function verifierFor(capture: string, publish: Publish): SharedSecretVerifier {
  const ts = tokenTime(publish.header!.identity);
  return new SharedSecretVerifier(secretOf(capture), { now: () => ts + 1 });
}

function framesWithKeys() {
  return Promise.all(VECTORS.signedFrames.map(async (f) => {
    const publish = publishOf(f.raw_b64);
    const identity = await verifierFor(f.capture, publish).verify(publish.header!.identity);
    return { ...f, publish, publicKey: identity.publicKey! };
  }));
}

Deno.test("every captured e2e_header_sig verifies against the rebuilt AAD", async () => {
  const frames = await framesWithKeys();
  assert.ok(frames.length >= 30);
  // Tables from the first use and no memo: every real signature goes through our P-256 code.
  const cache = new P256Verifier({ precomputeAfter: 1, memo: 0 });
  let highS = 0;
  for (const f of frames) {
    const aad = headerAadFromPublish(f.publish);
    const sig = f.publish.header!.e2eHeaderSig!;
    assert.ok(await verifyHeader(f.publicKey, aad, sig), f.source);
    assert.ok(await verifyHeader(f.publicKey, aad, sig, cache), f.source);
    assert.ok(verifyHeaderSync(f.publicKey, aad, sig), f.source);
    const id = await verifyPublishIdentity(f.publish, verifierFor(f.capture, f.publish), cache);
    assert.equal(id.subject, f.publish.header!.identity.split(":")[0]);
    const s = derToP1363(sig)!.subarray(32);
    if (BigInt("0x" + Array.from(s, (b) => b.toString(16).padStart(2, "0")).join("")) > N / 2n) {
      highS++;
    }
  }
  // The real peer does not normalise S: some captured signatures are high-S and still verify.
  assert.ok(highS > 0, "expected some high-S signatures in the captures");
});

Deno.test("the AAD is canonical: version 1 first, empty payload_type omitted", async () => {
  const [f] = await framesWithKeys();
  const aad = headerAadFromPublish(f.publish);
  assert.deepEqual(aad.subarray(0, 2), new Uint8Array([0x08, 0x01]));
  // Field 9 (payload_type, tag 0x4a) is absent for a command payload.
  const withEmpty = encodeAad({
    version: 1,
    source: f.publish.header!.source,
    destination: f.publish.header!.destination,
    identity: f.publish.header!.identity,
    sessionType: f.publish.session!.sessionType,
    sessionMessageType: f.publish.session!.sessionMessageType,
    sessionId: f.publish.session!.sessionId,
    messageId: f.publish.session!.messageId,
  });
  assert.deepEqual(aad, withEmpty);
});

Deno.test("changing any AAD field breaks the captured signature", async () => {
  const frames = await framesWithKeys();
  const f = frames.find((x) => x.publish.session!.messageId !== 0)!;
  const sig = f.publish.header!.e2eHeaderSig!;
  const mutations: [string, (p: Publish) => void][] = [
    ["source id", (p) => p.header!.source!.name!.nameId!.id1 ^= 1n],
    ["source component", (p) => p.header!.source!.name!.component0 ^= 1n],
    ["source string", (p) => p.header!.source!.strName!.strComponent2 += "x"],
    ["destination id", (p) => p.header!.destination!.name!.nameId!.id0 ^= 1n],
    ["destination string", (p) => p.header!.destination!.strName!.strComponent0 += "x"],
    ["identity", (p) => p.header!.identity += "x"],
    [
      "session type",
      (p) =>
        p.session!.sessionType = p.session!.sessionType === SessionType.MULTICAST
          ? SessionType.POINT_TO_POINT
          : SessionType.MULTICAST,
    ],
    [
      "message type",
      (p) =>
        p.session!.sessionMessageType =
          p.session!.sessionMessageType === SessionMessageType.GROUP_ACK
            ? SessionMessageType.HEARTBEAT
            : SessionMessageType.GROUP_ACK,
    ],
    ["session id", (p) => p.session!.sessionId = (p.session!.sessionId ^ 1) >>> 0],
    ["message id", (p) => p.session!.messageId = (p.session!.messageId ^ 1) >>> 0],
    ["payload type", (p) =>
      p.msg = {
        ...p.msg!,
        contentType: {
          case: "appPayload",
          value: create(ApplicationPayloadSchema, { payloadType: "msg" }),
        },
      }],
  ];
  for (const [what, mutate] of mutations) {
    const p = clone(PublishSchema, f.publish);
    mutate(p);
    const aad = headerAadFromPublish(p);
    assert.equal(await verifyHeader(f.publicKey, aad, sig), false, what);
    assert.equal(verifyHeaderSync(f.publicKey, aad, sig), false, what);
  }
  // Fields outside the AAD do not matter: ttl, fanout, the payload itself.
  const p = clone(PublishSchema, f.publish);
  p.header!.ttl = 1;
  p.header!.fanout = 77;
  p.header!.incomingConn = 5n;
  p.msg = undefined;
  assert.ok(await verifyHeader(f.publicKey, headerAadFromPublish(p), sig));
});

/** Reads the authenticated_data of a serialized MLSMessage(PrivateMessage) (RFC 9420). */
function privateMessageAad(blob: Uint8Array): Uint8Array {
  const readVarint = (at: number): [number, number] => {
    const prefix = blob[at] >> 6;
    const length = 1 << prefix;
    let v = blob[at] & 0x3f;
    for (let i = 1; i < length; i++) v = v * 256 + blob[at + i];
    return [v, at + length];
  };
  const wireFormat = (blob[2] << 8) | blob[3];
  assert.equal(wireFormat, 2, "mls_private_message");
  let [n, at] = readVarint(4); // group_id
  at += n + 8 + 1; // group_id, epoch, content_type
  [n, at] = readVarint(at);
  return blob.subarray(at, at + n);
}

Deno.test("rebuilt AAD equals the MLS authenticated data of captured data messages", () => {
  assert.ok(VECTORS.mlsFrames.length >= 2);
  for (const f of VECTORS.mlsFrames) {
    const publish = publishOf(f.raw_b64);
    const content = publish.msg!.contentType;
    assert.equal(content.case, "appPayload");
    const aad = headerAadFromPublish(publish);
    assert.deepEqual(aad, privateMessageAad(content.value!.blob as Uint8Array), f.source);
    // A data message has a payload type, so field 9 (tag 0x4a) ends the AAD.
    const type = new TextEncoder().encode((content.value as { payloadType: string }).payloadType);
    assert.ok(type.length > 0);
    assert.deepEqual(
      aad.subarray(aad.length - type.length - 2),
      new Uint8Array([0x4a, type.length, ...type]),
    );
  }
});

Deno.test("signPublish + verifyPublishIdentity round trip with our identity", async () => {
  const secret = secretOf("group-mls.jsonl");
  const provider = new SharedSecretIdentity("org/ns/carol", secret);
  const verifier = new SharedSecretVerifier(secret);
  const publish = publishOf(VECTORS.signedFrames[0].raw_b64);
  publish.header!.identity = await provider.token();
  await signPublish(provider.signingKey, publish);
  const identity = await verifyPublishIdentity(publish, verifier);
  assert.equal(identity.subject, provider.id);
  assert.deepEqual(identity.publicKey, provider.signingKey.publicKey);
  // The same signature through the lower-level helpers.
  const aad = headerAadFromPublish(publish);
  assert.ok(await verifyHeader(provider.signingKey.publicKey, aad, publish.header!.e2eHeaderSig!));
  const again = await signHeader(provider.signingKey, aad);
  assert.ok(verifyHeaderSync(provider.signingKey.publicKey, aad, again));
});

Deno.test("verifyPublishIdentity rejects what a receiver must reject", async () => {
  const secret = secretOf("group-mls.jsonl");
  const provider = new SharedSecretIdentity("org/ns/carol", secret);
  const verifier = new SharedSecretVerifier(secret);
  const base = publishOf(VECTORS.signedFrames[0].raw_b64);
  base.header!.identity = await provider.token();
  await signPublish(provider.signingKey, base);

  const unsigned = clone(PublishSchema, base);
  unsigned.header!.e2eHeaderSig = undefined;
  assert.match(
    (await errorOf(() => verifyPublishIdentity(unsigned, verifier))).message,
    /no header signature/,
  );

  const wrongKey = clone(PublishSchema, base);
  await signPublish(new SharedSecretIdentity("org/ns/eve", secret).signingKey, wrongKey);
  assert.match(
    (await errorOf(() => verifyPublishIdentity(wrongKey, verifier))).message,
    /mismatch/,
  );

  const moved = clone(PublishSchema, base);
  moved.session!.messageId += 1;
  assert.match((await errorOf(() => verifyPublishIdentity(moved, verifier))).message, /mismatch/);

  const badToken = clone(PublishSchema, base);
  badToken.header!.identity = "nope";
  const e = await errorOf(() => verifyPublishIdentity(badToken, verifier));
  assert.ok(e instanceof AuthError);

  // A token without a pubkey claim cannot vouch for a signature.
  const noKey: IdentityVerifier = {
    verify: () => Promise.resolve({ subject: "x", expiresAt: 0, claims: {} }),
  };
  assert.match((await errorOf(() => verifyPublishIdentity(base, noKey))).message, /no pubkey/);

  const headerless = clone(PublishSchema, base);
  headerless.header = undefined;
  await assert.rejects(() => signPublish(provider.signingKey, headerless), AuthError);
});

/**
 * Interop shape against the real SLIM (mls-rs 0.54): the key packages, Welcomes and commits of
 * the reference captures decode with ts-mls, use ciphersuite 2 and token credentials bound to
 * their leaf keys, and our moderator accepts the captured key packages.
 *
 * The payloads come from `../shared/reference/captures` when present beside the repository, else
 * from the fixture extracted from them (`fixtures/make_fixtures.ts`).
 * @module
 */
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { assert, assertEquals } from "../helpers/assert.ts";
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { b64Decode } from "../../lib/identity/base64.ts";
import {
  credentialToken,
  decodeKeyPackage,
  decodePublicMessage,
  decodeWelcome,
  MLS_CIPHERSUITE,
  MlsMember,
  slimCiphersuite,
} from "../../lib/mls/mod.ts";
import fixture from "./fixtures/mls_captures.json" with { type: "json" };
import { CAPTURES, extract, type MlsFrame } from "./fixtures/make_fixtures.ts";

const DIR = new URL("../../../shared/reference/captures/", import.meta.url);

async function liveFrames(): Promise<MlsFrame[] | undefined> {
  const frames: MlsFrame[] = [];
  for (const capture of CAPTURES) {
    let text;
    try {
      text = await Deno.readTextFile(new URL(`${capture}.jsonl`, DIR));
    } catch {
      return undefined;
    }
    frames.push(...extract(capture, text));
  }
  return frames;
}

const live = await liveFrames();
const FRAMES: MlsFrame[] = live ?? (fixture.frames as MlsFrame[]);
const SECRET = fixture.secret;

const bytesOf = (f: MlsFrame) => b64Decode(f.mls)!;
const timeOf = (token: string) => Number(token.split(":")[1]);
const of = (kind: MlsFrame["kind"]) => FRAMES.filter((f) => f.kind === kind);

/** A verifier whose clock is the capture time of `frame`. */
function verifierAt(frame: MlsFrame): SharedSecretVerifier {
  const at = timeOf(frame.headerToken);
  return new SharedSecretVerifier(SECRET, { now: () => at });
}

Deno.test({
  name: "the fixture matches the captures",
  ignore: !live,
  fn: () => assertEquals(live, fixture.frames),
});

Deno.test("captured mls-rs key packages: suite 2, token credential bound to the leaf key", async () => {
  const frames = of("joinReply");
  assertEquals(frames.length, 4);
  for (const frame of frames) {
    const kp = decodeKeyPackage(bytesOf(frame));
    assertEquals(kp.cipherSuite, MLS_CIPHERSUITE);
    assertEquals(kp.leafNode.leafNodeSource, "key_package");
    assertEquals(kp.leafNode.signaturePublicKey.length, 65);
    assertEquals(kp.leafNode.signaturePublicKey[0], 0x04);
    assert(kp.leafNode.capabilities.ciphersuites.includes(MLS_CIPHERSUITE));
    assert(kp.leafNode.capabilities.credentials.includes("basic"));
    const token = credentialToken(kp.leafNode.credential);
    const verified = await verifierAt(frame).verify(token);
    assert(verified.subject.startsWith(`org/ns/${frame.app}_`), verified.subject);
    assertEquals(verified.publicKey, kp.leafNode.signaturePublicKey);
  }
});

Deno.test("captured mls-rs welcomes: suite 2, one secret, for the preceding key package", async () => {
  const cs = await slimCiphersuite();
  const welcomes = of("groupWelcome");
  assertEquals(welcomes.length, 4);
  for (const frame of welcomes) {
    const welcome = decodeWelcome(bytesOf(frame));
    assertEquals(welcome.cipherSuite, MLS_CIPHERSUITE);
    assertEquals(welcome.secrets.length, 1);
    // The Welcome is addressed (KeyPackageRef) to the last key package sent in that capture.
    const kpFrame = FRAMES.filter((f) =>
      f.capture === frame.capture && f.kind === "joinReply" && f.frame < frame.frame
    ).at(-1)!;
    const ref = await makeKeyPackageRef(decodeKeyPackage(bytesOf(kpFrame)), cs.hash);
    assertEquals(welcome.secrets[0].newMember, ref);
  }
});

Deno.test("captured mls-rs commits: PublicMessage from leaf 0, no AAD, add/remove", async () => {
  const updates = of("groupUpdate");
  assertEquals(updates.length, 4);
  const kinds: string[] = [];
  for (const frame of updates) {
    const message = decodePublicMessage(bytesOf(frame));
    const { content } = message;
    assertEquals(message.senderType, "member");
    assertEquals(content.contentType, "commit");
    assertEquals(content.sender, { senderType: "member", leafIndex: 0 });
    assertEquals(content.authenticatedData.length, 0);
    // Sent in the epoch it ends; commit_id numbers the epoch it starts (equal in simple runs).
    assertEquals(content.epoch + 1n, BigInt(frame.commitId!));
    if (content.contentType !== "commit") continue;
    const proposals = content.commit.proposals.map((p) =>
      p.proposalOrRefType === "proposal" ? p.proposal.proposalType : "reference"
    );
    kinds.push(proposals.join("+"));
    const path = content.commit.path;
    if (proposals.includes("remove")) {
      // Remove commits carry an UpdatePath whose leaf holds the moderator's credential.
      assert(path, "remove commit without path");
      const token = credentialToken(path.leafNode.credential);
      const verified = await verifierAt(frame).verify(token);
      assert(verified.subject.startsWith("org/ns/moderator_"));
      assertEquals(verified.publicKey, path.leafNode.signaturePublicKey);
    } else {
      assertEquals(path, undefined);
    }
  }
  assertEquals(kinds, ["add", "add", "remove", "remove"]);
});

Deno.test("our moderator accepts the captured mls-rs key packages", async () => {
  const cs = await slimCiphersuite();
  for (const capture of CAPTURES) {
    const kps = FRAMES.filter((f) => f.capture === capture && f.kind === "joinReply");
    const at = timeOf(kps[0].headerToken);
    const moderator = await MlsMember.create({
      provider: new SharedSecretIdentity("org/ns/moderator", SECRET, { now: () => at }),
      verifier: new SharedSecretVerifier(SECRET, { now: () => at }),
      clock: () => at,
    });
    await moderator.createGroup();
    for (const frame of kps) {
      const bytes = bytesOf(frame);
      const { welcome, commit } = await moderator.addMember(bytes);
      const decoded = decodeWelcome(welcome);
      assertEquals(
        decoded.secrets[0].newMember,
        await makeKeyPackageRef(decodeKeyPackage(bytes), cs.hash),
      );
      assertEquals(decodePublicMessage(commit).content.contentType, "commit");
    }
    assertEquals(moderator.epoch, BigInt(kps.length));
    assertEquals(moderator.members().length, kps.length + 1);
  }
});

/**
 * `lib/mls/app_message.ts` against ts-mls: the lazily derived secret tree gives the keys of
 * ts-mls's eager one, and messages sealed here open in ts-mls (`unprotectPrivateMessage`) and
 * vice versa (`protectApplicationData`), for every sender of an 8-leaf tree, with padding;
 * ratchet rules (out of order, replay, retention, look-ahead limit) and that a message that
 * fails leaves the ratchet untouched.
 * @module
 */
import { p256 } from "@noble/curves/nist.js";
import {
  type CiphersuiteImpl,
  decodeMlsMessage,
  defaultPaddingConfig,
  type GroupContext,
  type KeyRetentionConfig,
  type RatchetTree,
} from "ts-mls";
import { protectApplicationData, unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { createSecretTree } from "ts-mls/secretTree.js";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { EpochKeys, type RatchetSource } from "../../lib/mls/app_message.ts";
import {
  decodePrivateMessage,
  encodePrivateMessage,
  KEY_RETENTION,
  MLS_CIPHERSUITE,
  slimCiphersuite,
} from "../../lib/mls/mod.ts";
import { prng, randomBytes, toHex } from "../fixtures/captures.ts";

const LEAVES = 8;

interface Fixture {
  cs: CiphersuiteImpl;
  groupContext: GroupContext;
  ratchetTree: RatchetTree;
  signKeys: Uint8Array[];
  senderDataSecret: Uint8Array;
  encryptionSecret: Uint8Array;
}

async function fixture(seed: number): Promise<Fixture> {
  const rand = prng(seed);
  const cs = await slimCiphersuite();
  const signKeys = Array.from({ length: LEAVES }, () => p256.utils.randomSecretKey());
  // Only what application messages read of a leaf: its signature key. Leaf 5 is blank.
  const ratchetTree = Array.from(
    { length: 2 * LEAVES - 1 },
    (_, i) =>
      i % 2 === 0 && i !== 10
        ? {
          nodeType: "leaf",
          leaf: { signaturePublicKey: p256.getPublicKey(signKeys[i / 2], false) },
        }
        : undefined,
  ) as unknown as RatchetTree;
  const groupContext: GroupContext = {
    version: "mls10",
    cipherSuite: MLS_CIPHERSUITE,
    groupId: randomBytes(rand, 32),
    epoch: 7n,
    treeHash: randomBytes(rand, 32),
    confirmedTranscriptHash: randomBytes(rand, 32),
    extensions: [],
  };
  return {
    cs,
    groupContext,
    ratchetTree,
    signKeys,
    senderDataSecret: randomBytes(rand, 32),
    encryptionSecret: randomBytes(rand, 32),
  };
}

function keys(f: Fixture, source: RatchetSource, retention: KeyRetentionConfig = KEY_RETENTION) {
  return new EpochKeys({
    groupContext: f.groupContext,
    ratchetTree: f.ratchetTree,
    senderDataSecret: f.senderDataSecret,
    source,
    retention,
    padding: defaultPaddingConfig,
  });
}

const lazy = (f: Fixture): RatchetSource => ({
  kind: "encryptionSecret",
  secret: f.encryptionSecret,
  leafWidth: LEAVES,
});

Deno.test("app messages - the lazy secret tree gives ts-mls's keys, for every sender", async () => {
  const f = await fixture(41);
  const eager = await createSecretTree(LEAVES, f.encryptionSecret, f.cs.kdf);
  const a = keys(f, lazy(f));
  const b = keys(f, { kind: "tsMlsTree", tree: eager });
  const rand = prng(42);
  for (let leaf = 0; leaf < LEAVES; leaf++) {
    if (leaf === 5) continue;
    for (let i = 0; i < 3; i++) {
      const pt = randomBytes(rand, leaf * 40 + i * 300), aad = randomBytes(rand, 10 + i);
      const fromA = await a.seal(f.cs.signature, f.signKeys[leaf], leaf, pt, aad);
      const opened = await b.open(decodePrivateMessage(fromA), f.cs.signature);
      assertEquals(toHex(opened.plaintext), toHex(pt));
      assertEquals(toHex(opened.authenticatedData), toHex(aad));
      assertEquals(opened.senderLeafIndex, leaf);
      const fromB = await b.seal(f.cs.signature, f.signKeys[leaf], leaf, pt, aad);
      assertEquals(
        toHex((await a.open(decodePrivateMessage(fromB), f.cs.signature)).plaintext),
        toHex(pt),
      );
    }
  }
});

Deno.test("app messages - interoperate with ts-mls's protect and unprotect", async () => {
  const f = await fixture(43);
  let tsTree = await createSecretTree(LEAVES, f.encryptionSecret, f.cs.kdf);
  const ours = keys(f, lazy(f));
  const rand = prng(44);
  for (const [leaf, size] of [[0, 0], [1, 10], [2, 200], [3, 255], [6, 1000], [7, 20_000]]) {
    const pt = randomBytes(rand, size), aad = randomBytes(rand, 400);
    // ts-mls → ours (ts-mls pads to 256 bytes by default, as ours does).
    const protectedByTs = await protectApplicationData(
      f.signKeys[leaf],
      f.senderDataSecret,
      pt,
      aad,
      f.groupContext,
      tsTree,
      leaf,
      defaultPaddingConfig,
      f.cs,
    );
    tsTree = protectedByTs.newSecretTree;
    const bytes = encodePrivateMessage(protectedByTs.privateMessage);
    const opened = await ours.open(decodePrivateMessage(bytes), f.cs.signature);
    assertEquals(toHex(opened.plaintext), toHex(pt));
    // ours → ts-mls
    const sealed = await ours.seal(f.cs.signature, f.signKeys[leaf], leaf, pt, aad);
    const pm = decodePrivateMessage(sealed);
    const result = await unprotectPrivateMessage(
      f.senderDataSecret,
      pm,
      tsTree,
      f.ratchetTree,
      f.groupContext,
      KEY_RETENTION,
      f.cs,
    );
    tsTree = result.tree;
    const content = result.content.content;
    assert(content.contentType === "application");
    assertEquals(toHex(content.applicationData), toHex(pt));
    assertEquals(toHex(pm.authenticatedData), toHex(aad));
    // Same framing: re-encoding ts-mls's decoding gives our bytes back.
    assertEquals(toHex(encodePrivateMessage(pm)), toHex(sealed));
  }
});

Deno.test("app messages - out of order, replay, retention and look-ahead", async () => {
  const f = await fixture(45);
  const retention = {
    retainKeysForEpochs: 4,
    retainKeysForGenerations: 3,
    maximumForwardRatchetSteps: 5,
  };
  const sender = keys(f, lazy(f), retention);
  const receiver = keys(f, lazy(f), retention);
  const sign = f.cs.signature;
  const sent: Uint8Array[] = [];
  for (let g = 0; g < 12; g++) {
    sent.push(await sender.seal(sign, f.signKeys[2], 2, new Uint8Array([g]), new Uint8Array(0)));
  }
  const open = async (g: number) =>
    (await receiver.open(decodePrivateMessage(sent[g]), sign)).plaintext[0];
  assertEquals(await open(4), 4); // skips 0..3, keeps the newest three: 1, 2, 3
  assertEquals(await open(2), 2);
  await assertRejects(() => open(2), Error, "already used"); // replay
  await assertRejects(() => open(0), Error, "no longer kept"); // evicted
  assertEquals(await open(1), 1);
  await assertRejects(() => open(11), Error, "steps ahead"); // 11 − 5 = 6 > 5
  assertEquals(await open(10), 10); // exactly five ahead; skipped 5..9 join 3 and leave 7, 8, 9
  assertEquals(await open(8), 8);
  await assertRejects(() => open(3), Error, "no longer kept");
  await assertRejects(() => open(6), Error, "no longer kept");
  assertEquals(await open(11), 11);
});

Deno.test("app messages - a tampered or forged message fails and leaves the ratchet as it was", async () => {
  const f = await fixture(46);
  const sender = keys(f, lazy(f));
  const receiver = keys(f, lazy(f));
  const sign = f.cs.signature;
  const good = await sender.seal(
    sign,
    f.signKeys[1],
    1,
    new Uint8Array([1, 2, 3]),
    new Uint8Array([9]),
  );
  const pm = decodePrivateMessage(good);
  const flip = (b: Uint8Array, i: number) => b.map((v, j) => j === i ? v ^ 1 : v);
  await assertRejects(
    () => receiver.open({ ...pm, ciphertext: flip(pm.ciphertext, 40) }, sign),
    Error,
  );
  await assertRejects(
    () => receiver.open({ ...pm, encryptedSenderData: flip(pm.encryptedSenderData, 0) }, sign),
    Error,
    "sender data",
  );
  await assertRejects(
    () => receiver.open({ ...pm, authenticatedData: new Uint8Array([8]) }, sign),
    Error,
    "content does not decrypt",
  );
  // Signed by leaf 3's key but sent as leaf 1: decrypts, fails the signature.
  const forged = await sender.seal(sign, f.signKeys[3], 1, new Uint8Array([6]), new Uint8Array(0));
  await assertRejects(
    () => receiver.open(decodePrivateMessage(forged), sign),
    Error,
    "Signature invalid",
  );
  // None of that consumed generation 0: the genuine message still opens.
  assertEquals([...(await receiver.open(pm, sign)).plaintext], [1, 2, 3]);
  // A sender whose leaf is blank (leaf 5) is refused.
  const fromBlank = await sender.seal(
    sign,
    f.signKeys[5],
    5,
    new Uint8Array([1]),
    new Uint8Array(0),
  );
  await assertRejects(
    () => receiver.open(decodePrivateMessage(fromBlank), sign),
    Error,
    "not a member",
  );
  receiver.wipe();
  await assertRejects(() => receiver.open(pm, sign), Error);
});

Deno.test("app messages - the direct PrivateMessage parser agrees with ts-mls's decoder", async () => {
  const f = await fixture(47);
  const sender = keys(f, lazy(f));
  const rand = prng(48);
  for (const size of [0, 1, 63, 64, 300, 16_383, 16_384, 70_000]) {
    const bytes = await sender.seal(
      f.cs.signature,
      f.signKeys[0],
      0,
      randomBytes(rand, size),
      randomBytes(rand, size % 500),
    );
    const generic = decodeMlsMessage(bytes, 0)!;
    assert(generic[0].wireformat === "mls_private_message" && generic[1] === bytes.length);
    assertEquals(decodePrivateMessage(bytes), generic[0].privateMessage);
  }
  const good = await sender.seal(
    f.cs.signature,
    f.signKeys[0],
    0,
    new Uint8Array(5),
    new Uint8Array(0),
  );
  // Malformed inputs take the generic decoder's path and its errors.
  assertThrows(
    () => decodePrivateMessage(good.subarray(0, good.length - 1)),
    MlsError,
    "malformed",
  );
  assertThrows(() => decodePrivateMessage(new Uint8Array([...good, 0])), MlsError, "trailing");
  const badType = good.slice();
  badType[4 + 1 + 32 + 8] = 4;
  assertThrows(() => decodePrivateMessage(badType), MlsError, "malformed");
  const otherVersion = good.slice();
  otherVersion[1] = 2;
  assertThrows(() => decodePrivateMessage(otherVersion), MlsError);
});

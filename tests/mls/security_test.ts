/**
 * What must fail, and fail with a clear {@link MlsError}: messages and commits from outside the
 * group, tampered bytes, bad signatures, Welcomes that do not verify, key packages whose
 * credential is not acceptable.
 * @module
 */
import {
  createCommit,
  createGroup,
  decodeMlsMessage,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type MLSMessage,
} from "ts-mls";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { SharedSecretIdentity, SharedSecretVerifier, SigningKey } from "../../lib/identity/mod.ts";
import {
  decodeKeyPackage,
  LEAF_LIFETIME,
  MlsMember,
  slimCapabilities,
  slimCiphersuite,
} from "../../lib/mls/mod.ts";
import { app, bytes, invite, member, SECRET, TestClock, threeParty } from "./_helpers.ts";

/** Re-encodes `message` after `edit` changed its decoded form. */
function tamper(message: Uint8Array, edit: (m: MLSMessage) => void): Uint8Array {
  const decoded = decodeMlsMessage(message, 0)![0];
  edit(decoded);
  return encodeMlsMessage(decoded);
}

function flip(data: Uint8Array, at = data.length >> 1): Uint8Array {
  const copy = data.slice();
  copy[at] ^= 0x01;
  return copy;
}

Deno.test("a message from another group is rejected", async () => {
  const { alice } = await threeParty();
  const other = await threeParty();
  const message = await other.moderator.encrypt(bytes("hello"), bytes(""));
  await assertRejects(() => alice.decrypt(message), MlsError, "another MLS group");
});

Deno.test("tampered application messages are rejected", async () => {
  const { moderator, alice } = await threeParty();
  const message = await moderator.encrypt(bytes("payload"), bytes("header aad"));
  const edits: [string, (m: MLSMessage) => void][] = [
    ["ciphertext", (m) => {
      if (m.wireformat === "mls_private_message") {
        m.privateMessage.ciphertext = flip(m.privateMessage.ciphertext);
      }
    }],
    ["aad", (m) => {
      if (m.wireformat === "mls_private_message") {
        m.privateMessage.authenticatedData = bytes("header aaD");
      }
    }],
    ["sender data", (m) => {
      if (m.wireformat === "mls_private_message") {
        m.privateMessage.encryptedSenderData = flip(m.privateMessage.encryptedSenderData);
      }
    }],
  ];
  for (const [what, edit] of edits) {
    const err = await assertRejects(() => alice.decrypt(tamper(message, edit)), MlsError);
    assert(err.message.startsWith("cannot decrypt message of epoch 2"), `${what}: ${err.message}`);
  }
  await assertRejects(() => alice.decrypt(message.subarray(0, 40)), MlsError, "malformed");
  await assertRejects(
    () => alice.decrypt(new Uint8Array([...message, 0])),
    MlsError,
    "trailing bytes",
  );
  // The untouched message still decrypts: failures did not advance the receiver's state.
  assertEquals((await alice.decrypt(message)).aad, bytes("header aad"));
});

Deno.test("a member's message with a bad signature is rejected", async () => {
  const clock = new TestClock();
  const suite = await slimCiphersuite();
  const wrongKey = SigningKey.generate().privateKey;
  let evil = false;
  const mallory = await member("mallory", clock, {
    cipherSuite: {
      ...suite,
      signature: {
        ...suite.signature,
        sign: (key, message) => suite.signature.sign(evil ? wrongKey : key, message),
      },
    },
  });
  const { moderator, alice, bob } = await threeParty(clock);
  await invite(moderator, mallory, [alice, bob]);
  evil = true;
  const forged = await mallory.encrypt(bytes("trust me"), bytes(""));
  await assertRejects(() => alice.decrypt(forged), MlsError, "Signature invalid");
});

Deno.test("commits from outside the group, tampered or of the wrong kind are rejected", async () => {
  const { moderator, alice, bob } = await threeParty();
  const other = await threeParty();
  const carol = await member("carol", new TestClock());
  const foreign = await other.moderator.addMember(await carol.generateKeyPackage());
  await assertRejects(() => alice.processCommit(foreign.commit), MlsError, "another MLS group");

  const dave = await member("dave", new TestClock());
  const { commit } = await moderator.addMember(await dave.generateKeyPackage());
  const badTag = tamper(commit, (m) => {
    if (m.wireformat === "mls_public_message" && m.publicMessage.senderType === "member") {
      m.publicMessage.membershipTag = flip(m.publicMessage.membershipTag);
    }
  });
  await assertRejects(() => alice.processCommit(badTag), MlsError, "commit rejected");
  const badSignature = tamper(commit, (m) => {
    if (m.wireformat === "mls_public_message") {
      m.publicMessage.auth.signature = flip(m.publicMessage.auth.signature, 12);
    }
  });
  await assertRejects(() => alice.processCommit(badSignature), MlsError, "commit rejected");
  const application = await moderator.encrypt(bytes("x"), bytes(""));
  await assertRejects(
    () => alice.processCommit(application),
    MlsError,
    "expected an MLS PublicMessage",
  );
  // After all that, the genuine commit still applies.
  await alice.processCommit(commit);
  await bob.processCommit(commit);
  assertEquals([alice.epoch, bob.epoch], [3n, 3n]);
});

Deno.test("welcomes that do not verify are rejected", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  await moderator.createGroup();
  const alice = await member("alice", clock);
  const bob = await member("bob", clock);
  await bob.generateKeyPackage();
  const { welcome } = await moderator.addMember(await alice.generateKeyPackage());

  await assertRejects(() => bob.joinFromWelcome(welcome), MlsError, "not addressed to any");
  const fresh = await member("fresh", clock);
  await assertRejects(() => fresh.joinFromWelcome(welcome), MlsError, "no key package is waiting");
  const broken = tamper(welcome, (m) => {
    if (m.wireformat === "mls_welcome") {
      m.welcome.encryptedGroupInfo = flip(m.welcome.encryptedGroupInfo);
    }
  });
  await assertRejects(() => alice.joinFromWelcome(broken), MlsError, "welcome rejected");
  await assertRejects(() => alice.joinFromWelcome(bytes("nope")), MlsError, "malformed");
  // The key package survives failed attempts: the genuine welcome still works.
  await alice.joinFromWelcome(welcome);
  assert(alice.joined);
  await assertRejects(() => alice.joinFromWelcome(welcome), MlsError, "already a member");
});

Deno.test("a welcome from an inviter whose credential does not verify is rejected", async () => {
  const clock = new TestClock();
  // The moderator's tokens are minted with another secret; it still accepts alice's.
  const outsider = new SharedSecretIdentity("org/ns/moderator", "x".repeat(40), { now: clock.now });
  const moderator = await MlsMember.create({
    provider: outsider,
    verifier: new SharedSecretVerifier(SECRET, { now: clock.now }),
    clock: clock.now,
  });
  await moderator.createGroup();
  const alice = await member("alice", clock);
  const { welcome } = await moderator.addMember(await alice.generateKeyPackage());
  await assertRejects(() => alice.joinFromWelcome(welcome), MlsError, "mac mismatch");
  assert(!alice.joined);
});

Deno.test("a welcome without the ratchet tree extension is rejected", async () => {
  const clock = new TestClock();
  const alice = await member("alice", clock);
  const kp = decodeKeyPackage(await alice.generateKeyPackage());
  // A plain ts-mls moderator that leaves the tree out of the Welcome.
  const cs = await slimCiphersuite();
  const { provider } = app("moderator", clock);
  const own = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: bytes(await provider.token()) },
    slimCapabilities(),
    LEAF_LIFETIME,
    [],
    { signKey: provider.signingKey.privateKey, publicKey: provider.signingKey.publicKey },
    cs,
  );
  const group = await createGroup(
    crypto.getRandomValues(new Uint8Array(32)),
    own.publicPackage,
    own.privatePackage,
    [],
    cs,
  );
  const result = await createCommit({ state: group, cipherSuite: cs }, {
    extraProposals: [{ proposalType: "add", add: { keyPackage: kp } }],
    ratchetTreeExtension: false,
    wireAsPublicMessage: true,
  });
  const welcome = encodeMlsMessage({
    version: "mls10",
    wireformat: "mls_welcome",
    welcome: result.welcome!,
  });
  await assertRejects(() => alice.joinFromWelcome(welcome), MlsError, "ratchet");
});

Deno.test("key packages with unacceptable credentials are rejected", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  await moderator.createGroup();
  const cs = await slimCiphersuite();
  const { provider } = app("eve", clock);

  // Token names one key, the leaf is signed by another.
  const other = SigningKey.generate();
  const mismatched = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: bytes(await provider.token()) },
    slimCapabilities(),
    LEAF_LIFETIME,
    [],
    { signKey: other.privateKey, publicKey: other.publicKey },
    cs,
  );
  const encode = (keyPackage: typeof mismatched.publicPackage) =>
    encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage });
  await assertRejects(
    () => moderator.addMember(encode(mismatched.publicPackage)),
    MlsError,
    "names another key than the leaf's signature key",
  );

  // Not a token at all.
  const garbage = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: bytes("not-a-token") },
    slimCapabilities(),
    LEAF_LIFETIME,
    [],
    { signKey: provider.signingKey.privateKey, publicKey: provider.signingKey.publicKey },
    cs,
  );
  await assertRejects(
    () => moderator.addMember(encode(garbage.publicPackage)),
    MlsError,
    "key package rejected: credential token rejected",
  );

  // A token minted two hours ago, never seen before: expired.
  const stale = await member("stale", new TestClock(clock.seconds - 7200));
  const staleKeyPackage = await stale.generateKeyPackage();
  await assertRejects(
    () => moderator.addMember(staleKeyPackage),
    MlsError,
    "identity token expired",
  );

  await assertRejects(() => moderator.addMember(bytes("junk")), MlsError, "malformed");
  assertEquals(moderator.epoch, 0n);
});

Deno.test("a key package carrying the moderator's own key is rejected", async () => {
  const clock = new TestClock();
  const identity = app("moderator", clock);
  const moderator = await MlsMember.create({ ...identity, clock: clock.now });
  await moderator.createGroup();
  const twin = await MlsMember.create({ ...identity, clock: clock.now });
  await assertRejects(
    async () => moderator.addMember(await twin.generateKeyPackage()),
    MlsError,
    "our own signature key",
  );
});

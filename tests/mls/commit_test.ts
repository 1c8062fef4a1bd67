/**
 * `lib/mls/commit.ts`, `lib/mls/join.ts` and `lib/mls/tree_hash.ts` against ts-mls on real
 * groups: memoised tree and parent hashes equal ts-mls's on every tree a sequence of adds and
 * removes produces; processing each commit, and joining from each Welcome, gives the state
 * ts-mls's `processPublicMessage` and `joinGroup` give (group context, key schedule, tree,
 * private path), with an `encryption_secret` whose secret tree is the one ts-mls derived
 * eagerly; commits we create are applied by ts-mls to the same state and their Welcomes join;
 * tampered commits and trees are rejected by both, with the same errors.
 * @module
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  emptyPskIndex,
  generateKeyPackage,
  joinGroup,
  type KeyPackage,
  type PrivateKeyPackage,
  processPublicMessage,
  type Proposal,
  type PublicMessage,
} from "ts-mls";
import { calculateParentHash as tsCalculateParentHash } from "ts-mls/parentHash.js";
import { validateRatchetTree as tsValidateRatchetTree } from "ts-mls/clientState.js";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { createSecretTree } from "ts-mls/secretTree.js";
import { treeHashRoot as tsTreeHashRoot } from "ts-mls/treeHash.js";
import { leafWidth, root, toNodeIndex } from "ts-mls/treemath.js";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { createPublicCommit, processPublicCommit } from "../../lib/mls/commit.ts";
import { joinGroup as ourJoinGroup, validateRatchetTree } from "../../lib/mls/join.ts";
import {
  LEAF_LIFETIME,
  referenceCiphersuite,
  slimCapabilities,
  slimCiphersuite,
} from "../../lib/mls/mod.ts";
import { calculateParentHash, treeHashRoot } from "../../lib/mls/tree_hash.ts";
import { toHex } from "../fixtures/captures.ts";

interface Party {
  name: string;
  kp: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
  state?: ClientState;
}

async function party(name: string, cs: CiphersuiteImpl): Promise<Party> {
  const kp = await generateKeyPackage(
    { credentialType: "basic", identity: new TextEncoder().encode(name) },
    slimCapabilities(),
    LEAF_LIFETIME,
    [],
    cs,
  );
  return { name, kp };
}

async function checkHashes(state: ClientState, cs: CiphersuiteImpl): Promise<void> {
  const tree = state.ratchetTree;
  assertEquals(
    toHex(await treeHashRoot(tree, cs.hash)),
    toHex(await tsTreeHashRoot(tree, cs.hash)),
  );
  assertEquals(toHex(await treeHashRoot(tree, cs.hash)), toHex(state.groupContext.treeHash));
  const rootIndex = root(leafWidth(tree.length));
  for (let i = 0; i < tree.length; i++) {
    if (i === rootIndex || tree[i] === undefined) continue;
    const ours = await calculateParentHash(tree, toNodeIndex(i), cs.hash);
    const theirs = await tsCalculateParentHash(tree, toNodeIndex(i), cs.hash);
    assertEquals([toHex(ours[0]), ours[1]], [toHex(theirs[0]), theirs[1]], `node ${i}`);
  }
}

/**
 * Validates the state's tree, then variants of it with one field spoiled, with ts-mls's
 * `validateRatchetTree` and ours: the same verdicts and messages.
 */
async function checkTreeValidation(state: ClientState, cs: CiphersuiteImpl): Promise<void> {
  const { groupContext } = state;
  const config = defaultClientConfig;
  const verdict = async (tree: ClientState["ratchetTree"], hash = groupContext.treeHash) => {
    const [a, b] = await Promise.all([
      tsValidateRatchetTree(
        tree,
        groupContext,
        config.lifetimeConfig,
        config.authService,
        hash,
        cs,
      ),
      validateRatchetTree(tree, groupContext, config.lifetimeConfig, config.authService, hash, cs),
    ]);
    assertEquals(b?.message, a?.message);
    return a?.message;
  };
  assertEquals(await verdict(state.ratchetTree), undefined);
  assertEquals(await verdict(state.ratchetTree, new Uint8Array(32)), "Unable to verify tree hash");
  const flip = (b: Uint8Array) => b.map((v, j) => j === b.length - 1 ? v ^ 1 : v);
  for (const [i, node] of state.ratchetTree.entries()) {
    if (!node) continue;
    const tree = state.ratchetTree.slice();
    if (node.nodeType === "parent") {
      tree[i] = { ...node, parent: { ...node.parent, parentHash: flip(node.parent.parentHash) } };
      assert(await verdict(tree), `parent ${i}: a wrong parent hash`);
    } else {
      tree[i] = { ...node, leaf: { ...node.leaf, signature: flip(node.leaf.signature) } };
      assertEquals(await verdict(tree), "Could not verify leaf node signature", `leaf ${i}`);
    }
  }
}

/** Processes `commit` on `member` both ways; checks the results agree; returns ts-mls's state. */
async function processBothWays(
  member: ClientState,
  commit: PublicMessage,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const theirs = await processPublicMessage(member, commit, emptyPskIndex, cs);
  const ours = await processPublicCommit(member, commit, cs, () => "accept");
  const a = theirs.newState, b = ours.newState;
  assertEquals(b.groupContext, a.groupContext);
  assertEquals(b.keySchedule, a.keySchedule);
  assertEquals(b.ratchetTree, a.ratchetTree);
  assertEquals(b.privatePath, a.privatePath);
  assertEquals(b.confirmationTag, a.confirmationTag);
  assertEquals(b.groupActiveState, a.groupActiveState);
  assertEquals([...b.historicalReceiverData.keys()], [...a.historicalReceiverData.keys()]);
  if (a.groupActiveState.kind === "active") {
    assertEquals(b.secretTree, []);
    assert(ours.encryptionSecret && ours.leafWidth !== undefined);
    assertEquals(
      await createSecretTree(ours.leafWidth, ours.encryptionSecret, cs.kdf),
      a.secretTree,
    );
  } else {
    assertEquals(ours.encryptionSecret, undefined);
  }
  return a;
}

for (
  const [label, suite] of [["slim-ts", slimCiphersuite], [
    "ts-mls stock",
    referenceCiphersuite,
  ]] as const
) {
  Deno.test(`commits - adds and removes processed as ts-mls does (${label} provider)`, async () => {
    const cs = await suite();
    const moderator = await party("moderator", cs);
    moderator.state = await createGroup(
      crypto.getRandomValues(new Uint8Array(32)),
      moderator.kp.publicPackage,
      moderator.kp.privatePackage,
      [],
      cs,
    );
    const members: Party[] = [];
    const commitAndCheck = async (
      proposals: Parameters<typeof createCommit>[1] extends infer O
        ? O extends { extraProposals?: infer P } ? P : never
        : never,
    ) => {
      const result = await createCommit({ state: moderator.state!, cipherSuite: cs }, {
        extraProposals: proposals,
        ratchetTreeExtension: true,
        wireAsPublicMessage: true,
      });
      moderator.state = result.newState;
      assert(result.commit.wireformat === "mls_public_message");
      for (const m of members) {
        if (m.state?.groupActiveState.kind !== "active") continue;
        m.state = await processBothWays(m.state, result.commit.publicMessage, cs);
      }
      await checkHashes(moderator.state, cs);
      return result;
    };
    for (let i = 0; i < 7; i++) {
      const joiner = await party(`member-${i}`, cs);
      const { welcome } = await commitAndCheck([
        { proposalType: "add", add: { keyPackage: joiner.kp.publicPackage } },
      ]);
      joiner.state = await joinGroup(
        welcome!,
        joiner.kp.publicPackage,
        joiner.kp.privatePackage,
        emptyPskIndex,
        cs,
      );
      const ours = await ourJoinGroup(
        welcome!,
        joiner.kp.publicPackage,
        joiner.kp.privatePackage,
        cs,
        defaultClientConfig,
      );
      const theirs = joiner.state;
      assertEquals(ours.state.groupContext, theirs.groupContext);
      assertEquals(ours.state.keySchedule, theirs.keySchedule);
      assertEquals(ours.state.ratchetTree, theirs.ratchetTree);
      assertEquals(ours.state.privatePath, theirs.privatePath);
      assertEquals(ours.state.confirmationTag, theirs.confirmationTag);
      assertEquals(
        await createSecretTree(ours.leafWidth, ours.encryptionSecret, cs.kdf),
        theirs.secretTree,
      );
      await checkTreeValidation(theirs, cs);
      members.push(joiner);
    }
    // Remove two (one of them the last leaf, so the tree shrinks), then add one back.
    await commitAndCheck([{ proposalType: "remove", remove: { removed: 3 } }]);
    await commitAndCheck([{ proposalType: "remove", remove: { removed: 7 } }]);
    const late = await party("late", cs);
    await commitAndCheck([{ proposalType: "add", add: { keyPackage: late.kp.publicPackage } }]);
  });
}

Deno.test("commits - tampered commits are rejected as by ts-mls", async () => {
  const cs = await slimCiphersuite();
  const moderator = await party("moderator", cs);
  const alice = await party("alice", cs);
  const bob = await party("bob", cs);
  let mod = await createGroup(
    crypto.getRandomValues(new Uint8Array(32)),
    moderator.kp.publicPackage,
    moderator.kp.privatePackage,
    [],
    cs,
  );
  const add = await createCommit({ state: mod, cipherSuite: cs }, {
    extraProposals: [{ proposalType: "add", add: { keyPackage: alice.kp.publicPackage } }],
    ratchetTreeExtension: true,
    wireAsPublicMessage: true,
  });
  mod = add.newState;
  const aliceState = await joinGroup(
    add.welcome!,
    alice.kp.publicPackage,
    alice.kp.privatePackage,
    emptyPskIndex,
    cs,
  );
  const next = await createCommit({ state: mod, cipherSuite: cs }, {
    extraProposals: [{ proposalType: "add", add: { keyPackage: bob.kp.publicPackage } }],
    ratchetTreeExtension: true,
    wireAsPublicMessage: true,
  });
  assert(next.commit.wireformat === "mls_public_message");
  const pm = next.commit.publicMessage;
  const flip = (b: Uint8Array) => b.map((v, j) => j === 0 ? v ^ 1 : v);
  const tampered: PublicMessage[] = [
    { ...pm, auth: { ...pm.auth, signature: flip(pm.auth.signature) } },
    ...(pm.senderType === "member"
      ? [{ ...pm, membershipTag: flip(pm.membershipTag) } as PublicMessage]
      : []),
    ...(pm.auth.contentType === "commit"
      ? [{ ...pm, auth: { ...pm.auth, confirmationTag: flip(pm.auth.confirmationTag) } }]
      : []),
  ];
  for (const bad of tampered) {
    await assertRejects(() => processPublicMessage(aliceState, bad, emptyPskIndex, cs));
    await assertRejects(() => processPublicCommit(aliceState, bad, cs, () => "accept"));
  }
  const rejected = await processPublicCommit(aliceState, pm, cs, () => "reject");
  assertEquals(rejected.actionTaken, "reject");
  assert(rejected.newState === aliceState);
  const accepted = await processPublicCommit(aliceState, pm, cs, () => "accept");
  assertEquals(accepted.newState.groupContext.epoch, aliceState.groupContext.epoch + 1n);
});

Deno.test("commits - ours are applied by ts-mls to the same state, and their Welcomes join", async () => {
  const cs = await slimCiphersuite();
  const moderator = await party("moderator", cs);
  let mod = await createGroup(
    crypto.getRandomValues(new Uint8Array(32)),
    moderator.kp.publicPackage,
    moderator.kp.privatePackage,
    [],
    cs,
  );
  const members: ClientState[] = [];
  const check = async (proposals: Proposal[]) => {
    const created = await createPublicCommit(mod, proposals, cs);
    assert(created.commit.wireformat === "mls_public_message");
    const commit = created.commit.publicMessage;
    mod = created.newState;
    assertEquals(mod.secretTree, []);
    const tree = await createSecretTree(created.leafWidth, created.encryptionSecret, cs.kdf);
    for (const [i, member] of members.entries()) {
      if (member.groupActiveState.kind !== "active") continue;
      const next = (await processPublicMessage(member, commit, emptyPskIndex, cs)).newState;
      members[i] = next;
      if (next.groupActiveState.kind !== "active") continue;
      assertEquals(next.groupContext, mod.groupContext);
      assertEquals(next.keySchedule, mod.keySchedule);
      assertEquals(next.ratchetTree, mod.ratchetTree);
      assertEquals(next.secretTree, tree);
    }
    await checkHashes(mod, cs);
    return created;
  };
  for (let i = 0; i < 5; i++) {
    const joiner = await party(`member-${i}`, cs);
    const { welcome } = await check([
      { proposalType: "add", add: { keyPackage: joiner.kp.publicPackage } },
    ]);
    assert(welcome);
    const joined = await joinGroup(
      welcome,
      joiner.kp.publicPackage,
      joiner.kp.privatePackage,
      emptyPskIndex,
      cs,
    );
    assertEquals(joined.groupContext, mod.groupContext);
    members.push(joined);
  }
  // A removal carries an UpdatePath: members decrypt its path secret.
  const { welcome } = await check([{ proposalType: "remove", remove: { removed: 2 } }]);
  assertEquals(welcome, undefined);
  await check([
    { proposalType: "remove", remove: { removed: 4 } },
    { proposalType: "add", add: { keyPackage: (await party("late", cs)).kp.publicPackage } },
  ]);
});

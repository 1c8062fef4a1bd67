/**
 * Commits sent as PublicMessages, received (`processPublicCommit`: ts-mls 1.6.4's
 * `processPublicMessage` → `processCommit`) and created (`createPublicCommit`: its
 * `createCommit`), orchestrated here with two differences.
 *
 * 1. The new epoch's secret tree is not derived: ts-mls derives it eagerly (~6N HKDF
 *    expansions for N leaves), which was the largest single cost of applying a commit (half of
 *    it at N = 32, two thirds at N = 64) and of creating one. The epoch's `encryption_secret` is
 *    returned instead and `app_message.ts` derives the leaves that actually send, on demand. The
 *    returned state's `secretTree` is empty: application messages never go through ts-mls.
 * 2. Tree and parent hashes of received UpdatePaths and of the new tree come from
 *    `tree_hash.ts` (memoised: only the nodes the commit changed are hashed again), and the tree
 *    hash of a received commit's tree is computed once (ts-mls did it twice).
 *
 * Everything else — proposal validation and application, the committer's leaf-node validation
 * (signature, credential through the `AuthenticationService`, key uniqueness), the UpdatePath
 * parent-hash check and path-secret decryption, the key schedule, the confirmation tag, the
 * Welcome, the historical epoch data — calls the same ts-mls functions in the same order, so
 * the same commits are produced, accepted and rejected, with the same errors (the tests compare
 * the resulting states with ts-mls's). This file depends on ts-mls internals (`ts-mls/*.js`
 * exports of the pinned 1.6.4; the private `updatePrivateKeyPath`, `applyTreeUpdate` and
 * `createWelcome` are copied); an upgrade must re-check it against `processMessages.js` and
 * `createCommit.js`.
 *
 * Parts adapted from ts-mls 1.6.4, MIT License, Copyright (c) 2025 Luka Jacobowitz; the
 * license travels with the package (`node_modules/ts-mls/LICENSE`).
 * @module
 */
import type {
  CiphersuiteImpl,
  ClientState,
  IncomingMessageAction,
  IncomingMessageCallback,
  MLSMessage,
  PrivateKeyPath,
  Proposal,
  ProposalOrRef,
  PublicMessage,
  RatchetTree,
  UpdatePath,
  Welcome,
} from "ts-mls";
import type { AuthenticatedContentCommit } from "ts-mls/authenticatedContent.js";
import {
  addHistoricalReceiverData,
  applyProposals,
  type ApplyProposalsResult,
  checkCanSendHandshakeMessages,
  makePskIndex,
  nextEpochContext,
  throwIfDefined,
  validateLeafNodeCredentialAndKeyUniqueness,
  validateLeafNodeUpdateOrCommit,
} from "ts-mls/clientState.js";
import { applyUpdatePathSecret, createGroupInfoWithRatchetTree } from "ts-mls/createCommit.js";
import { deriveSecret } from "ts-mls/crypto/kdf.js";
import {
  createConfirmationTag,
  createContentCommitSignature,
  verifyConfirmationTag,
} from "ts-mls/framedContent.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { type EpochSecrets, initializeEpoch } from "ts-mls/keySchedule.js";
import { protectPublicMessage, unprotectPublicMessage } from "ts-mls/messageProtectionPublic.js";
import {
  CryptoVerificationError,
  InternalError,
  UsageError,
  ValidationError,
} from "ts-mls/mlsError.js";
import { getCommitSecret, pathToPathSecrets, pathToRoot } from "ts-mls/pathSecrets.js";
import { mergePrivateKeyPaths, toPrivateKeyPath, updateLeafKey } from "ts-mls/privateKeyPath.js";
import { emptyPskIndex } from "ts-mls/pskIndex.js";
import { findBlankLeafNodeIndex } from "ts-mls/ratchetTree.js";
import type { SenderMember } from "ts-mls/sender.js";
import {
  type LeafIndex,
  leafToNodeIndex,
  leafWidth,
  type NodeIndex,
  root,
  toLeafIndex,
  toNodeIndex,
} from "ts-mls/treemath.js";
import { createUpdatePath, firstCommonAncestor, type PathSecret } from "ts-mls/updatePath.js";
import { base64ToBytes, zeroOutUint8Array } from "ts-mls/util/byteArray.js";
import { encryptGroupInfo, encryptGroupSecrets } from "ts-mls/welcome.js";
import { applyUpdatePath, treeHashRoot } from "./tree_hash.ts";

/** Result of {@link processPublicCommit}. */
export interface ProcessedCommit {
  /** The next state (the same one when rejected); its `secretTree` is empty. */
  readonly newState: ClientState;
  readonly actionTaken: IncomingMessageAction;
  /** Secrets of the previous epoch to erase. */
  readonly consumed: Uint8Array[];
  /**
   * The new epoch's `encryption_secret` (the caller owns it and must erase it), when the commit
   * was accepted and did not remove us.
   */
  readonly encryptionSecret?: Uint8Array;
  /** The new epoch's leaf width (the secret tree's), with {@link encryptionSecret}. */
  readonly leafWidth?: number;
}

/**
 * ts-mls's `processPublicMessage` for a commit from a member (the caller checked the content
 * type, sender and epoch), without the eager secret tree (see the module documentation).
 */
export async function processPublicCommit(
  state: ClientState,
  pm: PublicMessage,
  cs: CiphersuiteImpl,
  callback: IncomingMessageCallback,
): Promise<ProcessedCommit> {
  if (pm.content.epoch < state.groupContext.epoch) {
    throw new ValidationError("Cannot process message, epoch too old");
  }
  const content = await unprotectPublicMessage(
    state.keySchedule.membershipKey,
    state.groupContext,
    state.ratchetTree,
    pm,
    cs,
  );
  if (content.content.contentType !== "commit") {
    throw new ValidationError("expected a commit");
  }
  return await processCommit(state, content as AuthenticatedContentCommit, callback, cs);
}

async function processCommit(
  state: ClientState,
  content: AuthenticatedContentCommit,
  callback: IncomingMessageCallback,
  cs: CiphersuiteImpl,
): Promise<ProcessedCommit> {
  if (content.content.epoch !== state.groupContext.epoch) {
    throw new ValidationError("Could not validate epoch");
  }
  const sender = content.content.sender;
  const senderLeafIndex = sender.senderType === "member"
    ? toLeafIndex(sender.leafIndex)
    : undefined;
  const result = await applyProposals(
    state,
    content.content.commit.proposals,
    senderLeafIndex,
    emptyPskIndex,
    false,
    cs,
  );
  const action = callback({ kind: "commit", senderLeafIndex, proposals: result.allProposals });
  if (action === "reject") return { newState: state, actionTaken: action, consumed: [] };
  const path = content.content.commit.path;
  if (path !== undefined) {
    const committerLeafIndex = senderLeafIndex ??
      (result.additionalResult.kind === "externalCommit"
        ? result.additionalResult.newMemberLeafIndex
        : undefined);
    if (committerLeafIndex === undefined) {
      throw new ValidationError(
        "Cannot verify commit leaf node because no commiter leaf index found",
      );
    }
    throwIfDefined(
      await validateLeafNodeUpdateOrCommit(
        path.leafNode,
        committerLeafIndex,
        state.groupContext,
        state.clientConfig.authService,
        cs.signature,
      ),
    );
    throwIfDefined(
      await validateLeafNodeCredentialAndKeyUniqueness(
        result.tree,
        path.leafNode,
        committerLeafIndex,
      ),
    );
  }
  if (result.needsUpdatePath && path === undefined) {
    throw new ValidationError("Update path is required");
  }
  if (result.selfRemoved) {
    // As ts-mls: a removed member cannot decrypt the path secret; record the removal.
    return {
      newState: {
        ...state,
        ratchetTree: result.tree,
        unappliedProposals: {},
        groupActiveState: { kind: "removedFromGroup" },
      },
      actionTaken: action,
      consumed: [],
    };
  }
  if (sender.senderType !== "member") {
    // External commits are not part of SLIM; ts-mls would handle them, this path does not.
    throw new ValidationError("only commits from members are supported");
  }
  const groupContextWithExtensions = result.additionalResult.kind === "memberCommit" &&
      result.additionalResult.extensions.length > 0
    ? { ...state.groupContext, extensions: result.additionalResult.extensions }
    : state.groupContext;
  const excludeNodes = result.additionalResult.kind === "memberCommit"
    ? result.additionalResult.addedLeafNodes.map((l) => leafToNodeIndex(toLeafIndex(l[0])))
    : [findBlankLeafNodeIndex(result.tree) ?? toNodeIndex(result.tree.length + 1)];
  const [pkp, commitSecret, tree, newTreeHash] = await applyTreeUpdate(
    path,
    sender,
    result.tree,
    cs,
    state,
    groupContextWithExtensions,
    excludeNodes,
  );
  if (content.auth.contentType !== "commit") {
    throw new ValidationError("Received content as commit, but not auth");
  }
  const updatedGroupContext = await nextEpochContext(
    groupContextWithExtensions,
    "mls_public_message",
    content.content,
    content.auth.signature,
    newTreeHash,
    state.confirmationTag,
    cs.hash,
  );
  const initSecret = state.keySchedule.initSecret;
  const epochSecrets = await initializeEpoch(
    initSecret,
    commitSecret,
    updatedGroupContext,
    result.pskSecret,
    cs.kdf,
  );
  const confirmationTagValid = await verifyConfirmationTag(
    epochSecrets.keySchedule.confirmationKey,
    content.auth.confirmationTag,
    updatedGroupContext.confirmedTranscriptHash,
    cs.hash,
  );
  if (!confirmationTagValid) {
    zeroOutUint8Array(epochSecrets.encryptionSecret);
    throw new CryptoVerificationError("Could not verify confirmation tag");
  }
  const suspendedPendingReinit = result.additionalResult.kind === "reinit"
    ? result.additionalResult.reinit
    : undefined;
  const [historicalReceiverData, consumedEpochData] = addHistoricalReceiverData(state);
  zeroOutUint8Array(commitSecret);
  zeroOutUint8Array(epochSecrets.joinerSecret);
  return {
    newState: {
      ...state,
      secretTree: [],
      ratchetTree: tree,
      privatePath: pkp,
      groupContext: updatedGroupContext,
      keySchedule: epochSecrets.keySchedule,
      confirmationTag: content.auth.confirmationTag,
      historicalReceiverData,
      unappliedProposals: {},
      groupActiveState: suspendedPendingReinit !== undefined
        ? { kind: "suspendedPendingReinit", reinit: suspendedPendingReinit }
        : { kind: "active" },
    },
    actionTaken: action,
    consumed: [...consumedEpochData, initSecret],
    encryptionSecret: epochSecrets.encryptionSecret,
    leafWidth: leafWidth(tree.length),
  };
}

/** ts-mls's `applyTreeUpdate` (member senders), returning the new tree's hash too. */
async function applyTreeUpdate(
  path: UpdatePath | undefined,
  sender: SenderMember,
  tree: RatchetTree,
  cs: CiphersuiteImpl,
  state: ClientState,
  groupContext: GroupContext,
  excludeNodes: NodeIndex[],
): Promise<[PrivateKeyPath, Uint8Array, RatchetTree, Uint8Array]> {
  if (path === undefined) {
    return [
      state.privatePath,
      new Uint8Array(cs.kdf.size),
      tree,
      await treeHashRoot(tree, cs.hash),
    ];
  }
  const updatedTree = await applyUpdatePath(tree, toLeafIndex(sender.leafIndex), path, cs.hash);
  const treeHash = await treeHashRoot(updatedTree, cs.hash);
  const [pkp, commitSecret] = await updatePrivateKeyPath(
    updatedTree,
    state,
    toLeafIndex(sender.leafIndex),
    { ...groupContext, treeHash, epoch: groupContext.epoch + 1n },
    path,
    excludeNodes,
    cs,
  );
  return [pkp, commitSecret, updatedTree, treeHash];
}

/** ts-mls's `updatePrivateKeyPath`. */
async function updatePrivateKeyPath(
  tree: RatchetTree,
  state: ClientState,
  leafNodeIndex: LeafIndex,
  groupContext: GroupContext,
  path: UpdatePath,
  excludeNodes: NodeIndex[],
  cs: CiphersuiteImpl,
): Promise<[PrivateKeyPath, Uint8Array]> {
  const secret = await applyUpdatePathSecret(
    tree,
    state.privatePath,
    leafNodeIndex,
    groupContext,
    path,
    excludeNodes,
    cs,
  );
  const pathSecrets = await pathToRoot(
    tree,
    toNodeIndex(secret.nodeIndex),
    secret.pathSecret,
    cs.kdf,
  );
  const newPkp = mergePrivateKeyPaths(
    state.privatePath,
    await toPrivateKeyPath(pathSecrets, state.privatePath.leafIndex, cs),
  );
  const rootSecret = pathSecrets[root(leafWidth(tree.length))];
  if (rootSecret === undefined) throw new InternalError("Could not find secret for root");
  const commitSecret = await deriveSecret(rootSecret, "path", cs.kdf);
  return [newPkp, commitSecret];
}

/** Result of {@link createPublicCommit}. */
export interface CreatedCommit {
  /** The next state; its `secretTree` is empty. */
  readonly newState: ClientState;
  /** The commit, an `MLSMessage(PublicMessage)`. */
  readonly commit: MLSMessage;
  /** A Welcome (with the ratchet tree extension) when the commit adds members. */
  readonly welcome: Welcome | undefined;
  /** Secrets of the previous epoch to erase. */
  readonly consumed: Uint8Array[];
  /** The new epoch's `encryption_secret` (the caller owns it and must erase it). */
  readonly encryptionSecret: Uint8Array;
  /** The new epoch's leaf width. */
  readonly leafWidth: number;
}

/**
 * ts-mls's `createCommit` with `wireAsPublicMessage` and `ratchetTreeExtension`, no extra
 * authenticated data or GroupInfo extensions, for a member committing proposals by value:
 * without the eager secret tree, and with the tree hash of `tree_hash.ts`.
 */
export async function createPublicCommit(
  state: ClientState,
  proposals: Proposal[],
  cs: CiphersuiteImpl,
): Promise<CreatedCommit> {
  const pskIndex = makePskIndex(state, {});
  checkCanSendHandshakeMessages(state);
  const authenticatedData = new Uint8Array();
  const allProposals: ProposalOrRef[] = [
    ...Object.keys(state.unappliedProposals).map((p) => ({
      proposalOrRefType: "reference" as const,
      reference: base64ToBytes(p),
    })),
    ...proposals.map((proposal) => ({ proposalOrRefType: "proposal" as const, proposal })),
  ];
  const ownLeaf = toLeafIndex(state.privatePath.leafIndex);
  const res = await applyProposals(state, allProposals, ownLeaf, pskIndex, true, cs);
  if (res.additionalResult.kind === "externalCommit") {
    throw new UsageError("Cannot create externalCommit as a member");
  }
  const suspendedPendingReinit = res.additionalResult.kind === "reinit"
    ? res.additionalResult.reinit
    : undefined;
  // New members get the path secret in the Welcome rather than through the UpdatePath.
  const excludeNodes = res.additionalResult.kind === "memberCommit"
    ? res.additionalResult.addedLeafNodes.map(([leafIndex]) => leafToNodeIndex(leafIndex))
    : [];
  const [tree, updatePath, pathSecrets, newPrivateKey] = res.needsUpdatePath
    ? await createUpdatePath(
      res.tree,
      ownLeaf,
      state.groupContext,
      state.signaturePrivateKey,
      cs,
      excludeNodes,
    )
    : [res.tree, undefined, [], undefined];
  const updatedExtensions =
    res.additionalResult.kind === "memberCommit" && res.additionalResult.extensions.length > 0
      ? res.additionalResult.extensions
      : state.groupContext.extensions;
  const groupContextWithExtensions = { ...state.groupContext, extensions: updatedExtensions };
  const privateKeys = mergePrivateKeyPaths(
    newPrivateKey !== undefined
      ? updateLeafKey(state.privatePath, await cs.hpke.exportPrivateKey(newPrivateKey))
      : state.privatePath,
    await toPrivateKeyPath(pathToPathSecrets(pathSecrets), state.privatePath.leafIndex, cs),
  );
  const lastPathSecret = pathSecrets.at(-1);
  const commitSecret = lastPathSecret === undefined
    ? new Uint8Array(cs.kdf.size)
    : await getCommitSecret(
      tree,
      toNodeIndex(lastPathSecret.nodeIndex),
      lastPathSecret.secret,
      cs.kdf,
    );
  const { signature, framedContent } = await createContentCommitSignature(
    state.groupContext,
    "mls_public_message",
    { proposals: allProposals, path: updatePath },
    { senderType: "member", leafIndex: state.privatePath.leafIndex },
    authenticatedData,
    state.signaturePrivateKey,
    cs.signature,
  );
  const treeHash = await treeHashRoot(tree, cs.hash);
  const updatedGroupContext = await nextEpochContext(
    groupContextWithExtensions,
    "mls_public_message",
    framedContent,
    signature,
    treeHash,
    state.confirmationTag,
    cs.hash,
  );
  const epochSecrets = await initializeEpoch(
    state.keySchedule.initSecret,
    commitSecret,
    updatedGroupContext,
    res.pskSecret,
    cs.kdf,
  );
  const confirmationTag = await createConfirmationTag(
    epochSecrets.keySchedule.confirmationKey,
    updatedGroupContext.confirmedTranscriptHash,
    cs.hash,
  );
  const publicMessage = await protectPublicMessage(
    state.keySchedule.membershipKey,
    state.groupContext,
    {
      wireformat: "mls_public_message",
      content: framedContent,
      auth: { contentType: "commit", signature, confirmationTag },
    },
    cs,
  );
  const welcome = await createWelcome(
    updatedGroupContext,
    confirmationTag,
    state,
    tree,
    cs,
    epochSecrets,
    res,
    pathSecrets,
  );
  const [historicalReceiverData, consumedEpochData] = addHistoricalReceiverData(state);
  zeroOutUint8Array(commitSecret);
  zeroOutUint8Array(epochSecrets.joinerSecret);
  return {
    newState: {
      groupContext: updatedGroupContext,
      ratchetTree: tree,
      secretTree: [],
      keySchedule: epochSecrets.keySchedule,
      privatePath: privateKeys,
      unappliedProposals: {},
      historicalReceiverData,
      confirmationTag,
      signaturePrivateKey: state.signaturePrivateKey,
      groupActiveState: res.selfRemoved
        ? { kind: "removedFromGroup" }
        : suspendedPendingReinit !== undefined
        ? { kind: "suspendedPendingReinit", reinit: suspendedPendingReinit }
        : { kind: "active" },
      clientConfig: state.clientConfig,
    },
    commit: { version: "mls10", wireformat: "mls_public_message", publicMessage },
    welcome,
    consumed: [...consumedEpochData, state.keySchedule.initSecret],
    encryptionSecret: epochSecrets.encryptionSecret,
    leafWidth: leafWidth(tree.length),
  };
}

/** ts-mls's private `createWelcome`, with the ratchet tree extension. */
async function createWelcome(
  groupContext: GroupContext,
  confirmationTag: Uint8Array,
  state: ClientState,
  tree: RatchetTree,
  cs: CiphersuiteImpl,
  epochSecrets: EpochSecrets,
  res: ApplyProposalsResult,
  pathSecrets: PathSecret[],
): Promise<Welcome | undefined> {
  if (res.additionalResult.kind !== "memberCommit") return undefined;
  const added = res.additionalResult.addedLeafNodes;
  if (added.length === 0) return undefined;
  const groupInfo = await createGroupInfoWithRatchetTree(
    groupContext,
    confirmationTag,
    state,
    tree,
    [],
    cs,
  );
  const encryptedGroupInfo = await encryptGroupInfo(groupInfo, epochSecrets.welcomeSecret, cs);
  const secrets = await Promise.all(added.map(async ([leafIndex, keyPackage]) => {
    const nodeIndex = firstCommonAncestor(
      tree,
      leafIndex,
      toLeafIndex(state.privatePath.leafIndex),
    );
    const pathSecret = pathSecrets.find((ps) => ps.nodeIndex === nodeIndex);
    const pk = await cs.hpke.importPublicKey(keyPackage.initKey);
    const egs = await encryptGroupSecrets(pk, encryptedGroupInfo, {
      joinerSecret: epochSecrets.joinerSecret,
      pathSecret: pathSecret?.secret,
      psks: res.pskIds,
    }, cs.hpke);
    return {
      newMember: await makeKeyPackageRef(keyPackage, cs.hash),
      encryptedGroupSecrets: { kemOutput: egs.enc, ciphertext: egs.ct },
    };
  }));
  return { cipherSuite: groupContext.cipherSuite, secrets, encryptedGroupInfo };
}

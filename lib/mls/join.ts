/**
 * Joining a group from a Welcome: ts-mls 1.6.4's `joinGroupWithExtensions` and the
 * `validateRatchetTree` it runs on the received tree, orchestrated here with three differences.
 *
 * 1. As for commits (`commit.ts`), the new epoch's secret tree is not derived eagerly: the
 *    epoch's `encryption_secret` is returned for `app_message.ts`.
 * 2. Parent hashes and the tree hash are checked with the memoised hashes of `tree_hash.ts`.
 *    ts-mls's parent-hash check walks up from every leaf and hashes a sibling subtree at every
 *    step: ~3,000 SHA-256 computations (and encodings of whole LeafNodes) to join a group of
 *    64, more than half of the join.
 * 3. The leaves' validations (signature, credential) run concurrently: the first time a
 *    process sees a member's key its signature is checked by WebCrypto, off the main thread,
 *    and ts-mls awaited them one after the other. The outcome is the same: the checks are
 *    independent, and the first failure in tree order is the one reported.
 *
 * Everything else calls the same ts-mls functions in the same order, so the same Welcomes are
 * accepted and rejected. Depends on ts-mls internals (the `ts-mls/*.js` exports of the pinned
 * 1.6.4; the private `validateLeafNodeKeyPackage`, `validateLeafNodeCommon` and
 * `parentHashCoverage` are copied); an upgrade must re-check this file against ts-mls's
 * `clientState.js` and `parentHash.js`.
 *
 * Parts adapted from ts-mls 1.6.4, MIT License, Copyright (c) 2025 Luka Jacobowitz; the
 * license travels with the package (`node_modules/ts-mls/LICENSE`).
 * @module
 */
import type {
  AuthenticationService,
  CiphersuiteImpl,
  ClientConfig,
  ClientState,
  KeyPackage,
  LeafNode,
  LifetimeConfig,
  PrivateKeyPackage,
  RatchetTree,
  Welcome,
} from "ts-mls";
import type { RequiredCapabilities } from "ts-mls/requiredCapabilities.js";
import { validateLeafNodeUpdateOrCommit } from "ts-mls/clientState.js";
import { extensionsSupportedByCapabilities } from "ts-mls/extension.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import {
  ratchetTreeFromExtension,
  verifyGroupInfoConfirmationTag,
  verifyGroupInfoSignature,
} from "ts-mls/groupInfo.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { deriveKeySchedule } from "ts-mls/keySchedule.js";
import { type LeafNodeKeyPackage, verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import {
  CodecError,
  CryptoVerificationError,
  InternalError,
  type MlsError,
  UsageError,
  ValidationError,
} from "ts-mls/mlsError.js";
import { pathToRoot } from "ts-mls/pathSecrets.js";
import { mergePrivateKeyPaths, toPrivateKeyPath } from "ts-mls/privateKeyPath.js";
import { accumulatePskSecret, emptyPskIndex } from "ts-mls/pskIndex.js";
import { findLeafIndex } from "ts-mls/ratchetTree.js";
import { decodeRequiredCapabilities } from "ts-mls/requiredCapabilities.js";
import {
  directPath,
  isLeaf,
  leafToNodeIndex,
  leafWidth,
  nodeToLeafIndex,
  root,
  toLeafIndex,
  toNodeIndex,
} from "ts-mls/treemath.js";
import { firstCommonAncestor } from "ts-mls/updatePath.js";
import { arraysEqual } from "ts-mls/util/array.js";
import { bytesToBase64, zeroOutUint8Array } from "ts-mls/util/byteArray.js";
import { constantTimeEqual } from "ts-mls/util/constantTimeCompare.js";
import { decryptGroupInfo, decryptGroupSecrets } from "ts-mls/welcome.js";
import { calculateParentHash, treeHashRoot } from "./tree_hash.ts";

/** Result of {@link joinGroup}. */
export interface JoinedGroup {
  /** The state at the Welcome's epoch; its `secretTree` is empty. */
  readonly state: ClientState;
  /** The epoch's `encryption_secret` (the caller owns it and must erase it). */
  readonly encryptionSecret: Uint8Array;
  /** The epoch's leaf width. */
  readonly leafWidth: number;
}

/**
 * ts-mls's `joinGroup` with no PSKs, no resumption and the tree taken from the Welcome's
 * `ratchet_tree` extension (as SLIM sends it), without the eager secret tree.
 */
export async function joinGroup(
  welcome: Welcome,
  keyPackage: KeyPackage,
  privateKeys: PrivateKeyPackage,
  cs: CiphersuiteImpl,
  clientConfig: ClientConfig,
): Promise<JoinedGroup> {
  const keyPackageRef = await makeKeyPackageRef(keyPackage, cs.hash);
  const privKey = await cs.hpke.importPrivateKey(privateKeys.initPrivateKey);
  const groupSecrets = await decryptGroupSecrets(privKey, keyPackageRef, welcome, cs.hpke);
  if (groupSecrets === undefined) throw new CodecError("Could not decode group secrets");
  const zeroes = new Uint8Array(cs.kdf.size);
  const [pskSecret, pskIds] = await accumulatePskSecret(
    groupSecrets.psks,
    emptyPskIndex,
    cs,
    zeroes,
  );
  const gi = await decryptGroupInfo(welcome, groupSecrets.joinerSecret, pskSecret, cs);
  if (gi === undefined) throw new CodecError("Could not decode group info");
  if (pskIds.some((id) => id.psktype === "resumption")) {
    throw new ValidationError("No prior state passed for resumption");
  }
  if (
    !extensionsSupportedByCapabilities(gi.groupContext.extensions, keyPackage.leafNode.capabilities)
  ) {
    throw new UsageError("client does not support every extension in the GroupContext");
  }
  const tree = ratchetTreeFromExtension(gi);
  if (tree === undefined) {
    throw new UsageError("No RatchetTree passed and no ratchet_tree extension");
  }
  const signerNode = tree[leafToNodeIndex(toLeafIndex(gi.signer))];
  if (signerNode === undefined) throw new ValidationError("Could not find signer leafNode");
  if (signerNode.nodeType === "parent") throw new ValidationError("Expected non blank leaf node");
  const credentialVerified = await clientConfig.authService.validateCredential(
    signerNode.leaf.credential,
    signerNode.leaf.signaturePublicKey,
  );
  if (!credentialVerified) throw new ValidationError("Could not validate credential");
  if (!await verifyGroupInfoSignature(gi, signerNode.leaf.signaturePublicKey, cs.signature)) {
    throw new CryptoVerificationError("Could not verify groupInfo signature");
  }
  if (gi.groupContext.cipherSuite !== keyPackage.cipherSuite) {
    throw new ValidationError(
      "cipher suite in the GroupInfo does not match the cipher_suite in the KeyPackage",
    );
  }
  throwIfDefined(
    await validateRatchetTree(
      tree,
      gi.groupContext,
      clientConfig.lifetimeConfig,
      clientConfig.authService,
      gi.groupContext.treeHash,
      cs,
    ),
  );
  const newLeaf = findLeafIndex(tree, keyPackage.leafNode);
  if (newLeaf === undefined) {
    throw new ValidationError("Could not find own leaf when processing welcome");
  }
  const privateKeyPath = {
    leafIndex: newLeaf,
    privateKeys: { [leafToNodeIndex(newLeaf)]: privateKeys.hpkePrivateKey },
  };
  const ancestorNodeIndex = firstCommonAncestor(tree, newLeaf, toLeafIndex(gi.signer));
  const updatedPkp = groupSecrets.pathSecret === undefined ? privateKeyPath : mergePrivateKeyPaths(
    await toPrivateKeyPath(
      await pathToRoot(tree, ancestorNodeIndex, groupSecrets.pathSecret, cs.kdf),
      newLeaf,
      cs,
    ),
    privateKeyPath,
  );
  const [keySchedule, encryptionSecret] = await deriveKeySchedule(
    groupSecrets.joinerSecret,
    pskSecret,
    gi.groupContext,
    cs.kdf,
  );
  const confirmed = await verifyGroupInfoConfirmationTag(
    gi,
    groupSecrets.joinerSecret,
    pskSecret,
    cs,
  );
  zeroOutUint8Array(groupSecrets.joinerSecret);
  if (!confirmed) {
    zeroOutUint8Array(encryptionSecret);
    throw new CryptoVerificationError("Could not verify confirmation tag");
  }
  return {
    state: {
      groupContext: gi.groupContext,
      ratchetTree: tree,
      privatePath: updatedPkp,
      signaturePrivateKey: privateKeys.signaturePrivateKey,
      confirmationTag: gi.confirmationTag,
      unappliedProposals: {},
      keySchedule,
      secretTree: [],
      historicalReceiverData: new Map(),
      groupActiveState: { kind: "active" },
      clientConfig,
    },
    encryptionSecret,
    leafWidth: leafWidth(tree.length),
  };
}

function throwIfDefined(err: MlsError | undefined): void {
  if (err !== undefined) throw err;
}

/**
 * ts-mls's `validateRatchetTree`, with the leaves validated concurrently (the first error in
 * tree order wins, as when done in turn) and memoised parent and tree hashes.
 */
export async function validateRatchetTree(
  tree: RatchetTree,
  groupContext: GroupContext,
  config: LifetimeConfig,
  authService: AuthenticationService,
  treeHash: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<MlsError | undefined> {
  const hpkeKeys = new Set<string>();
  const signatureKeys = new Set<string>();
  const credentialTypes = new Set<string>();
  // In tree order: an error found while walking, or a leaf validation under way.
  const checks: (MlsError | Promise<MlsError | undefined>)[] = [];
  walk: for (const [i, n] of tree.entries()) {
    const nodeIndex = toNodeIndex(i);
    if (n?.nodeType === "leaf") {
      if (!isLeaf(nodeIndex)) {
        checks.push(new ValidationError("Received Ratchet Tree is not structurally sound"));
        break;
      }
      const hpkeKey = bytesToBase64(n.leaf.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey)) {
        checks.push(new ValidationError("hpke keys not unique"));
        break;
      }
      hpkeKeys.add(hpkeKey);
      const signatureKey = bytesToBase64(n.leaf.signaturePublicKey);
      if (signatureKeys.has(signatureKey)) {
        checks.push(new ValidationError("signature keys not unique"));
        break;
      }
      signatureKeys.add(signatureKey);
      credentialTypes.add(n.leaf.credential.credentialType);
      checks.push(
        n.leaf.leafNodeSource === "key_package"
          ? validateLeafNodeKeyPackage(
            n.leaf as LeafNodeKeyPackage,
            groupContext,
            config,
            authService,
            cs,
          )
          : validateLeafNodeUpdateOrCommit(
            n.leaf,
            nodeToLeafIndex(nodeIndex),
            groupContext,
            authService,
            cs.signature,
          ),
      );
    } else if (n?.nodeType === "parent") {
      if (isLeaf(nodeIndex)) {
        checks.push(new ValidationError("Received Ratchet Tree is not structurally sound"));
        break;
      }
      const hpkeKey = bytesToBase64(n.parent.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey)) {
        checks.push(new ValidationError("hpke keys not unique"));
        break;
      }
      hpkeKeys.add(hpkeKey);
      for (const unmergedLeaf of n.parent.unmergedLeaves) {
        const leafIndex = toLeafIndex(unmergedLeaf);
        const dp = directPath(leafToNodeIndex(leafIndex), leafWidth(tree.length));
        const leafNodeIndex = leafToNodeIndex(leafIndex);
        if (tree[leafNodeIndex]?.nodeType !== "leaf" && !dp.includes(toNodeIndex(i))) {
          checks.push(
            new ValidationError("Unmerged leaf did not represent a non-blank descendant leaf node"),
          );
          break walk;
        }
        for (const parentIdx of dp) {
          const dpNode = tree[parentIdx];
          if (dpNode === undefined) continue;
          if (dpNode.nodeType !== "parent") {
            checks.push(new InternalError("Expected parent node"));
            break walk;
          }
          if (!arraysEqual(dpNode.parent.unmergedLeaves, n.parent.unmergedLeaves)) {
            checks.push(
              new ValidationError(
                "non-blank intermediate node must list leaf node in its unmerged_leaves",
              ),
            );
            break walk;
          }
        }
      }
    }
  }
  // Settle every validation started (none may be left unhandled), then report in order.
  const outcomes = await Promise.allSettled(checks);
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") throw outcome.reason;
    if (outcome.value !== undefined) return outcome.value;
  }
  for (const n of tree) {
    if (n?.nodeType !== "leaf") continue;
    for (const credentialType of credentialTypes) {
      if (!n.leaf.capabilities.credentials.includes(credentialType as never)) {
        return new ValidationError(
          "LeafNode has credential that is not supported by member of the group",
        );
      }
    }
  }
  if (!await verifyParentHashes(tree, cs)) {
    return new CryptoVerificationError("Unable to verify parent hash");
  }
  if (!constantTimeEqual(treeHash, await treeHashRoot(tree, cs.hash))) {
    return new ValidationError("Unable to verify tree hash");
  }
}

/** ts-mls's private `validateLeafNodeKeyPackage` for a leaf received (not sent) by us. */
async function validateLeafNodeKeyPackage(
  leafNode: LeafNodeKeyPackage,
  groupContext: GroupContext,
  config: LifetimeConfig,
  authService: AuthenticationService,
  cs: CiphersuiteImpl,
): Promise<MlsError | undefined> {
  if (!await verifyLeafNodeSignatureKeyPackage(leafNode, cs.signature)) {
    return new CryptoVerificationError("Could not verify leaf node signature");
  }
  if (config.validateLifetimeOnReceive) {
    const currentTime = BigInt(Math.floor(Date.now() / 1000));
    if (
      leafNode.lifetime.notBefore > currentTime || leafNode.lifetime.notAfter < currentTime
    ) return new ValidationError("Current time not within Lifetime");
  }
  return await validateLeafNodeCommon(leafNode, groupContext, authService);
}

/** ts-mls's private `validateLeafNodeCommon`. */
async function validateLeafNodeCommon(
  leafNode: LeafNode,
  groupContext: GroupContext,
  authService: AuthenticationService,
): Promise<MlsError | undefined> {
  if (!await authService.validateCredential(leafNode.credential, leafNode.signaturePublicKey)) {
    return new ValidationError("Could not validate credential");
  }
  const required = groupContext.extensions.find((e) => e.extensionType === "required_capabilities");
  if (required !== undefined) {
    const caps = decodeRequiredCapabilities(required.extensionData, 0);
    if (caps === undefined) return new CodecError("Could not decode required_capabilities");
    if (!capabilitiesAreSupported(caps[0], leafNode.capabilities)) {
      return new ValidationError("LeafNode does not support required capabilities");
    }
  }
  if (!extensionsSupportedByCapabilities(leafNode.extensions, leafNode.capabilities)) {
    return new ValidationError("LeafNode contains extension not listed in capabilities");
  }
}

function capabilitiesAreSupported(
  caps: RequiredCapabilities,
  cs: LeafNode["capabilities"],
): boolean {
  return caps.credentialTypes.every((c) => cs.credentials.includes(c)) &&
    caps.extensionTypes.every((e) => cs.extensions.includes(e)) &&
    caps.proposalTypes.every((p) => cs.proposals.includes(p));
}

/**
 * ts-mls's `verifyParentHashes`: every non-blank parent is covered by exactly one parent-hash
 * chain walking up from the leaves, with {@link calculateParentHash} memoised.
 */
async function verifyParentHashes(tree: RatchetTree, cs: CiphersuiteImpl): Promise<boolean> {
  const parents: number[] = [];
  tree.forEach((n, i) => {
    if (n?.nodeType === "parent") parents.push(i);
  });
  if (parents.length === 0) return true;
  const coverage = new Map<number, number>();
  const rootIndex = root(leafWidth(tree.length));
  for (const [i, node] of tree.entries()) {
    let current = toNodeIndex(i);
    if (!isLeaf(current) || node === undefined) continue;
    while (current !== rootIndex) {
      const currentNode = tree[current];
      // ts-mls `continue`s here without moving, which cannot happen: chains only visit
      // non-blank nodes.
      if (currentNode === undefined) break;
      const [parentHash, parentIndex] = await calculateParentHash(tree, current, cs.hash);
      if (parentIndex === undefined) {
        throw new InternalError("Reached root before completing parent hash coeverage");
      }
      const expected = currentNode.nodeType === "parent"
        ? currentNode.parent.parentHash
        : currentNode.leaf.leafNodeSource === "commit"
        ? currentNode.leaf.parentHash
        : undefined;
      if (expected === undefined || !constantTimeEqual(parentHash, expected)) break;
      coverage.set(parentIndex, (coverage.get(parentIndex) ?? 0) + 1);
      current = parentIndex;
    }
  }
  return parents.every((p) => coverage.get(p) === 1);
}

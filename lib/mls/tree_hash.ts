/**
 * Tree hashes (RFC 9420 §7.8) and parent hashes (§7.9) with memoised subtrees, and ts-mls's
 * `applyUpdatePath` on top of them.
 *
 * ts-mls 1.6.4 recomputes the hash of every node of the ratchet tree each time it needs a tree
 * hash: twice per commit with an UpdatePath (`treeHashRoot` for the HPKE context of the path
 * secrets, then again for the new GroupContext), plus the hashes of every sibling subtree along
 * the path for the parent-hash check, about three whole trees per commit. A leaf's hash input
 * holds its whole LeafNode (~500 bytes with a SLIM credential), so in a group of 32 that was
 * ~15 % of the CPU a member spent on a commit. A commit changes only the committer's path and
 * the added or removed leaves; the other nodes hash as before.
 *
 * Memoisation is by value, so it cannot go stale: a leaf's hash is remembered per LeafNode
 * object (ts-mls never mutates tree nodes; a changed leaf is a new object) and its leaf index;
 * a parent's per its `encryption_key` bytes object, checked against the node's `parent_hash`,
 * `unmerged_leaves` and both children's hashes before use. The functions return exactly what
 * ts-mls's `treeHash`, `calculateParentHash` and `applyUpdatePath` return (the tests compare
 * them on random trees); `applyUpdatePath` is a copy of ts-mls's with the memoised parent hash.
 *
 * Parts adapted from ts-mls 1.6.4, MIT License, Copyright (c) 2025 Luka Jacobowitz; the
 * license travels with the package (`node_modules/ts-mls/LICENSE`).
 * @module
 */
import type { Hash, LeafNode, RatchetTree, UpdatePath } from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { InternalError, ValidationError } from "ts-mls/mlsError.js";
import { parentHashInputEncoder } from "ts-mls/parentHash.js";
import { filteredDirectPath, findFirstNonBlankAncestor, removeLeaves } from "ts-mls/ratchetTree.js";
import { leafNodeHashInputEncoder, parentNodeHashInputEncoder } from "ts-mls/treeHash.js";
import {
  directPath,
  isLeaf,
  type LeafIndex,
  leafToNodeIndex,
  leafWidth,
  left,
  type NodeIndex,
  nodeToLeafIndex,
  right,
  root,
  rootFromNodeWidth,
  toLeafIndex,
} from "ts-mls/treemath.js";
import { constantTimeEqual } from "ts-mls/util/constantTimeCompare.js";
import { sameBytes } from "../bytes.ts";

interface LeafEntry {
  readonly index: number;
  readonly hash: Uint8Array;
}

interface ParentEntry {
  readonly parentHash: Uint8Array;
  readonly unmerged: readonly number[];
  readonly left: Uint8Array;
  readonly right: Uint8Array;
  readonly hash: Uint8Array;
}

interface Memo {
  readonly leaves: WeakMap<LeafNode, LeafEntry>;
  readonly parents: WeakMap<Uint8Array, ParentEntry>;
  /** Blank leaves by leaf index. */
  readonly blankLeaves: Map<number, Uint8Array>;
  /** Blank parents by their left child's hash object (itself memoised), checked by value. */
  readonly blankParents: WeakMap<Uint8Array, { right: Uint8Array; hash: Uint8Array }>;
}

/** One memo per hash implementation (they all compute SHA-256 here, but need not). */
const memos = new WeakMap<Hash, Memo>();

function memoFor(h: Hash): Memo {
  let memo = memos.get(h);
  if (!memo) {
    memo = {
      leaves: new WeakMap(),
      parents: new WeakMap(),
      blankLeaves: new Map(),
      blankParents: new WeakMap(),
    };
    memos.set(h, memo);
  }
  return memo;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The tree hash of the subtree of `tree` rooted at node `index`: ts-mls's `treeHash`, memoised.
 * The result may be shared with other callers: do not modify it.
 */
export async function treeHash(
  tree: RatchetTree,
  index: NodeIndex,
  h: Hash,
): Promise<Uint8Array> {
  const memo = memoFor(h);
  if (isLeaf(index)) {
    const node = tree[index];
    if (node?.nodeType === "parent") {
      throw new InternalError("Somehow found parent node in leaf position");
    }
    const leafIndex = nodeToLeafIndex(index);
    if (!node) {
      let hash = memo.blankLeaves.get(leafIndex);
      if (!hash) {
        hash = await h.digest(
          encode(leafNodeHashInputEncoder)({ nodeType: "leaf", leafIndex, leafNode: undefined }),
        );
        memo.blankLeaves.set(leafIndex, hash);
      }
      return hash;
    }
    const known = memo.leaves.get(node.leaf);
    if (known && known.index === leafIndex) return known.hash;
    const hash = await h.digest(
      encode(leafNodeHashInputEncoder)({ nodeType: "leaf", leafIndex, leafNode: node.leaf }),
    );
    memo.leaves.set(node.leaf, { index: leafIndex, hash });
    return hash;
  }
  const node = tree[index];
  if (node?.nodeType === "leaf") {
    throw new InternalError("Somehow found leaf node in parent position");
  }
  const leftHash = await treeHash(tree, left(index), h);
  const rightHash = await treeHash(tree, right(index), h);
  const parent = node?.parent;
  if (!parent) {
    const known = memo.blankParents.get(leftHash);
    if (known && sameBytes(known.right, rightHash)) return known.hash;
  } else {
    const known = memo.parents.get(parent.hpkePublicKey);
    if (
      known && sameBytes(known.parentHash, parent.parentHash) &&
      sameNumbers(known.unmerged, parent.unmergedLeaves) && sameBytes(known.left, leftHash) &&
      sameBytes(known.right, rightHash)
    ) return known.hash;
  }
  const hash = await h.digest(
    encode(parentNodeHashInputEncoder)({
      nodeType: "parent",
      parentNode: parent,
      leftHash,
      rightHash,
    }),
  );
  if (!parent) memo.blankParents.set(leftHash, { right: rightHash, hash });
  else {
    memo.parents.set(parent.hpkePublicKey, {
      parentHash: parent.parentHash,
      unmerged: [...parent.unmergedLeaves],
      left: leftHash,
      right: rightHash,
      hash,
    });
  }
  return hash;
}

/** The tree hash of the whole tree: ts-mls's `treeHashRoot`, memoised. */
export function treeHashRoot(tree: RatchetTree, h: Hash): Promise<Uint8Array> {
  return treeHash(tree, rootFromNodeWidth(tree.length), h);
}

/**
 * The parent hash a node should carry and the index of the parent it is computed from: ts-mls's
 * `calculateParentHash` with memoised sibling tree hashes.
 */
export async function calculateParentHash(
  tree: RatchetTree,
  nodeIndex: NodeIndex,
  h: Hash,
): Promise<[Uint8Array, NodeIndex | undefined]> {
  const rootIndex = root(leafWidth(tree.length));
  if (nodeIndex === rootIndex) return [new Uint8Array(), undefined];
  const parentNodeIndex = findFirstNonBlankAncestor(tree, nodeIndex);
  const parentNode = tree[parentNodeIndex];
  if (parentNodeIndex === rootIndex && parentNode === undefined) {
    return [new Uint8Array(), parentNodeIndex];
  }
  const siblingIndex = nodeIndex < parentNodeIndex ? right(parentNodeIndex) : left(parentNodeIndex);
  if (parentNode === undefined || parentNode.nodeType === "leaf") {
    throw new InternalError("Expected non-blank parent Node");
  }
  const removedUnmerged = removeLeaves(tree, parentNode.parent.unmergedLeaves.map(toLeafIndex));
  const originalSiblingTreeHash = await treeHash(removedUnmerged, siblingIndex, h);
  const input = {
    encryptionKey: parentNode.parent.hpkePublicKey,
    parentHash: parentNode.parent.parentHash,
    originalSiblingTreeHash,
  };
  return [await h.digest(encode(parentHashInputEncoder)(input)), parentNodeIndex];
}

/**
 * Applies a member's UpdatePath to the tree and checks its parent hashes: ts-mls 1.6.4's
 * `applyUpdatePath` (member committers only), with {@link calculateParentHash}.
 */
export async function applyUpdatePath(
  tree: RatchetTree,
  senderLeafIndex: LeafIndex,
  path: UpdatePath,
  h: Hash,
): Promise<RatchetTree> {
  const leafToUpdate = tree[leafToNodeIndex(senderLeafIndex)];
  if (leafToUpdate === undefined || leafToUpdate.nodeType === "parent") {
    throw new InternalError("Leaf node not defined or is parent");
  }
  if (constantTimeEqual(leafToUpdate.leaf.hpkePublicKey, path.leafNode.hpkePublicKey)) {
    throw new ValidationError(
      "Public key in the LeafNode is the same as the committer's current leaf node",
    );
  }
  const pathNodePublicKeysExistInTree = path.nodes.some((node) =>
    tree.some((treeNode) =>
      treeNode?.nodeType === "parent"
        ? constantTimeEqual(treeNode.parent.hpkePublicKey, node.hpkePublicKey)
        : false
    )
  );
  if (pathNodePublicKeysExistInTree) {
    throw new ValidationError(
      "Public keys in the UpdatePath may not appear in a node of the new ratchet tree",
    );
  }
  const copy = tree.slice();
  copy[leafToNodeIndex(senderLeafIndex)] = { nodeType: "leaf", leaf: path.leafNode };
  const reverseFilteredDirectPath = filteredDirectPath(senderLeafIndex, tree).reverse();
  for (const nodeIndex of directPath(leafToNodeIndex(senderLeafIndex), leafWidth(tree.length))) {
    copy[nodeIndex] = undefined;
  }
  const reverseUpdatePath = path.nodes.slice().reverse();
  if (reverseUpdatePath.length !== reverseFilteredDirectPath.length) {
    throw new ValidationError("Invalid length of UpdatePath");
  }
  for (const [level, nodeIndex] of reverseFilteredDirectPath.entries()) {
    const parentHash = await calculateParentHash(copy, nodeIndex, h);
    copy[nodeIndex] = {
      nodeType: "parent",
      parent: {
        hpkePublicKey: reverseUpdatePath[level].hpkePublicKey,
        unmergedLeaves: [],
        parentHash: parentHash[0],
      },
    };
  }
  const leafParentHash = await calculateParentHash(copy, leafToNodeIndex(senderLeafIndex), h);
  if (!constantTimeEqual(leafParentHash[0], path.leafNode.parentHash)) {
    throw new ValidationError("Parent hash did not match the UpdatePath");
  }
  return copy;
}

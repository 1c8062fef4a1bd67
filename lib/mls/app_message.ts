/**
 * Application messages (RFC 9420 §6.3, PrivateMessage with `content_type = application`) done
 * directly on the epoch's secrets instead of through ts-mls, and a lazily derived secret tree.
 *
 * Why not ts-mls's `createApplicationMessage` / `unprotectPrivateMessage`:
 *
 * - **The secret tree.** ts-mls derives the whole secret tree of every new epoch eagerly: two
 *   HKDF expansions per parent node and two ratchet roots per node, ~6N expansions for N leaves.
 *   In a group of 32 that was about half of the CPU a member spent applying a commit, in a group
 *   of 64 two thirds, and it is the same for the moderator's own commits. RFC 9420 §9 lets
 *   members derive it on demand; {@link EpochKeys} derives a sender's leaf secret from the
 *   epoch's `encryption_secret` the first time that sender is used (log2 N + 1 expansions), and
 *   only its application ratchet.
 * - **Per-message overhead.** Here the parts of the signed `FramedContentTBS`, of both AADs and of
 *   every `ExpandWithLabel` info that do not change within an epoch are encoded once (the
 *   `GroupContext` in the signed content too, which ts-mls's closure-based codec encoded for
 *   every message); HMAC keys serving several expansions are keyed once; ratchet state is
 *   updated in place, where ts-mls copied the secret-tree array and its node objects for every
 *   message.
 *
 * The bytes are the same as ts-mls produces (padding included: `paddingConfig` is honoured), which
 * the tests check message by message in both directions; interop with mls-rs is covered by the
 * interop tests.
 *
 * Forward secrecy within an epoch is that of ts-mls's eager tree: the epoch's tree root (here) or
 * all leaf ratchet roots (there) stay in memory for the epoch's lifetime; generation secrets are
 * erased once used. Decryption changes the ratchet only once the content decrypted and its
 * signature verified.
 * @module
 */
import type { GroupContext, KeyRetentionConfig, PaddingConfig, RatchetTree } from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { groupContextEncoder } from "ts-mls/groupContext.js";
import { byteLengthToPad } from "ts-mls/paddingConfig.js";
import type { SecretTreeNode } from "ts-mls/secretTree.js";
import { left, nodeWidth, right, rootFromNodeWidth } from "ts-mls/treemath.js";
import { aesGcmOpen, aesGcmSeal } from "./aead.ts";
import { hkdfExpand, HmacSha256Key } from "../crypto/sha256.ts";

const utf8 = new TextEncoder();
const HASH_SIZE = 32;
const KEY_SIZE = 16;
const NONCE_SIZE = 12;
/** `ProtocolVersion mls10`, `WireFormat mls_private_message`. */
const VERSION_AND_WIREFORMAT = [0x00, 0x01, 0x00, 0x02];
const CONTENT_TYPE_APPLICATION = 1;
const SENDER_TYPE_MEMBER = 1;

/** Raised when a message cannot be decrypted or authenticated; the reason is in the message. */
export class AppMessageError extends Error {
  override name = "AppMessageError";
}

// --- encoding helpers ---------------------------------------------------------------------

/** Size of the variable-length vector header (RFC 9420 §2.1.2) for `n` bytes. */
function varintSize(n: number): number {
  if (n < 64) return 1;
  if (n < 16384) return 2;
  if (n < 0x4000_0000) return 4;
  throw new RangeError("mls: vector too long");
}

/** Writes the vector header for `n` bytes at `at`; returns the next offset. */
function writeVarint(out: Uint8Array, at: number, n: number): number {
  if (n < 64) {
    out[at] = n;
    return at + 1;
  }
  if (n < 16384) {
    out[at] = 0x40 | (n >>> 8);
    out[at + 1] = n & 0xff;
    return at + 2;
  }
  out[at] = 0x80 | (n >>> 24);
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
  return at + 4;
}

/** Writes `data` as a vector at `at`; returns the next offset. */
function writeVector(out: Uint8Array, at: number, data: Uint8Array): number {
  at = writeVarint(out, at, data.length);
  out.set(data, at);
  return at + data.length;
}

/** Reads a vector at `at` as ts-mls does (non-minimal headers accepted); `[data, next]`. */
function readVector(buf: Uint8Array, at: number): [Uint8Array, number] {
  if (at >= buf.length) throw new AppMessageError("truncated vector");
  const first = buf[at];
  let length: number, header: number;
  switch (first >> 6) {
    case 0:
      length = first & 0x3f;
      header = 1;
      break;
    case 1:
      if (at + 2 > buf.length) throw new AppMessageError("truncated vector header");
      length = ((first & 0x3f) << 8) | buf[at + 1];
      header = 2;
      break;
    case 2:
      if (at + 4 > buf.length) throw new AppMessageError("truncated vector header");
      length = ((first & 0x3f) * 0x100_0000) + (buf[at + 1] << 16) + (buf[at + 2] << 8) +
        buf[at + 3];
      header = 4;
      break;
    default:
      throw new AppMessageError("8-byte vector header not supported");
  }
  const end = at + header + length;
  if (end > buf.length) throw new AppMessageError("vector longer than its buffer");
  return [buf.subarray(at + header, end), end];
}

function writeUint32(out: Uint8Array, at: number, v: number): number {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
  return at + 4;
}

function writeUint64(out: Uint8Array, at: number, v: bigint): number {
  writeUint32(out, at, Number(v >> 32n));
  return writeUint32(out, at + 4, Number(v & 0xffff_ffffn));
}

function readUint32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

/**
 * The constant head of a `KDFLabel` (RFC 9420 §8): `uint16 length ‖ opaque label<V>` with
 * label = "MLS 1.0 " + `label`; the context vector follows.
 */
function labelHead(label: string, length: number): Uint8Array {
  const text = utf8.encode(`MLS 1.0 ${label}`);
  const out = new Uint8Array(2 + varintSize(text.length) + text.length);
  out[0] = length >>> 8;
  out[1] = length & 0xff;
  writeVector(out, 2, text);
  return out;
}

/** The `KDFLabel` of {@link labelHead} `head` with `context`. */
function labelInfo(head: Uint8Array, context: Uint8Array): Uint8Array {
  const info = new Uint8Array(head.length + varintSize(context.length) + context.length);
  info.set(head, 0);
  writeVector(info, head.length, context);
  return info;
}

/** `ExpandWithLabel(secret, label, context, length)` with a precomputed {@link labelHead}. */
function expandWithHead(
  secret: Uint8Array | HmacSha256Key,
  head: Uint8Array,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const info = labelInfo(head, context);
  return secret instanceof HmacSha256Key
    ? secret.expand(info, length)
    : hkdfExpand(secret, info, length);
}

const TREE = labelHead("tree", HASH_SIZE);
const LEFT = utf8.encode("left");
const RIGHT = utf8.encode("right");
const APPLICATION = labelHead("application", HASH_SIZE);
const KEY = labelHead("key", KEY_SIZE);
const NONCE = labelHead("nonce", NONCE_SIZE);
const SECRET = labelHead("secret", HASH_SIZE);
const EMPTY = new Uint8Array(0);
const SIGN_LABEL = (() => {
  const text = utf8.encode("MLS 1.0 FramedContentTBS");
  const out = new Uint8Array(varintSize(text.length) + text.length);
  writeVector(out, 0, text);
  return out;
})();

/** `DeriveTreeSecret(secret, label, generation, length)`: the context is the uint32 generation. */
function deriveTreeSecret(
  secret: Uint8Array | HmacSha256Key,
  head: Uint8Array,
  generation: number,
  length: number,
): Uint8Array {
  const context = new Uint8Array(4);
  writeUint32(context, 0, generation);
  return expandWithHead(secret, head, context, length);
}

// --- ratchets and the secret tree ---------------------------------------------------------

/** Key, nonce (reuse guard not applied) and generation of one message. */
interface MessageKeys {
  readonly generation: number;
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
}

/** One sender's application ratchet in one epoch (RFC 9420 §9.1). Mutable; not shared. */
export class Ratchet {
  #secret: Uint8Array;
  #generation: number;
  /** Secrets of skipped generations, oldest first (out-of-order and retransmitted messages). */
  readonly #unused = new Map<number, Uint8Array>();

  constructor(secret: Uint8Array, generation = 0, unused: Iterable<[number, Uint8Array]> = []) {
    this.#secret = secret;
    this.#generation = generation;
    for (const [g, s] of [...unused].sort((a, b) => a[0] - b[0])) this.#unused.set(g, s);
  }

  /** The next generation to be used. */
  get generation(): number {
    return this.#generation;
  }

  /** Keys of the next generation, for sending; the ratchet moves past it. */
  next(): MessageKeys {
    const generation = this.#generation;
    const secret = new HmacSha256Key(this.#secret);
    const keys = keysOf(secret, generation);
    this.#secret.fill(0);
    this.#secret = deriveTreeSecret(secret, SECRET, generation, HASH_SIZE);
    this.#generation = generation + 1;
    secret.wipe();
    return keys;
  }

  /**
   * Keys of `generation`, for receiving, without changing the ratchet until `commit` is called
   * (once the message authenticated). Throws {@link AppMessageError} for a generation already
   * used or forgotten, or too far ahead.
   */
  peek(
    generation: number,
    retention: KeyRetentionConfig,
  ): MessageKeys & { commit(): void } {
    if (generation < this.#generation) {
      const secret = this.#unused.get(generation);
      if (!secret) {
        throw new AppMessageError(
          `generation ${generation} was already used or is no longer kept ` +
            `(the sender is at ${this.#generation} or later)`,
        );
      }
      const keyed = new HmacSha256Key(secret);
      const keys = keysOf(keyed, generation);
      keyed.wipe();
      return {
        ...keys,
        commit: () => {
          this.#unused.delete(generation);
          secret.fill(0);
        },
      };
    }
    const steps = generation - this.#generation;
    if (steps > retention.maximumForwardRatchetSteps) {
      throw new AppMessageError(
        `generation ${generation} is ${steps} steps ahead (at most ` +
          `${retention.maximumForwardRatchetSteps})`,
      );
    }
    const skipped: [number, Uint8Array][] = [];
    let secret = this.#secret;
    for (let g = this.#generation; g < generation; g++) {
      skipped.push([g, secret]);
      secret = deriveTreeSecret(secret, SECRET, g, HASH_SIZE);
    }
    const current = new HmacSha256Key(secret);
    if (secret !== this.#secret) secret.fill(0);
    const keys = keysOf(current, generation);
    return {
      ...keys,
      commit: () => {
        for (const [g, s] of skipped) this.#unused.set(g, s);
        // Keep the newest `retainKeysForGenerations` (insertion order is generation order).
        while (this.#unused.size > retention.retainKeysForGenerations) {
          const [oldest, s] = this.#unused.entries().next().value as [number, Uint8Array];
          s.fill(0);
          this.#unused.delete(oldest);
        }
        if (skipped.length === 0) this.#secret.fill(0);
        this.#secret = deriveTreeSecret(current, SECRET, generation, HASH_SIZE);
        this.#generation = generation + 1;
        current.wipe();
      },
    };
  }

  /** Erases every secret. */
  wipe(): void {
    this.#secret.fill(0);
    for (const s of this.#unused.values()) s.fill(0);
    this.#unused.clear();
  }
}

function keysOf(secret: HmacSha256Key, generation: number): MessageKeys {
  return {
    generation,
    key: deriveTreeSecret(secret, KEY, generation, KEY_SIZE),
    nonce: deriveTreeSecret(secret, NONCE, generation, NONCE_SIZE),
  };
}

/** Where an epoch's application ratchets come from. */
export type RatchetSource =
  /** The epoch's `encryption_secret` and leaf width: derived on demand (RFC 9420 §9). */
  | { kind: "encryptionSecret"; secret: Uint8Array; leafWidth: number }
  /** A secret tree ts-mls derived eagerly (epochs whose encryption secret we never see). */
  | { kind: "tsMlsTree"; tree: readonly SecretTreeNode[] };

/** The leaf secret of `leafIndex`, derived down the tree from the root secret. */
function leafSecret(root: Uint8Array, leafWidth: number, leafIndex: number): Uint8Array {
  const target = leafIndex * 2;
  let node = rootFromNodeWidth(nodeWidth(leafWidth));
  let secret = root;
  while (node !== target) {
    const goLeft = target < node;
    const next = goLeft ? left(node) : right(node);
    const derived = expandWithHead(secret, TREE, goLeft ? LEFT : RIGHT, HASH_SIZE);
    if (secret !== root) secret.fill(0);
    secret = derived;
    node = next;
  }
  return secret === root ? root.slice() : secret;
}

// --- per-epoch keys ---------------------------------------------------------------------

/** What a decrypted application message carries. */
export interface OpenedMessage {
  readonly plaintext: Uint8Array;
  readonly authenticatedData: Uint8Array;
  readonly senderLeafIndex: number;
}

/** The fields of a PrivateMessage this module needs (ts-mls's decoded `PrivateMessage` fits). */
export interface PrivateMessageFields {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: string;
  readonly authenticatedData: Uint8Array;
  readonly encryptedSenderData: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Signing and verification as the ciphersuite provides them. */
export interface Signer {
  sign(signKey: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Options of {@link EpochKeys}. */
export interface EpochKeysInit {
  readonly groupContext: GroupContext;
  readonly ratchetTree: RatchetTree;
  readonly senderDataSecret: Uint8Array;
  readonly source: RatchetSource;
  readonly retention: KeyRetentionConfig;
  readonly padding: PaddingConfig;
}

/**
 * One epoch's application-message keys and the parts of its messages that never change: seals
 * and opens application messages of that epoch. Mutable (the ratchets); callers serialise.
 */
export class EpochKeys {
  readonly epoch: bigint;
  readonly groupId: Uint8Array;
  readonly ratchetTree: RatchetTree;
  readonly #senderData: HmacSha256Key;
  readonly #source: RatchetSource;
  readonly #retention: KeyRetentionConfig;
  readonly #padding: PaddingConfig;
  readonly #ratchets = new Map<number, Ratchet>();
  /** `version ‖ wireformat ‖ group_id<V> ‖ epoch`: the head of FramedContentTBS. */
  readonly #tbsHead: Uint8Array;
  /** The encoded GroupContext: the tail of FramedContentTBS for a member sender. */
  readonly #groupContext: Uint8Array;
  /** `group_id<V> ‖ epoch ‖ content_type`: SenderDataAAD, and the head of PrivateContentAAD. */
  readonly #aadHead: Uint8Array;
  #wiped = false;

  constructor(init: EpochKeysInit) {
    const { groupContext } = init;
    this.epoch = groupContext.epoch;
    this.groupId = groupContext.groupId;
    this.ratchetTree = init.ratchetTree;
    this.#senderData = new HmacSha256Key(init.senderDataSecret);
    this.#source = init.source.kind === "encryptionSecret"
      ? { ...init.source, secret: init.source.secret.slice() }
      : init.source;
    this.#retention = init.retention;
    this.#padding = init.padding;
    this.#groupContext = encode(groupContextEncoder)(groupContext);
    const id = groupContext.groupId;
    const head = new Uint8Array(4 + varintSize(id.length) + id.length + 8);
    head.set(VERSION_AND_WIREFORMAT, 0);
    writeUint64(head, writeVector(head, 4, id), groupContext.epoch);
    this.#tbsHead = head;
    const aad = new Uint8Array(varintSize(id.length) + id.length + 9);
    const at = writeUint64(aad, writeVector(aad, 0, id), groupContext.epoch);
    aad[at] = CONTENT_TYPE_APPLICATION;
    this.#aadHead = aad;
  }

  /** The ratchet of `leafIndex`, created on first use. */
  #ratchet(leafIndex: number): Ratchet {
    let ratchet = this.#ratchets.get(leafIndex);
    if (ratchet) return ratchet;
    if (this.#wiped) throw new AppMessageError(`the keys of epoch ${this.epoch} were erased`);
    const source = this.#source;
    if (source.kind === "encryptionSecret") {
      if (leafIndex >= source.leafWidth) throw new AppMessageError("sender outside the tree");
      const leaf = leafSecret(source.secret, source.leafWidth, leafIndex);
      ratchet = new Ratchet(expandWithHead(leaf, APPLICATION, EMPTY, HASH_SIZE));
      leaf.fill(0);
    } else {
      const node = source.tree[leafIndex * 2];
      if (!node) throw new AppMessageError("sender outside the tree");
      const { secret, generation, unusedGenerations } = node.application;
      ratchet = new Ratchet(
        secret.slice(),
        generation,
        Object.entries(unusedGenerations).map(([g, s]) => [Number(g), s.slice()]),
      );
    }
    this.#ratchets.set(leafIndex, ratchet);
    return ratchet;
  }

  /** The signed content: `SignContent` of the `FramedContentTBS` of an application message. */
  #signContent(leafIndex: number, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const tbsLength = this.#tbsHead.length + 5 + varintSize(aad.length) + aad.length + 1 +
      varintSize(plaintext.length) + plaintext.length + this.#groupContext.length;
    const out = new Uint8Array(SIGN_LABEL.length + varintSize(tbsLength) + tbsLength);
    out.set(SIGN_LABEL, 0);
    let at = writeVarint(out, SIGN_LABEL.length, tbsLength);
    out.set(this.#tbsHead, at);
    at += this.#tbsHead.length;
    out[at++] = SENDER_TYPE_MEMBER;
    at = writeUint32(out, at, leafIndex);
    at = writeVector(out, at, aad);
    out[at++] = CONTENT_TYPE_APPLICATION;
    at = writeVector(out, at, plaintext);
    out.set(this.#groupContext, at);
    return out;
  }

  /** `PrivateContentAAD`. */
  #contentAad(aad: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.#aadHead.length + varintSize(aad.length) + aad.length);
    out.set(this.#aadHead, 0);
    writeVector(out, this.#aadHead.length, aad);
    return out;
  }

  /** Sender-data key and nonce, from the first 32 bytes of the content ciphertext. */
  #senderDataKeys(ciphertext: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
    const sample = ciphertext.subarray(0, HASH_SIZE);
    return {
      key: expandWithHead(this.#senderData, KEY, sample, KEY_SIZE),
      nonce: expandWithHead(this.#senderData, NONCE, sample, NONCE_SIZE),
    };
  }

  /**
   * Encrypts an application message from our leaf `leafIndex`, signed with `signKey`: the whole
   * serialized `MLSMessage(PrivateMessage)`.
   */
  async seal(
    signer: Signer,
    signKey: Uint8Array,
    leafIndex: number,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array> {
    const signature = await signer.sign(signKey, this.#signContent(leafIndex, aad, plaintext));
    // PrivateMessageContent: application_data<V> ‖ signature<V> ‖ zero padding.
    const contentLength = varintSize(plaintext.length) + plaintext.length +
      varintSize(signature.length) + signature.length;
    const content = new Uint8Array(contentLength + byteLengthToPad(contentLength, this.#padding));
    writeVector(content, writeVector(content, 0, plaintext), signature);
    const { generation, key, nonce } = this.#ratchet(leafIndex).next();
    const reuseGuard = crypto.getRandomValues(new Uint8Array(4));
    for (let i = 0; i < 4; i++) nonce[i] ^= reuseGuard[i];
    const ciphertext = aesGcmSeal(key, nonce, this.#contentAad(aad), content);
    key.fill(0);
    nonce.fill(0);
    content.fill(0);
    const senderData = new Uint8Array(12);
    writeUint32(senderData, writeUint32(senderData, 0, leafIndex), generation);
    senderData.set(reuseGuard, 8);
    const sd = this.#senderDataKeys(ciphertext);
    const encryptedSenderData = aesGcmSeal(sd.key, sd.nonce, this.#aadHead, senderData);
    sd.key.fill(0);
    sd.nonce.fill(0);
    // MLSMessage: version ‖ wireformat ‖ PrivateMessage.
    const id = this.groupId;
    const out = new Uint8Array(
      4 + varintSize(id.length) + id.length + 9 + varintSize(aad.length) + aad.length +
        varintSize(encryptedSenderData.length) + encryptedSenderData.length +
        varintSize(ciphertext.length) + ciphertext.length,
    );
    out.set(VERSION_AND_WIREFORMAT, 0);
    let at = writeUint64(out, writeVector(out, 4, id), this.epoch);
    out[at++] = CONTENT_TYPE_APPLICATION;
    at = writeVector(out, at, aad);
    at = writeVector(out, at, encryptedSenderData);
    writeVector(out, at, ciphertext);
    return out;
  }

  /**
   * Decrypts and authenticates an application message of this epoch (group id, epoch and
   * content type already checked by the caller). Throws {@link AppMessageError} when it does not
   * decrypt, its sender is not a member, its generation is unusable or its signature is bad.
   */
  async open(message: PrivateMessageFields, signer: Signer): Promise<OpenedMessage> {
    let senderData: Uint8Array;
    const sd = this.#senderDataKeys(message.ciphertext);
    try {
      senderData = aesGcmOpen(sd.key, sd.nonce, this.#aadHead, message.encryptedSenderData);
    } catch {
      throw new AppMessageError("sender data does not decrypt");
    } finally {
      sd.key.fill(0);
      sd.nonce.fill(0);
    }
    if (senderData.length !== 12) throw new AppMessageError("malformed sender data");
    const leafIndex = readUint32(senderData, 0);
    const generation = readUint32(senderData, 4);
    const node = this.ratchetTree[leafIndex * 2];
    if (leafIndex * 2 >= this.ratchetTree.length || node?.nodeType !== "leaf") {
      throw new AppMessageError(`sender leaf ${leafIndex} is not a member`);
    }
    const pending = this.#ratchet(leafIndex).peek(generation, this.#retention);
    const nonce = pending.nonce;
    for (let i = 0; i < 4; i++) nonce[i] ^= senderData[8 + i];
    let content: Uint8Array;
    try {
      content = aesGcmOpen(
        pending.key,
        nonce,
        this.#contentAad(message.authenticatedData),
        message.ciphertext,
      );
    } catch {
      throw new AppMessageError("content does not decrypt");
    } finally {
      pending.key.fill(0);
      nonce.fill(0);
    }
    const [plaintext, afterData] = readVector(content, 0);
    const [signature, afterSignature] = readVector(content, afterData);
    for (let i = afterSignature; i < content.length; i++) {
      if (content[i] !== 0) throw new AppMessageError("non-zero padding");
    }
    const signed = this.#signContent(leafIndex, message.authenticatedData, plaintext);
    if (!await signer.verify(node.leaf.signaturePublicKey, signed, signature)) {
      throw new AppMessageError("Signature invalid");
    }
    pending.commit();
    return {
      plaintext: plaintext.slice(),
      authenticatedData: message.authenticatedData,
      senderLeafIndex: leafIndex,
    };
  }

  /** Erases the epoch's secrets; the object is unusable afterwards. */
  wipe(): void {
    this.#wiped = true;
    this.#senderData.wipe();
    if (this.#source.kind === "encryptionSecret") this.#source.secret.fill(0);
    for (const r of this.#ratchets.values()) r.wipe();
    this.#ratchets.clear();
  }
}

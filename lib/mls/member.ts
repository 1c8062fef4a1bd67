/**
 * One app's MLS context in one SLIM session: the group state and every MLS operation the session
 * layer needs, on ts-mls 1.6.4, interoperable with the real SLIM (mls-rs 0.54).
 *
 * What matches the real SLIM (session.md §3):
 * - ciphersuite 2 (`MLS_128_DHKEMP256_AES128GCM_SHA256_P256`);
 * - a `BasicCredential` holding the UTF-8 text of one identity token minted when the context is
 *   created, whose `pubkey` claim is the app's P-256 key; the same 65-byte uncompressed key signs
 *   the leaf (the app key is shared by the token claim, the MLS leaf and the header signature);
 * - groups created with no extensions and a random 32-byte id; commits sent as PublicMessages,
 *   Welcomes carrying the ratchet tree in a GroupInfo extension; no proposals are ever sent;
 * - application messages as PrivateMessages whose `authenticated_data` is the caller's AAD (the
 *   header-integrity encoding of the SLIM header);
 * - a fresh key package for every join, each usable once.
 *
 * Where it deliberately differs: credential tokens of members are not re-checked for expiry (see
 * `credential_validator.ts`), so groups outlive the token validity window.
 *
 * Operations on one member run one at a time ({@link SerialQueue}): each one advances the
 * state, application messages included.
 *
 * Where the work is done: the group state is ts-mls's `ClientState`, but its hot paths are
 * orchestrated here on ts-mls's building blocks, producing the same bytes and the same state:
 * application messages (`app_message.ts`, which also keeps each epoch's keys and derives the
 * secret tree lazily), processing and creating commits (`commit.ts`) and joining (`join.ts`),
 * with memoised tree hashes (`tree_hash.ts`). Only group creation and key packages go through
 * ts-mls's own entry points. ts-mls never sees application messages: the `secretTree` of the
 * states it is given stays empty.
 * @module
 */
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  createGroup,
  type Credential,
  defaultKeyPackageEqualityConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  generateKeyPackageWithKey,
  type IncomingMessageCallback,
  type KeyPackage,
  type LeafNode,
  type PrivateKeyPackage,
  type Proposal,
  type ProposalOrRef,
  type PublicMessage,
  type RatchetTree,
  type Welcome,
  zeroOutUint8Array,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { unprotectPublicMessage } from "ts-mls/messageProtectionPublic.js";
import { errorMessage, MlsError } from "../errors.ts";
import type { IdentityProvider, IdentityVerifier } from "../identity/mod.ts";
import type { Logger } from "../log.ts";
import { idFromIdentity } from "../names/name.ts";
import { EpochKeys, type RatchetSource } from "./app_message.ts";
import { type CreatedCommit, createPublicCommit, processPublicCommit } from "./commit.ts";
import { type JoinedGroup, joinGroup } from "./join.ts";
import { slimCiphersuite } from "./crypto_provider.ts";
import {
  type AcceptedCredential,
  credentialToken,
  CredentialValidator,
} from "./credential_validator.ts";
import {
  decodeKeyPackage,
  decodePrivateMessage,
  decodePublicMessage,
  decodeWelcome,
  encodeKeyPackage,
  encodeMls,
  encodeWelcome,
} from "./messages.ts";
import { SerialQueue } from "./serial_queue.ts";
import { KEY_RETENTION, LEAF_LIFETIME, slimCapabilities } from "./suite.ts";
import { sameBytes } from "../bytes.ts";

/** Options of {@link MlsMember.create}. */
export interface MlsMemberOptions {
  /** The app's identity: its signing key is the leaf key, one token becomes the credential. */
  provider: IdentityProvider;
  /** Checks the credentials of other members (see `credential_validator.ts`). */
  verifier: IdentityVerifier;
  /**
   * Unix seconds: the time at which new credentials are checked.
   * @default the verifier's own clock
   */
  clock?: () => number;
  /** Receives warnings (rejected credentials) and debug lines. */
  logger?: Logger;
  /**
   * The ts-mls ciphersuite implementation. Apps pass one per app ({@link slimCiphersuite}) so
   * that their sessions share verification tables; tests and benchmarks pass others.
   * @default a fresh {@link slimCiphersuite}
   */
  cipherSuite?: CiphersuiteImpl;
}

/** Result of {@link MlsMember.addMember}. */
export interface AddMemberResult {
  /** `MLSMessage(PublicMessage)` commit, for the members already in the group. */
  readonly commit: Uint8Array;
  /** `MLSMessage(Welcome)` with the ratchet tree extension, for the new member. */
  readonly welcome: Uint8Array;
}

/** Result of {@link MlsMember.removeMember}. */
export interface RemoveMemberResult {
  /** `MLSMessage(PublicMessage)` commit, for the remaining members (and the removed one). */
  readonly commit: Uint8Array;
}

/** A decrypted application message. */
export interface DecryptedMessage {
  /** The application data. */
  readonly plaintext: Uint8Array;
  /**
   * The PrivateMessage's `authenticated_data`, exactly as sent; SLIM compares it with the
   * header-integrity encoding of the received header.
   */
  readonly aad: Uint8Array;
  /** App id of the sender (from its credential's token subject), when known. */
  readonly senderAppId?: bigint;
  /** Epoch the message was sent in (it may be an earlier, retained one). */
  readonly epoch: bigint;
}

interface PendingKeyPackage {
  readonly publicPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
  readonly ref: Uint8Array;
}

/** Key packages kept for a Welcome; older ones are dropped (each JOIN makes a new one). */
const MAX_PENDING_KEY_PACKAGES = 8;
/** How far ahead of our clock a key package's `not_before` may be (peer clock skew), seconds. */
const MAX_LIFETIME_SKEW_SECONDS = 5;

/** A commit may carry these proposals (what the real SLIM sends); anything else is refused. */
const ACCEPTED_PROPOSALS = new Set<unknown>(["add", "remove"]);

const acceptSlimCommits: IncomingMessageCallback = (incoming) =>
  incoming.kind === "commit" &&
    incoming.proposals.every((p) => ACCEPTED_PROPOSALS.has(p.proposal.proposalType))
    ? "accept"
    : "reject";

/**
 * The MLS side of one session for one app: a participant joins with
 * {@link generateKeyPackage} / {@link joinFromWelcome} and follows {@link processCommit}; a
 * moderator {@link createGroup}s and commits {@link addMember} / {@link removeMember}; both
 * {@link encrypt} and {@link decrypt} application messages. Every method that fails throws
 * {@link MlsError}.
 */
export class MlsMember {
  /** Our own app id, `idFromIdentity(provider.id)`. */
  readonly appId: bigint;
  readonly #provider: IdentityProvider;
  readonly #cs: CiphersuiteImpl;
  readonly #config: ClientConfig;
  readonly #validator: CredentialValidator;
  readonly #logger: Logger | undefined;
  readonly #credential: Credential;
  readonly #signKey: Uint8Array;
  readonly #queue = new SerialQueue();
  #pending: PendingKeyPackage[] = [];
  #state: ClientState | undefined;
  /**
   * Application-message keys of the current epoch and of the retained earlier ones (see
   * `app_message.ts`); the ts-mls state's own secret tree is emptied once handed over here.
   */
  #epochs = new Map<bigint, EpochKeys>();
  /** Current members by leaf index. */
  #roster = new Map<number, AcceptedCredential>();
  /** Accepted credentials by leaf object (see {@link #known}). */
  readonly #leafCredentials = new WeakMap<LeafNode, AcceptedCredential>();

  private constructor(
    options: MlsMemberOptions,
    cs: CiphersuiteImpl,
    token: string,
  ) {
    const { provider, verifier, clock, logger } = options;
    this.#provider = provider;
    this.#cs = cs;
    this.#logger = logger;
    this.appId = idFromIdentity(provider.id);
    this.#signKey = provider.signingKey.privateKey;
    this.#credential = { credentialType: "basic", identity: new TextEncoder().encode(token) };
    this.#validator = new CredentialValidator({ verifier, clock, logger });
    // Our own credential: minted here, so trusted without a verification round trip.
    this.#validator.rememberOwn({
      token,
      subject: provider.id,
      appId: this.appId,
      publicKey: provider.signingKey.publicKey,
      verifiedAt: clock?.() ?? Math.floor(Date.now() / 1000),
    });
    this.#config = {
      keyRetentionConfig: KEY_RETENTION,
      lifetimeConfig: defaultLifetimeConfig,
      keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
      paddingConfig: defaultPaddingConfig,
      authService: this.#validator,
    };
  }

  /**
   * Creates the app's MLS context for one session. The credential is one token minted now, as
   * the real SLIM does when it builds its MLS client at session start.
   */
  static async create(options: MlsMemberOptions): Promise<MlsMember> {
    const cs = options.cipherSuite ?? await slimCiphersuite();
    const token = await options.provider.token();
    return new MlsMember(options, cs, token);
  }

  /** The current epoch (0 before joining; check {@link joined}). */
  get epoch(): bigint {
    return this.#state?.groupContext.epoch ?? 0n;
  }

  /** True while we are an active member of a group. */
  get joined(): boolean {
    return this.#state?.groupActiveState.kind === "active";
  }

  /** The MLS group id (32 random bytes chosen by the creator), once in a group. */
  get groupId(): Uint8Array | undefined {
    return this.#state?.groupContext.groupId.slice();
  }

  /** App ids of the current members, ourselves included, in leaf order. */
  members(): bigint[] {
    return [...this.#roster.values()].map((c) => c.appId);
  }

  // --- participant side -------------------------------------------------------------------

  /**
   * A fresh key package (`MLSMessage(KeyPackage)`) for a JOIN_REPLY or REJOIN_REQUEST. Its
   * private keys are kept until a Welcome for it arrives; each key package is single use.
   */
  generateKeyPackage(): Promise<Uint8Array> {
    return this.#queue.run(async () => {
      const kp = await this.#newKeyPackage();
      const ref = await makeKeyPackageRef(kp.publicPackage, this.#cs.hash);
      this.#pending.push({ ...kp, ref });
      while (this.#pending.length > MAX_PENDING_KEY_PACKAGES) {
        forgetKeyPackage(this.#pending.shift()!);
      }
      return encodeKeyPackage(kp.publicPackage);
    });
  }

  /**
   * Joins the group from an `MLSMessage(Welcome)` addressed to one of our key packages. The
   * ratchet tree must come in the Welcome's extension, as mls-rs and {@link addMember} send it.
   */
  joinFromWelcome(welcome: Uint8Array): Promise<void> {
    return this.#queue.run(async () => {
      if (this.joined) throw new MlsError("cannot join: already a member of a group");
      const decoded = decodeWelcome(welcome);
      const kp = this.#keyPackageFor(decoded);
      this.#validator.takeRejection();
      let joined: JoinedGroup;
      try {
        joined = await this.#validator.trustingExistingMembers(() =>
          joinGroup(decoded, kp.publicPackage, kp.privatePackage, this.#cs, this.#config)
        );
      } catch (e) {
        throw this.#failure("welcome rejected", e);
      }
      const { state, encryptionSecret, leafWidth } = joined;
      this.#forgetEpochs();
      this.#enterEpoch(state, { kind: "encryptionSecret", secret: encryptionSecret, leafWidth });
      zeroOutUint8Array(encryptionSecret);
      // Single use: this key package is spent (its leaf key now lives in the group state, so it
      // is not wiped), and the others answered joins that are moot now.
      for (const p of this.#pending) if (p !== kp) forgetKeyPackage(p);
      this.#pending = [];
      await this.#refreshRoster();
      this.#logger?.debug("joined mls group", {
        epoch: state.groupContext.epoch,
        members: this.#roster.size,
      });
    });
  }

  /**
   * Applies a commit (`MLSMessage(PublicMessage)`) from the group, which must be for the current
   * epoch: commits apply strictly in order. A commit removing us leaves {@link joined} false.
   */
  processCommit(commit: Uint8Array): Promise<void> {
    return this.#queue.run(async () => {
      const state = this.#active("process a commit");
      const message = decodePublicMessage(commit);
      const { content } = message;
      if (content.contentType !== "commit") {
        throw new MlsError(`expected a commit, got a ${content.contentType} (proposals unused)`);
      }
      if (!sameBytes(content.groupId, state.groupContext.groupId)) {
        throw new MlsError("commit is for another MLS group");
      }
      if (content.sender.senderType !== "member") {
        throw new MlsError(
          `commit from a ${content.sender.senderType} sender: only members commit`,
        );
      }
      const epoch = state.groupContext.epoch;
      if (content.epoch > epoch) {
        throw new MlsError(
          `commit is for epoch ${content.epoch} but the group is at epoch ${epoch}: ` +
            "an earlier commit is missing",
        );
      }
      if (content.epoch < epoch) {
        throw new MlsError(
          `commit is for epoch ${content.epoch} but the group is already at epoch ${epoch}`,
        );
      }
      this.#validator.takeRejection();
      let result;
      try {
        result = await processPublicCommit(state, message, this.#cs, acceptSlimCommits);
      } catch (e) {
        // ts-mls detects self-removal by our leaf becoming blank; when the same commit refills
        // the slot (a rejoin of our own app under a new leaf) it fails instead. An authentic
        // commit that removes our leaf removes us either way.
        if (removesLeaf(content.commit.proposals, state.privatePath.leafIndex)) {
          if (await this.#authentic(state, message)) {
            this.#state = { ...state, groupActiveState: { kind: "removedFromGroup" } };
            this.#forgetEpochs();
            this.#roster = new Map();
            this.#logger?.info("removed from the mls group", { epoch });
            return;
          }
        }
        throw this.#failure("commit rejected", e);
      }
      if (result.actionTaken === "reject") {
        throw new MlsError("commit rejected: it carries proposals other than add and remove");
      }
      try {
        this.#checkSuccessor(state, content.sender.leafIndex, content.commit.path?.leafNode);
      } catch (e) {
        if (result.encryptionSecret) zeroOutUint8Array(result.encryptionSecret);
        throw e;
      }
      zeroAll(result.consumed);
      if (result.newState.groupActiveState.kind === "removedFromGroup") {
        this.#state = result.newState;
        this.#forgetEpochs();
        this.#roster = new Map();
        this.#logger?.info("removed from the mls group", { epoch });
        return;
      }
      const { encryptionSecret, leafWidth } = result;
      if (!encryptionSecret || leafWidth === undefined) {
        throw new MlsError("commit rejected: no epoch secrets were derived");
      }
      this.#enterEpoch(result.newState, {
        kind: "encryptionSecret",
        secret: encryptionSecret,
        leafWidth,
      });
      zeroOutUint8Array(encryptionSecret);
      await this.#refreshRoster();
    });
  }

  // --- moderator side ---------------------------------------------------------------------

  /** Creates a new group at epoch 0, with a random 32-byte id, no extensions, us alone in it. */
  createGroup(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.joined) throw new MlsError("cannot create a group: already a member of one");
      const kp = await this.#newKeyPackage();
      try {
        const state = await createGroup(
          crypto.getRandomValues(new Uint8Array(32)),
          kp.publicPackage,
          kp.privatePackage,
          [],
          this.#cs,
          this.#config,
        );
        this.#forgetEpochs();
        this.#enterEpoch(state);
      } catch (e) {
        throw this.#failure("cannot create the group", e);
      }
      await this.#refreshRoster();
    });
  }

  /**
   * Adds the owner of `keyPackage` (`MLSMessage(KeyPackage)`) and applies the commit at once.
   *
   * The key package's credential is checked as new (validity window included) unless it is one
   * seen before (a rejoin). If the app is still in the group under an older leaf (same
   * signature key, as in a SLIM rejoin), that leaf is removed by the same commit.
   */
  async addMember(keyPackage: Uint8Array): Promise<AddMemberResult> {
    const kp = decodeKeyPackage(keyPackage);
    await waitUntilValid(kp);
    return await this.#queue.run(async () => {
      const state = this.#active("add a member");
      const leaf = kp.leafNode;
      try {
        await this.#validator.check(leaf.credential, leaf.signaturePublicKey);
      } catch (e) {
        throw new MlsError(`key package rejected: ${errorMessage(e)}`, { cause: e });
      }
      const proposals: Proposal[] = [];
      for (const [leafIndex, node] of leaves(state.ratchetTree)) {
        if (!sameBytes(node.signaturePublicKey, leaf.signaturePublicKey)) continue;
        if (leafIndex === state.privatePath.leafIndex) {
          throw new MlsError("key package rejected: it carries our own signature key");
        }
        proposals.push({ proposalType: "remove", remove: { removed: leafIndex } });
      }
      proposals.push({ proposalType: "add", add: { keyPackage: kp } });
      const result = await this.#commit(state, proposals, "cannot add the member");
      if (!result.welcome) throw new MlsError("cannot add the member: no welcome was produced");
      return { commit: encodeMls(result.commit), welcome: encodeWelcome(result.welcome) };
    });
  }

  /**
   * Removes every leaf whose credential's subject maps to `appId` (`idFromIdentity`) and applies
   * the commit at once. Throws {@link MlsError} when no member has that app id.
   */
  removeMember(appId: bigint): Promise<RemoveMemberResult> {
    return this.#queue.run(async () => {
      const state = this.#active("remove a member");
      const targets = [...this.#roster].filter(([, c]) => c.appId === appId).map(([i]) => i);
      if (targets.length === 0) throw new MlsError(`no member with app id ${appId}`);
      if (targets.includes(state.privatePath.leafIndex)) {
        throw new MlsError("cannot remove ourselves from the group");
      }
      const proposals: Proposal[] = targets.map((removed) => ({
        proposalType: "remove",
        remove: { removed },
      }));
      const result = await this.#commit(state, proposals, "cannot remove the member");
      return { commit: encodeMls(result.commit) };
    });
  }

  // --- both ------------------------------------------------------------------------------

  /**
   * Encrypts an application message: `MLSMessage(PrivateMessage)` with `authenticated_data` set
   * to `aad` (carried in clear, integrity-protected).
   */
  encrypt(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.#queue.run(async () => {
      const state = this.#active("encrypt");
      if (Object.keys(state.unappliedProposals).length !== 0) {
        throw new MlsError("cannot encrypt: the group has unapplied proposals");
      }
      try {
        return await this.#epochs.get(state.groupContext.epoch)!.seal(
          this.#cs.signature,
          state.signaturePrivateKey,
          state.privatePath.leafIndex,
          plaintext,
          aad,
        );
      } catch (e) {
        throw this.#failure("cannot encrypt", e);
      }
    });
  }

  /**
   * Decrypts an application message (`MLSMessage(PrivateMessage)`) of the current epoch or a
   * retained earlier one, verifying the sender's signature. Throws {@link MlsError} for a
   * message of another group, a future or forgotten epoch, a sender that is not a member, a
   * bad signature or tampered bytes.
   */
  decrypt(message: Uint8Array): Promise<DecryptedMessage> {
    return this.#queue.run(async () => {
      const state = this.#active("decrypt");
      const pm = decodePrivateMessage(message);
      if (pm.contentType !== "application") {
        throw new MlsError(`expected an application message, got a ${pm.contentType}`);
      }
      if (!sameBytes(pm.groupId, state.groupContext.groupId)) {
        throw new MlsError("message is for another MLS group");
      }
      const current = state.groupContext.epoch;
      if (pm.epoch > current) {
        throw new MlsError(
          `message is from epoch ${pm.epoch}, ahead of ours (${current}): a commit is missing`,
        );
      }
      const keys = this.#epochs.get(pm.epoch);
      if (!keys) {
        throw new MlsError(
          `message is from epoch ${pm.epoch}, older than the epochs kept (current ${current})`,
        );
      }
      let opened;
      try {
        opened = await keys.open(pm, this.#cs.signature);
      } catch (e) {
        throw new MlsError(`cannot decrypt message of epoch ${pm.epoch}: ${errorMessage(e)}`, {
          cause: e,
        });
      }
      const sender = opened.senderLeafIndex;
      const senderAppId = pm.epoch === current
        ? this.#roster.get(sender)?.appId
        : this.#appIdAt(keys.ratchetTree, sender);
      return {
        plaintext: opened.plaintext,
        aad: opened.authenticatedData,
        epoch: pm.epoch,
        ...(senderAppId === undefined ? {} : { senderAppId }),
      };
    });
  }

  /** Non-secret description. */
  toString(): string {
    return `MlsMember(${this.#provider.id}, ${
      this.joined ? `epoch ${this.epoch}, ${this.#roster.size} members` : "not joined"
    })`;
  }

  // --- internals ---------------------------------------------------------------------------

  #active(what: string): ClientState {
    const state = this.#state;
    if (!state) throw new MlsError(`cannot ${what}: not a member of any group`);
    if (state.groupActiveState.kind !== "active") {
      throw new MlsError(
        `cannot ${what}: ${
          state.groupActiveState.kind === "removedFromGroup"
            ? `removed from the group at epoch ${state.groupContext.epoch}`
            : "the group is suspended"
        }`,
      );
    }
    return state;
  }

  #newKeyPackage(): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
    return generateKeyPackageWithKey(
      this.#credential,
      slimCapabilities(),
      LEAF_LIFETIME,
      [],
      { signKey: this.#signKey, publicKey: this.#provider.signingKey.publicKey },
      this.#cs,
    );
  }

  /**
   * Makes `state` current and takes over the application-message keys of its epoch, from
   * `source` or else from the secret tree ts-mls derived; earlier epochs beyond the retention
   * are erased.
   */
  #enterEpoch(state: ClientState, source?: RatchetSource): void {
    const keys = new EpochKeys({
      groupContext: state.groupContext,
      ratchetTree: state.ratchetTree,
      senderDataSecret: state.keySchedule.senderDataSecret,
      source: source ?? { kind: "tsMlsTree", tree: state.secretTree },
      retention: state.clientConfig.keyRetentionConfig,
      padding: state.clientConfig.paddingConfig,
    });
    const oldest = keys.epoch - BigInt(state.clientConfig.keyRetentionConfig.retainKeysForEpochs);
    for (const [epoch, old] of this.#epochs) {
      if (epoch < oldest || epoch >= keys.epoch) {
        old.wipe();
        this.#epochs.delete(epoch);
      }
    }
    this.#epochs.set(keys.epoch, keys);
    // ts-mls never sees application messages again: its copy of the tree must not linger.
    this.#state = { ...state, secretTree: [] };
  }

  /** Erases every epoch's application-message keys (left the group, or a new one). */
  #forgetEpochs(): void {
    for (const keys of this.#epochs.values()) keys.wipe();
    this.#epochs.clear();
  }

  #keyPackageFor(welcome: Welcome): PendingKeyPackage {
    for (const p of this.#pending) {
      if (welcome.secrets.some((s) => sameBytes(s.newMember, p.ref))) return p;
    }
    throw new MlsError(
      this.#pending.length === 0
        ? "welcome rejected: no key package is waiting for a welcome"
        : "welcome rejected: it is not addressed to any of our key packages",
    );
  }

  async #commit(
    state: ClientState,
    proposals: Proposal[],
    what: string,
  ): Promise<CreatedCommit> {
    this.#validator.takeRejection();
    let result: CreatedCommit;
    try {
      result = await createPublicCommit(state, proposals, this.#cs);
    } catch (e) {
      throw this.#failure(what, e);
    }
    zeroAll(result.consumed);
    this.#enterEpoch(result.newState, {
      kind: "encryptionSecret",
      secret: result.encryptionSecret,
      leafWidth: result.leafWidth,
    });
    zeroOutUint8Array(result.encryptionSecret);
    await this.#refreshRoster();
    return result;
  }

  /**
   * The real SLIM's `valid_successor` rule: a committer may refresh its leaf (UpdatePath) but not
   * turn into somebody else. `leaf` was validated by ts-mls while processing the commit.
   */
  #checkSuccessor(state: ClientState, leafIndex: number, leaf: LeafNode | undefined): void {
    if (!leaf) return;
    const node = state.ratchetTree[leafIndex * 2];
    if (node?.nodeType !== "leaf") return;
    const before = node.leaf.credential;
    const after = leaf.credential;
    if (
      before.credentialType === "basic" && after.credentialType === "basic" &&
      sameBytes(before.identity, after.identity)
    ) return;
    const was = this.#known(node.leaf)?.subject;
    const is = this.#known(leaf)?.subject;
    if (was === undefined || was !== is) {
      throw new MlsError(
        `commit rejected: the committer's new leaf belongs to ${is ?? "an unknown identity"}, ` +
          `not ${was ?? "its previous identity"}`,
      );
    }
  }

  /** Rebuilds the leaf → member map after the tree changed. */
  async #refreshRoster(): Promise<void> {
    const state = this.#state;
    const roster = new Map<number, AcceptedCredential>();
    if (state) {
      for (const [leafIndex, leaf] of leaves(state.ratchetTree)) {
        let known = this.#known(leaf);
        if (!known) {
          // Forgotten (capacity) or never validated by us: validate as an existing member.
          known = await this.#validator.trustingExistingMembers(() =>
            this.#validator.check(leaf.credential, leaf.signaturePublicKey)
          ).catch(() => undefined);
          if (known) this.#leafCredentials.set(leaf, known);
        }
        if (known) roster.set(leafIndex, known);
        else this.#logger?.warn("mls member without a valid credential", { leafIndex });
      }
    }
    this.#roster = roster;
  }

  /**
   * What we accepted about `leaf`'s credential, if anything. Remembered per LeafNode object:
   * ts-mls never mutates tree nodes, so a leaf object once matched to an accepted credential
   * keeps it, and a roster refresh after a commit only looks at the leaves the commit changed.
   */
  #known(leaf: LeafNode): AcceptedCredential | undefined {
    const cached = this.#leafCredentials.get(leaf);
    if (cached) return cached;
    let token: string;
    try {
      token = credentialToken(leaf.credential);
    } catch {
      return undefined;
    }
    const known = this.#validator.lookup(token);
    if (!known || !sameBytes(known.publicKey, leaf.signaturePublicKey)) return undefined;
    this.#leafCredentials.set(leaf, known);
    return known;
  }

  #appIdAt(tree: RatchetTree, leafIndex: number): bigint | undefined {
    const node = tree[leafIndex * 2];
    return node?.nodeType === "leaf" ? this.#known(node.leaf)?.appId : undefined;
  }

  /** True when `message` carries a valid membership tag and signature for the current epoch. */
  async #authentic(state: ClientState, message: PublicMessage): Promise<boolean> {
    try {
      await unprotectPublicMessage(
        state.keySchedule.membershipKey,
        state.groupContext,
        state.ratchetTree,
        message,
        this.#cs,
      );
      return true;
    } catch {
      return false;
    }
  }

  #failure(what: string, e: unknown): MlsError {
    const reason = this.#validator.takeRejection();
    return new MlsError(`${what}: ${errorMessage(e)}${reason ? ` (${reason})` : ""}`, { cause: e });
  }
}

/** True when `proposals` (by value; SLIM never sends references) remove leaf `leafIndex`. */
function removesLeaf(proposals: ProposalOrRef[], leafIndex: number): boolean {
  return proposals.some((p) =>
    p.proposalOrRefType === "proposal" && p.proposal.proposalType === "remove" &&
    p.proposal.remove.removed === leafIndex
  );
}

/** The non-blank leaves of a ratchet tree with their leaf indices. */
function* leaves(tree: RatchetTree): Generator<[number, LeafNode]> {
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i];
    if (node?.nodeType === "leaf") yield [i / 2, node.leaf];
  }
}

/**
 * ts-mls checks a key package's lifetime against `Date.now()` when committing its Add. mls-rs
 * key packages start their lifetime at their own clock's "now", so a peer whose clock runs a
 * little ahead produces one that is not valid yet; wait out a small skew instead of failing.
 */
async function waitUntilValid(kp: KeyPackage): Promise<void> {
  const lifetime = kp.leafNode.leafNodeSource === "key_package" ? kp.leafNode.lifetime : undefined;
  if (!lifetime) return;
  // Valid once floor(now / 1 s) >= not_before.
  const aheadMs = Number(lifetime.notBefore) * 1000 - Date.now();
  if (aheadMs <= 0) return;
  if (aheadMs > MAX_LIFETIME_SKEW_SECONDS * 1000) {
    throw new MlsError(
      `key package rejected: not valid before ${lifetime.notBefore} (${
        Math.ceil(aheadMs / 1000)
      } s from now)`,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, aheadMs + 5));
}

function forgetKeyPackage(p: PendingKeyPackage): void {
  zeroOutUint8Array(p.privatePackage.initPrivateKey);
  zeroOutUint8Array(p.privatePackage.hpkePrivateKey);
}

function zeroAll(secrets: Uint8Array[]): void {
  for (const s of secrets) zeroOutUint8Array(s);
}

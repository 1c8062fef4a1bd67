/**
 * The MLS authentication service of SLIM: what makes a leaf's credential acceptable.
 *
 * A SLIM credential is a `BasicCredential` whose identity is the UTF-8 text of an identity token
 * (shared-secret or JWT) minted when the member's MLS context was created; the token's `pubkey`
 * claim names the member's P-256 signature key. A credential is valid for a leaf when:
 *
 * 1. it is a basic credential holding UTF-8 text;
 * 2. the text verifies as a token with the app's {@link IdentityVerifier} (MAC or signature);
 * 3. the token's `pubkey` claim equals the leaf's signature key byte for byte;
 *
 * and the member's identity is the token subject (its SLIM app id is
 * `idFromIdentity(subject)`).
 *
 * ## Long-lived groups: when the token's validity window is checked
 *
 * Tokens expire (3600 s for shared-secret tokens), but an MLS credential lives as long as the
 * member's session. The real SLIM re-verifies every member's credential, expiry included, on every
 * add; one hour after its own credential was minted, a real moderator can no longer add anyone
 * (session.md §3.2). slim-ts deliberately does not replicate that defect:
 *
 * - The **first time an exact credential is seen** (a key package being added, an Add in a
 *   commit), its token must verify now, validity window included.
 * - A credential **already accepted** (by exact token bytes) is re-validated without the window:
 *   the binding `pubkey == leaf key` is checked again, and the token's MAC/signature is verified
 *   again as of the time it was first accepted. This also accepts a rejoin key package that
 *   carries the member's original, by now possibly old, credential.
 * - Credentials of the **existing members delivered in a Welcome** are, by construction, seen for
 *   the first time by the joiner, but they entered the group earlier; checking their window would
 *   make any group older than an hour impossible to join. They get the same treatment as
 *   already-accepted credentials: the binding and the MAC/signature are verified, and an expired
 *   token is evaluated as of its own issue time. The freshness of the inviter is established
 *   separately by the session layer, which verifies the fresh token and header signature carried
 *   by the Welcome's control message.
 *
 * Re-verifying "as of" a past time uses the optional second argument of
 * `verify(token, nowSeconds)`, which both built-in verifiers honour. A verifier that ignores it
 * still works for fresh tokens but cannot accept expired credentials of members. The verifier
 * must not run a replay cache (the real SLIM's default): the same credential token is verified
 * many times over a group's life.
 * @module
 */
import type { AuthenticationService, Credential } from "ts-mls";
import { errorMessage, MlsError } from "../errors.ts";
import type { IdentityVerifier, VerifiedIdentity } from "../identity/mod.ts";
import { b64urlDecode } from "../identity/base64.ts";
import type { Logger } from "../log.ts";
import { idFromIdentity } from "../names/name.ts";
import { sameBytes } from "../bytes.ts";

/** What slim-ts knows about an accepted credential. */
export interface AcceptedCredential {
  /** The token text held by the credential. */
  readonly token: string;
  /** The token subject: the member's identity id. */
  readonly subject: string;
  /** The member's SLIM app id, `idFromIdentity(subject)`. */
  readonly appId: bigint;
  /** The signature key the token is bound to (65-byte uncompressed P-256 point). */
  readonly publicKey: Uint8Array;
  /** Unix seconds at which the token was verified: re-verifications are evaluated at this time. */
  readonly verifiedAt: number;
}

/** Options of {@link CredentialValidator}. */
export interface CredentialValidatorOptions {
  /** Checks tokens; `verify(token, nowSeconds)` should honour `nowSeconds` (see module doc). */
  verifier: IdentityVerifier;
  /**
   * Unix seconds, passed to the verifier as the time of first-seen checks.
   * @default the verifier's own clock
   */
  clock?: () => number;
  /** Receives one line per rejected credential. */
  logger?: Logger;
  /**
   * Accepted credentials remembered; the least recently used are forgotten beyond it (and are
   * then checked as first seen again).
   * @default 4096
   */
  capacity?: number;
}

/** The verifier as called here: with the optional evaluation time. */
interface VerifierAt {
  verify(token: string, nowSeconds?: number): Promise<VerifiedIdentity>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * SLIM's credential rules as a ts-mls `AuthenticationService` (see the module doc for the
 * rules). One instance per `MlsMember`; not safe for overlapping operations of different
 * groups because {@link trustingExistingMembers} is a mode, which is why members serialise.
 */
export class CredentialValidator implements AuthenticationService {
  readonly #verifier: VerifierAt;
  readonly #clock: (() => number) | undefined;
  readonly #logger: Logger | undefined;
  readonly #capacity: number;
  readonly #accepted = new Map<string, AcceptedCredential>();
  /** Tokens of our own credentials: minted locally, never sent to the verifier. */
  readonly #own = new Set<string>();
  #existingMembers = false;
  #lastRejection: string | undefined;

  /** Creates a validator with no accepted credentials. */
  constructor(options: CredentialValidatorOptions) {
    this.#verifier = options.verifier;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#capacity = Math.max(16, options.capacity ?? 4096);
  }

  /**
   * ts-mls entry point: `true` when `credential` is acceptable for a leaf whose signature key is
   * `signaturePublicKey`. Never throws; the reason of the last rejection is kept for
   * {@link takeRejection}, since ts-mls only reports "Could not validate credential".
   */
  async validateCredential(
    credential: Credential,
    signaturePublicKey: Uint8Array,
  ): Promise<boolean> {
    try {
      await this.check(credential, signaturePublicKey);
      return true;
    } catch (e) {
      const reason = errorMessage(e);
      this.#lastRejection = reason;
      this.#logger?.warn("mls credential rejected", { reason });
      return false;
    }
  }

  /**
   * Validates a credential for a leaf and returns what it says; throws {@link MlsError} with the
   * reason. Credentials that are new are checked with their validity window unless
   * {@link trustingExistingMembers} is active.
   */
  async check(credential: Credential, signaturePublicKey: Uint8Array): Promise<AcceptedCredential> {
    const token = credentialToken(credential);
    const known = this.#accepted.get(token);
    if (known) {
      if (!sameBytes(known.publicKey, signaturePublicKey)) {
        throw new MlsError(
          `credential of ${known.subject} is bound to another key than the leaf's signature key`,
        );
      }
      try {
        if (!this.#own.has(token)) await this.#verifier.verify(token, known.verifiedAt);
      } catch (e) {
        throw new MlsError(
          `credential token of ${known.subject} no longer verifies: ${errorMessage(e)}`,
          {
            cause: e,
          },
        );
      }
      this.#touch(known);
      return known;
    }
    const now = this.#clock?.();
    let verified: VerifiedIdentity;
    let verifiedAt = now ?? Math.floor(Date.now() / 1000);
    try {
      verified = await this.#verifier.verify(token, now);
    } catch (e) {
      const issuedAt = this.#existingMembers ? claimedIssueTime(token) : undefined;
      if (issuedAt === undefined) {
        throw new MlsError(`credential token rejected: ${errorMessage(e)}`, { cause: e });
      }
      // An existing member of the group we are joining: its token may be old (module doc).
      try {
        verified = await this.#verifier.verify(token, issuedAt);
      } catch {
        throw new MlsError(`credential token rejected: ${errorMessage(e)}`, { cause: e });
      }
      verifiedAt = issuedAt;
      this.#logger?.debug("mls credential of an existing member accepted outside its window", {
        subject: verified.subject,
      });
    }
    if (!verified.publicKey) {
      throw new MlsError(`credential token of ${verified.subject} has no pubkey claim`);
    }
    if (!sameBytes(verified.publicKey, signaturePublicKey)) {
      throw new MlsError(
        `credential token of ${verified.subject} names another key than the leaf's signature key`,
      );
    }
    const accepted: AcceptedCredential = Object.freeze({
      token,
      subject: verified.subject,
      appId: idFromIdentity(verified.subject),
      publicKey: signaturePublicKey.slice(),
      verifiedAt,
    });
    this.#touch(accepted);
    return accepted;
  }

  /**
   * Records the member's own credential, whose token the local provider minted: it is accepted
   * (binding checked) without asking the verifier, which may not even trust our own issuer.
   */
  rememberOwn(credential: AcceptedCredential): void {
    this.#own.add(credential.token);
    this.#touch(credential);
  }

  /** The accepted credential holding `token`, if remembered. */
  lookup(token: string): AcceptedCredential | undefined {
    return this.#accepted.get(token);
  }

  /**
   * Runs `fn` (a Welcome being processed) with new credentials treated as existing members'
   * (module doc). Callers must not overlap other validations with it.
   */
  async trustingExistingMembers<T>(fn: () => Promise<T>): Promise<T> {
    this.#existingMembers = true;
    try {
      return await fn();
    } finally {
      this.#existingMembers = false;
    }
  }

  /** The reason of the last rejection since the previous call, and forgets it. */
  takeRejection(): string | undefined {
    const reason = this.#lastRejection;
    this.#lastRejection = undefined;
    return reason;
  }

  #touch(credential: AcceptedCredential): void {
    this.#accepted.delete(credential.token);
    this.#accepted.set(credential.token, credential);
    if (this.#accepted.size > this.#capacity) {
      for (const token of this.#accepted.keys()) {
        if (this.#own.has(token)) continue; // never forget our own
        this.#accepted.delete(token);
        break;
      }
    }
  }
}

/** The token text of a SLIM credential; throws {@link MlsError} for anything else. */
export function credentialToken(credential: Credential): string {
  if (credential.credentialType !== "basic") {
    throw new MlsError(`credential type ${credential.credentialType} is not accepted (not basic)`);
  }
  try {
    return utf8.decode(credential.identity);
  } catch {
    throw new MlsError("credential identity is not UTF-8 text");
  }
}

/**
 * The time a token claims to have been issued, read without verifying it: used only as the
 * evaluation time of a verification that then checks the MAC or signature. Shared-secret tokens
 * are `id:ts:nonce:claims:mac`; JWTs carry `iat` / `nbf` (else one second before `exp`).
 */
export function claimedIssueTime(token: string): number | undefined {
  const jwt = token.split(".");
  if (jwt.length === 3) {
    const bytes = b64urlDecode(jwt[1]);
    if (!bytes) return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return undefined;
    }
    if (!payload || typeof payload !== "object") return undefined;
    const { iat, nbf, exp } = payload as Record<string, unknown>;
    const times = [iat, nbf].filter((t): t is number => typeof t === "number" && isFinite(t));
    if (times.length > 0) return Math.ceil(Math.max(...times));
    return typeof exp === "number" && isFinite(exp) ? Math.floor(exp) - 1 : undefined;
  }
  const fields = token.split(":");
  if (fields.length !== 5 || !/^\d{1,15}$/.test(fields[1])) return undefined;
  return Number(fields[1]);
}

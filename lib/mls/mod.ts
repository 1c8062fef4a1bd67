/**
 * MLS for SLIM sessions on ts-mls, interoperable with the real SLIM (mls-rs 0.54, ciphersuite 2).
 *
 * - {@link MlsMember}: one app's MLS context in one session: key packages and Welcomes for
 *   participants, group creation and add/remove commits for moderators, application message
 *   encryption for both.
 * - {@link CredentialValidator}: SLIM's credential rules (token verification, key binding) and
 *   the long-lived-group rule (validity windows are checked only when a credential is new).
 * - {@link slimCiphersuite}: the fast ciphersuite-2 implementation (`crypto_provider.ts`:
 *   ECDSA on precomputed tables with a process-wide verification memo, synchronous SHA-256,
 *   HMAC and HKDF, AES-GCM on `node:crypto`, HPKE); {@link referenceCiphersuite} is ts-mls's
 *   stock one.
 * - `messages.ts` helpers decode and encode the `MLSMessage` envelopes strictly.
 * - Internal: `app_message.ts` (application messages, lazy secret tree), `commit.ts` and
 *   `join.ts` (epoch transitions without the eager secret tree), `tree_hash.ts` (memoised tree
 *   and parent hashes), `p256.ts`, `sha256.ts`, `aead.ts`, `hpke.ts`, `verifier.ts`.
 * @module
 */
export {
  type AddMemberResult,
  type DecryptedMessage,
  MlsMember,
  type MlsMemberOptions,
  type RemoveMemberResult,
} from "./member.ts";
export {
  type AcceptedCredential,
  claimedIssueTime,
  credentialToken,
  CredentialValidator,
  type CredentialValidatorOptions,
} from "./credential_validator.ts";
export {
  p256Signature,
  referenceCiphersuite,
  sha256Hash,
  sha256Kdf,
  slimCiphersuite,
} from "./crypto_provider.ts";
export {
  decodeKeyPackage,
  decodeMls,
  decodePrivateMessage,
  decodePublicMessage,
  decodeWelcome,
  encodeKeyPackage,
  encodeMls,
  encodePrivateMessage,
  encodeWelcome,
} from "./messages.ts";
export {
  KEY_RETENTION,
  LEAF_LIFETIME,
  MLS_CIPHERSUITE,
  MLS_CIPHERSUITE_ID,
  slimCapabilities,
} from "./suite.ts";
export { SerialQueue } from "./serial_queue.ts";

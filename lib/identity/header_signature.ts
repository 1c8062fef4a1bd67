/**
 * End-to-end header signatures (`SLIMHeader.e2e_header_sig`).
 *
 * Apps sign the header of every session command message (discovery, join, leave, group
 * updates, acks, heartbeats...) with their identity key. The signed bytes are the canonical
 * protobuf encoding of `HeaderIntegrityAad` — the same bytes MLS binds application messages to —
 * built from the header exactly as sent. The payload and the metadata are not covered.
 * Receivers check the signature against the `pubkey` claim of the token in `identity`.
 * @module
 */
import { AuthError } from "../errors.ts";
import { encodeAad, type Publish } from "../wire/codec.ts";
import type { IdentityVerifier, VerifiedIdentity } from "./identity.ts";
import type { P256Verifier } from "./p256_verifier.ts";
import { type SigningKey, verifySignature, verifySignatureSync } from "./signing_key.ts";

/** Ed25519 public keys are 32 bytes; P-256 ones 65 (or 33 compressed). */
const ED25519_PUBLIC_KEY_LENGTH = 32;

/** `HeaderIntegrityAad.version` written by the real SLIM. */
export const HEADER_AAD_VERSION = 1;

/**
 * The `HeaderIntegrityAad` bytes of a publish, as the real peer computes them: version 1, the
 * source and destination names as they are on the wire, the identity token, session type,
 * message type, session id and message id, and the application payload type (`""` for command
 * payloads). Default values are omitted (canonical proto3).
 */
export function headerAadFromPublish(publish: Publish): Uint8Array {
  const header = publish.header;
  const session = publish.session;
  const content = publish.msg?.contentType;
  return encodeAad({
    version: HEADER_AAD_VERSION,
    source: header?.source,
    destination: header?.destination,
    identity: header?.identity ?? "",
    sessionType: session?.sessionType ?? 0,
    sessionMessageType: session?.sessionMessageType ?? 0,
    sessionId: session?.sessionId ?? 0,
    messageId: session?.messageId ?? 0,
    payloadType: content?.case === "appPayload" ? content.value.payloadType : "",
  });
}

/** Signs header AAD bytes; returns the DER signature for `e2e_header_sig`. */
export function signHeader(key: SigningKey, aad: Uint8Array): Promise<Uint8Array> {
  return key.sign(aad);
}

/** Synchronous {@link signHeader}. */
export function signHeaderSync(key: SigningKey, aad: Uint8Array): Uint8Array {
  return key.signSync(aad);
}

/**
 * Checks a header signature (P-256 DER, or Ed25519 for 32-byte keys); never throws. Pass the
 * app's {@link P256Verifier}: the few keys that sign most headers (a moderator's, a peer's) get
 * its precomputed tables, about 4× cheaper than WebCrypto.
 */
export function verifyHeader(
  publicKey: Uint8Array,
  aad: Uint8Array,
  signature: Uint8Array,
  verifier?: P256Verifier,
): Promise<boolean> {
  return verifier && publicKey.length !== ED25519_PUBLIC_KEY_LENGTH
    ? verifier.verify(publicKey, aad, signature)
    : verifySignature(publicKey, aad, signature);
}

/** Synchronous {@link verifyHeader} (slower backend). */
export function verifyHeaderSync(
  publicKey: Uint8Array,
  aad: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verifySignatureSync(publicKey, aad, signature);
}

/** Signs `publish` in place: computes its AAD and sets `header.e2eHeaderSig`. */
export async function signPublish(key: SigningKey, publish: Publish): Promise<void> {
  if (!publish.header) throw new AuthError("cannot sign a publish without a header");
  publish.header.e2eHeaderSig = await key.sign(headerAadFromPublish(publish));
}

/**
 * What a receiver checks on a command message that must be authenticated (before a session
 * exists, or inside an MLS session): the `identity` token verifies, `e2e_header_sig` is present,
 * and it verifies against the token's `pubkey`. Resolves with the sender's verified identity;
 * rejects with {@link AuthError}.
 */
export async function verifyPublishIdentity(
  publish: Publish,
  verifier: IdentityVerifier,
  signatures?: P256Verifier,
): Promise<VerifiedIdentity> {
  const header = publish.header;
  if (!header) throw new AuthError("message has no header");
  const identity = await verifier.verify(header.identity);
  const signature = header.e2eHeaderSig;
  if (!signature || signature.length === 0) throw new AuthError("message has no header signature");
  if (!identity.publicKey) throw new AuthError("identity token carries no pubkey claim");
  const ok = await verifyHeader(
    identity.publicKey,
    headerAadFromPublish(publish),
    signature,
    signatures,
  );
  if (!ok) throw new AuthError("header signature mismatch");
  return identity;
}

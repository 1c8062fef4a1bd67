/**
 * Identity for SLIM apps: the tokens stamped into every message, the P-256 key that signs
 * command headers and MLS leaves, and the checks a receiver runs.
 *
 * - {@link SharedSecretIdentity} / {@link SharedSecretVerifier}: SLIM's HMAC token.
 * - {@link JwtIdentity}, {@link StaticJwtIdentity} / {@link JwtVerifier}: JWTs (with
 *   {@link parseSpireBundle} for SPIRE trust bundles).
 * - {@link createIdentity}: a provider and verifier from plain options.
 * - {@link headerAadFromPublish}, {@link signPublish}, {@link verifyPublishIdentity}: the
 *   end-to-end header signature.
 * @module
 */
export { type Claims, publicKeyFromClaims } from "./claims.ts";
export {
  createIdentity,
  type Identity,
  type IdentityOptions,
  type IdentityProvider,
  type IdentityVerifier,
  type JwtIdentityConfig,
  type SharedSecretIdentityConfig,
  type StaticJwtIdentityConfig,
  type VerifiedIdentity,
} from "./identity.ts";
export { SigningKey, VerifyKeyCache, verifySignature, verifySignatureSync } from "./signing_key.ts";
export { P256Verifier, type P256VerifierOptions } from "./p256_verifier.ts";
export {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_VALIDITY_SECONDS,
  MIN_SECRET_BYTES,
  SharedSecretIdentity,
  type SharedSecretIdentityOptions,
  SharedSecretVerifier,
  type SharedSecretVerifierOptions,
} from "./shared_secret.ts";
export {
  DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_JWT_DURATION_SECONDS,
  JwtIdentity,
  type JwtIdentityOptions,
  JwtVerifier,
  type JwtVerifierOptions,
  StaticJwtIdentity,
  type StaticJwtIdentityOptions,
} from "./jwt.ts";
export {
  type JsonWebKeySet,
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  type JwtKeyConfig,
  type KeyData,
} from "./jwt_keys.ts";
export { parseSpireBundle, spiffeTrustDomain, type SpireTrustBundle } from "./spire_bundle.ts";
export {
  HEADER_AAD_VERSION,
  headerAadFromPublish,
  signHeader,
  signHeaderSync,
  signPublish,
  verifyHeader,
  verifyHeaderSync,
  verifyPublishIdentity,
} from "./header_signature.ts";

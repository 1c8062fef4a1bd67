/**
 * Identity providers and verifiers, and a factory building a matching pair from plain options.
 *
 * An app stamps a token from its {@link IdentityProvider} into the `identity` field of every
 * message it sends and signs command headers with the provider's {@link SigningKey}; a receiving
 * app checks tokens with its {@link IdentityVerifier} and the header signature against the
 * public key the token carries (see `header_signature.ts`). Nodes never look at either.
 * @module
 */
import { AuthError } from "../errors.ts";
import type { Name } from "../names/name.ts";
import type { Claims } from "./claims.ts";
import { SharedSecretIdentity, SharedSecretVerifier } from "./shared_secret.ts";
import {
  JwtIdentity,
  type JwtIdentityOptions,
  JwtVerifier,
  type JwtVerifierOptions,
  StaticJwtIdentity,
  type StaticJwtIdentityOptions,
} from "./jwt.ts";
import type { SigningKey } from "./signing_key.ts";

/** What a verifier learned from a valid token. */
export interface VerifiedIdentity {
  /** The sender's identity id: the shared-secret id (`org/ns/app_XXXXXXXX`) or the JWT `sub`. */
  readonly subject: string;
  /** Issue time, Unix seconds (absent for JWTs without `iat`). */
  readonly issuedAt?: number;
  /** Expiry, Unix seconds. */
  readonly expiresAt: number;
  /**
   * The sender's signature public key, decoded from the `pubkey` claim (top level, or under
   * `custom_claims`); absent when the token carries none.
   */
  readonly publicKey?: Uint8Array;
  /**
   * All claims. Shared-secret tokens expose `{sub, iat, exp, custom_claims}` like the real SLIM;
   * JWTs expose their payload.
   */
  readonly claims: Claims;
}

/**
 * Mints the tokens an app sends.
 *
 * `token()` returns a promise. Session code calls it once per message, and every send path is
 * asynchronous anyway (MLS encryption, transport writes); the resolved promise of a shared-secret
 * token costs well under a microsecond next to the HMAC. A synchronous signature would force JWT
 * providers with RSA or EC keys (WebCrypto is asynchronous) to hand out a stale token, or
 * fail, when the cached one must be re-minted.
 */
export interface IdentityProvider {
  /** Identity id: derives the app's name id (`idFromIdentity`) and is the MLS subject. */
  readonly id: string;
  /** The key whose public half the tokens carry; signs headers and the MLS leaf. */
  readonly signingKey: SigningKey;
  /** A token valid now. */
  token(): Promise<string>;
}

/** Checks tokens received from other apps. */
export interface IdentityVerifier {
  /** Resolves with the verified identity; rejects with {@link AuthError}. */
  verify(token: string): Promise<VerifiedIdentity>;
}

/** A provider and the verifier for its peers. */
export interface Identity {
  /** Mints this app's tokens. */
  provider: IdentityProvider;
  /** Checks the tokens of other apps. */
  verifier: IdentityVerifier;
}

/** Shared-secret identity options of {@link createIdentity}. */
export interface SharedSecretIdentityConfig {
  /** The secret shared by all apps; at least 32 bytes unless `allowShortSecret`. */
  sharedSecret: string;
  /**
   * Accept a secret shorter than 32 bytes (the tutorials use `secret`). Unsafe.
   * @default false
   */
  allowShortSecret?: boolean;
  /**
   * Identity id to use instead of `<app name>_<8 random alphanumerics>` (restores a persisted
   * identity).
   * @default a fresh random id
   */
  id?: string;
  /**
   * Oldest accepted token age, seconds.
   * @default 3600
   */
  validitySeconds?: number;
  /**
   * How far in the future a token's timestamp may be, seconds.
   * @default 5
   */
  clockSkewSeconds?: number;
  /**
   * Capacity of the verifier's replay cache; 0 disables it (as in the real SLIM).
   * @default 0
   */
  replayCacheSize?: number;
}

/** JWT identity options of {@link createIdentity}. */
export interface JwtIdentityConfig {
  /** Signing and claims; `subject` defaults to the app name. */
  jwt: Omit<JwtIdentityOptions, "subject" | "signingKey" | "now"> & {
    /**
     * The `sub` claim and identity id.
     * @default the app name (`org/ns/app`)
     */
    subject?: string;
    /** How peers' tokens are verified. */
    verifier: JwtVerifierOptions;
  };
}

/** Static JWT identity options of {@link createIdentity}. */
export interface StaticJwtIdentityConfig {
  /** Where the token is read from, and how peers' tokens are verified. */
  staticJwt: Omit<StaticJwtIdentityOptions, "signingKey" | "now"> & {
    verifier: JwtVerifierOptions;
  };
}

/** Options of {@link createIdentity}: exactly one of the three forms. */
export type IdentityOptions =
  & (SharedSecretIdentityConfig | JwtIdentityConfig | StaticJwtIdentityConfig)
  & {
    /**
     * The app's signature key pair (to keep the same key across restarts).
     * @default a freshly generated key
     */
    signingKey?: SigningKey;
    /**
     * Clock in Unix seconds, for tests.
     * @default the system clock
     */
    now?: () => number;
  };

/**
 * Builds an identity provider and the matching verifier.
 *
 * @param appName The app's name (`org/ns/app`); the base of the shared-secret id and the default
 *   JWT subject.
 */
export async function createIdentity(
  appName: string | Name,
  options: IdentityOptions,
): Promise<Identity> {
  const base = typeof appName === "string" ? appName : appName.base;
  const { signingKey, now } = options;
  if ("sharedSecret" in options) {
    const o = options;
    const provider = new SharedSecretIdentity(base, o.sharedSecret, {
      allowShortSecret: o.allowShortSecret,
      id: o.id,
      signingKey,
      now,
    });
    const verifier = new SharedSecretVerifier(o.sharedSecret, {
      allowShortSecret: o.allowShortSecret,
      validitySeconds: o.validitySeconds,
      clockSkewSeconds: o.clockSkewSeconds,
      replayCacheSize: o.replayCacheSize,
      now,
    });
    return { provider, verifier };
  }
  if ("jwt" in options) {
    const { verifier: verifierOptions, ...jwt } = options.jwt;
    const provider = await JwtIdentity.create({
      ...jwt,
      subject: jwt.subject ?? base,
      signingKey,
      now,
    });
    const verifier = await JwtVerifier.create({ now, ...verifierOptions });
    return { provider, verifier };
  }
  if ("staticJwt" in options) {
    const { verifier: verifierOptions, ...staticJwt } = options.staticJwt;
    const provider = await StaticJwtIdentity.create({ ...staticJwt, signingKey, now });
    const verifier = await JwtVerifier.create({ now, ...verifierOptions });
    return { provider, verifier };
  }
  throw new AuthError("identity options need one of sharedSecret, jwt or staticJwt");
}

/**
 * JWT identity: minting (with a signing key), static tokens (from a file) and verification.
 *
 * Minted tokens carry `iss`, `sub`, `aud` (an array), `exp = now + duration`, `iat`, `nbf`, any
 * custom claims and `pubkey` (standard base64 of the app's P-256 public key), with header
 * `{"alg", "typ":"JWT", "kid": <sub>}`, as the real SLIM mints them. The identity id is `sub`.
 *
 * Unlike the real SLIM, which signs a new JWT for every message, {@link JwtIdentity} reuses a
 * minted token until less than half of its lifetime is left: an RSA signature per message would
 * cost far more than the message, and a token is as good as a fresh one while it is valid.
 * @module
 */
import { stat } from "node:fs/promises";
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
  SignJWT,
} from "jose";
import { AuthError } from "../errors.ts";
import { type Claims, publicKeyFromClaims } from "./claims.ts";
import type { IdentityProvider, IdentityVerifier, VerifiedIdentity } from "./identity.ts";
import {
  asJwks,
  isJwtAlgorithm,
  type JsonWebKeySet,
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  type JwtKeyConfig,
  loadSigningKey,
  loadVerificationKeys,
  readKeyData,
  type SigningJwtKey,
  type VerificationKey,
  verificationKeysFromJwks,
} from "./jwt_keys.ts";
import { SigningKey } from "./signing_key.ts";
import { spiffeTrustDomain, type SpireTrustBundle } from "./spire_bundle.ts";
import { sameBytes } from "../bytes.ts";

/** Default token lifetime of minted JWTs, seconds (as in the real SLIM). */
export const DEFAULT_JWT_DURATION_SECONDS = 3600;
/** Default leeway for `exp` and `nbf`, seconds (the `jsonwebtoken` default the real SLIM uses). */
export const DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS = 60;

function systemSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Options of {@link JwtIdentity.create}. */
export interface JwtIdentityOptions {
  /** The key tokens are signed with (and its algorithm). */
  key: JwtKeyConfig;
  /** `sub` claim and identity id; also the header `kid`. */
  subject: string;
  /**
   * `iss` claim.
   * @default none
   */
  issuer?: string;
  /**
   * `aud` claim (always written as an array).
   * @default none
   */
  audience?: string | string[];
  /**
   * Extra claims. `pubkey` and the registered claims above are always set by the provider.
   * @default none
   */
  customClaims?: Record<string, unknown>;
  /**
   * Token lifetime, seconds: `exp = iat + durationSeconds`.
   * @default 3600
   */
  durationSeconds?: number;
  /**
   * The app's signature key pair, announced in the `pubkey` claim.
   * @default a freshly generated key
   */
  signingKey?: SigningKey;
  /**
   * Clock in Unix seconds.
   * @default the system clock
   */
  now?: () => number;
}

interface MintedToken {
  readonly token: string;
  /** Re-mint from this time on (half the lifetime). */
  readonly refreshAt: number;
}

/** Mints JWTs signed with a configured key. */
export class JwtIdentity implements IdentityProvider {
  /** The `sub` claim. */
  readonly id: string;
  readonly signingKey: SigningKey;
  readonly #key: SigningJwtKey;
  readonly #claims: Readonly<Record<string, unknown>>;
  readonly #duration: number;
  readonly #now: () => number;
  #current: MintedToken | undefined;
  #pending: Promise<MintedToken> | undefined;

  private constructor(key: SigningJwtKey, options: JwtIdentityOptions) {
    this.#key = key;
    this.id = options.subject;
    this.signingKey = options.signingKey ?? SigningKey.generate();
    this.#duration = options.durationSeconds ?? DEFAULT_JWT_DURATION_SECONDS;
    this.#now = options.now ?? systemSeconds;
    const aud = options.audience;
    this.#claims = {
      ...options.customClaims,
      ...(options.issuer !== undefined ? { iss: options.issuer } : {}),
      sub: options.subject,
      ...(aud !== undefined ? { aud: typeof aud === "string" ? [aud] : [...aud] } : {}),
      pubkey: this.signingKey.publicKeyBase64,
    };
  }

  /** Loads the signing key and builds the provider. Throws {@link AuthError}. */
  static async create(options: JwtIdentityOptions): Promise<JwtIdentity> {
    if (!options.subject) throw new AuthError("jwt identity needs a subject");
    const duration = options.durationSeconds ?? DEFAULT_JWT_DURATION_SECONDS;
    if (!(duration > 0)) throw new AuthError("jwt duration must be positive");
    return new JwtIdentity(await loadSigningKey(options.key), options);
  }

  /**
   * A valid token: the cached one while more than half of its lifetime is left, otherwise a
   * newly minted one (concurrent callers share the minting).
   */
  token(): Promise<string> {
    const now = this.#now();
    const current = this.#current;
    if (current && now < current.refreshAt) return Promise.resolve(current.token);
    if (!this.#pending) {
      this.#pending = this.#mintCached(now).finally(() => this.#pending = undefined);
    }
    return this.#pending.then((m) => m.token);
  }

  async #mintCached(now: number): Promise<MintedToken> {
    const token = await this.mint(now);
    const minted = { token, refreshAt: now + Math.floor(this.#duration / 2) };
    this.#current = minted;
    return minted;
  }

  /** Mints a new token now (bypasses the cache); `nowSeconds` overrides the clock. */
  async mint(nowSeconds: number = this.#now()): Promise<string> {
    const now = Math.floor(nowSeconds);
    try {
      return await new SignJWT({ ...this.#claims, exp: now + this.#duration, iat: now, nbf: now })
        .setProtectedHeader({ alg: this.#key.algorithm, typ: "JWT", kid: this.id })
        .sign(this.#key.key);
    } catch (e) {
      // e.g. an RSA key under 2048 bits, which jose refuses.
      throw new AuthError(`jwt signing with ${this.#key.algorithm} failed`, { cause: e });
    }
  }

  /** Non-secret description. */
  toString(): string {
    return `JwtIdentity(${this.id}, ${this.#key.algorithm})`;
  }

  /** Keeps key material out of `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Keeps key material out of Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** Options of {@link StaticJwtIdentity.create}. */
export interface StaticJwtIdentityOptions {
  /** File holding the token (surrounding whitespace is ignored). */
  file: string;
  /**
   * How often, at most, the file's modification time is checked for a new token, seconds;
   * 0 checks on every call, a negative value never re-reads.
   * @default 1
   */
  recheckSeconds?: number;
  /**
   * The key pair whose public key the token's `pubkey` claim holds. A static token is minted
   * elsewhere: unless it carries this key's public key, peers cannot check this app's header
   * signatures or MLS credentials (the real SLIM does not support MLS with static tokens).
   * @default a freshly generated key
   */
  signingKey?: SigningKey;
  /**
   * Clock in Unix seconds.
   * @default the system clock
   */
  now?: () => number;
}

/** Hands out a JWT minted elsewhere, read from a file and re-read when the file changes. */
export class StaticJwtIdentity implements IdentityProvider {
  /** The token's `sub` when the provider was created. */
  readonly id: string;
  readonly signingKey: SigningKey;
  readonly #file: string;
  readonly #recheck: number;
  readonly #now: () => number;
  #token: string;
  #mtime: number;
  #checkedAt: number;
  #pending: Promise<string> | undefined;

  private constructor(
    options: StaticJwtIdentityOptions,
    token: string,
    id: string,
    mtime: number,
    signingKey: SigningKey,
  ) {
    this.#file = options.file;
    this.#recheck = options.recheckSeconds ?? 1;
    this.#now = options.now ?? systemSeconds;
    this.#token = token;
    this.#mtime = mtime;
    this.#checkedAt = this.#now();
    this.id = id;
    this.signingKey = signingKey;
  }

  /**
   * Reads the token. Throws {@link AuthError} when the file cannot be read, the token has no
   * `sub`, or its `pubkey` claim differs from a given `signingKey`.
   */
  static async create(options: StaticJwtIdentityOptions): Promise<StaticJwtIdentity> {
    const { token, mtime } = await readTokenFile(options.file);
    const payload = decodeUnverified(token);
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new AuthError("static jwt has no sub claim");
    }
    const announced = publicKeyFromClaims(payload);
    if (announced && options.signingKey && !sameBytes(announced, options.signingKey.publicKey)) {
      throw new AuthError("static jwt pubkey claim does not match the signing key");
    }
    const signingKey = options.signingKey ?? SigningKey.generate();
    return new StaticJwtIdentity(options, token, payload.sub, mtime, signingKey);
  }

  /** The current token, re-read first if the file changed. */
  token(): Promise<string> {
    if (this.#recheck < 0) return Promise.resolve(this.#token);
    const now = this.#now();
    if (now - this.#checkedAt < this.#recheck) return Promise.resolve(this.#token);
    this.#pending ??= this.#reload(now).finally(() => this.#pending = undefined);
    return this.#pending;
  }

  async #reload(now: number): Promise<string> {
    this.#checkedAt = now;
    try {
      const info = await stat(this.#file);
      const mtime = info.mtimeMs;
      if (mtime !== this.#mtime) {
        const { token } = await readTokenFile(this.#file);
        decodeUnverified(token);
        this.#token = token;
        this.#mtime = mtime;
      }
    } catch {
      // Keep the last good token while the file is being replaced or is briefly invalid.
    }
    return this.#token;
  }

  /** Non-secret description. */
  toString(): string {
    return `StaticJwtIdentity(${this.id})`;
  }

  /** Keeps the token out of `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Keeps the token out of Node's `util.inspect`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

async function readTokenFile(file: string): Promise<{ token: string; mtime: number }> {
  const text = (await readKeyData({ file }, "static jwt")).trim();
  if (text === "") throw new AuthError(`static jwt file ${file} is empty`);
  let mtime = 0;
  try {
    mtime = (await stat(file)).mtimeMs;
  } catch {
    // Unknown mtime only means the next check re-reads the file.
  }
  return { token: text, mtime };
}

function decodeUnverified(token: string): JWTPayload {
  try {
    return decodeJwt(token);
  } catch (e) {
    throw new AuthError("malformed jwt", { cause: e });
  }
}

/**
 * Options of {@link JwtVerifier.create}: exactly one of `key`, `jwks`, `jwksUrl`,
 * `spireBundle`.
 */
export interface JwtVerifierOptions {
  /** A verification key or key set, inline or from a file. */
  key?: JwtKeyConfig;
  /** A key set object. */
  jwks?: JsonWebKeySet;
  /**
   * A SPIRE bundle set ({@link parseSpireBundle}): a token whose `sub` is a SPIFFE ID is checked
   * only against the keys of that ID's trust domain; any other subject against every key of the
   * bundle, as with `jwks`.
   */
  spireBundle?: SpireTrustBundle;
  /** A JWKS endpoint, fetched on demand and cached. */
  jwksUrl?: string;
  /**
   * Accepted audiences: the token's `aud` must contain at least one.
   * @default no audience check
   */
  audience?: string | string[];
  /**
   * Accepted issuer(s).
   * @default no issuer check
   */
  issuer?: string | string[];
  /**
   * Required subject.
   * @default no subject check
   */
  subject?: string;
  /**
   * Leeway for `exp` and `nbf`, seconds.
   * @default 60
   */
  clockToleranceSeconds?: number;
  /**
   * How long a fetched `jwksUrl` key set is used before it is fetched again, seconds.
   * @default 3600
   */
  jwksCacheSeconds?: number;
  /**
   * Verified tokens remembered (until they expire) so a token reused for many messages is
   * checked once; 0 disables.
   * @default 1024
   */
  cacheSize?: number;
  /**
   * Clock in Unix seconds.
   * @default the system clock
   */
  now?: () => number;
}

/**
 * A JWKS endpoint: jose's remote key set does the fetching (timeout, cache age, cooldown); the
 * keys are re-derived after each fetch so the same kid fallback as for local sets applies.
 */
class RemoteKeys {
  readonly #set: ReturnType<typeof createRemoteJWKSet>;
  #keys: readonly VerificationKey[] | undefined;
  #pending: Promise<readonly VerificationKey[]> | undefined;

  constructor(url: URL, cacheSeconds: number) {
    this.#set = createRemoteJWKSet(url, { cacheMaxAge: cacheSeconds * 1000 });
  }

  /** True when a refetch for an unknown key is allowed now (outside the cooldown). */
  get canRefresh(): boolean {
    return !this.#set.coolingDown;
  }

  /** The current keys; fetched when missing or stale, or on `refresh`. */
  keys(refresh: boolean): Promise<readonly VerificationKey[]> {
    if (this.#keys && this.#set.fresh && !refresh) return Promise.resolve(this.#keys);
    this.#pending ??= this.#load().finally(() => this.#pending = undefined);
    return this.#pending;
  }

  async #load(): Promise<readonly VerificationKey[]> {
    try {
      await this.#set.reload();
    } catch (e) {
      throw new AuthError("jwks fetch failed", { cause: e });
    }
    const jwks = this.#set.jwks();
    if (!jwks) throw new AuthError("jwks fetch failed");
    this.#keys = verificationKeysFromJwks(asJwks(jwks, "fetched jwks"));
    return this.#keys;
  }
}

type KeySource =
  | { kind: "local"; keys: readonly VerificationKey[] }
  | { kind: "remote"; remote: RemoteKeys }
  | {
    kind: "spire";
    domains: ReadonlyMap<string, readonly VerificationKey[]>;
    all: readonly VerificationKey[];
  };

/** Verifies JWT identity tokens. */
export class JwtVerifier implements IdentityVerifier {
  readonly #source: KeySource;
  readonly #options: JwtVerifierOptions;
  readonly #tolerance: number;
  readonly #now: () => number;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, VerifiedIdentity>();

  private constructor(source: KeySource, options: JwtVerifierOptions) {
    this.#source = source;
    this.#options = options;
    this.#tolerance = options.clockToleranceSeconds ?? DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS;
    this.#now = options.now ?? systemSeconds;
    this.#cacheSize = Math.max(0, options.cacheSize ?? 1024);
  }

  /** Loads the keys and builds the verifier. Throws {@link AuthError}. */
  static async create(options: JwtVerifierOptions): Promise<JwtVerifier> {
    const given = [options.key, options.jwks, options.jwksUrl, options.spireBundle].filter((v) =>
      v !== undefined
    );
    if (given.length !== 1) {
      throw new AuthError("jwt verifier needs exactly one of key, jwks, jwksUrl or spireBundle");
    }
    let source: KeySource;
    if (options.spireBundle) {
      const domains = new Map<string, readonly VerificationKey[]>();
      for (const [domain, jwks] of options.spireBundle.domains) {
        domains.set(domain, verificationKeysFromJwks(asJwks(jwks)));
      }
      source = { kind: "spire", domains, all: [...domains.values()].flat() };
    } else if (options.key) {
      source = { kind: "local", keys: await loadVerificationKeys(options.key) };
    } else if (options.jwks) {
      source = { kind: "local", keys: verificationKeysFromJwks(asJwks(options.jwks)) };
    } else {
      let url: URL;
      try {
        url = new URL(options.jwksUrl as string);
      } catch {
        // The URL is not echoed: it may carry credentials.
        throw new AuthError("invalid jwks url");
      }
      source = { kind: "remote", remote: new RemoteKeys(url, options.jwksCacheSeconds ?? 3600) };
    }
    return new JwtVerifier(source, options);
  }

  /** Verifies `token`; `nowSeconds` overrides the clock. Rejects with {@link AuthError}. */
  async verify(token: string, nowSeconds: number = this.#now()): Promise<VerifiedIdentity> {
    if (typeof token !== "string" || token === "") throw new AuthError("identity token is empty");
    const cached = this.#cache.get(token);
    if (cached && nowSeconds <= cached.expiresAt + this.#tolerance) return cached;
    const payload = await this.#verifySignedPayload(token, nowSeconds);
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new AuthError("jwt has no sub claim");
    }
    const publicKey = publicKeyFromClaims(payload as Claims);
    const base = {
      subject: payload.sub,
      expiresAt: payload.exp as number,
      claims: payload as Claims,
      ...(typeof payload.iat === "number" ? { issuedAt: payload.iat } : {}),
    };
    // Frozen: cached results are handed to every caller presenting the same token.
    Object.freeze(payload);
    const verified: VerifiedIdentity = Object.freeze(publicKey ? { ...base, publicKey } : base);
    this.#remember(token, verified);
    return verified;
  }

  #remember(token: string, verified: VerifiedIdentity): void {
    if (this.#cacheSize === 0) return;
    this.#cache.delete(token);
    this.#cache.set(token, verified);
    if (this.#cache.size > this.#cacheSize) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
  }

  async #verifySignedPayload(token: string, now: number): Promise<JWTPayload> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch (e) {
      throw new AuthError("malformed jwt", { cause: e });
    }
    const alg = header.alg;
    if (!isJwtAlgorithm(alg)) throw new AuthError(`jwt algorithm ${String(alg)} not accepted`);
    const o = this.#options;
    const options: JWTVerifyOptions = {
      algorithms: [...JWT_ALGORITHMS],
      audience: o.audience,
      issuer: o.issuer,
      subject: o.subject,
      clockTolerance: this.#tolerance,
      currentDate: new Date(now * 1000),
      requiredClaims: ["exp"],
    };
    const source = this.#source;
    if (source.kind === "local" || source.kind === "spire") {
      const keys = source.kind === "local" ? source.keys : spireKeysFor(source, token);
      const result = await tryKeys(keys, token, alg, header.kid, options);
      if (result instanceof AuthError) throw result;
      return result;
    }
    const result = await tryKeys(await source.remote.keys(false), token, alg, header.kid, options);
    if (!(result instanceof AuthError)) return result;
    // The signer may use a key published after our last fetch: refetch once, outside the
    // cooldown (tokens whose kid is just their subject would otherwise refetch every time).
    if (!source.remote.canRefresh) throw result;
    const retry = await tryKeys(await source.remote.keys(true), token, alg, header.kid, options);
    if (retry instanceof AuthError) throw retry;
    return retry;
  }
}

/**
 * The keys that may vouch for `token`: for a SPIFFE-ID subject, only its trust domain's (read
 * before the signature is checked, to pick the keys; the signature then covers it).
 */
function spireKeysFor(
  source: {
    domains: ReadonlyMap<string, readonly VerificationKey[]>;
    all: readonly VerificationKey[];
  },
  token: string,
): readonly VerificationKey[] {
  const sub = decodeUnverified(token).sub;
  const domain = typeof sub === "string" ? spiffeTrustDomain(sub) : undefined;
  if (domain === undefined) return source.all;
  const keys = source.domains.get(domain);
  if (!keys) throw new AuthError(`no trust bundle for spiffe trust domain ${domain}`);
  return keys;
}

/**
 * Verifies with each candidate key. Returns the payload, or an {@link AuthError} when no key fits
 * or none verifies the signature (a refetch may help); throws for every other failure.
 */
async function tryKeys(
  keys: readonly VerificationKey[],
  token: string,
  alg: JwtAlgorithm,
  kid: string | undefined,
  options: JWTVerifyOptions,
): Promise<JWTPayload | AuthError> {
  const candidates = candidateKeys(keys, alg, kid);
  if (candidates.length === 0) return new AuthError(`no jwt key for algorithm ${alg}`);
  let lastError: unknown;
  for (const key of candidates) {
    try {
      return (await jwtVerify(token, await key.importFor(alg), options)).payload;
    } catch (e) {
      // Another key of the set may still match; anything but a bad signature is final.
      if (!(e instanceof joseErrors.JWSSignatureVerificationFailed)) throw joseToAuthError(e);
      lastError = e;
    }
  }
  return joseToAuthError(lastError);
}

/** Keys with the token's `kid` first; failing that, every key that can verify `alg`. */
function candidateKeys(
  keys: readonly VerificationKey[],
  alg: JwtAlgorithm,
  kid: string | undefined,
): VerificationKey[] {
  const usable = keys.filter((k) => k.algorithms.includes(alg));
  if (kid !== undefined) {
    const byKid = usable.filter((k) => k.kid === kid);
    if (byKid.length > 0) return byKid;
  }
  // The real SLIM puts `kid = sub` in the tokens it mints, which rarely names a key of the set,
  // so a missing kid match falls back to every key that fits the algorithm.
  return usable;
}

function joseToAuthError(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof joseErrors.JWTExpired) return new AuthError("jwt expired", { cause: e });
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    const what: Record<string, string> = {
      aud: "jwt audience not accepted",
      iss: "jwt issuer not accepted",
      sub: "jwt subject not accepted",
      nbf: "jwt not yet valid",
      exp: "jwt has no valid exp claim",
      iat: "jwt has an invalid iat claim",
    };
    return new AuthError(what[e.claim] ?? `jwt claim ${e.claim} rejected`, { cause: e });
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AuthError("jwt signature mismatch", { cause: e });
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey) {
    return new AuthError("no jwt key matches the token", { cause: e });
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AuthError("jwt algorithm not accepted", { cause: e });
  }
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) {
    return new AuthError("jwks fetch failed", { cause: e });
  }
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) {
    return new AuthError("malformed jwt", { cause: e });
  }
  return new AuthError("jwt verification failed", { cause: e });
}

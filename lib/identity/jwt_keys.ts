/**
 * Loading JWT signing and verification keys from PEM, JWK or JWKS text or files.
 *
 * The configuration shape follows SLIM's `Key {algorithm, format, key: {data | file}}`. PEM text
 * is parsed with `node:crypto` (available in Deno, Bun and Node), which reads every encoding the
 * real SLIM reads (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE/PUBLIC KEY`, SPKI, X.509
 * certificates) and hands the key on to `jose` as a JWK.
 * @module
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { importJWK, type JWK } from "jose";
import { AuthError } from "../errors.ts";

/** JWS algorithms SLIM supports for identity tokens. */
export type JwtAlgorithm =
  | "HS256"
  | "HS384"
  | "HS512"
  | "ES256"
  | "ES384"
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "EdDSA";

/** Every {@link JwtAlgorithm}. */
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = [
  "HS256",
  "HS384",
  "HS512",
  "ES256",
  "ES384",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "EdDSA",
];

/** A JSON Web Key (RFC 7517): the Web Crypto API's members, `kid`, and any others. */
export interface Jwk extends JsonWebKey {
  /** Key id, matched against a JWT's `kid` header. */
  kid?: string;
  /** Other members (`x5c`, `x5t`, ...), kept as they are. */
  [member: string]: unknown;
}

/** A JSON Web Key Set. */
export interface JsonWebKeySet {
  /** The keys (RFC 7517 §5). */
  keys: Jwk[];
}

/** Where key text comes from: inline, or a file read at load time. */
export type KeyData = { data: string } | { file: string };

/** A JWT key, as in SLIM's configuration. */
export interface JwtKeyConfig {
  /**
   * Signing algorithm. For verification it also says how PEM text is read (HS*: the text is the
   * secret itself; otherwise a public key or certificate); tokens signed with another algorithm
   * of the same key type are accepted, as in the real SLIM.
   */
  algorithm: JwtAlgorithm;
  /**
   * Encoding of the key text. For HS* with `pem`, the text (file content verbatim, including a
   * trailing newline) is the HMAC secret, as in the real SLIM.
   * @default "pem"
   */
  format?: "pem" | "jwk" | "jwks";
  /** The key text, inline or from a file. */
  key: KeyData;
}

type Family = "HS" | "ES256" | "ES384" | "RSA" | "EdDSA";

const FAMILY_ALGS: Record<Family, readonly JwtAlgorithm[]> = {
  HS: ["HS256", "HS384", "HS512"],
  ES256: ["ES256"],
  ES384: ["ES384"],
  RSA: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
  EdDSA: ["EdDSA"],
};

/** True when `alg` is a supported algorithm name. */
export function isJwtAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === "string" && (JWT_ALGORITHMS as readonly string[]).includes(alg);
}

function familyOfAlg(alg: JwtAlgorithm): Family {
  if (alg.startsWith("HS")) return "HS";
  if (alg === "ES256" || alg === "ES384" || alg === "EdDSA") return alg;
  return "RSA";
}

function familyOfJwk(jwk: JWK): Family | undefined {
  switch (jwk.kty) {
    case "oct":
      return "HS";
    case "RSA":
      return "RSA";
    case "EC":
      return jwk.crv === "P-256" ? "ES256" : jwk.crv === "P-384" ? "ES384" : undefined;
    case "OKP":
      return jwk.crv === "Ed25519" ? "EdDSA" : undefined;
  }
  return undefined;
}

/** Reads key text; file content is used verbatim. */
export async function readKeyData(key: KeyData, what: string): Promise<string> {
  if ("data" in key) return key.data;
  try {
    return await readFile(key.file, "utf8");
  } catch (e) {
    throw new AuthError(`cannot read ${what} file ${key.file}`, { cause: e });
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // No cause: the JSON parser's message quotes the input, which may be a private key.
    throw new AuthError(`${what} is not valid json`);
  }
}

function asJwk(value: unknown, what: string): JWK {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new AuthError(`${what} is not a json object`);
  }
  const jwk = value as JWK;
  if (typeof jwk.kty !== "string") throw new AuthError(`${what} has no kty`);
  return jwk;
}

/** Parses JWKS JSON text or object; throws {@link AuthError} when it has no `keys` array. */
export function asJwks(value: unknown, what = "jwks"): JsonWebKeySet {
  const obj = typeof value === "string" ? parseJson(value, what) : value;
  const keys = (obj as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new AuthError(`${what} has no keys array`);
  return { keys: keys.map((k, i) => asJwk(k, `${what} key ${i}`)) };
}

function pemToJwk(pem: string, kind: "private" | "public", what: string): JWK {
  try {
    const key = kind === "private" ? createPrivateKey(pem) : createPublicKey(pem);
    return key.export({ format: "jwk" }) as JWK;
  } catch (e) {
    // node:crypto messages describe the encoding problem, never the key bytes.
    throw new AuthError(`${what} is not a usable pem key`, { cause: e });
  }
}

function hasPrivatePart(jwk: JWK): boolean {
  return jwk.kty === "oct" ? typeof jwk.k === "string" : typeof jwk.d === "string";
}

/** A key imported for one algorithm: a CryptoKey, or raw bytes for HMAC. */
export type ImportedKey = CryptoKey | Uint8Array;

/** A key ready to sign with the configured algorithm. */
export interface SigningJwtKey {
  readonly algorithm: JwtAlgorithm;
  readonly key: ImportedKey;
}

/** Loads the key a JWT provider signs with. */
export async function loadSigningKey(config: JwtKeyConfig): Promise<SigningJwtKey> {
  const alg = config.algorithm;
  if (!isJwtAlgorithm(alg)) throw new AuthError(`unsupported jwt algorithm ${String(alg)}`);
  const format = config.format ?? "pem";
  const text = await readKeyData(config.key, "jwt signing key");
  const family = familyOfAlg(alg);
  let jwk: JWK;
  if (format === "pem") {
    if (family === "HS") return { algorithm: alg, key: new TextEncoder().encode(text) };
    jwk = pemToJwk(text, "private", "jwt signing key");
  } else if (format === "jwk") {
    jwk = asJwk(parseJson(text, "jwt signing key"), "jwt signing key");
  } else if (format === "jwks") {
    const set = asJwks(text, "jwt signing key set");
    const found = set.keys.find((k) =>
      familyOfJwk(k) === family && hasPrivatePart(k) && (k.alg === undefined || k.alg === alg)
    );
    if (!found) throw new AuthError(`jwt signing key set has no private ${alg} key`);
    jwk = found;
  } else {
    throw new AuthError(`unknown jwt key format ${String(format)}`);
  }
  if (familyOfJwk(jwk) !== family) {
    throw new AuthError(`jwt signing key does not fit algorithm ${alg}`);
  }
  if (!hasPrivatePart(jwk)) throw new AuthError("jwt signing key has no private part");
  return { algorithm: alg, key: await importFor(jwk, alg, "jwt signing key") };
}

async function importFor(jwk: JWK, alg: JwtAlgorithm, what: string): Promise<ImportedKey> {
  try {
    // Drop use/key_ops hints that WebCrypto would otherwise hold against the operation.
    const { use: _use, key_ops: _ops, ...clean } = jwk;
    return await importJWK(clean, alg);
  } catch (e) {
    throw new AuthError(`${what} cannot be imported for ${alg}`, { cause: e });
  }
}

/** One verification key and the algorithms it may verify; imports are cached per algorithm. */
export class VerificationKey {
  readonly kid: string | undefined;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly #material: JWK | Uint8Array;
  readonly #imported = new Map<JwtAlgorithm, Promise<ImportedKey>>();

  constructor(material: JWK | Uint8Array, algorithms: readonly JwtAlgorithm[], kid?: string) {
    this.#material = material;
    this.algorithms = algorithms;
    this.kid = kid;
  }

  /** The key imported for `alg` (which must be one of {@link algorithms}). */
  importFor(alg: JwtAlgorithm): Promise<ImportedKey> {
    let key = this.#imported.get(alg);
    if (!key) {
      const m = this.#material;
      key = m instanceof Uint8Array
        ? Promise.resolve(m)
        : importFor(m, alg, "jwt verification key");
      key.catch(() => this.#imported.delete(alg));
      this.#imported.set(alg, key);
    }
    return key;
  }
}

/** Verification keys from a JWK, keeping only public parts; `undefined` for unusable keys. */
export function verificationKeyFromJwk(jwk: JWK): VerificationKey | undefined {
  const family = familyOfJwk(jwk);
  if (!family) return undefined;
  let algs = FAMILY_ALGS[family];
  if (jwk.alg !== undefined) {
    if (!algs.includes(jwk.alg as JwtAlgorithm)) return undefined;
    algs = [jwk.alg as JwtAlgorithm];
  }
  let material: JWK = jwk;
  if (family !== "HS") {
    // Verification needs only the public part; private members would make WebCrypto import a
    // private key.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk;
    material = pub;
  }
  return new VerificationKey(material, algs, jwk.kid);
}

/** Loads the keys a JWT verifier checks signatures with. */
export async function loadVerificationKeys(config: JwtKeyConfig): Promise<VerificationKey[]> {
  const alg = config.algorithm;
  if (!isJwtAlgorithm(alg)) throw new AuthError(`unsupported jwt algorithm ${String(alg)}`);
  const format = config.format ?? "pem";
  const text = await readKeyData(config.key, "jwt verification key");
  const family = familyOfAlg(alg);
  if (format === "pem") {
    if (family === "HS") {
      return [new VerificationKey(new TextEncoder().encode(text), FAMILY_ALGS.HS)];
    }
    const key = verificationKeyFromJwk(pemToJwk(text, "public", "jwt verification key"));
    if (!key) throw new AuthError("jwt verification key type is not supported");
    return [key];
  }
  if (format === "jwk") {
    const key = verificationKeyFromJwk(
      asJwk(parseJson(text, "jwt verification key"), "jwt verification key"),
    );
    if (!key) throw new AuthError("jwt verification key type is not supported");
    return [key];
  }
  if (format === "jwks") return verificationKeysFromJwks(asJwks(text, "jwt verification key set"));
  throw new AuthError(`unknown jwt key format ${String(format)}`);
}

/** Verification keys of a JWKS; keys of unsupported types are skipped. */
export function verificationKeysFromJwks(set: JsonWebKeySet): VerificationKey[] {
  const keys: VerificationKey[] = [];
  for (const jwk of set.keys) {
    const key = verificationKeyFromJwk(jwk);
    if (key) keys.push(key);
  }
  if (keys.length === 0) throw new AuthError("jwks has no usable verification key");
  return keys;
}

/**
 * SPIRE JWT trust bundles in the form the SLIM examples take with `--spire-trust-bundle`:
 * a JSON object mapping each trust domain to the standard-base64 encoding of its JWKS JSON.
 *
 * ```json
 * { "example.org": "eyJrZXlzIjpbey4uLn1dfQ==", "other.org": "..." }
 * ```
 * @module
 */
import { AuthError } from "../errors.ts";
import { b64Decode } from "./base64.ts";
import { asJwks, type JsonWebKeySet } from "./jwt_keys.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A SPIRE JWT bundle set: the key set of each trust domain. A JWT-SVID is checked against the
 * keys of the trust domain its `sub` (a SPIFFE ID) names, and only those, as SPIFFE requires: a
 * key of `a.org` never vouches for `spiffe://b.org/...`.
 */
export interface SpireTrustBundle {
  /** Key set per trust domain (lower case), e.g. `example.org`. */
  readonly domains: ReadonlyMap<string, JsonWebKeySet>;
}

/**
 * Parses a SPIRE bundle file's text. A value that is already a JWKS object (not base64) is
 * accepted too. Throws {@link AuthError} naming the offending trust domain.
 */
export function parseSpireBundle(jsonText: string): SpireTrustBundle {
  let bundle: unknown;
  try {
    bundle = JSON.parse(jsonText);
  } catch {
    throw new AuthError("spire trust bundle is not valid json");
  }
  if (!bundle || typeof bundle !== "object" || Array.isArray(bundle)) {
    throw new AuthError("spire trust bundle is not a json object");
  }
  const domains = new Map<string, JsonWebKeySet>();
  for (const [domain, value] of Object.entries(bundle)) {
    const what = `spire trust bundle entry ${JSON.stringify(domain)}`;
    if (!TRUST_DOMAIN.test(domain)) throw new AuthError(`${what} is not a trust domain name`);
    let jwks: unknown = value;
    if (typeof value === "string") {
      const bytes = b64Decode(value.trim());
      if (!bytes) throw new AuthError(`${what} is not base64`);
      try {
        jwks = JSON.parse(decoder.decode(bytes));
      } catch {
        throw new AuthError(`${what} is not base64 of json`);
      }
    }
    const set = asJwks(jwks, what);
    if (set.keys.length > 0) domains.set(domain.toLowerCase(), set);
  }
  if (domains.size === 0) throw new AuthError("spire trust bundle has no keys");
  return { domains };
}

/** SPIFFE trust domain names: lower-case letters, digits, `.`, `-`, `_` (case-folded here). */
const TRUST_DOMAIN = /^[A-Za-z0-9._-]+$/;

/**
 * The trust domain of a SPIFFE ID (`spiffe://<domain>/<path>`), or `undefined` when `subject` is
 * not one.
 */
export function spiffeTrustDomain(subject: string): string | undefined {
  const m = /^spiffe:\/\/([^/?#]+)(?:\/[^?#]*)?$/i.exec(subject);
  if (!m || !TRUST_DOMAIN.test(m[1])) return undefined;
  return m[1].toLowerCase();
}

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
 * Merges the key sets of every trust domain of a SPIRE bundle into one JWKS, usable as
 * `JwtVerifier` `jwks`. A value that is already a JWKS object (not base64) is accepted too.
 * Throws {@link AuthError} naming the offending trust domain.
 */
export function jwksFromSpireBundle(jsonText: string): JsonWebKeySet {
  let bundle: unknown;
  try {
    bundle = JSON.parse(jsonText);
  } catch {
    throw new AuthError("spire trust bundle is not valid json");
  }
  if (!bundle || typeof bundle !== "object" || Array.isArray(bundle)) {
    throw new AuthError("spire trust bundle is not a json object");
  }
  const keys: JsonWebKeySet["keys"] = [];
  for (const [domain, value] of Object.entries(bundle)) {
    const what = `spire trust bundle entry ${JSON.stringify(domain)}`;
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
    keys.push(...asJwks(jwks, what).keys);
  }
  if (keys.length === 0) throw new AuthError("spire trust bundle has no keys");
  return { keys };
}

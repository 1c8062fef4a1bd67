/**
 * Token claims as JSON, and the lookup of the signature public key they announce.
 * @module
 */
import { AuthError } from "../errors.ts";
import { b64Decode } from "./base64.ts";

/** Claims of a verified token, as JSON. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Reads the signature public key from token claims: a `pubkey` claim (standard base64) at the
 * top level or under `custom_claims`, as the real SLIM looks it up.
 * Returns `undefined` when there is none; throws {@link AuthError} when it is not base64.
 */
export function publicKeyFromClaims(claims: Claims): Uint8Array | undefined {
  let value = claims["pubkey"];
  if (typeof value !== "string") {
    const custom = claims["custom_claims"];
    if (custom && typeof custom === "object" && !Array.isArray(custom)) {
      value = (custom as Record<string, unknown>)["pubkey"];
    }
  }
  if (typeof value !== "string") return undefined;
  const bytes = b64Decode(value);
  if (!bytes) throw new AuthError("token pubkey claim is not valid base64");
  return bytes;
}

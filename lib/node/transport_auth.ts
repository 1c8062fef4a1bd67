/**
 * Transport authentication of incoming calls (SLIM YAML `servers[].auth`): HTTP Basic or a
 * Bearer JWT, checked on the request headers before the gRPC call starts. A refused call gets a
 * plain HTTP 401 with `www-authenticate`, as the real node answers.
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { ConfigError } from "../errors.ts";
import type { ServerAuthConfig } from "../config/schema.ts";
import { JwtVerifier } from "../identity/jwt.ts";
import type { AuthDecision } from "../transport/grpc_server.ts";

/** Checks the headers of one call. */
export type Authorizer = (
  headers: Record<string, string | string[] | undefined>,
) => AuthDecision | Promise<AuthDecision>;

const encoder = new TextEncoder();

function header(headers: Record<string, string | string[] | undefined>, name: string) {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  // Compare equal-length digests so neither content nor length leaks through timing.
  const pad = (u: Uint8Array) => {
    const out = new Uint8Array(Math.max(x.length, y.length, 1));
    out.set(u);
    return out;
  };
  return timingSafeEqual(pad(x), pad(y)) && x.length === y.length;
}

/**
 * Builds the authorizer for a server's `auth` section; undefined for `none`. Throws
 * {@link ConfigError} (naming `path`) for schemes slim-ts cannot enforce, so a node never runs
 * open when its configuration asks for authentication.
 */
export async function serverAuthorizer(
  auth: ServerAuthConfig,
  path: string,
): Promise<Authorizer | undefined> {
  switch (auth.type) {
    case "none":
      return undefined;
    case "basic": {
      const expected = "Basic " + btoa(`${auth.username}:${auth.password}`);
      return (headers) => {
        const got = header(headers, "authorization");
        if (got !== undefined && sameSecret(got, expected)) return { ok: true };
        return {
          ok: false,
          httpStatus: 401,
          headers: { "www-authenticate": "Basic" },
          reason: got === undefined ? "missing basic credentials" : "wrong basic credentials",
        };
      };
    }
    case "jwt": {
      if (auth.key.type !== "decoding") {
        throw new ConfigError(
          auth.key.type === "autoresolve"
            ? "key autoresolve (OIDC discovery) is not supported by slim-ts; configure a decoding key"
            : "a server needs a decoding key to verify tokens",
          { path: `${path}.key.type` },
        );
      }
      const verifier = await JwtVerifier.create({
        key: { algorithm: auth.key.algorithm, format: auth.key.format, key: auth.key.key },
        audience: auth.claims.audience,
        issuer: auth.claims.issuer,
        subject: auth.claims.subject,
      });
      return async (headers) => {
        const got = header(headers, "authorization");
        const token = got?.startsWith("Bearer ") ? got.slice(7).trim() : undefined;
        const refuse = (reason: string): AuthDecision => ({
          ok: false,
          httpStatus: 401,
          headers: { "www-authenticate": "Bearer" },
          reason,
        });
        if (!token) return refuse("missing bearer token");
        try {
          await verifier.verify(token);
          return { ok: true };
        } catch (e) {
          return refuse(`invalid bearer token: ${(e as Error).message}`);
        }
      };
    }
    case "spire":
      throw new ConfigError(
        "SPIRE authentication is not supported by slim-ts; refusing to serve without it",
        { path: `${path}.type` },
      );
  }
}

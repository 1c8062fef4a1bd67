/**
 * App connection options from a SLIM client configuration (the JSON of `--slim`, or a
 * `dataplane.clients[]` entry): endpoint, TLS material, headers, transport auth, backoff.
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { ClientConfig } from "../config/schema.ts";
import { caPem, readConfigFile } from "../config/material.ts";
import { JwtIdentity } from "../identity/jwt.ts";
import type { ClientTls } from "../transport/grpc_client.ts";
import type { AppOptions } from "./app.ts";

type ConnectionOptions = Pick<
  AppOptions,
  "endpoint" | "tls" | "headers" | "basicAuth" | "backoff" | "connectTimeoutMs" | "requireHeaderMac"
>;

/** Connection options of an app from a parsed client config. `path` prefixes error paths. */
export async function connectionFromClientConfig(
  c: ClientConfig,
  path = "",
): Promise<ConnectionOptions> {
  const at = (k: string) => path ? `${path}.${k}` : k;
  let tls: ClientTls | undefined;
  if (c.address.kind === "websocket") {
    throw new ConfigError("WebSocket endpoints are not supported by slim-ts apps yet", {
      path: at("endpoint"),
    });
  }
  if (c.address.kind === "http" && c.address.secure) {
    const t = c.tls;
    tls = {
      insecureSkipVerify: t.insecureSkipVerify,
      ca: await caPem(t.caSource, at("tls.ca_source")),
    };
    if (t.source.type === "file") {
      tls.cert = await readConfigFile(t.source.cert, at("tls.source.cert"));
      tls.key = await readConfigFile(t.source.key, at("tls.source.key"));
    } else if (t.source.type === "pem") {
      tls.cert = t.source.cert;
      tls.key = t.source.key;
    } else if (t.source.type === "spire") {
      throw new ConfigError("SPIRE certificates are not supported by slim-ts", {
        path: at("tls.source.type"),
      });
    }
    if (c.serverName) tls.serverName = c.serverName;
  }
  const headers = { ...c.headers };
  let basicAuth: ConnectionOptions["basicAuth"];
  switch (c.auth.type) {
    case "none":
      break;
    case "basic":
      basicAuth = { username: c.auth.username, password: c.auth.password };
      break;
    case "static_jwt":
      headers.authorization = `Bearer ${
        (await readConfigFile(c.auth.file, at("auth.file"))).trim()
      }`;
      break;
    case "jwt": {
      if (c.auth.key.type !== "encoding") {
        throw new ConfigError("a client needs an encoding key to sign its bearer tokens", {
          path: at("auth.key.type"),
        });
      }
      const minted = await JwtIdentity.create({
        key: { algorithm: c.auth.key.algorithm, format: c.auth.key.format, key: c.auth.key.key },
        subject: c.auth.claims.subject ?? "slim-ts",
        issuer: c.auth.claims.issuer,
        audience: c.auth.claims.audience,
        durationSeconds: Math.round(c.auth.durationMs / 1000),
      });
      headers.authorization = `Bearer ${await minted.token()}`;
      break;
    }
    case "spire":
      throw new ConfigError("SPIRE authentication is not supported by slim-ts", {
        path: at("auth.type"),
      });
  }
  const endpoint = c.address.kind === "unix" ? `unix://${c.address.path}` : c.endpoint;
  return {
    endpoint,
    tls,
    headers,
    basicAuth,
    backoff: c.backoff,
    connectTimeoutMs: c.connectTimeoutMs || undefined,
    requireHeaderMac: c.requireHeaderMac,
  };
}

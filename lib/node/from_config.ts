/**
 * Turns a loaded SLIM configuration into node options: TLS material read from files, transport
 * authentication built, sizes and timers converted, outgoing connections and static peers
 * prepared.
 * @module
 */
import { ConfigError } from "../errors.ts";
import type {
  CaSource,
  ClientConfig,
  ServerConfig,
  ServiceConfig,
  SlimConfig,
  TlsSource,
} from "../config/schema.ts";
import { caPem, readConfigFile } from "../config/material.ts";
import { checkTlsMaterial, type MaterialSource } from "../config/tls_material.ts";
import { connectionFromClientConfig } from "../app/from_config.ts";
import { JwtIdentity } from "../identity/jwt.ts";
import type { Logger } from "../log.ts";
import type { ServerTls } from "../transport/grpc_server.ts";
import { redactEndpoint } from "../transport/redact.ts";
import type { NodeOptions, NodeServerOptions, StaticPeerOptions } from "./node.ts";
import type { NodeClientOptions } from "./node_client.ts";
import { serverAuthorizer } from "./transport_auth.ts";

async function serverTls(server: ServerConfig, path: string): Promise<ServerTls | undefined> {
  const tls = server.tls;
  if (tls.insecure) return undefined;
  const src = tls.source;
  let cert: string, key: string;
  switch (src.type) {
    case "file":
      cert = await readConfigFile(src.cert, `${path}.tls.source.cert`);
      key = await readConfigFile(src.key, `${path}.tls.source.key`);
      break;
    case "pem":
      cert = src.cert;
      key = src.key;
      break;
    case "spire":
      throw new ConfigError("SPIRE certificates are not supported by slim-ts", {
        path: `${path}.tls.source.type`,
      });
    default:
      throw new ConfigError("TLS is enabled but no certificate source is configured", {
        path: `${path}.tls.source`,
      });
  }
  const clientCa = await caPem(tls.clientCa, `${path}.tls.client_ca`);
  // Checked now: node:tls would take garbage and fail every handshake later.
  checkTlsMaterial({
    cert: { pem: cert, from: sourceOf(src, "cert", `${path}.tls.source`) },
    key: { pem: key, from: sourceOf(src, "key", `${path}.tls.source`) },
    ca: clientCa === undefined
      ? undefined
      : { pem: clientCa, from: caSourceOf(tls.clientCa, `${path}.tls.client_ca`) },
  });
  return { cert, key, clientCa, minVersion: tls.tlsVersion };
}

/** Where a certificate or key of a `tls.source` came from. */
function sourceOf(
  src: TlsSource,
  which: "cert" | "key",
  path: string,
): MaterialSource {
  const at = `${path}.${which}`;
  return src.type === "file" ? { path: at, file: src[which] } : { path: at };
}

/** Where the PEM of a CA source (`ca_source`, `client_ca`) came from. */
function caSourceOf(src: CaSource, path: string): MaterialSource {
  return src.type === "file" ? { path: `${path}.path`, file: src.path } : { path: `${path}.data` };
}

/**
 * Options of one outgoing connection, or undefined (logged) when it needs something slim-ts
 * lacks (WebSocket, SPIRE). Bearer tokens are minted, or the token file re-read, on every dial.
 */
export async function nodeClientFromConfig(
  c: ClientConfig,
  path: string,
  logger: Logger,
): Promise<NodeClientOptions | undefined> {
  const skip = (key: string, what: string) => {
    logger.warn(`skipping client: ${what} is not implemented by slim-ts`, {
      path: `${path}.${key}`,
      endpoint: redactEndpoint(c.endpoint),
    });
    return undefined;
  };
  if (c.address.kind === "websocket") return skip("endpoint", "WebSocket");
  if (c.tls.source.type === "spire" || c.tls.caSource.type === "spire") {
    return skip("tls", "SPIRE TLS");
  }
  if (c.auth.type === "spire") return skip("auth.type", "SPIRE authentication");
  const base = await connectionFromClientConfig({ ...c, auth: { type: "none" } }, path);
  if (base.tls) {
    const t = base.tls;
    checkTlsMaterial({
      cert: t.cert === undefined
        ? undefined
        : { pem: t.cert, from: sourceOf(c.tls.source, "cert", `${path}.tls.source`) },
      key: t.key === undefined
        ? undefined
        : { pem: t.key, from: sourceOf(c.tls.source, "key", `${path}.tls.source`) },
      ca: t.ca === undefined
        ? undefined
        : { pem: t.ca, from: caSourceOf(c.tls.caSource, `${path}.tls.ca_source`) },
    });
  }
  const headers = { ...base.headers };
  let credentials: NodeClientOptions["credentials"];
  const auth = c.auth;
  switch (auth.type) {
    case "basic":
      headers.authorization = "Basic " + btoa(`${auth.username}:${auth.password}`);
      break;
    case "static_jwt": {
      // Checked now, so a wrong path fails the start; re-read on each dial (SLIM watches it).
      await readConfigFile(auth.file, `${path}.auth.file`);
      credentials = async () => ({
        authorization: `Bearer ${(await readConfigFile(auth.file, `${path}.auth.file`)).trim()}`,
      });
      break;
    }
    case "jwt": {
      if (auth.key.type !== "encoding") {
        throw new ConfigError("a client needs an encoding key to sign its bearer tokens", {
          path: `${path}.auth.key.type`,
        });
      }
      const minter = await JwtIdentity.create({
        key: { algorithm: auth.key.algorithm, format: auth.key.format, key: auth.key.key },
        subject: auth.claims.subject ?? "slim-ts",
        issuer: auth.claims.issuer,
        audience: auth.claims.audience,
        durationSeconds: Math.round(auth.durationMs / 1000),
      });
      credentials = async () => ({ authorization: `Bearer ${await minter.token()}` });
      break;
    }
  }
  return {
    endpoint: base.endpoint,
    tls: base.tls,
    headers,
    credentials,
    connectTimeoutMs: base.connectTimeoutMs,
    backoff: c.backoff,
    linkId: c.linkId,
    requireHeaderMac: c.requireHeaderMac,
    connectionType: c.connectionType,
    keepaliveMs: c.keepalive?.http2KeepaliveMs,
    keepaliveTimeoutMs: c.keepalive?.timeoutMs,
  };
}

/** Node options of one service. Servers on transports slim-ts lacks are skipped (and logged). */
export async function nodeOptionsFromService(
  service: ServiceConfig,
  config: SlimConfig,
  logger: Logger,
  dataplaneKey = "dataplane",
): Promise<NodeOptions> {
  const servers: NodeServerOptions[] = [];
  for (const [i, s] of service.dataplane.servers.entries()) {
    const path = `services.${service.id}.${dataplaneKey}.servers[${i}]`;
    if (s.address.kind === "websocket") {
      logger.warn("skipping server: WebSocket servers are not implemented by slim-ts", {
        path,
        endpoint: redactEndpoint(s.endpoint),
      });
      continue;
    }
    servers.push({
      endpoint: s.address.kind === "unix" ? `unix://${s.address.path}` : s.endpoint,
      tls: await serverTls(s, path),
      maxMessageSize: s.maxFrameSizeMiB * 1024 * 1024,
      maxConcurrentStreams: s.maxConcurrentStreams,
      maxHeaderListSize: s.maxHeaderListSize,
      keepaliveTimeMs: s.keepalive.timeMs,
      keepaliveTimeoutMs: s.keepalive.timeoutMs,
      maxConnectionAgeMs: s.keepalive.maxConnectionAgeMs,
      requireHeaderMac: s.requireHeaderMac,
      negotiationTimeoutMs: s.negotiationTimeoutMs,
      authorize: await serverAuthorizer(s.auth, `${path}.auth`),
    });
  }
  const dp = `services.${service.id}.${dataplaneKey}`;
  const clients: NodeClientOptions[] = [];
  for (const [i, c] of service.dataplane.clients.entries()) {
    const client = await nodeClientFromConfig(c, `${dp}.clients[${i}]`, logger);
    if (client) clients.push(client);
  }
  if (servers.length === 0 && clients.length === 0) {
    // SLIM refuses a service with neither; a dialling-only node (no servers) is fine.
    throw new ConfigError("no data-plane server or client slim-ts can run is configured", {
      path: `${dp}.servers`,
    });
  }
  let peers: StaticPeerOptions[] | undefined;
  const mesh = service.peers;
  if (mesh) {
    // Any `peers` section makes the node a full-mesh replica, as in SLIM; only static discovery
    // finds replicas here (Kubernetes discovery is warned about at load time).
    peers = [];
    if (mesh.discovery.type === "static") {
      for (const [i, p] of mesh.discovery.peers.entries()) {
        const path = `services.${service.id}.peers.discovery.peers[${i}]`;
        const client = await nodeClientFromConfig(p, path, logger);
        if (client) peers.push({ nodeId: p.nodeId, client });
      }
    }
  }
  return {
    nodeId: service.nodeId,
    servers,
    clients,
    deploymentName: mesh?.deploymentName,
    peers,
    logger: logger.child(service.id),
    drainTimeoutMs: config.runtime.drainTimeoutMs,
  };
}

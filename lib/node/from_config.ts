/**
 * Turns a loaded SLIM configuration into node options: TLS material read from files, transport
 * authentication built, sizes and timers converted.
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { ServerConfig, ServiceConfig, SlimConfig } from "../config/schema.ts";
import { caPem, readConfigFile } from "../config/material.ts";
import type { Logger } from "../log.ts";
import type { ServerTls } from "../transport/grpc_server.ts";
import type { NodeOptions, NodeServerOptions } from "./node.ts";
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
  return {
    cert,
    key,
    clientCa: await caPem(tls.clientCa, `${path}.tls.client_ca`),
    minVersion: tls.tlsVersion,
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
        endpoint: s.endpoint,
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
  if (servers.length === 0) {
    throw new ConfigError("no data-plane server slim-ts can run is configured", {
      path: `services.${service.id}.${dataplaneKey}.servers`,
    });
  }
  return {
    nodeId: service.nodeId,
    servers,
    logger: logger.child(service.id),
    drainTimeoutMs: config.runtime.drainTimeoutMs,
  };
}

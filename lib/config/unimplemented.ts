/**
 * THE list of configuration features that slim-ts parses and validates but does not implement.
 *
 * Every one of them produces a warning when it is used, so nothing in a configuration file is
 * silently ignored. When a feature lands, delete its check here (and its test in
 * `tests/config/config_test.ts`); nothing else needs to change.
 * @module
 */
import {
  type ClientConfig,
  DEFAULT_TRACING_FILTERS,
  type ServerConfig,
  type ServiceConfig,
  type SlimConfig,
  type TlsCommonConfig,
} from "./schema.ts";

/** Options of {@link unimplementedWarnings}. */
export interface WarningPaths {
  /** YAML key of each service's data plane (`dataplane`, or `pubsub` in old files). */
  dataplaneKey?: (service: ServiceConfig) => string;
}

/** Returns one warning per unimplemented feature that `config` uses, as `path: message`. */
export function unimplementedWarnings(config: SlimConfig, paths: WarningPaths = {}): string[] {
  const warnings: string[] = [];
  const warn = (path: string, message: string) => warnings.push(`${path}: ${message}`);

  // --- tracing -------------------------------------------------------------------------------
  const { tracing, runtime } = config;
  if (tracing.opentelemetry.enabled) {
    warn(
      "tracing.opentelemetry.enabled",
      "OpenTelemetry export is not implemented by slim-ts yet (ignored)",
    );
  }
  if (!sameList(tracing.filters, DEFAULT_TRACING_FILTERS)) {
    warn(
      "tracing.filters",
      "per-target log filters are not supported by slim-ts yet; everything logs at " +
        "tracing.log_level (ignored)",
    );
  }

  // --- runtime -------------------------------------------------------------------------------
  if (runtime.nCores > 1) {
    warn(
      "runtime.n_cores",
      `slim-ts runs on a single JavaScript thread; ${runtime.nCores} cores requested (ignored)`,
    );
  }

  // --- services ------------------------------------------------------------------------------
  for (const service of config.services) {
    const base = `services.${service.id}`;
    const dp = `${base}.${paths.dataplaneKey?.(service) ?? "dataplane"}`;
    const { dataplane, controller } = service;

    dataplane.servers.forEach((server, i) => serverWarnings(server, `${dp}.servers[${i}]`, warn));
    dataplane.clients.forEach((client, i) =>
      nodeClientWarnings(client, `${dp}.clients[${i}]`, warn)
    );
    if (dataplane.outboundClients.length > 0) {
      warn(
        `${dp}.outbound_clients`,
        "not used in the data plane section, by SLIM either (ignored)",
      );
    }
    if (dataplane.enforcePqc) {
      warn(
        `${dp}.enforce_pqc`,
        "post-quantum key exchange (ML-KEM) is not implemented by slim-ts yet (ignored)",
      );
    }

    if (controller.servers.length > 0) {
      warn(
        `${base}.controller.servers`,
        `${count(controller.servers, "endpoint")} configured; slim-ts does not serve the ` +
          "controller API yet (ignored)",
      );
    }
    if (controller.clients.length > 0) {
      warn(
        `${base}.controller.clients`,
        `${count(controller.clients, "control plane")} configured; slim-ts does not register ` +
          "with a control plane yet (ignored)",
      );
    }
    if (controller.outboundClients.length > 0) {
      warn(
        `${base}.controller.outbound_clients`,
        "control-plane managed connections are not implemented by slim-ts yet (ignored)",
      );
    }
    if (service.peers?.discovery.type === "kubernetes") {
      warn(
        `${base}.peers`,
        "Kubernetes peer discovery is not implemented by slim-ts yet; the node runs as a " +
          "full-mesh replica without discovered peers (ignored)",
      );
    } else if (service.peers?.discovery.type === "static") {
      service.peers.discovery.peers.forEach((peer, i) =>
        nodeClientWarnings(peer, `${base}.peers.discovery.peers[${i}]`, warn)
      );
    }
    if (service.auth !== undefined) {
      warn(
        `${base}.auth`,
        "control-plane registration credentials are not used by slim-ts yet (ignored)",
      );
    }
  }
  return warnings;
}

function serverWarnings(
  server: ServerConfig,
  path: string,
  warn: (path: string, message: string) => void,
): void {
  if (server.address.kind === "websocket") {
    warn(`${path}.endpoint`, "WebSocket servers are not implemented by slim-ts yet (ignored)");
  }
  spireWarnings(server.tls, `${path}.tls`, warn);
  if (server.tls.clientCa.type === "spire") {
    warn(
      `${path}.tls.client_ca.type`,
      "SPIRE trust bundles are not implemented by slim-ts yet (ignored)",
    );
  }
}

function spireWarnings(
  tls: TlsCommonConfig,
  path: string,
  warn: (path: string, message: string) => void,
): void {
  if (tls.source.type === "spire") {
    warn(`${path}.source.type`, "SPIRE certificates are not implemented by slim-ts yet (ignored)");
  }
  if (tls.caSource.type === "spire") {
    warn(
      `${path}.ca_source.type`,
      "SPIRE trust bundles are not implemented by slim-ts yet (ignored)",
    );
  }
}

/** Warnings for a connection the node dials (`dataplane.clients[]`, static peers). */
function nodeClientWarnings(
  client: ClientConfig,
  path: string,
  warn: (path: string, message: string) => void,
): void {
  if (client.address.kind === "websocket") {
    warn(`${path}.endpoint`, "WebSocket clients are not implemented by slim-ts yet (skipped)");
    return;
  }
  if (client.tls.source.type === "spire" || client.tls.caSource.type === "spire") {
    warn(`${path}.tls`, "SPIRE TLS is not implemented by slim-ts yet (client skipped)");
    return;
  }
  if (client.auth.type === "spire") {
    warn(`${path}.auth.type`, "SPIRE authentication is not implemented by slim-ts yet (skipped)");
    return;
  }
  if (client.proxy !== undefined) {
    warn(`${path}.proxy`, "HTTP proxies are not implemented by slim-ts yet (ignored)");
  }
}

/** Warnings for a single client configuration used on its own (the `--slim` flag). */
export function clientWarnings(client: ClientConfig, path = ""): string[] {
  const warnings: string[] = [];
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  const warn = (p: string, message: string) => warnings.push(`${p}: ${message}`);
  spireWarnings(client.tls, at("tls"), warn);
  if (client.auth.type === "spire") {
    warn(at("auth.type"), "SPIRE authentication is not implemented by slim-ts yet (ignored)");
  }
  if (client.proxy !== undefined) {
    warn(at("proxy"), "HTTP proxies are not implemented by slim-ts yet (ignored)");
  }
  return warnings;
}

function count(items: readonly unknown[], noun: string): string {
  return `${items.length} ${noun}${items.length === 1 ? "" : "s"}`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

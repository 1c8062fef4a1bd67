/**
 * Types of a parsed SLIM node configuration (`slim --config FILE`).
 *
 * These mirror the YAML schema of SLIM 2.0.0-alpha.10 (the build inside
 * `@agntcy/slim-bindings@2.0.0-alpha.5`): YAML `snake_case` keys become `camelCase` fields, every
 * default is applied, durations are milliseconds (`...Ms`) and sizes carry their unit in the
 * name. Each field names the YAML key it comes from. Paths are relative to the enclosing section.
 *
 * Parsed values are plain data: file paths and PEM text are kept as given (nothing is read at
 * parse time except `${file:...}` references), so this module has no I/O.
 * @module
 */
import type { LogLevel } from "../log.ts";

/** A whole node configuration. */
export interface SlimConfig {
  /** Logging. YAML `tracing`. */
  tracing: TracingConfig;
  /** Process-level settings. YAML `runtime`. */
  runtime: RuntimeConfig;
  /**
   * The services of the node, in file order (at least one). YAML `services`, a mapping from
   * service id (`slim/0`) to service.
   */
  services: ServiceConfig[];
}

/** YAML `tracing`. */
export interface TracingConfig {
  /**
   * Most verbose level logged. SLIM maps an unknown level to `info`; we do the same, with a
   * warning. YAML `log_level` (case-insensitive).
   * @default "info"
   */
  logLevel: LogLevel | "off";
  /**
   * Show thread names in log lines. slim-ts runs on one JavaScript thread, so this has no effect.
   * YAML `display_thread_names`.
   * @default true
   */
  displayThreadNames: boolean;
  /**
   * Show thread ids in log lines. No effect in slim-ts (one thread). YAML `display_thread_ids`.
   * @default false
   */
  displayThreadIds: boolean;
  /**
   * Per-target filter directives (`target` or `target=level`) for SLIM's Rust log targets.
   * YAML `filters`.
   * @default {@link DEFAULT_TRACING_FILTERS}
   */
  filters: string[];
  /** OpenTelemetry export. YAML `opentelemetry`. */
  opentelemetry: OpenTelemetryConfig;
}

/**
 * The default `tracing.filters` of SLIM: its crate names, each logged at `log_level`. A file that
 * sets `filters` replaces the whole list.
 */
export const DEFAULT_TRACING_FILTERS: readonly string[] = Object.freeze([
  "slim_datapath",
  "slim_service",
  "slim_controller",
  "slim_auth",
  "slim_config",
  "slim_mls",
  "slim_session",
  "slim_signal",
  "slim_tracing",
  "_slim_bindings",
  "slim_testing",
  "slim",
  "slim_examples",
  "sdk_mock",
  "client",
  "channel",
]);

/** YAML `tracing.opentelemetry`. */
export interface OpenTelemetryConfig {
  /**
   * Export traces and metrics over OTLP/gRPC. YAML `enabled`.
   * @default false
   */
  enabled: boolean;
  /**
   * The OTLP collector connection. YAML `grpc` (a client configuration).
   * @default endpoint `http://localhost:4317`, `tls.insecure: true`
   */
  grpc: ClientConfig;
  /**
   * YAML `service_name`.
   * @default "slim-data-plane"
   */
  serviceName: string;
  /**
   * YAML `service_version`.
   * @default "v0.1.0"
   */
  serviceVersion: string;
  /**
   * Deployment environment attribute. YAML `environment`.
   * @default "development"
   */
  environment: string;
  /**
   * Interval between metric exports. YAML `metrics_interval_secs` (integer seconds).
   * @default 30000
   */
  metricsIntervalMs: number;
}

/** YAML `runtime`. */
export interface RuntimeConfig {
  /**
   * Worker threads of SLIM's Tokio runtime; `0` means all cores. slim-ts runs on a single
   * JavaScript thread, so values other than 0 and 1 have no effect (and are warned about).
   * YAML `n_cores`.
   * @default 0
   */
  nCores: number;
  /**
   * Name of the runtime threads (cosmetic). YAML `thread_name`.
   * @default "slim"
   */
  threadName: string;
  /**
   * How long shutdown waits for services to drain before giving up. YAML `drain_timeout`.
   * @default 10000
   */
  drainTimeoutMs: number;
}

/** One entry of YAML `services`. */
export interface ServiceConfig {
  /** The full map key, `<kind>/<name>`, e.g. `slim/0`. */
  id: string;
  /** Kind part of {@link id} (`slim`). */
  kind: string;
  /** Name part of {@link id} (`0`); may be empty. */
  name: string;
  /**
   * Global node identity, used in link negotiation and towards the control plane. Generated as
   * `node-<uuid v4>` at load time when absent, so replicas sharing a file stay distinct.
   * YAML `node_id`.
   */
  nodeId: string;
  /**
   * Domain (group) this node belongs to; required by SLIM when `auth` is set. YAML
   * `domain_name` (formerly `group_name`).
   */
  domainName?: string;
  /** Credentials for control-plane registration. YAML `auth`. */
  auth?: ServiceAuthConfig;
  /** The data plane. YAML `dataplane` (or its pre-0.5 name `pubsub`). */
  dataplane: DataplaneConfig;
  /** The controller API. YAML `controller`. */
  controller: ControllerConfig;
  /** Peer replicas of the same deployment. YAML `peers`. */
  peers?: PeersConfig;
}

/** YAML `dataplane`. */
export interface DataplaneConfig {
  /**
   * Listening endpoints for apps and other nodes. YAML `servers`.
   * @default []
   */
  servers: ServerConfig[];
  /**
   * Nodes this node dials. YAML `clients`.
   * @default []
   */
  clients: ClientConfig[];
  /**
   * Accepted by SLIM in this section (it shares its type with `controller`) but unused.
   * YAML `outbound_clients`.
   * @default []
   */
  outboundClients: ClientConfig[];
  /**
   * Require post-quantum key exchange (ML-KEM) in TLS, link negotiation and MLS; every TLS
   * endpoint of the section must then use `tls1.3`. YAML `enforce_pqc`.
   * @default false
   */
  enforcePqc: boolean;
}

/** YAML `controller`. */
export interface ControllerConfig {
  /**
   * Endpoints serving the ControllerService (`slimctl node ...`). YAML `servers`.
   * @default []
   */
  servers: ServerConfig[];
  /**
   * Control planes this node registers with. YAML `clients`.
   * @default []
   */
  clients: ClientConfig[];
  /**
   * Connections the control plane may ask this node to use towards other nodes.
   * YAML `outbound_clients`.
   * @default []
   */
  outboundClients: ClientConfig[];
  /**
   * Post-quantum policy for the controller endpoints. YAML `enforce_pqc`.
   * @default false
   */
  enforcePqc: boolean;
}

/** Where a server listens, parsed from its `endpoint`. */
export type ServerAddress =
  /** `host:port` or `[ipv6]:port`: gRPC over h2c, or TLS when `tls.insecure` is false. */
  | { kind: "tcp"; host: string; port: number }
  /** `unix://path`: gRPC over a Unix domain socket (never TLS). */
  | { kind: "unix"; path: string }
  /** `ws://host:port/path` or `wss://...`: one protobuf message per binary WebSocket message. */
  | { kind: "websocket"; secure: boolean; host: string; port: number; path: string };

/** Where a client connects, parsed from its `endpoint`. */
export type ClientAddress =
  /** `http://host:port` (h2c) or `https://host:port` (TLS). */
  | { kind: "http"; secure: boolean; host: string; port: number }
  /** `unix:///path`: gRPC over a Unix domain socket; authority `localhost`. */
  | { kind: "unix"; path: string }
  /** `ws://host:port/path` or `wss://...`. */
  | { kind: "websocket"; secure: boolean; host: string; port: number; path: string };

/** One entry of `dataplane.servers` / `controller.servers`. */
export interface ServerConfig {
  /**
   * Listening endpoint as written: `host:port`, `[ipv6]:port`, `unix://path`, `ws://...` or
   * `wss://...`. YAML `endpoint` (required).
   */
  endpoint: string;
  /** {@link endpoint}, parsed. */
  address: ServerAddress;
  /** TLS. YAML `tls`. */
  tls: ServerTlsConfig;
  /**
   * Accepted for compatibility; SLIM always serves HTTP/2 only. YAML `http2_only`.
   * @default true
   */
  http2Only: boolean;
  /**
   * HTTP/2 `SETTINGS_MAX_FRAME_SIZE`, in MiB. YAML `max_frame_size`.
   * @default 4
   */
  maxFrameSizeMiB: number;
  /**
   * Concurrent requests per connection (a server-side limit, not an HTTP/2 setting); for
   * WebSocket servers, the number of concurrent connections. YAML `max_concurrent_streams`;
   * at least 1 (slim-ts refuses 0, which would refuse every client).
   * @default 100
   */
  maxConcurrentStreams: number;
  /**
   * HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE` in bytes; transport default when absent.
   * YAML `max_header_list_size`; at least 4096 (slim-ts refuses less, which would refuse every
   * client with HTTP 431).
   */
  maxHeaderListSize?: number;
  /**
   * Unused by SLIM. YAML `read_buffer_size` (bytes).
   * @default 1048576
   */
  readBufferSize: number;
  /**
   * Unused by SLIM. YAML `write_buffer_size` (bytes).
   * @default 1048576
   */
  writeBufferSize: number;
  /** HTTP/2 keepalive. YAML `keepalive`. */
  keepalive: ServerKeepaliveConfig;
  /**
   * Authentication required from connecting clients. YAML `auth`.
   * @default { type: "none" }
   */
  auth: ServerAuthConfig;
  /** Free-form metadata, reported to the control plane. YAML `metadata`. */
  metadata?: Metadata;
  /**
   * Reject inter-node messages without a valid header MAC on links accepted here. SLIM applies
   * the value of the first data-plane server to all of them. YAML `require_header_mac`.
   * @default true
   */
  requireHeaderMac: boolean;
  /**
   * Time allowed for link negotiation. SLIM applies the first data-plane server's value to all.
   * YAML `negotiation_timeout_secs` (integer seconds; alias `link_hmac_timeout_secs`); at least
   * 1 s (slim-ts refuses 0, with which every negotiation would time out).
   * @default 5000
   */
  negotiationTimeoutMs: number;
  /**
   * Poll interval while waiting for the link key; not visible on the wire.
   * YAML `link_hmac_poll_interval_ms`.
   * @default 5
   */
  linkHmacPollIntervalMs: number;
}

/** YAML `servers[].keepalive`. */
export interface ServerKeepaliveConfig {
  /**
   * Parsed but not applied by SLIM. YAML `max_connection_idle`.
   * @default 3600000
   */
  maxConnectionIdleMs: number;
  /**
   * Connections older than this are sent GOAWAY. YAML `max_connection_age`.
   * @default 7200000
   */
  maxConnectionAgeMs: number;
  /**
   * Parsed but not applied by SLIM. YAML `max_connection_age_grace`.
   * @default 300000
   */
  maxConnectionAgeGraceMs: number;
  /**
   * Interval of server HTTP/2 PINGs. YAML `time`.
   * @default 120000
   */
  timeMs: number;
  /**
   * Close the connection when a PING is not acknowledged within this time. YAML `timeout`.
   * @default 20000
   */
  timeoutMs: number;
}

/** SPIFFE Workload API settings (shared by TLS sources, auth and CA sources). */
export interface SpireConfig {
  /** Workload API socket; `SPIFFE_ENDPOINT_SOCKET` when absent. YAML `socket_path`. */
  socketPath?: string;
  /** SPIFFE ID requested for JWT-SVIDs. YAML `target_spiffe_id`. */
  targetSpiffeId?: string;
  /**
   * Audiences requested / verified for JWT-SVIDs. YAML `jwt_audiences`.
   * @default ["slim"]
   */
  jwtAudiences: string[];
  /**
   * Trust domains whose X.509 bundles are used. YAML `trust_domains`.
   * @default []
   */
  trustDomains: string[];
}

/** Own certificate and key. YAML `tls.source`, tagged by `type`. */
export type TlsSource =
  | { type: "none" }
  /** PEM files (`cert`, `key` paths), re-read when they change. */
  | { type: "file"; cert: string; key: string }
  /** Inline PEM text (`cert`, `key`). */
  | { type: "pem"; cert: string; key: string }
  /** X.509-SVID from SPIRE. */
  | ({ type: "spire" } & SpireConfig);

/** Trust anchors. YAML `tls.ca_source` / `tls.client_ca`, tagged by `type`. */
export type CaSource =
  | { type: "none" }
  /** PEM bundle file. YAML `path`. */
  | { type: "file"; path: string }
  /** Inline PEM bundle. YAML `data`. */
  | { type: "pem"; data: string }
  /** SPIRE trust bundle. */
  | ({ type: "spire" } & SpireConfig);

/** TLS protocol versions SLIM offers (one at a time). */
export type TlsVersion = "tls1.2" | "tls1.3";

/** Options common to server and client TLS. */
export interface TlsCommonConfig {
  /**
   * Own certificate and key (required by servers with TLS; makes a client present a client
   * certificate). YAML `source`.
   * @default { type: "none" }
   */
  source: TlsSource;
  /**
   * Extra trust anchors. YAML `ca_source`.
   * @default { type: "none" }
   */
  caSource: CaSource;
  /**
   * Also trust the system roots. YAML `include_system_ca_certs_pool`.
   * @default true
   */
  includeSystemCaCertsPool: boolean;
  /**
   * The only TLS version offered. YAML `tls_version`.
   * @default "tls1.3"
   */
  tlsVersion: TlsVersion;
  /**
   * Certificate reload interval (unused by SLIM, which watches the files instead).
   * YAML `reload_interval` (SLIM reads a `{secs, nanos}` mapping; a duration string is also
   * accepted here).
   */
  reloadIntervalMs?: number;
}

/** YAML `servers[].tls`. */
export interface ServerTlsConfig extends TlsCommonConfig {
  /**
   * Serve without TLS. Note the default: a server without `tls: {insecure: true}` needs a
   * certificate. YAML `insecure`.
   * @default false
   */
  insecure: boolean;
  /**
   * CA used to verify client certificates; setting it makes client certificates mandatory
   * (mTLS). YAML `client_ca`.
   * @default { type: "none" }
   */
  clientCa: CaSource;
  /**
   * Not implemented by SLIM. YAML `reload_client_ca_file`.
   * @default false
   */
  reloadClientCaFile: boolean;
}

/** YAML `clients[].tls`. */
export interface ClientTlsConfig extends TlsCommonConfig {
  /**
   * Disable TLS (used with `http://`; TLS is also chosen by the `https://`/`wss://` scheme).
   * YAML `insecure`.
   * @default false
   */
  insecure: boolean;
  /**
   * Use TLS but do not verify the server certificate. YAML `insecure_skip_verify`.
   * @default false
   */
  insecureSkipVerify: boolean;
}

/** JWT signing algorithms accepted by SLIM (YAML spelling), defined with the JWT support. */
export type { JwtAlgorithm } from "../identity/jwt_keys.ts";
import type { JwtAlgorithm } from "../identity/jwt_keys.ts";

/** A JWT key. YAML `auth.key`, tagged by `type`. */
export type JwtKey =
  | {
    /** `encoding` signs (clients), `decoding` verifies (servers). */
    type: "encoding" | "decoding";
    /** YAML `algorithm`. */
    algorithm: JwtAlgorithm;
    /** YAML `format`. */
    format: "pem" | "jwk" | "jwks";
    /** The key material: YAML `key: {data: ...}` (inline) or `key: {file: ...}` (path). */
    key: { data: string } | { file: string };
  }
  /** Resolve verification keys from the issuer (JWKS / OpenID discovery). */
  | { type: "autoresolve" };

/** YAML `auth.claims`. */
export interface JwtClaims {
  /** YAML `audience` (aliases `aud`, `audiences`): a list. */
  audience?: string[];
  /** YAML `issuer` (alias `iss`). */
  issuer?: string;
  /** YAML `subject` (alias `sub`). */
  subject?: string;
  /** Extra claims, added when signing / required when verifying. YAML `custom_claims`. */
  customClaims?: Metadata;
}

/** YAML `auth` with `type: jwt`. */
export interface JwtAuthConfig {
  /** YAML `claims`. */
  claims: JwtClaims;
  /**
   * Lifetime of signed tokens (`exp = now + duration`). YAML `duration`.
   * @default 3600000
   */
  durationMs: number;
  /** YAML `key` (required). */
  key: JwtKey;
}

/** YAML `servers[].auth`, tagged by `type`. */
export type ServerAuthConfig =
  | { type: "none" }
  /** HTTP Basic; YAML `username`, `password` (both required). */
  | { type: "basic"; username: string; password: string }
  /** Bearer JWT verified with a `decoding` (or `autoresolve`) key. */
  | ({ type: "jwt" } & JwtAuthConfig)
  /** JWT-SVID bearer tokens verified against SPIRE. */
  | ({ type: "spire" } & SpireConfig);

/** YAML `clients[].auth`, tagged by `type`. */
export type ClientAuthConfig =
  | { type: "none" }
  /** HTTP Basic; YAML `username`, `password` (both required, non-empty). */
  | { type: "basic"; username: string; password: string }
  /**
   * A bearer token read from `file` (re-read when it changes); YAML `duration` bounds caching.
   */
  | { type: "static_jwt"; file: string; durationMs: number }
  /** Bearer JWT signed with an `encoding` key. */
  | ({ type: "jwt" } & JwtAuthConfig)
  /** JWT-SVID from SPIRE. */
  | ({ type: "spire" } & SpireConfig);

/** YAML `services.<id>.auth` (control-plane registration), tagged by `type`. */
export type ServiceAuthConfig =
  | { type: "shared_secret"; id?: string; secret: string }
  | ({ type: "spire" } & SpireConfig);

/**
 * Reconnection strategy. YAML `clients[].backoff`, tagged by `type`.
 *
 * Note SLIM's defaults differ between "no `backoff` key" (exponential with `jitter: true`) and
 * "`backoff: {type: exponential}`" (fields default individually, and `jitter` to false).
 */
export type BackoffConfig =
  | {
    type: "exponential";
    /**
     * Base of the exponent: the n-th retry waits `base^n × factor` ms (tokio-retry semantics),
     * capped at {@link maxDelayMs}. YAML `base` (integer).
     * @default 100
     */
    base: number;
    /**
     * Multiplier. YAML `factor` (integer).
     * @default 1
     */
    factor: number;
    /**
     * Cap of one delay. YAML `max_delay`.
     * @default 1000
     */
    maxDelayMs: number;
    /** Give up after this many retries; unlimited when absent. YAML `max_attempts`. */
    maxAttempts?: number;
    /**
     * Randomize each delay. YAML `jitter`.
     * @default true without a `backoff` key, false when `backoff` is given without `jitter`
     */
    jitter: boolean;
  }
  | {
    type: "fixed_interval";
    /**
     * Delay between attempts. YAML `interval`.
     * @default 1000
     */
    intervalMs: number;
    /** Give up after this many retries; unlimited when absent. YAML `max_attempts`. */
    maxAttempts?: number;
  };

/** YAML `clients[].keepalive`; without it the client sends no keepalive pings. */
export interface ClientKeepaliveConfig {
  /**
   * TCP keepalive interval. YAML `tcp_keepalive`.
   * @default 60000
   */
  tcpKeepaliveMs: number;
  /**
   * HTTP/2 PING interval. YAML `http2_keepalive`.
   * @default 60000
   */
  http2KeepaliveMs: number;
  /**
   * PING acknowledgement timeout. YAML `timeout`.
   * @default 10000
   */
  timeoutMs: number;
  /**
   * Ping even without an open stream. YAML `keep_alive_while_idle`.
   * @default false
   */
  keepAliveWhileIdle: boolean;
}

/** YAML `clients[].proxy`: an HTTP CONNECT proxy. */
export interface ProxyConfig {
  /** Proxy URL (`http://` or `https://`); system proxy settings when absent. YAML `url`. */
  url?: string;
  /** TLS towards an `https://` proxy. YAML `tls`. */
  tls: ClientTlsConfig;
  /** YAML `username` (Basic `Proxy-Authorization` together with `password`). */
  username?: string;
  /** YAML `password`. */
  password?: string;
  /**
   * Extra headers on the CONNECT request. YAML `headers`.
   * @default {}
   */
  headers: Record<string, string>;
}

/** Compression names accepted by SLIM (which does not implement compression). */
export type CompressionType = "gzip" | "zlib" | "deflate" | "snappy" | "zstd" | "lz4" | "none";

/** Role of an outgoing link. */
export type ConnectionType = "edge" | "peer" | "remote";

/**
 * One outgoing connection: entries of `dataplane.clients`, `controller.clients`, peers, the
 * OpenTelemetry exporter, and the `--slim` command-line flag.
 */
export interface ClientConfig {
  /**
   * Target as written; requires a scheme: `http://`, `https://`, `unix://`, `ws://` or `wss://`.
   * YAML `endpoint` (required).
   */
  endpoint: string;
  /** {@link endpoint}, parsed. */
  address: ClientAddress;
  /** HTTP authority (`:authority`) override, a URI. YAML `origin`. */
  origin?: string;
  /** TLS SNI / verification name override. YAML `server_name`. */
  serverName?: string;
  /** Parsed but not implemented by SLIM. YAML `compression`. */
  compression?: CompressionType;
  /** Request rate limit. YAML `rate_limit`: `"<requests>/<seconds>"`. */
  rateLimit?: { requests: number; periodMs: number };
  /** TLS. YAML `tls`. */
  tls: ClientTlsConfig;
  /** HTTP/2 and TCP keepalive; none when absent. YAML `keepalive`. */
  keepalive?: ClientKeepaliveConfig;
  /** HTTP CONNECT proxy. YAML `proxy`. */
  proxy?: ProxyConfig;
  /**
   * TCP connect timeout; 0 means none. YAML `connect_timeout`.
   * @default 0
   */
  connectTimeoutMs: number;
  /**
   * Per-request timeout; 0 means none. YAML `request_timeout`.
   * @default 0
   */
  requestTimeoutMs: number;
  /** Request buffer size of the channel. YAML `buffer_size`. */
  bufferSize?: number;
  /**
   * Extra request headers, sent verbatim. YAML `headers`.
   * @default {}
   */
  headers: Record<string, string>;
  /**
   * Credentials sent to the server. YAML `auth`.
   * @default { type: "none" }
   */
  auth: ClientAuthConfig;
  /**
   * Reconnection strategy. YAML `backoff`.
   * @default exponential: base 100, factor 1, max delay 1 s, unlimited attempts, jitter
   */
  backoff: BackoffConfig;
  /** Free-form metadata. YAML `metadata`. */
  metadata?: Metadata;
  /**
   * Link id announced in link negotiation and reused on reconnection. YAML `link_id`.
   * @default a random UUID v4, generated at load time
   */
  linkId: string;
  /**
   * Require a valid header MAC on this link. YAML `require_header_mac`.
   * @default true
   */
  requireHeaderMac: boolean;
  /**
   * `edge` (default), `peer` (replica of the same deployment) or `remote` (managed by the
   * control plane). YAML `connection_type`.
   * @default "edge"
   */
  connectionType: ConnectionType;
}

/** YAML `peers`. */
export interface PeersConfig {
  /** Peers must share it to accept each other. YAML `deployment_name` (required). */
  deploymentName: string;
  /**
   * YAML `topology`.
   * @default "full_mesh"
   */
  topology: "full_mesh";
  /** YAML `discovery` (required), tagged by `type`. */
  discovery: PeerDiscoveryConfig;
}

/** A static peer: a client configuration plus the peer's node id. */
export interface StaticPeerConfig extends ClientConfig {
  /** YAML `node_id` (required). */
  nodeId: string;
}

/** YAML `peers.discovery`. */
export type PeerDiscoveryConfig =
  /** YAML `peers`: at least one entry; `connection_type` is forced to `peer`. */
  | { type: "static"; peers: StaticPeerConfig[] }
  /** Watch the EndpointSlices of a Kubernetes Service. */
  | { type: "kubernetes"; namespace: string; serviceName: string; port: number };

/** A free-form metadata value (YAML `null` is not allowed, as in SLIM). */
export type MetadataValue = string | number | boolean | MetadataValue[] | Metadata;

/** Free-form metadata (YAML `metadata`, `custom_claims`). */
export interface Metadata {
  /** Any key; values nest. */
  [key: string]: MetadataValue;
}

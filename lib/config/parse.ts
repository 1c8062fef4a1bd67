/**
 * The validator: turns a {@link Node} tree into a typed {@link SlimConfig}, applying SLIM's
 * defaults and rejecting anything SLIM would reject (plus unknown keys everywhere, which SLIM
 * only rejects in some sections: a misspelt key that silently does nothing is worse than an
 * error).
 *
 * Each `read*` function takes a {@link MapReader} over one YAML mapping, reads every key it
 * knows, and calls `finish()` so leftovers become errors.
 * @module
 */
import { JWT_ALGORITHMS } from "../identity/jwt_keys.ts";
import { MIN_HEADER_LIST_SIZE } from "../transport/h2/constants.ts";
import { redactEndpoint } from "../transport/redact.ts";
import { parseLogLevel } from "../log.ts";
import { tryParseClientEndpoint, tryParseServerEndpoint } from "./endpoint.ts";
import {
  asEnum,
  asInt,
  asString,
  describe,
  isNull,
  MapReader,
  type RetiredKeys,
  setOwn,
  typeError,
  U16_MAX,
  U32_MAX,
} from "./reader.ts";
import {
  type BackoffConfig,
  type CaSource,
  type ClientAuthConfig,
  type ClientConfig,
  type ClientKeepaliveConfig,
  type ClientTlsConfig,
  type CompressionType,
  type ControllerConfig,
  type DataplaneConfig,
  DEFAULT_TRACING_FILTERS,
  type JwtAuthConfig,
  type JwtClaims,
  type JwtKey,
  type Metadata,
  type MetadataValue,
  type OpenTelemetryConfig,
  type PeerDiscoveryConfig,
  type PeersConfig,
  type ProxyConfig,
  type RuntimeConfig,
  type ServerAuthConfig,
  type ServerConfig,
  type ServerKeepaliveConfig,
  type ServerTlsConfig,
  type ServiceAuthConfig,
  type ServiceConfig,
  type SlimConfig,
  type SpireConfig,
  type StaticPeerConfig,
  type TlsCommonConfig,
  type TlsSource,
  type TracingConfig,
} from "./schema.ts";
import type { Node, ParseContext } from "./tree.ts";

/** What the validator learnt beyond the config itself (used for warnings). */
export interface ParseNotes {
  /** The key each service's data plane was written under (`dataplane` or `pubsub`). */
  dataplaneKey: Map<ServiceConfig, string>;
}

const TOP_LEVEL_KEYS = ["tracing", "runtime", "services"] as const;

/** Validates a whole configuration document. */
export function readSlimConfig(
  ctx: ParseContext,
  root: Node | undefined,
  notes: ParseNotes,
): SlimConfig {
  if (root === undefined || isNull(root)) {
    throw ctx.error(
      "the configuration is empty (expected a mapping with tracing, runtime and services)",
      undefined,
    );
  }
  if (root.kind !== "map") {
    throw ctx.error(
      `expected a mapping with tracing, runtime and services, got ${describe(root)}`,
      undefined,
      root.line,
    );
  }
  const r = MapReader.of(ctx, root, "");
  // Like SLIM, check the top-level keys before anything else.
  for (const key of TOP_LEVEL_KEYS) r.node(key);
  r.finish();
  const tracing = r.map("tracing", readTracing);
  const runtime = r.map("runtime", readRuntime);
  const services = readServices(ctx, r, notes);
  return { tracing, runtime, services };
}

// ---------------------------------------------------------------------------------------------
// tracing, runtime

function readTracing(r: MapReader): TracingConfig {
  let logLevel: TracingConfig["logLevel"] = "info";
  const levelNode = r.node("log_level");
  if (levelNode !== undefined) {
    const text = asString(r.ctx, levelNode, r.at("log_level"));
    const level = parseLogLevel(text);
    if (level === undefined) {
      r.ctx.warn(
        r.at("log_level"),
        `unknown level ${r.shown("log_level")}; using "info" as SLIM does ` +
          `(levels: error, warn, info, debug, trace, off)`,
      );
    } else {
      logLevel = level;
    }
  }
  const config: TracingConfig = {
    logLevel,
    displayThreadNames: r.bool("display_thread_names", true),
    displayThreadIds: r.bool("display_thread_ids", false),
    filters: r.stringList("filters", [...DEFAULT_TRACING_FILTERS]),
    opentelemetry: r.map("opentelemetry", readOpenTelemetry),
  };
  r.finish();
  return config;
}

/** The OpenTelemetry exporter connection used when `opentelemetry.grpc` is absent. */
function defaultOtlpClient(r: MapReader): ClientConfig {
  return readClientConfig(r.ctx, {
    kind: "map",
    entries: [
      { key: "endpoint", value: { kind: "scalar", value: "http://localhost:4317" } },
      {
        key: "tls",
        value: {
          kind: "map",
          entries: [{ key: "insecure", value: { kind: "scalar", value: true } }],
        },
      },
    ],
  }, r.at("grpc"));
}

function readOpenTelemetry(r: MapReader): OpenTelemetryConfig {
  const grpcNode = r.node("grpc");
  const config: OpenTelemetryConfig = {
    enabled: r.bool("enabled", false),
    grpc: grpcNode === undefined
      ? defaultOtlpClient(r)
      : readClientConfig(r.ctx, grpcNode, r.at("grpc")),
    serviceName: r.string("service_name", "slim-data-plane"),
    serviceVersion: r.string("service_version", "v0.1.0"),
    environment: r.string("environment", "development"),
    metricsIntervalMs: r.int("metrics_interval_secs", 30) * 1000,
  };
  r.finish();
  return config;
}

function readRuntime(r: MapReader): RuntimeConfig {
  const config: RuntimeConfig = {
    nCores: r.int("n_cores", 0),
    threadName: r.string("thread_name", "slim"),
    drainTimeoutMs: r.duration("drain_timeout", 10_000),
  };
  r.finish();
  return config;
}

// ---------------------------------------------------------------------------------------------
// services

const KIND_RE = /^[a-zA-Z][0-9a-zA-Z_]{0,62}$/;
const NAME_RE = /^[a-z0-9-]+$/;

/** Checks a service id (`<kind>/<name>`) the way SLIM does; returns the reason when invalid. */
function checkServiceId(id: string): { kind: string; name: string } | string {
  const slash = id.indexOf("/");
  if (slash <= 0) return `expected "<kind>/<name>", e.g. "slim/0"`;
  const kind = id.slice(0, slash);
  const name = id.slice(slash + 1);
  if (!KIND_RE.test(kind)) {
    return `kind "${kind}" must start with a letter and contain only letters, digits and "_"`;
  }
  if (name !== "" && (!NAME_RE.test(name) || name.length > 1024)) {
    return `name "${name}" may contain only lowercase letters, digits and "-"`;
  }
  return { kind, name };
}

function readServices(ctx: ParseContext, top: MapReader, notes: ParseNotes): ServiceConfig[] {
  const node = top.node("services");
  const path = "services";
  if (node === undefined) {
    throw ctx.error("missing: at least one service (such as slim/0) is required", path, top.line);
  }
  if (node.kind !== "map") throw typeError(ctx, node, path, "a mapping of service id to service");
  if (node.entries.length === 0) {
    throw ctx.error("at least one service (such as slim/0) is required", path, node.line);
  }
  return node.entries.map((entry) => {
    const id = checkServiceId(entry.key);
    const servicePath = `${path}.${entry.key}`;
    if (typeof id === "string") {
      throw ctx.error(`invalid service id: ${id}`, servicePath, entry.line);
    }
    return readService(MapReader.of(ctx, entry.value, servicePath), entry.key, id, notes);
  });
}

function readService(
  r: MapReader,
  id: string,
  parts: { kind: string; name: string },
  notes: ParseNotes,
): ServiceConfig {
  const nodeIdGiven = r.optString("node_id");
  if (nodeIdGiven === "") throw r.invalid("node_id", "must not be empty");
  const nodeId = nodeIdGiven ?? `node-${crypto.randomUUID()}`;
  const domainName = r.optString("domain_name");
  const auth = r.optMap("auth", readServiceAuth);

  // `pubsub` is what the data plane was called before SLIM 0.5; old tutorials still use it.
  const dp = r.aliased("dataplane", "pubsub");
  const dataplaneKey = dp?.key ?? "dataplane";
  const dataplane = readApi(MapReader.of(r.ctx, dp?.node ?? nullNode(), r.at(dataplaneKey)));
  if (dp?.key === "pubsub") {
    r.ctx.warn(
      r.at("pubsub"),
      "old name of dataplane; accepted here, but SLIM 0.5 and later reject it (rename it)",
    );
  }
  const controller: ControllerConfig = r.map("controller", readApi);
  const peers = r.optMap("peers", readPeers);
  r.finish({
    errors: { group_name: `"group_name" was renamed to "domain_name"` },
  });

  if (dataplane.servers.length === 0 && dataplane.clients.length === 0) {
    throw r.ctx.error(
      "no servers or clients configured; a node needs at least one of them",
      r.at(dataplaneKey),
      r.lineOf(dataplaneKey),
    );
  }
  const usesController = controller.servers.length > 0 || controller.clients.length > 0 ||
    controller.outboundClients.length > 0 || controller.enforcePqc;
  if (auth !== undefined && domainName === undefined && usesController) {
    // SLIM derives the registration identity `<domain_name>/<node_id>` and refuses to start.
    throw r.ctx.error(
      "domain_name must be set when auth is configured",
      r.at("auth"),
      r.lineOf("auth"),
    );
  }
  const service: ServiceConfig = {
    id,
    kind: parts.kind,
    name: parts.name,
    nodeId,
    ...(domainName !== undefined ? { domainName } : {}),
    ...(auth !== undefined ? { auth } : {}),
    dataplane,
    controller,
    ...(peers !== undefined ? { peers } : {}),
  };
  notes.dataplaneKey.set(service, dataplaneKey);
  return service;
}

function nullNode(): Node {
  return { kind: "scalar", value: null };
}

function readServiceAuth(r: MapReader): ServiceAuthConfig {
  const type = requiredType(r, ["shared_secret", "spire"] as const);
  let auth: ServiceAuthConfig;
  if (type === "shared_secret") {
    const id = r.optString("id");
    const secret = r.requiredString("secret", { secret: true });
    if (secret === "") throw r.invalid("secret", "must not be empty");
    auth = { type, ...(id !== undefined ? { id } : {}), secret };
  } else {
    auth = { type, ...readSpire(r) };
  }
  r.finish();
  return auth;
}

/** `dataplane` and `controller` share one schema in SLIM. */
function readApi(r: MapReader): DataplaneConfig & ControllerConfig {
  const enforcePqc = r.bool("enforce_pqc", false);
  const servers = r.list("servers", (n, p) => readServerConfig(r.ctx, n, p));
  const clients = r.list("clients", (n, p) => readClientConfig(r.ctx, n, p));
  const outboundClients = r.list("outbound_clients", (n, p) => readClientConfig(r.ctx, n, p));
  r.finish();
  if (enforcePqc) {
    // Hybrid post-quantum key exchange exists only in TLS 1.3.
    const check = (tls: TlsCommonConfig, path: string) => {
      if (tls.tlsVersion !== "tls1.3") {
        throw r.ctx.error(
          `enforce_pqc requires tls_version "tls1.3"`,
          `${path}.tls.tls_version`,
          r.lineOf("enforce_pqc"),
        );
      }
    };
    servers.forEach((s, i) => check(s.tls, r.at(`servers[${i}]`)));
    clients.forEach((c, i) => check(c.tls, r.at(`clients[${i}]`)));
    outboundClients.forEach((c, i) => check(c.tls, r.at(`outbound_clients[${i}]`)));
  }
  return { servers, clients, outboundClients, enforcePqc };
}

// ---------------------------------------------------------------------------------------------
// servers

const SERVER_ENDPOINT_FORMS = `expected "IP:port", "[IPv6]:port", unix://PATH, ws:// or wss://`;
const CLIENT_ENDPOINT_FORMS = "expected an http://, https://, unix://, ws:// or wss:// URL";

/**
 * A detailed message quotes parts of the value; for a substituted value, which may be secret,
 * fall back to a generic one.
 */
function secretSafe(r: MapReader, key: string, detailed: string, generic: string): string {
  const ref = r.refOf(key);
  return ref === undefined ? detailed : `invalid value from ${ref}: ${generic}`;
}

/** Keys SLIM ignores that still appear in published example files. */
const IGNORED_ENDPOINT_KEYS: Readonly<Record<string, string>> = {
  transport: "no longer an option: the transport follows the endpoint scheme (ignored)",
  websocket_auth_query_param: "no longer an option in SLIM (ignored)",
};

/** Validates one server configuration (`dataplane.servers[]` or `controller.servers[]`). */
export function readServerConfig(ctx: ParseContext, node: Node, path: string): ServerConfig {
  const r = MapReader.of(ctx, node, path);
  const endpoint = r.requiredString("endpoint");
  const address = tryParseServerEndpoint(endpoint);
  if (typeof address === "string") {
    throw r.invalid("endpoint", secretSafe(r, "endpoint", address, SERVER_ENDPOINT_FORMS));
  }
  const tls = r.map("tls", readServerTls);
  const negotiation = r.aliased("negotiation_timeout_secs", "link_hmac_timeout_secs");
  const negotiationSecs = negotiation === undefined
    ? 5
    : asInt(ctx, negotiation.node, r.at(negotiation.key));
  if (negotiationSecs < 1) {
    throw r.invalid(
      negotiation!.key,
      "must be at least 1: with 0 every link negotiation times out at once and the node " +
        "refuses every client",
    );
  }
  const metadata = readOptMetadata(r, "metadata");
  const maxHeaderListSize = r.optInt("max_header_list_size", { max: U32_MAX });
  if (maxHeaderListSize !== undefined && maxHeaderListSize < MIN_HEADER_LIST_SIZE) {
    throw r.invalid(
      "max_header_list_size",
      `must be at least ${MIN_HEADER_LIST_SIZE} octets, got ${maxHeaderListSize}: a gRPC ` +
        "request's headers take a few hundred octets (1-2 KiB with a bearer token), so a " +
        "smaller limit refuses every client with HTTP 431",
    );
  }
  const maxConcurrentStreams = r.int("max_concurrent_streams", 100, { max: U32_MAX });
  if (maxConcurrentStreams < 1) {
    throw r.invalid(
      "max_concurrent_streams",
      "must be at least 1: with 0 every client's stream is refused (each link is one stream)",
    );
  }
  const config: ServerConfig = {
    endpoint,
    address,
    tls,
    http2Only: r.bool("http2_only", true),
    // HTTP/2 allows frames of at most 2^24-1 bytes, so 15 MiB is the largest whole value.
    maxFrameSizeMiB: r.int("max_frame_size", 4, { min: 1, max: 15 }),
    maxConcurrentStreams,
    ...(maxHeaderListSize !== undefined ? { maxHeaderListSize } : {}),
    readBufferSize: r.int("read_buffer_size", 1 << 20),
    writeBufferSize: r.int("write_buffer_size", 1 << 20),
    keepalive: r.map("keepalive", readServerKeepalive),
    auth: r.optMap("auth", readServerAuth) ?? { type: "none" },
    ...(metadata !== undefined ? { metadata } : {}),
    requireHeaderMac: r.bool("require_header_mac", true),
    negotiationTimeoutMs: negotiationSecs * 1000,
    linkHmacPollIntervalMs: r.int("link_hmac_poll_interval_ms", 5),
  };
  r.finish({ ignored: IGNORED_ENDPOINT_KEYS });
  checkServerTls(r, config);
  return config;
}

/** Cross-checks the endpoint scheme against the TLS settings, as SLIM does when it starts. */
function checkServerTls(r: MapReader, server: ServerConfig): void {
  const tlsPath = r.at("tls");
  const line = r.lineOf("tls");
  const fail = (message: string) => r.ctx.error(message, tlsPath, line);
  const { address, tls } = server;
  if (address.kind === "unix" && !tls.insecure) {
    throw fail("Unix socket servers do not support TLS: set insecure: true");
  }
  if (address.kind === "websocket" && !address.secure && !tls.insecure) {
    throw fail("ws:// endpoints are cleartext: set insecure: true, or use wss://");
  }
  if (address.kind === "websocket" && address.secure && tls.insecure) {
    throw fail("wss:// endpoints need TLS: remove insecure: true and set a certificate source");
  }
  if (!tls.insecure && tls.source.type === "none") {
    throw fail(
      "a server with TLS needs a certificate: set source: {type: file, cert: PATH, key: PATH} " +
        "(or type: pem), or insecure: true for cleartext (note: insecure defaults to false)",
    );
  }
}

function readServerKeepalive(r: MapReader): ServerKeepaliveConfig {
  const config: ServerKeepaliveConfig = {
    maxConnectionIdleMs: r.duration("max_connection_idle", 3_600_000),
    maxConnectionAgeMs: r.duration("max_connection_age", 7_200_000),
    maxConnectionAgeGraceMs: r.duration("max_connection_age_grace", 300_000),
    timeMs: r.duration("time", 120_000),
    timeoutMs: r.duration("timeout", 20_000),
  };
  r.finish();
  return config;
}

// ---------------------------------------------------------------------------------------------
// TLS

const RETIRED_TLS_KEYS: Readonly<Record<string, string>> = {
  cert_file: "old TLS layout; use source: {type: file, cert: PATH, key: PATH}",
  key_file: "old TLS layout; use source: {type: file, cert: PATH, key: PATH}",
  cert_pem: "old TLS layout; use source: {type: pem, cert: PEM, key: PEM}",
  key_pem: "old TLS layout; use source: {type: pem, cert: PEM, key: PEM}",
  ca_file: "old TLS layout; use ca_source: {type: file, path: PATH}",
  ca_pem: "old TLS layout; use ca_source: {type: pem, data: PEM}",
  client_ca_file: "old TLS layout; use client_ca: {type: file, path: PATH}",
  client_ca_pem: "old TLS layout; use client_ca: {type: pem, data: PEM}",
};

function readTlsCommon(r: MapReader): TlsCommonConfig {
  const reloadIntervalMs = readReloadInterval(r);
  return {
    source: r.optMap("source", readTlsSource) ?? { type: "none" },
    caSource: r.optMap("ca_source", readCaSource) ?? { type: "none" },
    includeSystemCaCertsPool: r.bool("include_system_ca_certs_pool", true),
    tlsVersion: r.enum("tls_version", ["tls1.2", "tls1.3"] as const, "tls1.3"),
    ...(reloadIntervalMs !== undefined ? { reloadIntervalMs } : {}),
  };
}

/** SLIM reads `reload_interval` as a Rust `Duration` (`{secs, nanos}`); also allow "10s". */
function readReloadInterval(r: MapReader): number | undefined {
  const node = r.node("reload_interval");
  if (node === undefined) return undefined;
  if (node.kind === "scalar" && typeof node.value === "string") {
    return r.optDuration("reload_interval");
  }
  return r.map("reload_interval", (m) => {
    const secs = m.int("secs", 0);
    const nanos = m.int("nanos", 0, { max: 999_999_999 });
    m.finish();
    return secs * 1000 + nanos / 1e6;
  });
}

function readServerTls(r: MapReader): ServerTlsConfig {
  const config: ServerTlsConfig = {
    ...readTlsCommon(r),
    insecure: r.bool("insecure", false),
    clientCa: r.optMap("client_ca", readCaSource) ?? { type: "none" },
    reloadClientCaFile: r.bool("reload_client_ca_file", false),
  };
  r.finish({ errors: RETIRED_TLS_KEYS });
  return config;
}

function readClientTls(r: MapReader): ClientTlsConfig {
  const config: ClientTlsConfig = {
    ...readTlsCommon(r),
    insecure: r.bool("insecure", false),
    insecureSkipVerify: r.bool("insecure_skip_verify", false),
  };
  r.finish({ errors: RETIRED_TLS_KEYS });
  return config;
}

function requiredType<T extends string>(r: MapReader, allowed: readonly T[]): T {
  const node = r.node("type");
  if (node === undefined) {
    throw r.missing("type", allowed.map((a) => JSON.stringify(a)).join(", "));
  }
  return asEnum(r.ctx, node, r.at("type"), allowed);
}

function nonEmpty(r: MapReader, key: string, secret = false): string {
  const value = r.requiredString(key, { secret });
  if (value === "") throw r.invalid(key, "must not be empty");
  return value;
}

function readTlsSource(r: MapReader): TlsSource {
  const type = requiredType(r, ["none", "file", "pem", "spire"] as const);
  let source: TlsSource;
  switch (type) {
    case "none":
      source = { type };
      break;
    case "file":
      source = { type, cert: nonEmpty(r, "cert"), key: nonEmpty(r, "key") };
      break;
    case "pem":
      source = { type, cert: nonEmpty(r, "cert"), key: nonEmpty(r, "key", true) };
      break;
    case "spire":
      source = { type, ...readSpire(r) };
      break;
  }
  r.finish();
  return source;
}

function readCaSource(r: MapReader): CaSource {
  const type = requiredType(r, ["none", "file", "pem", "spire"] as const);
  let source: CaSource;
  switch (type) {
    case "none":
      source = { type };
      break;
    case "file":
      source = { type, path: nonEmpty(r, "path") };
      break;
    case "pem":
      source = { type, data: nonEmpty(r, "data") };
      break;
    case "spire":
      source = { type, ...readSpire(r) };
      break;
  }
  r.finish();
  return source;
}

/** Reads the SPIRE fields (flattened into the enclosing mapping in SLIM's schema). */
function readSpire(r: MapReader): SpireConfig {
  const socketPath = r.optString("socket_path");
  const targetSpiffeId = r.optString("target_spiffe_id");
  return {
    ...(socketPath !== undefined ? { socketPath } : {}),
    ...(targetSpiffeId !== undefined ? { targetSpiffeId } : {}),
    jwtAudiences: r.stringList("jwt_audiences", ["slim"]),
    trustDomains: r.stringList("trust_domains", []),
  };
}

// ---------------------------------------------------------------------------------------------
// authentication

function readServerAuth(r: MapReader): ServerAuthConfig {
  const type = requiredType(r, ["none", "basic", "jwt", "spire"] as const);
  let auth: ServerAuthConfig;
  switch (type) {
    case "none":
      auth = { type };
      break;
    case "basic":
      auth = {
        type,
        username: r.requiredString("username"),
        password: r.requiredString("password", { secret: true }),
      };
      break;
    case "jwt": {
      const jwt = readJwt(r);
      if (jwt.key.type === "encoding") {
        throw r.invalid(
          "key",
          `a server verifies tokens: use key type "decoding" (or "autoresolve"), not "encoding"`,
        );
      }
      auth = { type, ...jwt };
      break;
    }
    case "spire":
      auth = { type, ...readSpire(r) };
      break;
  }
  r.finish();
  return auth;
}

function readClientAuth(r: MapReader): ClientAuthConfig {
  const type = requiredType(r, ["none", "basic", "static_jwt", "jwt", "spire"] as const);
  let auth: ClientAuthConfig;
  switch (type) {
    case "none":
      auth = { type };
      break;
    case "basic":
      // SLIM refuses empty credentials when it builds the client.
      auth = { type, username: nonEmpty(r, "username"), password: nonEmpty(r, "password", true) };
      break;
    case "static_jwt":
      auth = { type, file: nonEmpty(r, "file"), durationMs: r.duration("duration", 3_600_000) };
      break;
    case "jwt": {
      const jwt = readJwt(r);
      if (jwt.key.type !== "encoding") {
        throw r.invalid("key", `a client signs tokens: use key type "encoding"`);
      }
      auth = { type, ...jwt };
      break;
    }
    case "spire":
      auth = { type, ...readSpire(r) };
      break;
  }
  r.finish();
  return auth;
}

function readJwt(r: MapReader): JwtAuthConfig {
  const claims = r.map("claims", readClaims);
  const durationMs = r.duration("duration", 3_600_000);
  const key = r.optMap("key", readJwtKey);
  if (key === undefined) throw r.missing("key", "encoding, decoding or autoresolve");
  return { claims, durationMs, key };
}

function readClaims(r: MapReader): JwtClaims {
  const audience = r.aliased("audience", "aud", "audiences");
  const issuer = r.aliased("issuer", "iss");
  const subject = r.aliased("subject", "sub");
  const customClaims = readOptMetadata(r, "custom_claims");
  const claims: JwtClaims = {
    ...(audience !== undefined
      ? {
        audience: asListOfStrings(r, audience.node, r.at(audience.key)),
      }
      : {}),
    ...(issuer !== undefined ? { issuer: asString(r.ctx, issuer.node, r.at(issuer.key)) } : {}),
    ...(subject !== undefined ? { subject: asString(r.ctx, subject.node, r.at(subject.key)) } : {}),
    ...(customClaims !== undefined ? { customClaims } : {}),
  };
  r.finish();
  return claims;
}

function asListOfStrings(r: MapReader, node: Node, path: string): string[] {
  if (node.kind !== "seq") {
    throw typeError(r.ctx, node, path, `a list (write ["${describeShort(node)}"])`);
  }
  return node.items.map((n, i) => asString(r.ctx, n, `${path}[${i}]`));
}

function describeShort(node: Node): string {
  return node.kind === "scalar" && typeof node.value === "string" && node.ref === undefined
    ? node.value
    : "...";
}

function readJwtKey(r: MapReader): JwtKey {
  const type = requiredType(r, ["encoding", "decoding", "autoresolve"] as const);
  if (type === "autoresolve") {
    r.finish();
    return { type };
  }
  const algorithmNode = r.node("algorithm");
  if (algorithmNode === undefined) throw r.missing("algorithm");
  const algorithm = asEnum(r.ctx, algorithmNode, r.at("algorithm"), JWT_ALGORITHMS);
  const formatNode = r.node("format");
  if (formatNode === undefined) throw r.missing("format", "pem, jwk or jwks");
  const format = asEnum(r.ctx, formatNode, r.at("format"), ["pem", "jwk", "jwks"] as const);
  const material = r.optMap("key", (m): { data: string } | { file: string } => {
    const data = m.optString("data", { secret: true });
    const file = m.optString("file");
    m.finish();
    if ((data === undefined) === (file === undefined)) {
      throw m.ctx.error("expected exactly one of data or file", m.path, m.line);
    }
    return data !== undefined ? { data } : { file: file! };
  });
  if (material === undefined) throw r.missing("key", "{data: ...} or {file: PATH}");
  r.finish();
  return { type, algorithm, format, key: material };
}

// ---------------------------------------------------------------------------------------------
// clients

const RETIRED_CLIENT_KEYS: RetiredKeys = {
  ignored: IGNORED_ENDPOINT_KEYS,
  errors: { connection_timeout: `the option is named "connect_timeout"` },
};

const COMPRESSION: ReadonlyMap<string, CompressionType> = new Map([
  ["gzip", "gzip"],
  ["zlib", "zlib"],
  ["deflate", "deflate"],
  ["snappy", "snappy"],
  ["zstd", "zstd"],
  ["lz4", "lz4"],
  ["none", "none"],
  ["empty", "none"],
  ["", "none"],
]);

/**
 * Validates one client configuration (`dataplane.clients[]`, `controller.clients[]`, the
 * OpenTelemetry exporter, `--slim` JSON).
 */
export function readClientConfig(ctx: ParseContext, node: Node, path: string): ClientConfig {
  const r = MapReader.of(ctx, node, path);
  const config = readClientFields(r);
  r.finish(RETIRED_CLIENT_KEYS);
  return config;
}

/** Reads the client keys of `r` without finishing it (peers add `node_id`). */
function readClientFields(r: MapReader): ClientConfig {
  const endpoint = r.requiredString("endpoint");
  const address = tryParseClientEndpoint(endpoint);
  if (typeof address === "string") {
    throw r.invalid("endpoint", secretSafe(r, "endpoint", address, CLIENT_ENDPOINT_FORMS));
  }
  const origin = r.optString("origin");
  const serverName = r.optString("server_name");
  const compression = readCompression(r);
  const rateLimit = readRateLimit(r);
  const tls = r.map("tls", readClientTls);
  const keepalive = r.optMap("keepalive", readClientKeepalive);
  const proxy = r.optMap("proxy", readProxy);
  const bufferSize = r.optInt("buffer_size");
  const metadata = readOptMetadata(r, "metadata");
  const config: ClientConfig = {
    endpoint,
    address,
    ...(origin !== undefined ? { origin } : {}),
    ...(serverName !== undefined ? { serverName } : {}),
    ...(compression !== undefined ? { compression } : {}),
    ...(rateLimit !== undefined ? { rateLimit } : {}),
    tls,
    ...(keepalive !== undefined ? { keepalive } : {}),
    ...(proxy !== undefined ? { proxy } : {}),
    connectTimeoutMs: r.duration("connect_timeout", 0),
    requestTimeoutMs: r.duration("request_timeout", 0),
    ...(bufferSize !== undefined ? { bufferSize } : {}),
    headers: readHeaders(r, "headers"),
    auth: r.optMap("auth", readClientAuth) ?? { type: "none" },
    // Without a `backoff` key SLIM uses its Default impl, where jitter is on.
    backoff: r.optMap("backoff", readBackoff) ?? {
      type: "exponential",
      base: 100,
      factor: 1,
      maxDelayMs: 1_000,
      jitter: true,
    },
    ...(metadata !== undefined ? { metadata } : {}),
    linkId: r.string("link_id", crypto.randomUUID()),
    requireHeaderMac: r.bool("require_header_mac", true),
    connectionType: r.enum("connection_type", ["edge", "peer", "remote"] as const, "edge"),
  };
  if (address.kind === "unix" && !tls.insecure) {
    throw r.ctx.error(
      "Unix socket connections do not support TLS: set insecure: true",
      r.at("tls"),
      r.lineOf("tls"),
    );
  }
  return config;
}

function readCompression(r: MapReader): CompressionType | undefined {
  const node = r.node("compression");
  if (node === undefined) return undefined;
  // SLIM's serde spelling is the Rust variant name ("Gzip"); lower case is accepted too.
  const text = asString(r.ctx, node, r.at("compression"));
  const value = COMPRESSION.get(text.toLowerCase());
  if (value === undefined) {
    const shown = r.shown("compression");
    throw r.invalid(
      "compression",
      `unknown compression ${shown} (gzip, zlib, deflate, snappy, zstd, lz4, none)`,
    );
  }
  return value;
}

function readRateLimit(r: MapReader): { requests: number; periodMs: number } | undefined {
  const text = r.optString("rate_limit");
  if (text === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) {
    throw r.invalid(
      "rate_limit",
      `expected "<requests>/<seconds>" such as "20/60", got ${r.shown("rate_limit")}`,
    );
  }
  return { requests: Number(m[1]), periodMs: Number(m[2]) * 1000 };
}

function readClientKeepalive(r: MapReader): ClientKeepaliveConfig {
  const config: ClientKeepaliveConfig = {
    tcpKeepaliveMs: r.duration("tcp_keepalive", 60_000),
    http2KeepaliveMs: r.duration("http2_keepalive", 60_000),
    timeoutMs: r.duration("timeout", 10_000),
    keepAliveWhileIdle: r.bool("keep_alive_while_idle", false),
  };
  r.finish({ errors: { permit_without_stream: `the option is named "keep_alive_while_idle"` } });
  return config;
}

function readProxy(r: MapReader): ProxyConfig {
  const url = r.optString("url");
  const username = r.optString("username");
  const password = r.optString("password", { secret: true });
  const config: ProxyConfig = {
    ...(url !== undefined ? { url } : {}),
    tls: r.map("tls", readClientTls),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    headers: readHeaders(r, "headers"),
  };
  r.finish();
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) {
    // A proxy URL may carry credentials: never quote them.
    const shown = r.refOf("url") === undefined
      ? JSON.stringify(redactEndpoint(url))
      : r.shown("url");
    throw r.invalid("url", `expected an http:// or https:// proxy URL, got ${shown}`);
  }
  return config;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

function readHeaders(r: MapReader, key: string): Record<string, string> {
  // Header values often carry credentials: never show them.
  const headers = r.stringMap(key, { secret: true });
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      throw r.ctx.error(
        `invalid HTTP header name ${JSON.stringify(name)}`,
        r.at(key),
        r.lineOf(key),
      );
    }
    if (!HEADER_VALUE.test(value)) {
      throw r.ctx.error(
        "invalid HTTP header value (only printable ASCII is allowed)",
        `${r.at(key)}.${name}`,
        r.lineOf(key),
      );
    }
  }
  return headers;
}

function readBackoff(r: MapReader): BackoffConfig {
  const type = requiredType(r, ["exponential", "fixed_interval"] as const);
  const maxAttempts = r.optInt("max_attempts");
  let backoff: BackoffConfig;
  if (type === "exponential") {
    backoff = {
      type,
      base: r.int("base", 100),
      factor: r.int("factor", 1),
      maxDelayMs: r.duration("max_delay", 1_000),
      ...(maxAttempts !== undefined ? { maxAttempts } : {}),
      // An explicit exponential backoff defaults jitter to false in SLIM (serde field default).
      jitter: r.bool("jitter", false),
    };
  } else {
    backoff = {
      type,
      intervalMs: r.duration("interval", 1_000),
      ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    };
  }
  r.finish();
  return backoff;
}

// ---------------------------------------------------------------------------------------------
// peers

function readPeers(r: MapReader): PeersConfig {
  const deploymentName = r.requiredString("deployment_name");
  const topology = r.enum("topology", ["full_mesh"] as const, "full_mesh");
  const discovery = r.optMap("discovery", readDiscovery);
  if (discovery === undefined) throw r.missing("discovery", "static or kubernetes");
  r.finish();
  return { deploymentName, topology, discovery };
}

function readDiscovery(r: MapReader): PeerDiscoveryConfig {
  const type = requiredType(r, ["static", "kubernetes"] as const);
  let discovery: PeerDiscoveryConfig;
  if (type === "static") {
    const peers = r.list("peers", (n, p) => readStaticPeer(r.ctx, n, p));
    if (peers.length === 0) {
      throw r.ctx.error("must list at least one peer", r.at("peers"), r.lineOf("peers"));
    }
    discovery = { type, peers };
  } else {
    const port = r.optInt("port", { min: 1, max: U16_MAX });
    if (port === undefined) throw r.missing("port");
    discovery = {
      type,
      namespace: r.requiredString("namespace"),
      serviceName: r.requiredString("service_name"),
      port,
    };
  }
  r.finish();
  return discovery;
}

function readStaticPeer(ctx: ParseContext, node: Node, path: string): StaticPeerConfig {
  const r = MapReader.of(ctx, node, path);
  const nodeId = r.requiredString("node_id");
  const client = readClientFields(r);
  r.finish(RETIRED_CLIENT_KEYS);
  if (r.has("connection_type") && client.connectionType !== "peer") {
    ctx.warn(r.at("connection_type"), `SLIM always uses "peer" for static peers (ignored)`);
  }
  return { ...client, connectionType: "peer", nodeId };
}

// ---------------------------------------------------------------------------------------------
// metadata

function readOptMetadata(r: MapReader, key: string): Metadata | undefined {
  const node = r.node(key);
  if (node === undefined) return undefined;
  const value = readMetadataValue(r.ctx, node, r.at(key));
  if (typeof value !== "object" || Array.isArray(value)) {
    throw typeError(r.ctx, node, r.at(key), "a mapping");
  }
  return value;
}

function readMetadataValue(ctx: ParseContext, node: Node, path: string): MetadataValue {
  switch (node.kind) {
    case "scalar":
      if (node.value === null) {
        throw typeError(ctx, node, path, "a string, number, boolean, list or mapping");
      }
      return node.value;
    case "seq":
      return node.items.map((n, i) => readMetadataValue(ctx, n, `${path}[${i}]`));
    case "map": {
      const out: Metadata = {};
      for (const entry of node.entries) {
        setOwn(out, entry.key, readMetadataValue(ctx, entry.value, `${path}.${entry.key}`));
      }
      return out;
    }
  }
}

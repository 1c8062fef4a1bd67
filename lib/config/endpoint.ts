/**
 * Endpoint strings of servers and clients.
 *
 * What SLIM accepts, and therefore what we accept:
 * - Servers: `IP:port` / `[IPv6]:port` (gRPC; SLIM parses a socket address, so host names such as
 *   `localhost` are rejected), `unix://path` (gRPC over a Unix socket), `ws://host:port[/path]`
 *   and `wss://...` (WebSocket; default port 80/443, default path `/`). `http(s)://` is not a
 *   listening address.
 * - Clients: a scheme is required: `http://host[:port]`, `https://host[:port]` (gRPC; default port
 *   80/443), `unix://path` (a missing leading `/` is added, as SLIM does), `ws://` and `wss://`.
 *   A bare `host:port` is rejected, as by SLIM's gRPC client.
 * Hosts are returned without IPv6 brackets. Messages quote endpoints without their userinfo.
 * @module
 */
import { ConfigError } from "../errors.ts";
import { redactEndpoint } from "../transport/redact.ts";
import type { ClientAddress, ServerAddress } from "./schema.ts";

const KNOWN_SCHEMES = ["http", "https", "unix", "ws", "wss"];

/**
 * Parses a server `endpoint`.
 * @throws {ConfigError} naming `path` when the endpoint is not a valid listening address
 */
export function parseServerEndpoint(endpoint: string, path?: string): ServerAddress {
  const result = tryParseServerEndpoint(endpoint);
  if (typeof result === "string") throw new ConfigError(result, { path });
  return result;
}

/**
 * Parses a client `endpoint`.
 * @throws {ConfigError} naming `path` when the endpoint is not a valid target
 */
export function parseClientEndpoint(endpoint: string, path?: string): ClientAddress {
  const result = tryParseClientEndpoint(endpoint);
  if (typeof result === "string") throw new ConfigError(result, { path });
  return result;
}

/** {@link parseServerEndpoint} returning the error message instead of throwing. */
export function tryParseServerEndpoint(
  endpoint: string,
  shown: string = JSON.stringify(redactEndpoint(endpoint)),
): ServerAddress | string {
  if (endpoint === "") return "empty endpoint";
  const scheme = schemeOf(endpoint);
  if (scheme === undefined) {
    const hostPort = splitHostPort(endpoint);
    if (typeof hostPort === "string") return `invalid endpoint ${shown}: ${hostPort}`;
    const { host, port, bracketed } = hostPort;
    if (!(bracketed ? isIpv6(host) : isIpv4(host))) {
      return `invalid endpoint ${shown}: a server listens on an IP address, not a host name ` +
        `(e.g. "0.0.0.0:46357", "127.0.0.1:46357" or "[::]:46357")`;
    }
    const portValue = parsePort(port, true);
    if (typeof portValue === "string") return `invalid endpoint ${shown}: ${portValue}`;
    return { kind: "tcp", host, port: portValue };
  }
  switch (scheme) {
    case "unix": {
      const socketPath = endpoint.slice("unix://".length).split(/[?#]/, 1)[0];
      if (socketPath === "") return `invalid endpoint ${shown}: missing socket path`;
      return { kind: "unix", path: socketPath };
    }
    case "ws":
    case "wss":
      return parseWebSocket(endpoint, shown, scheme, true);
    case "http":
    case "https":
      return `invalid endpoint ${shown}: a server endpoint is "IP:port" without a scheme ` +
        `(or unix://, ws://, wss://)`;
    default:
      return unknownScheme(shown, scheme);
  }
}

/** {@link parseClientEndpoint} returning the error message instead of throwing. */
export function tryParseClientEndpoint(
  endpoint: string,
  shown: string = JSON.stringify(redactEndpoint(endpoint)),
): ClientAddress | string {
  if (endpoint === "") return "empty endpoint";
  const scheme = schemeOf(endpoint);
  switch (scheme) {
    case undefined:
      return `invalid endpoint ${shown}: a scheme is required` +
        (shown === JSON.stringify(endpoint) ? `, e.g. "http://${endpoint}"` : "") +
        ` (http://, https://, unix://, ws:// or wss://)`;
    case "unix": {
      const rest = endpoint.slice("unix://".length);
      if (rest === "") return `invalid endpoint ${shown}: missing socket path`;
      return { kind: "unix", path: rest.startsWith("/") ? rest : `/${rest}` };
    }
    case "ws":
    case "wss":
      return parseWebSocket(endpoint, shown, scheme, false);
    case "http":
    case "https": {
      const url = parseUrl(endpoint, shown);
      if (typeof url === "string") return url;
      const host = stripBrackets(url.hostname);
      if (host === "") return `invalid endpoint ${shown}: missing host`;
      const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
      if (port === 0) return `invalid endpoint ${shown}: port 0 cannot be dialed`;
      return { kind: "http", secure: scheme === "https", host, port };
    }
    default:
      return unknownScheme(shown, scheme);
  }
}

function parseWebSocket(
  endpoint: string,
  shown: string,
  scheme: "ws" | "wss",
  server: boolean,
): Extract<ServerAddress, { kind: "websocket" }> | string {
  const url = parseUrl(endpoint, shown);
  if (typeof url === "string") return url;
  const host = stripBrackets(url.hostname);
  if (host === "") return `invalid endpoint ${shown}: missing host`;
  const port = url.port === "" ? (scheme === "wss" ? 443 : 80) : Number(url.port);
  if (port === 0 && !server) return `invalid endpoint ${shown}: port 0 cannot be dialed`;
  return {
    kind: "websocket",
    secure: scheme === "wss",
    host,
    port,
    path: (url.pathname || "/") + url.search,
  };
}

function schemeOf(endpoint: string): string | undefined {
  const i = endpoint.indexOf("://");
  return i < 0 ? undefined : endpoint.slice(0, i);
}

function unknownScheme(shown: string, scheme: string): string {
  return `invalid endpoint ${shown}: unsupported scheme "${scheme}" ` +
    `(expected ${KNOWN_SCHEMES.map((s) => `${s}://`).join(", ")})`;
}

function parseUrl(endpoint: string, shown: string): URL | string {
  try {
    return new URL(endpoint);
  } catch {
    return `invalid endpoint ${shown}: not a valid URL (bad host or port?)`;
  }
}

function splitHostPort(
  text: string,
): { host: string; port: string; bracketed: boolean } | string {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return `expected "[IPv6]:port"`;
    return { host: text.slice(1, close), port: text.slice(close + 2), bracketed: true };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) return `missing port (expected "host:port")`;
  const host = text.slice(0, colon);
  if (host.includes(":")) return `IPv6 addresses must be bracketed, as in "[::1]:46357"`;
  return { host, port: text.slice(colon + 1), bracketed: false };
}

function parsePort(text: string, allowZero: boolean): number | string {
  if (!/^\d{1,5}$/.test(text)) return `invalid port "${text}"`;
  const port = Number(text);
  if (port > 65535) return `port ${port} is out of range (0..65535)`;
  if (port === 0 && !allowZero) return "port 0 cannot be dialed";
  return port;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Dotted-quad IPv4 literal (no leading zeros, as Rust's parser requires). */
export function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** IPv6 literal without brackets or zone (e.g. `::`, `::1`, `fe80::1`, `::ffff:1.2.3.4`). */
export function isIpv6(text: string): boolean {
  let body = text;
  let groupsForV4 = 0;
  const lastColon = body.lastIndexOf(":");
  if (lastColon >= 0 && body.slice(lastColon + 1).includes(".")) {
    if (!isIpv4(body.slice(lastColon + 1))) return false;
    body = body.slice(0, lastColon + 1) + "0";
    groupsForV4 = 1; // the IPv4 tail counts as two groups; the "0" placeholder is one
  }
  const halves = body.split("::");
  if (halves.length > 2) return false;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const count = all.length + groupsForV4;
  return halves.length === 2 ? count <= 7 : count === 8;
}

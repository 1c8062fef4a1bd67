/**
 * The accepting side of the data plane: an HTTP/2 server (h2c with prior knowledge, TLS, or a
 * Unix socket) that turns each `OpenChannel` call into a {@link Transport}.
 *
 * It runs our own HTTP/2 (`h2/`) over `node:net` / `node:tls`, so no input from a client can do
 * more than close that client's connection. Like the real node it answers the response headers at
 * once, accepts any content type, ends streams with `grpc-status` trailers, refuses other paths
 * and compressed calls with status 12, pings idle peers (keepalive), sends GOAWAY to connections
 * older than the maximum age, and sets TCP_NODELAY on every accepted socket. TLS offers ALPN `h2`
 * and also accepts clients that negotiate no ALPN at all.
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { TransportError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../wire/grpc_frame.ts";
import { H2Connection } from "./h2/connection.ts";
import { MIN_HEADER_LIST_SIZE } from "./h2/constants.ts";
import type { HeaderField } from "./h2/hpack.ts";
import type { H2Stream } from "./h2/stream.ts";
import { Http2Transport, OPEN_CHANNEL_PATH, percentEncode } from "./http2_transport.ts";
import { GrpcStatus, type Transport } from "./transport.ts";

export { MIN_HEADER_LIST_SIZE };

/** TLS material for a server, already loaded. */
export interface ServerTls {
  /** Server certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
  /** CA bundle that client certificates must chain to (mTLS). */
  clientCa?: string;
  /** Oldest TLS version accepted. @default "tls1.3" (SLIM YAML `tls.tls_version`) */
  minVersion?: "tls1.2" | "tls1.3";
}

/** Request headers as the authorization hook sees them (pseudo-headers included). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Decision of an {@link GrpcServerOptions.authorize} hook. */
export type AuthDecision =
  | { ok: true }
  | { ok: false; httpStatus: number; headers?: Record<string, string>; reason: string };

/** Options of {@link GrpcServer.listen}. */
export interface GrpcServerOptions {
  /** Host to bind (`0.0.0.0`, `127.0.0.1`, `::`); ignored with `path`. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Unix domain socket path to bind instead of a TCP port. */
  path?: string;
  /** TLS material; absent means cleartext h2c. */
  tls?: ServerTls;
  /** Largest message accepted. @default 4 MiB (SLIM YAML `max_frame_size`, MiB) */
  maxMessageSize?: number;
  /** HTTP/2 SETTINGS_MAX_FRAME_SIZE announced. @default 4 MiB, capped at 16 MiB - 1 */
  maxFrameSize?: number;
  /** Streams per connection, at least 1. @default 100 (SLIM YAML `max_concurrent_streams`) */
  maxConcurrentStreams?: number;
  /**
   * Largest request header list, at least {@link MIN_HEADER_LIST_SIZE}.
   * @default 16 KiB (SLIM YAML `max_header_list_size`)
   */
  maxHeaderListSize?: number;
  /** Interval between keepalive pings. @default 120 s (SLIM YAML `keepalive.time`) */
  keepaliveTimeMs?: number;
  /** Ping acknowledgement deadline. @default 20 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
  /** Connections older than this get a GOAWAY. @default 2 h (SLIM YAML `keepalive.max_connection_age`) */
  maxConnectionAgeMs?: number;
  /** Checks request headers before the call starts (basic/JWT transport auth). */
  authorize?: (headers: RequestHeaders) => AuthDecision | Promise<AuthDecision>;
  /** Receives each accepted channel. */
  onChannel: (transport: Transport, info: { remote: string }) => void;
  /** Receives connection-level events (errors, refusals, keepalive timeouts). */
  logger: Logger;
}

/** A listening data-plane server. */
export class GrpcServer {
  /** Host bound. */
  readonly host: string;
  /** Port bound (the real one when 0 was asked for). */
  readonly port: number;
  readonly #server: net.Server;
  readonly #connections = new Map<H2Connection, ReturnType<typeof setTimeout> | undefined>();

  private constructor(server: net.Server, host: string, port: number) {
    this.#server = server;
    this.host = host;
    this.port = port;
  }

  /** Binds and starts serving. Rejects with {@link TransportError} if the port is unavailable. */
  static async listen(options: GrpcServerOptions): Promise<GrpcServer> {
    const t = options.tls;
    const server: net.Server = t
      ? tls.createServer({
        cert: t.cert,
        key: t.key,
        ca: t.clientCa,
        requestCert: t.clientCa !== undefined,
        rejectUnauthorized: t.clientCa !== undefined,
        minVersion: t.minVersion === "tls1.2" ? "TLSv1.2" : "TLSv1.3",
        // Offered, not required: clients that negotiate no ALPN get HTTP/2 all the same.
        ALPNProtocols: ["h2"],
      })
      : net.createServer();
    await new Promise<void>((resolve, reject) => {
      const where = options.path ?? `${options.host}:${options.port}`;
      const onError = (e: Error) =>
        reject(new TransportError(`cannot listen on ${where}: ${e.message}`, { cause: e }));
      server.once("error", onError);
      const done = () => {
        server.off("error", onError);
        resolve();
      };
      if (options.path !== undefined) server.listen(options.path, done);
      else server.listen(options.port, options.host, done);
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : options.port;
    const self = new GrpcServer(server, options.host, port);
    self.#serve(options);
    return self;
  }

  #serve(options: GrpcServerOptions): void {
    const server = this.#server;
    const log = options.logger;
    server.on("error", (e: Error) => log.error("server error", { error: e.message }));
    if (options.tls) {
      // The raw socket, before TLS wraps it: Nagle off from the handshake on.
      server.on("connection", (socket: net.Socket) => noDelay(socket));
      server.on("tlsClientError", (e: Error, socket: tls.TLSSocket) => {
        log.info("tls handshake failed", { peer: peerOf(socket, options), error: e.message });
      });
      server.on("secureConnection", (socket: tls.TLSSocket) => this.#accept(socket, options));
    } else {
      server.on("connection", (socket: net.Socket) => this.#accept(socket, options));
    }
  }

  #accept(socket: net.Socket, options: GrpcServerOptions): void {
    const log = options.logger;
    const peer = peerOf(socket, options);
    noDelay(socket);
    let conn: H2Connection;
    let refusals = 0;
    try {
      conn = new H2Connection(socket, {
        role: "server",
        remote: peer,
        maxFrameSize: options.maxFrameSize ?? 4 * 1024 * 1024,
        maxConcurrentStreams: options.maxConcurrentStreams ?? 100,
        maxHeaderListSize: options.maxHeaderListSize ?? 16 * 1024,
        onStream: (stream) => this.#onStream(stream, peer, options),
        onError: (e) => log.info("http2 connection error", { peer, error: e.message }),
        onRefused: (stream, reason) => {
          // 1st, 10th, 100th... per connection: a client retrying in a loop cannot flood the log.
          if (Number.isInteger(Math.log10(++refusals))) {
            log.warn("refused stream", { peer, stream, reason, count: refusals });
          }
        },
        onClose: () => {
          clearTimeout(this.#connections.get(conn));
          this.#connections.delete(conn);
        },
      });
    } catch (e) {
      log.warn("cannot serve connection", { peer, error: (e as Error).message });
      socket.destroy();
      return;
    }
    const timeout = options.keepaliveTimeoutMs ?? 20_000;
    conn.keepalive(options.keepaliveTimeMs ?? 120_000, timeout, () => {
      log.info("closing connection: keepalive ping not acknowledged", {
        peer,
        timeout_ms: timeout,
      });
    });
    const age = options.maxConnectionAgeMs ?? 7_200_000;
    const timer = age > 0 ? setTimeout(() => conn.close(), age) : undefined;
    this.#connections.set(conn, timer);
  }

  #onStream(stream: H2Stream, remote: string, options: GrpcServerOptions): void {
    const log = options.logger;
    const headers = headerRecord(stream.headers ?? []);
    const path = headers[":path"];
    if (path !== OPEN_CHANNEL_PATH) {
      log.warn("refused call to unknown method", { peer: remote, path: String(path) });
      trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") {
      log.warn("refused compressed call", { peer: remote, encoding: String(encoding) });
      trailersOnly(
        stream,
        GrpcStatus.UNIMPLEMENTED,
        `Content is compressed with \`${encoding}\` which isn't supported`,
        [["grpc-accept-encoding", "identity"]],
      );
      return;
    }
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    const start = () => {
      if (stream.state === "closed") return; // the client gave up meanwhile
      stream.respond([[":status", "200"], ["content-type", "application/grpc"]]);
      const transport = new Http2Transport(stream, { remote, acceptor: true, maxMessageSize });
      options.onChannel(transport, { remote });
    };
    if (!options.authorize) return start();
    let decided: AuthDecision | Promise<AuthDecision>;
    try {
      decided = options.authorize(headers);
    } catch (e) {
      decided = Promise.reject(e);
    }
    Promise.resolve(decided).then((decision) => {
      if (decision.ok) return start();
      const fields: HeaderField[] = [[":status", String(decision.httpStatus)]];
      for (const [k, v] of Object.entries(decision.headers ?? {})) fields.push([k, v]);
      stream.respond(fields, true);
      log.warn("refused unauthenticated call", { peer: remote, reason: decision.reason });
    }).catch((e) => {
      stream.respond([[":status", "500"]], true);
      try {
        log.error("authorization failed", { peer: remote, error: (e as Error).message });
      } catch {
        // Nothing left to report to.
      }
    });
  }

  /** Stops accepting connections; existing connections stay until closed by their links. */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Destroys every remaining connection (end of drain). */
  destroySessions(): void {
    for (const [conn, timer] of this.#connections) {
      clearTimeout(timer);
      conn.destroy();
    }
    this.#connections.clear();
  }
}

function noDelay(socket: net.Socket): void {
  try {
    socket.setNoDelay(true);
  } catch {
    // Unix sockets have no Nagle to disable.
  }
}

function peerOf(socket: net.Socket, options: GrpcServerOptions): string {
  if (options.path !== undefined) return `unix:${options.path}`;
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Header list as a record: repeated names become arrays. */
function headerRecord(fields: readonly HeaderField[]): RequestHeaders {
  const out: RequestHeaders = {};
  for (const [name, value] of fields) {
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

function trailersOnly(
  stream: H2Stream,
  status: number,
  message: string,
  extra: HeaderField[] = [],
): void {
  stream.respond([
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", String(status)],
    ["grpc-message", percentEncode(message)],
    ...extra,
  ], true);
}

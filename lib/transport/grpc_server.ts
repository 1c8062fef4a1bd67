/**
 * The accepting side of the data plane: an HTTP/2 server (h2c with prior knowledge, or TLS) that
 * turns each `OpenChannel` call into a {@link Transport}.
 *
 * Like the real node it answers the response headers at once, accepts any content type, ends
 * streams with `grpc-status` trailers, refuses other paths and compressed calls with status 12,
 * pings idle peers (keepalive) and sets TCP_NODELAY on every accepted socket.
 * @module
 */
import * as http2 from "node:http2";
import type { Socket } from "node:net";
import { TransportError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../wire/grpc_frame.ts";
import { Http2Transport, OPEN_CHANNEL_PATH } from "./http2_transport.ts";
import { GrpcStatus, type Transport } from "./transport.ts";

/** TLS material for a server, already loaded. */
export interface ServerTls {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (mTLS). */
  clientCa?: string;
  /** @default "tls1.3" (SLIM YAML `tls.tls_version`) */
  minVersion?: "tls1.2" | "tls1.3";
}

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
  /** @default 4 MiB (SLIM YAML `max_frame_size`, MiB) */
  maxMessageSize?: number;
  /** HTTP/2 SETTINGS_MAX_FRAME_SIZE announced. @default 4 MiB, capped at 16 MiB - 1 */
  maxFrameSize?: number;
  /** @default 100 (SLIM YAML `max_concurrent_streams`) */
  maxConcurrentStreams?: number;
  /** @default 16 KiB (SLIM YAML `max_header_list_size`) */
  maxHeaderListSize?: number;
  /** Interval between keepalive pings. @default 120 s (SLIM YAML `keepalive.time`) */
  keepaliveTimeMs?: number;
  /** Ping acknowledgement deadline. @default 20 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
  /** Connections older than this get a GOAWAY. @default 2 h (SLIM YAML `keepalive.max_connection_age`) */
  maxConnectionAgeMs?: number;
  /** Checks request headers before the call starts (basic/JWT transport auth). */
  authorize?: (headers: http2.IncomingHttpHeaders) => AuthDecision | Promise<AuthDecision>;
  /** Receives each accepted channel. */
  onChannel: (transport: Transport, info: { remote: string }) => void;
  logger: Logger;
}

/** A listening data-plane server. */
export class GrpcServer {
  readonly host: string;
  readonly port: number;
  readonly #server: http2.Http2Server | http2.Http2SecureServer;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #timers = new Set<ReturnType<typeof setInterval>>();

  private constructor(
    server: http2.Http2Server | http2.Http2SecureServer,
    host: string,
    port: number,
  ) {
    this.#server = server;
    this.host = host;
    this.port = port;
  }

  /** Binds and starts serving. Rejects with {@link TransportError} if the port is unavailable. */
  static async listen(options: GrpcServerOptions): Promise<GrpcServer> {
    const maxFrameSize = Math.min(options.maxFrameSize ?? 4 * 1024 * 1024, 16 * 1024 * 1024 - 1);
    const settings: http2.Settings = {
      initialWindowSize: 4 * 1024 * 1024,
      maxFrameSize,
      maxHeaderListSize: options.maxHeaderListSize ?? 16 * 1024,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 100,
    };
    const common = { settings, maxSessionMemory: 256 };
    const server = options.tls
      ? http2.createSecureServer({
        ...common,
        cert: options.tls.cert,
        key: options.tls.key,
        ca: options.tls.clientCa,
        requestCert: options.tls.clientCa !== undefined,
        rejectUnauthorized: options.tls.clientCa !== undefined,
        minVersion: options.tls.minVersion === "tls1.2" ? "TLSv1.2" : "TLSv1.3",
        allowHTTP1: false,
      })
      : http2.createServer(common);
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
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    server.on("error", (e: Error) => log.error("server error", { error: e.message }));
    // The raw socket, before TLS or HTTP/2 wrap it: Nagle off for every accepted connection.
    server.on("connection", (socket: Socket) => {
      if (options.path === undefined) socket.setNoDelay(true);
    });
    // Without a listener some runtimes leave the socket of a failed session open.
    server.on("sessionError", () => {});
    server.on("session", (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      try {
        session.setLocalWindowSize(16 * 1024 * 1024);
      } catch {
        // Not supported by every runtime; the per-stream window still applies.
      }
      const peer = `${session.socket?.remoteAddress}:${session.socket?.remotePort}`;
      session.on("error", (e: Error) => {
        // A peer that does not speak HTTP/2 (or breaks it) loses its connection, nothing more.
        // The runtime tears the session down itself: destroying it again from this handler
        // trips an nghttp2 assertion in Deno 2.9 (GOAWAY over a half-freed stream list).
        log.info("http2 connection error", { peer, error: e.message });
      });
      const timers = this.#keepalive(session, options);
      session.once("close", () => {
        this.#sessions.delete(session);
        for (const t of timers) {
          clearInterval(t);
          clearTimeout(t);
          this.#timers.delete(t);
        }
      });
    });
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      const socket = stream.session?.socket;
      const remote = options.path !== undefined
        ? `unix:${options.path}`
        : socket
        ? `${socket.remoteAddress}:${socket.remotePort}`
        : "unknown";
      stream.on("error", () => {});
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
          { "grpc-accept-encoding": "identity" },
        );
        return;
      }
      const start = () => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
          waitForTrailers: true,
        });
        const transport = new Http2Transport(stream, { remote, acceptor: true, maxMessageSize });
        options.onChannel(transport, { remote });
      };
      if (!options.authorize) return start();
      Promise.resolve(options.authorize(headers)).then((decision) => {
        if (decision.ok) return start();
        log.warn("refused unauthenticated call", { peer: remote, reason: decision.reason });
        if (!stream.destroyed) {
          stream.respond({ ":status": decision.httpStatus, ...decision.headers }, {
            endStream: true,
          });
        }
      }).catch((e) => {
        log.error("authorization failed", { peer: remote, error: (e as Error).message });
        if (!stream.destroyed) stream.respond({ ":status": 500 }, { endStream: true });
      });
    });
  }

  #keepalive(
    session: http2.ServerHttp2Session,
    options: GrpcServerOptions,
  ): ReturnType<typeof setInterval>[] {
    const timers: ReturnType<typeof setInterval>[] = [];
    const every = options.keepaliveTimeMs ?? 120_000;
    const timeout = options.keepaliveTimeoutMs ?? 20_000;
    if (every > 0) {
      const t = setInterval(() => {
        if (session.destroyed) return;
        let acked = false;
        const deadline = setTimeout(() => {
          if (!acked && !session.destroyed) {
            options.logger.info("closing connection: keepalive ping not acknowledged", {
              timeout_ms: timeout,
            });
            session.destroy();
          }
        }, timeout);
        try {
          session.ping(() => {
            acked = true;
            clearTimeout(deadline);
          });
        } catch {
          clearTimeout(deadline);
        }
      }, every);
      timers.push(t);
    }
    const age = options.maxConnectionAgeMs ?? 7_200_000;
    if (age > 0) {
      const t = setTimeout(() => {
        if (!session.destroyed) session.goaway(http2.constants.NGHTTP2_NO_ERROR);
      }, age);
      timers.push(t);
    }
    for (const t of timers) this.#timers.add(t);
    return timers;
  }

  /** Stops accepting connections; existing sessions stay until closed by their links. */
  stopAccepting(): void {
    // The callback of close() waits for every session; the drain logic waits on links instead.
    this.#server.close();
  }

  /** Destroys every remaining session (end of drain). */
  destroySessions(): void {
    for (const s of this.#sessions) s.destroy();
    for (const t of this.#timers) {
      clearInterval(t);
      clearTimeout(t);
    }
    this.#timers.clear();
  }
}

function trailersOnly(
  stream: http2.ServerHttp2Stream,
  status: number,
  message: string,
  extra: Record<string, string> = {},
): void {
  if (stream.destroyed) return;
  stream.respond({
    ":status": 200,
    "content-type": "application/grpc",
    "grpc-status": String(status),
    "grpc-message": encodeURIComponent(message),
    ...extra,
  }, { endStream: true });
}

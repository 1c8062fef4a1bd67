/**
 * The dialling side of the data plane: connect to a node (h2c with prior knowledge, TLS, or a Unix
 * socket) and open one `OpenChannel` stream, over our own HTTP/2 (`h2/`).
 *
 * TLS offers ALPN `h2` but does not insist on it: the real node negotiates no ALPN and still
 * speaks HTTP/2.
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { TransportError } from "../errors.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../wire/grpc_frame.ts";
import { H2Connection } from "./h2/connection.ts";
import type { HeaderField } from "./h2/hpack.ts";
import { Http2Transport, OPEN_CHANNEL_PATH } from "./http2_transport.ts";
import { redactEndpoint } from "./redact.ts";

/** Client TLS settings, with material already loaded. */
export interface ClientTls {
  /** Skip certificate verification (SLIM YAML `tls.insecure_skip_verify`). @default false */
  insecureSkipVerify?: boolean;
  /** CA bundle (PEM) to verify the server with; system roots otherwise. */
  ca?: string;
  /** Client certificate (PEM) for mTLS. */
  cert?: string;
  /** Key (PEM) of the client certificate. */
  key?: string;
  /** SNI / verification name (SLIM YAML `server_name`). @default the endpoint host */
  serverName?: string;
}

/** Options of {@link dialGrpc}. */
export interface DialOptions {
  /** `http://host:port`, `https://host:port` or `unix:///path`. */
  endpoint: string;
  /** Required for `https://`. */
  tls?: ClientTls;
  /** Extra request headers (SLIM YAML `headers`, plus auth headers). */
  headers?: Record<string, string>;
  /** Time allowed to connect (and finish TLS). @default 10 s (SLIM YAML `connect_timeout`) */
  connectTimeoutMs?: number;
  /** Largest message accepted. @default 4 MiB */
  maxMessageSize?: number;
  /** Keepalive ping interval; 0 disables. @default 0 (SLIM YAML `keepalive.http2_keepalive`) */
  keepaliveMs?: number;
  /** Keepalive ping deadline. @default 10 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
}

/** An open channel and the HTTP/2 connection carrying it. */
export interface DialedChannel {
  /** The OpenChannel stream. */
  transport: Http2Transport;
  /** Ends the stream, then the connection. */
  close(): Promise<void>;
  /** Destroys everything at once. */
  destroy(): void;
}

interface Target {
  authority: string;
  scheme: "http" | "https";
  /** Starts connecting; `ready` is the event that means the socket can carry HTTP/2. */
  connect: () => { socket: net.Socket; ready: "connect" | "secureConnect" };
}

function target(options: DialOptions): Target {
  const ep = options.endpoint;
  const shown = redactEndpoint(ep);
  if (ep.startsWith("unix://")) {
    const path = ep.slice("unix://".length);
    return {
      authority: "localhost",
      scheme: "http",
      connect: () => ({ socket: net.connect({ path }), ready: "connect" }),
    };
  }
  let url: URL;
  try {
    url = new URL(ep);
  } catch {
    // No `cause`: the URL parser's message quotes the input, credentials included.
    throw new TransportError(
      `invalid endpoint ${JSON.stringify(shown)}: expected http(s)://host:port`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (url.protocol === "http:") {
    const port = Number(url.port || 80);
    return {
      authority: url.host,
      scheme: "http",
      connect: () => ({ socket: net.connect({ host, port, noDelay: true }), ready: "connect" }),
    };
  }
  if (url.protocol === "https:") {
    const port = Number(url.port || 443);
    const t = options.tls ?? {};
    return {
      authority: url.host,
      scheme: "https",
      connect: () => ({
        socket: tls.connect({
          host,
          port,
          servername: t.serverName ?? (net.isIP(host) ? undefined : host),
          ca: t.ca,
          cert: t.cert,
          key: t.key,
          rejectUnauthorized: !t.insecureSkipVerify,
          // Offered, not required (the real node negotiates none).
          ALPNProtocols: ["h2"],
        }),
        ready: "secureConnect",
      }),
    };
  }
  throw new TransportError(
    `unsupported endpoint scheme ${JSON.stringify(url.protocol)} in ${JSON.stringify(shown)}`,
  );
}

/** Connects the socket, bounded by the connect timeout. */
function connectSocket(t: Target, endpoint: string, timeoutMs: number): Promise<net.Socket> {
  const { socket, ready } = t.connect();
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off(ready, onReady);
      socket.off("error", onError);
    };
    const onReady = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (e: Error) => {
      cleanup();
      socket.destroy();
      reject(new TransportError(`cannot connect to ${endpoint}: ${e.message}`, { cause: e }));
    };
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(new TransportError(`timed out connecting to ${endpoint} after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(ready, onReady);
    socket.once("error", onError);
  });
}

/**
 * Connects to `options.endpoint` and opens the data-plane channel. The connect timeout covers
 * TCP, TLS and the HTTP/2 handshake (the server's SETTINGS), so a listener that accepts but never
 * speaks HTTP/2 fails the dial in time; the request itself is sent without waiting for it.
 * Errors and the transport's `remote` name the endpoint without credentials.
 */
export async function dialGrpc(options: DialOptions): Promise<DialedChannel> {
  const t = target(options);
  const endpoint = redactEndpoint(options.endpoint);
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const started = Date.now();
  const socket = await connectSocket(t, endpoint, timeoutMs);
  const conn = new H2Connection(socket, { role: "client", remote: endpoint });
  const fields: HeaderField[] = [
    [":method", "POST"],
    [":scheme", t.scheme],
    [":path", OPEN_CHANNEL_PATH],
    [":authority", t.authority],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["user-agent", "slim-ts"],
  ];
  for (const [k, v] of Object.entries(options.headers ?? {})) fields.push([k.toLowerCase(), v]);
  let transport: Http2Transport;
  try {
    const stream = conn.request(fields);
    transport = new Http2Transport(stream, {
      remote: endpoint,
      acceptor: false,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    });
  } catch (e) {
    conn.destroy();
    throw e;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      conn.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TransportError(
                `timed out connecting to ${endpoint} after ${timeoutMs} ms ` +
                  "(no HTTP/2 SETTINGS from the server)",
              ),
            ),
          Math.max(0, timeoutMs - (Date.now() - started)),
        );
      }),
    ]);
  } catch (e) {
    transport.abort();
    conn.destroy();
    if (e instanceof TransportError && e.message.startsWith("timed out")) throw e;
    throw new TransportError(
      `cannot connect to ${endpoint}: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
  }
  if (options.keepaliveMs && options.keepaliveMs > 0) {
    conn.keepalive(options.keepaliveMs, options.keepaliveTimeoutMs ?? 10_000);
  }
  // One stream per connection: when it is over, so is the connection.
  transport.closed.then(() => conn.close());
  return {
    transport,
    close: async () => {
      await transport.close();
      conn.close();
    },
    destroy: () => {
      transport.abort();
      conn.destroy();
    },
  };
}

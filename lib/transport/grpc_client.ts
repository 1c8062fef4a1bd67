/**
 * The dialling side of the data plane: connect to a node (h2c with prior knowledge, TLS, or a Unix
 * socket) and open one `OpenChannel` stream.
 *
 * TLS does not insist on ALPN `h2`: the real node does not negotiate ALPN and still speaks HTTP/2.
 * @module
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { TransportError } from "../errors.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../wire/grpc_frame.ts";
import { Http2Transport, OPEN_CHANNEL_PATH } from "./http2_transport.ts";

/** Client TLS settings, with material already loaded. */
export interface ClientTls {
  /** Skip certificate verification (SLIM YAML `tls.insecure_skip_verify`). @default false */
  insecureSkipVerify?: boolean;
  /** CA bundle (PEM) to verify the server with; system roots otherwise. */
  ca?: string;
  /** Client certificate and key (PEM) for mTLS. */
  cert?: string;
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
  /** @default 10 s (SLIM YAML `connect_timeout`) */
  connectTimeoutMs?: number;
  /** @default 4 MiB */
  maxMessageSize?: number;
  /** Keepalive ping interval; 0 disables. @default 0 (SLIM YAML `keepalive.http2_keepalive`) */
  keepaliveMs?: number;
  /** Keepalive ping deadline. @default 10 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
}

/** An open channel and the HTTP/2 session carrying it. */
export interface DialedChannel {
  transport: Http2Transport;
  /** Ends the stream, then the session. */
  close(): Promise<void>;
  /** Destroys everything at once. */
  destroy(): void;
}

interface Target {
  authority: string;
  scheme: "http" | "https";
  connect: () => net.Socket;
}

function target(options: DialOptions): Target {
  const ep = options.endpoint;
  if (ep.startsWith("unix://")) {
    const path = ep.slice("unix://".length);
    return { authority: "localhost", scheme: "http", connect: () => net.connect({ path }) };
  }
  let url: URL;
  try {
    url = new URL(ep);
  } catch (e) {
    throw new TransportError(
      `invalid endpoint ${JSON.stringify(ep)}: expected http(s)://host:port`,
      {
        cause: e,
      },
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (url.protocol === "http:") {
    const port = Number(url.port || 80);
    return {
      authority: url.host,
      scheme: "http",
      connect: () => net.connect({ host, port, noDelay: true }),
    };
  }
  if (url.protocol === "https:") {
    const port = Number(url.port || 443);
    const t = options.tls ?? {};
    return {
      authority: url.host,
      scheme: "https",
      connect: () =>
        tls.connect({
          host,
          port,
          servername: t.serverName ?? (net.isIP(host) ? undefined : host),
          ca: t.ca,
          cert: t.cert,
          key: t.key,
          rejectUnauthorized: !t.insecureSkipVerify,
          ALPNProtocols: ["h2"],
          noDelay: true,
        } as tls.ConnectionOptions),
    };
  }
  throw new TransportError(
    `unsupported endpoint scheme ${JSON.stringify(url.protocol)} in ${JSON.stringify(ep)}`,
  );
}

/** Connects to `options.endpoint` and opens the data-plane channel. */
export async function dialGrpc(options: DialOptions): Promise<DialedChannel> {
  const t = target(options);
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const session = http2.connect(`${t.scheme}://${t.authority}`, {
    createConnection: () => {
      const socket = t.connect();
      socket.setNoDelay(true);
      return socket;
    },
    settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
    maxSessionMemory: 256,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new TransportError(`timed out connecting to ${options.endpoint} after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      session.once("error", (e: Error) => {
        clearTimeout(timer);
        reject(
          new TransportError(`cannot connect to ${options.endpoint}: ${e.message}`, { cause: e }),
        );
      });
    });
  } catch (e) {
    session.destroy();
    throw e;
  }
  session.on("error", () => {});
  try {
    session.setLocalWindowSize(16 * 1024 * 1024);
  } catch {
    // Optional optimisation.
  }
  const stream = session.request({
    ":method": "POST",
    ":scheme": t.scheme,
    ":authority": t.authority,
    ":path": OPEN_CHANNEL_PATH,
    "content-type": "application/grpc",
    "te": "trailers",
    "user-agent": "slim-ts",
    ...options.headers,
  }, { endStream: false });
  const transport = new Http2Transport(stream, {
    remote: options.endpoint,
    acceptor: false,
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
  });
  stream.on("response", (headers) => {
    const status = Number(headers[":status"]);
    if (status !== 200) transport.remoteStatus = { code: -status, message: `HTTP ${status}` };
  });
  let pinger: ReturnType<typeof setInterval> | undefined;
  if (options.keepaliveMs && options.keepaliveMs > 0) {
    const deadlineMs = options.keepaliveTimeoutMs ?? 10_000;
    pinger = setInterval(() => {
      if (session.destroyed) return;
      const deadline = setTimeout(() => session.destroy(), deadlineMs);
      try {
        session.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, options.keepaliveMs);
  }
  transport.closed.then(() => {
    if (pinger) clearInterval(pinger);
    if (!session.destroyed) session.close();
  });
  return {
    transport,
    close: async () => {
      await transport.close();
      if (!session.destroyed) session.close();
    },
    destroy: () => {
      if (pinger) clearInterval(pinger);
      transport.abort();
      session.destroy();
    },
  };
}

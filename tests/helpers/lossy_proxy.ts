/**
 * A lossy HTTP/2 man-in-the-middle between one app and its node, for loss tests.
 *
 * The app dials the proxy (h2c); for each `OpenChannel` stream the proxy opens the same call to
 * the node and forwards the gRPC messages both ways. Publishes are dropped at random with a
 * seeded generator (reproducible decisions); everything else — the link negotiation,
 * subscriptions and their acknowledgements — always passes.
 *
 * Kept messages are forwarded byte for byte (re-framed, never re-encoded): the link negotiation
 * and the per-hop header MACs are between the app and the node, and the proxy is invisible to
 * both. Dropping a whole message leaves every other MAC valid.
 * @module
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Deframer, frame } from "../../lib/wire/grpc_frame.ts";
import { KIND_PUBLISH, MessageView } from "../../lib/wire/message_view.ts";
import { decodeMessage, SessionMessageType } from "../../lib/wire/codec.ts";

/** Direction of a message through the proxy. */
export type Direction = "to-node" | "to-app";

/** What the drop filter sees of a publish. */
export interface PublishInfo {
  direction: Direction;
  sessionMessageType: SessionMessageType;
  messageId: number;
}

/** Options of {@link LossyProxy.start}. */
export interface LossyProxyOptions {
  /** The node, `http://127.0.0.1:PORT` (or `127.0.0.1:PORT`). */
  target: string;
  /** Share of eligible publishes dropped, 0..1. */
  lossRate: number;
  /** PRNG seed. @default 1 */
  seed?: number;
  /** Which publishes may be dropped. @default every publish */
  eligible?: (p: PublishInfo) => boolean;
  /** Called for every dropped publish (debugging). */
  onDrop?: (p: PublishInfo) => void;
}

/** Counters of one direction. */
export interface DirectionStats {
  forwarded: number;
  dropped: number;
  /** Dropped publishes by session message type name. */
  droppedByType: Record<string, number>;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
]);

function forwardable(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(":") || HOP_BY_HOP.has(k) || v === undefined) continue;
    out[k] = v;
  }
  return out;
}

/** A running proxy. */
export class LossyProxy {
  /** What the app dials: `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly stats: Record<Direction, DirectionStats> = {
    "to-node": { forwarded: 0, dropped: 0, droppedByType: {} },
    "to-app": { forwarded: 0, dropped: 0, droppedByType: {} },
  };
  /** Current loss rate; may be changed while running (e.g. 0 to let a session settle). */
  lossRate: number;
  readonly #server: http2.Http2Server;
  readonly #target: string;
  readonly #random: () => number;
  readonly #eligible: (p: PublishInfo) => boolean;
  readonly #onDrop: ((p: PublishInfo) => void) | undefined;
  readonly #view = new MessageView();
  readonly #sessions = new Set<http2.ClientHttp2Session | http2.ServerHttp2Session>();

  private constructor(server: http2.Http2Server, port: number, options: LossyProxyOptions) {
    this.#server = server;
    this.url = `http://127.0.0.1:${port}`;
    this.#target = options.target.includes("://") ? options.target : `http://${options.target}`;
    this.lossRate = options.lossRate;
    this.#random = seededRandom(options.seed ?? 1);
    this.#eligible = options.eligible ?? (() => true);
    this.#onDrop = options.onDrop;
  }

  /** Listens on an ephemeral port of 127.0.0.1. */
  static async start(options: LossyProxyOptions): Promise<LossyProxy> {
    const server = http2.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const proxy = new LossyProxy(server, (server.address() as AddressInfo).port, options);
    server.on("session", (s) => {
      proxy.#sessions.add(s);
      s.on("close", () => proxy.#sessions.delete(s));
      s.on("error", () => {});
    });
    server.on("stream", (stream, headers) => proxy.#relay(stream, headers));
    return proxy;
  }

  /** Total dropped publishes, both directions. */
  get dropped(): number {
    return this.stats["to-node"].dropped + this.stats["to-app"].dropped;
  }

  #relay(down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const client = http2.connect(this.#target);
    this.#sessions.add(client);
    client.on("close", () => this.#sessions.delete(client));
    client.on("error", () => {});
    const up = client.request({
      ":method": "POST",
      ":path": headers[":path"] as string,
      ...forwardable(headers),
    }, { endStream: false });
    let trailers: http2.OutgoingHttpHeaders | undefined;
    const teardown = () => {
      if (!up.destroyed) up.close(http2.constants.NGHTTP2_CANCEL);
      if (!down.destroyed) down.close(http2.constants.NGHTTP2_CANCEL);
      client.close();
    };
    // Answer the app at once (Deno's server streams may start the response on their own); the
    // node answers the same `200 application/grpc`, anything else tears the relay down.
    down.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    up.on("response", (h) => {
      if (Number(h[":status"]) !== 200) teardown();
    });
    up.on("trailers", (t) => trailers = forwardable(t));
    down.on("wantTrailers", () => {
      try {
        down.sendTrailers(trailers ?? { "grpc-status": "0" });
      } catch {
        // Stream already gone.
      }
    });
    this.#pipe(down, "to-node", (b) => up.write(b), () => up.end());
    this.#pipe(up, "to-app", (b) => down.write(b), () => down.end());
    up.on("error", teardown);
    down.on("error", teardown);
    up.on("close", () => {
      if (!down.destroyed && !down.writableEnded) down.end();
      client.close();
    });
    down.on("close", () => {
      if (!up.destroyed) up.close();
      client.close();
    });
  }

  #pipe(
    from: http2.ServerHttp2Stream | http2.ClientHttp2Stream,
    direction: Direction,
    write: (b: Uint8Array) => void,
    end: () => void,
  ): void {
    const deframer = new Deframer();
    const out: Uint8Array[] = [];
    from.on("data", (chunk: Uint8Array) => {
      out.length = 0;
      try {
        deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), out);
      } catch {
        from.destroy();
        return;
      }
      for (const m of out) {
        if (this.#drop(m, direction)) continue;
        this.stats[direction].forwarded++;
        write(frame(m));
      }
    });
    from.on("end", end);
  }

  #drop(message: Uint8Array, direction: Direction): boolean {
    if (this.lossRate <= 0) return false;
    let kind = 0;
    try {
      kind = this.#view.parse(message).kind;
    } catch {
      return false;
    }
    if (kind !== KIND_PUBLISH) return false;
    const publish = decodeMessage(message).messageType.value as {
      session?: { sessionMessageType: SessionMessageType; messageId: number };
    };
    const info: PublishInfo = {
      direction,
      sessionMessageType: publish.session?.sessionMessageType ?? 0,
      messageId: publish.session?.messageId ?? 0,
    };
    if (!this.#eligible(info)) return false;
    if (this.#random() >= this.lossRate) return false;
    const s = this.stats[direction];
    s.dropped++;
    const type = SessionMessageType[info.sessionMessageType] ?? String(info.sessionMessageType);
    s.droppedByType[type] = (s.droppedByType[type] ?? 0) + 1;
    this.#onDrop?.(info);
    return true;
  }

  /** Stops listening and tears every relayed connection down. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of this.#sessions) s.destroy();
    this.#sessions.clear();
    await closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Helpers of the transport tests: an echo server on our gRPC server, a healthy client that proves
 * a server still works, raw HTTP/2 frame building, and the real-Node reference peer
 * (`node_peer.mjs`).
 */
import * as net from "node:net";
import { createLogger } from "../../lib/log.ts";
import { type DialedChannel, dialGrpc } from "../../lib/transport/grpc_client.ts";
import { GrpcServer, type GrpcServerOptions } from "../../lib/transport/grpc_server.ts";
import type { Transport } from "../../lib/transport/transport.ts";
import { CLIENT_PREFACE, Flag, FrameType } from "../../lib/transport/h2/constants.ts";
import { encodeFrame, headersFrames, settingsFrame } from "../../lib/transport/h2/frame.ts";
import { type HeaderField, HpackEncoder } from "../../lib/transport/h2/hpack.ts";
import { OPEN_CHANNEL_PATH } from "../../lib/transport/http2_transport.ts";
import { frame } from "../../lib/wire/grpc_frame.ts";
import { concat } from "../fixtures/captures.ts";
import { logCapture } from "../helpers/raw_client.ts";

export const FIXTURES = new URL("./fixtures/", import.meta.url);
export const NODE_PEER = new URL("./node_peer.mjs", import.meta.url).pathname;

/** Echoes every message back; ends with `grpc-status` 0 when the client half-closes. */
export async function echo(t: Transport): Promise<void> {
  try {
    for await (const batch of t) {
      for (const m of batch) t.reserve(m.length).set(m);
      if (t.congested) await t.drained();
    }
    await t.close(0);
  } catch (e) {
    await t.close(13, (e as Error).message).catch(() => {});
  }
}

/** A gRPC echo server on 127.0.0.1 with captured logs. */
export async function echoServer(options: Partial<GrpcServerOptions> = {}) {
  const log = logCapture();
  const channels: Transport[] = [];
  const server = await GrpcServer.listen({
    host: "127.0.0.1",
    port: 0,
    logger: createLogger("test", { level: "debug", sink: log.sink }),
    onChannel: (t) => {
      channels.push(t);
      echo(t);
    },
    ...options,
  });
  const close = () => {
    server.stopAccepting();
    server.destroySessions();
  };
  return {
    server,
    port: server.port,
    url: `http://127.0.0.1:${server.port}`,
    log,
    channels,
    close,
  };
}

/** A client that proves, on demand, that the server still echoes. */
export async function healthyClient(endpoint: string, options: { tls?: { ca: string } } = {}) {
  const channel: DialedChannel = await dialGrpc({
    endpoint,
    tls: options.tls ? { ca: options.tls.ca, serverName: "localhost" } : undefined,
  });
  const it = channel.transport[Symbol.asyncIterator]();
  let n = 0;
  let pending: Uint8Array[] = [];
  return {
    channel,
    /** Sends one message and waits for its echo (within 2 s). */
    async roundTrip(size = 64): Promise<void> {
      const m = new Uint8Array(size).fill(++n & 0xff);
      channel.transport.send(m);
      const deadline = Date.now() + 2000;
      while (pending.length === 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const r = await Promise.race([
          it.next(),
          new Promise<never>((_, j) => {
            timer = setTimeout(
              () => j(new Error("healthy client: no echo within 2 s")),
              deadline - Date.now(),
            );
          }),
        ]).finally(() => clearTimeout(timer));
        if (r.done) throw new Error("healthy client: stream ended");
        pending = pending.concat(r.value);
      }
      const got = pending.shift()!;
      if (got.length !== size || got[0] !== (n & 0xff)) {
        throw new Error(`healthy client: wrong echo (${got.length} octets)`);
      }
    },
    async close(): Promise<void> {
      await Promise.race([channel.close(), new Promise((r) => setTimeout(r, 1000))]);
      channel.destroy();
      // Let the iterator finish.
      await it.return?.();
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Raw HTTP/2

const encoder = new HpackEncoder();

/** Request headers of an OpenChannel call on 127.0.0.1. */
export function requestFields(extra: HeaderField[] = []): HeaderField[] {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", OPEN_CHANNEL_PATH],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ];
}

/** Client preface and an empty SETTINGS frame. */
export function preface(): Uint8Array {
  return concat([CLIENT_PREFACE, settingsFrame([])]);
}

/** HEADERS opening `streamId` with an OpenChannel request. */
export function openStream(streamId: number, endStream = false, extra: HeaderField[] = []) {
  return headersFrames(streamId, encoder.encode(requestFields(extra)), endStream, 16384);
}

/** DATA carrying gRPC-framed `message`. */
export function dataFrame(streamId: number, message: Uint8Array, endStream = false): Uint8Array {
  return encodeFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, frame(message));
}

/** A raw socket to the server that records what it receives and when it closes. */
export async function rawConnection(port: number) {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  const received: Uint8Array[] = [];
  socket.on("data", (c: Uint8Array) => received.push(c));
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  await new Promise((r) => socket.once("connect", r));
  return {
    socket,
    closed,
    received: () => concat(received),
    write: (b: Uint8Array) => socket.write(b),
    /** Resolves true if the server closed the socket within `ms`. */
    closedWithin: (ms: number) =>
      Promise.race([
        closed.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
      ]),
    destroy: () => socket.destroy(),
  };
}

/** Parses a received byte stream into `[type, flags, streamId, payload]` frames. */
export function framesOf(bytes: Uint8Array): [number, number, number, Uint8Array][] {
  const out: [number, number, number, Uint8Array][] = [];
  let off = 0;
  while (off + 9 <= bytes.length) {
    const len = (bytes[off] << 16) | (bytes[off + 1] << 8) | bytes[off + 2];
    if (off + 9 + len > bytes.length) break;
    const id = ((bytes[off + 5] & 0x7f) << 24) | (bytes[off + 6] << 16) | (bytes[off + 7] << 8) |
      bytes[off + 8];
    out.push([bytes[off + 3], bytes[off + 4], id, bytes.subarray(off + 9, off + 9 + len)]);
    off += 9 + len;
  }
  return out;
}

/** Error code of the GOAWAY among `bytes`, if any. */
export function goawayCode(bytes: Uint8Array): number | undefined {
  const g = framesOf(bytes).find(([type]) => type === FrameType.GOAWAY);
  if (!g) return undefined;
  const p = g[3];
  return ((p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7]) >>> 0;
}

/** RST_STREAM codes among `bytes`, by stream. */
export function rstCodes(bytes: Uint8Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const [type, , id, p] of framesOf(bytes)) {
    if (type === FrameType.RST_STREAM) {
      m.set(id, ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0);
    }
  }
  return m;
}

// -------------------------------------------------------------------------------------------------
// The real-Node peer

/** Splits text into lines (JSR's @std/streams is out of reach here). */
class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const p of parts) controller.enqueue(p);
      },
      flush(controller) {
        if (rest) controller.enqueue(rest);
      },
    });
  }
}

/** A running `node node_peer.mjs ...` with its JSON-line output. */
export interface NodePeer {
  events: Record<string, unknown>[];
  /** Waits for an event matching `pred` (default 10 s). */
  next(
    pred: (e: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
  /** Waits for the process to exit. */
  status: Promise<Deno.CommandStatus>;
  kill(): void;
}

/** Spawns real Node with the reference peer. */
export function nodePeer(args: string[]): NodePeer {
  const child = new Deno.Command("node", {
    args: [NODE_PEER, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const events: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];
  const reading = (async () => {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line));
      } catch {
        events.push({ event: "garbage", line });
      }
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  })();
  const status = child.status.then(async (s) => {
    await reading;
    return s;
  });
  return {
    events,
    status,
    async next(pred, ms = 10_000) {
      const deadline = Date.now() + ms;
      let seen = 0;
      while (true) {
        for (; seen < events.length; seen++) if (pred(events[seen])) return events[seen];
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `node peer: no matching event within ${ms} ms; got ${JSON.stringify(events)}`,
          );
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          waiters.push(r);
          timer = setTimeout(r, Math.min(left, 200));
        });
        clearTimeout(timer);
      }
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    },
  };
}

/** Runs one client scenario of the Node peer to completion; returns its events. */
export async function nodeClient(
  url: string,
  scenario: string,
  ca?: string,
): Promise<Record<string, unknown>[]> {
  const peer = nodePeer(["client", url, scenario, ...(ca ? [ca] : [])]);
  try {
    await peer.next((e) => e.done === true, 20_000);
  } finally {
    peer.kill();
    await peer.status;
  }
  return peer.events;
}

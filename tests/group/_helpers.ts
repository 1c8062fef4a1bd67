/**
 * Helpers of the group tests: a recording TCP tap between an app and its node (with an HTTP/2 +
 * gRPC parser for what it recorded), apps whose MLS state the test can reach, a freezable MLS
 * wrapper, and a few message builders for raw clients.
 * @module
 */
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { App } from "../../lib/app/app.ts";
import { signPublish } from "../../lib/identity/header_signature.ts";
import type { IdentityProvider } from "../../lib/identity/identity.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { MlsMember } from "../../lib/mls/mod.ts";
import type { Name } from "../../lib/names/name.ts";
import { SlimNode } from "../../lib/node/node.ts";
import type { SessionMls } from "../../lib/session/mls_port.ts";
import {
  type CommandPayloadSchema,
  decodeMessage,
  DEFAULT_TTL,
  makeMessage,
  type Message,
  nameToProto,
  type Publish,
  PublishSchema,
  SessionMessageType,
  SessionType,
  SLIM_WIRE_VERSION,
} from "../../lib/wire/codec.ts";
import { Deframer } from "../../lib/wire/grpc_frame.ts";
import { concatBytes } from "../../lib/bytes.ts";

/** Shared secret of every well-behaved app in these tests. */
export const SECRET = "slim-ts-group-tests-shared-secret-0123456789abcdef";
/** Another secret (an outsider). */
export const OTHER_SECRET = "a-different-group-tests-shared-secret-9876543210zyx";

export const quiet: Logger = createLogger("test", { level: "error" });
export const encoder: TextEncoder = new TextEncoder();
export const decoder: TextDecoder = new TextDecoder();

/** A slim-ts node on an ephemeral port of 127.0.0.1. */
export async function startNode(
  logger: Logger = quiet.child("node"),
): Promise<{ node: SlimNode; port: number; url: string }> {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger,
    drainTimeoutMs: 500,
  });
  const port = node.addresses[0].port;
  return { node, port, url: `http://127.0.0.1:${port}` };
}

/** Captures log lines. */
export interface LogCapture {
  lines: string[];
  logger: Logger;
  has(...parts: string[]): boolean;
  count(...parts: string[]): number;
  /** Waits until a line contains every part; throws with the log on timeout. */
  wait(parts: string[], timeoutMs?: number): Promise<string>;
}

/** A debug-level logger whose lines are kept. */
export function capture(scope: string): LogCapture {
  const lines: string[] = [];
  const match = (parts: string[]) => lines.filter((l) => parts.every((p) => l.includes(p)));
  return {
    lines,
    logger: createLogger(scope, {
      level: "debug",
      timestamps: false,
      sink: (l) => {
        lines.push(l);
      },
    }),
    has: (...parts) => match(parts).length > 0,
    count: (...parts) => match(parts).length,
    wait: async (parts, timeoutMs = 3000) => {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const found = match(parts)[0];
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `no log line with ${JSON.stringify(parts)} within ${timeoutMs} ms; ${scope} log:\n` +
              lines.slice(-40).join("\n"),
          );
        }
        await sleep(10);
      }
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `predicate` until it holds; throws `what` after `timeoutMs`. */
export async function until(
  predicate: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// -----------------------------------------------------------------------------------------------
// Tap

/** The bytes of one TCP connection through a {@link Tap}, in both directions. */
export interface TapConnection {
  /** App → node chunks, as read. */
  toNode: Uint8Array[];
  /** Node → app chunks, as read. */
  toApp: Uint8Array[];
}

/** A TCP forwarder to a node that records every byte both ways; transparent to both ends. */
export class Tap {
  url = "";
  readonly conns: TapConnection[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(targetPort: number) {
    this.#server = net.createServer((client) => {
      const rec: TapConnection = { toNode: [], toApp: [] };
      this.conns.push(rec);
      const upstream = net.connect(targetPort, "127.0.0.1");
      this.#sockets.add(client);
      this.#sockets.add(upstream);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.on("data", (d: Uint8Array) => {
        rec.toNode.push(new Uint8Array(d));
        upstream.write(d);
      });
      upstream.on("data", (d: Uint8Array) => {
        rec.toApp.push(new Uint8Array(d));
        client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on("close", end);
      upstream.on("close", end);
      client.on("error", end);
      upstream.on("error", end);
    });
  }

  /** Listens on an ephemeral port of 127.0.0.1 and forwards to `targetPort`. */
  static async start(targetPort: number): Promise<Tap> {
    const tap = new Tap(targetPort);
    await new Promise<void>((resolve, reject) => {
      tap.#server.once("error", reject);
      tap.#server.listen(0, "127.0.0.1", () => resolve());
    });
    tap.url = `http://127.0.0.1:${(tap.#server.address() as AddressInfo).port}`;
    return tap;
  }

  /** Every recorded byte of every connection, both directions. */
  allBytes(): Uint8Array {
    return concatBytes(
      ...this.conns.flatMap((c) => [concatBytes(...c.toNode), concatBytes(...c.toApp)]),
    );
  }

  /** Every gRPC message recorded so far, decoded, per connection and direction. */
  messages(): { conn: number; direction: "to-node" | "to-app"; raw: Uint8Array; m: Message }[] {
    const out: { conn: number; direction: "to-node" | "to-app"; raw: Uint8Array; m: Message }[] =
      [];
    this.conns.forEach((c, conn) => {
      for (const raw of grpcMessages(concatBytes(...c.toNode), true)) {
        out.push({ conn, direction: "to-node", raw, m: decodeMessage(raw) });
      }
      for (const raw of grpcMessages(concatBytes(...c.toApp), false)) {
        out.push({ conn, direction: "to-app", raw, m: decodeMessage(raw) });
      }
    });
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

const PREFACE = encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * The gRPC messages carried by one direction of a recorded h2c connection: the client side starts
 * with the 24-byte preface; then 9-byte frame headers (24-bit length, type, flags, 31-bit stream
 * id). DATA frames (type 0) are collected per stream, padding stripped (flag 0x8), and
 * gRPC-deframed. A trailing incomplete frame is ignored.
 */
export function grpcMessages(bytes: Uint8Array, clientSide: boolean): Uint8Array[] {
  let off = 0;
  if (clientSide) {
    if (bytes.length < PREFACE.length) return [];
    for (let i = 0; i < PREFACE.length; i++) {
      if (bytes[i] !== PREFACE[i]) throw new Error("client bytes do not start with the preface");
    }
    off = PREFACE.length;
  }
  const deframers = new Map<number, Deframer>();
  const out: Uint8Array[] = [];
  while (off + 9 <= bytes.length) {
    const length = (bytes[off] << 16) | (bytes[off + 1] << 8) | bytes[off + 2];
    const type = bytes[off + 3];
    const flags = bytes[off + 4];
    const stream = (((bytes[off + 5] & 0x7f) << 24) | (bytes[off + 6] << 16) |
      (bytes[off + 7] << 8) | bytes[off + 8]) >>> 0;
    if (off + 9 + length > bytes.length) break;
    if (type === 0) {
      let payload = bytes.subarray(off + 9, off + 9 + length);
      if (flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]);
      let d = deframers.get(stream);
      if (!d) deframers.set(stream, d = new Deframer());
      d.push(payload, out);
    }
    off += 9 + length;
  }
  return out.map((m) => m.slice());
}

/** Index of `needle` in `haystack`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  if (needle.length === 0) return 0;
  const first = needle[0];
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    if (haystack[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The publish of a message, if it is one. */
export function publishOf(m: Message): Publish | undefined {
  return m.messageType.case === "publish" ? m.messageType.value : undefined;
}

/** The application payload blob of a publish, if it has one. */
export function appBlob(p: Publish): Uint8Array | undefined {
  const c = p.msg?.contentType;
  return c?.case === "appPayload" ? c.value.blob : undefined;
}

// -----------------------------------------------------------------------------------------------
// Apps with reachable MLS state

/** An app and the MLS members its sessions created, in creation order. */
export interface TestApp {
  app: App;
  mls: MlsMember[];
  /** Wrappers around {@link mls} (same order); freeze one to make it ignore commits. */
  wrappers: FreezableMls[];
}

/**
 * Connects an app whose MLS state the test can reach: the `mls` factory of `App.connect` (public
 * API) builds the same `MlsMember` as the default factory and remembers it.
 */
export async function connectApp(
  name: string,
  endpoint: string,
  options: { logger?: Logger; secret?: string } = {},
): Promise<TestApp> {
  const holder: { app?: App } = {};
  const mls: MlsMember[] = [];
  const wrappers: FreezableMls[] = [];
  const logger = options.logger ?? quiet.child(name);
  const app = await App.connect({
    name,
    endpoint,
    identity: { sharedSecret: options.secret ?? SECRET },
    logger,
    mls: async () => {
      const m = await MlsMember.create({
        provider: holder.app!.identity,
        verifier: holder.app!.verifier,
        logger,
      });
      mls.push(m);
      const w = new FreezableMls(m);
      wrappers.push(w);
      return w;
    },
  });
  holder.app = app;
  return { app, mls, wrappers };
}

/**
 * A session's MLS state that can be frozen: while frozen, commits are recorded in {@link held}
 * and not applied (a member that keeps its old keys, ignoring its removal).
 */
export class FreezableMls implements SessionMls {
  readonly inner: MlsMember;
  frozen = false;
  readonly held: Uint8Array[] = [];

  constructor(inner: MlsMember) {
    this.inner = inner;
  }
  get joined(): boolean {
    return this.inner.joined;
  }
  get epoch(): bigint {
    return this.inner.epoch;
  }
  generateKeyPackage(): Promise<Uint8Array> {
    return this.inner.generateKeyPackage();
  }
  joinFromWelcome(welcome: Uint8Array): Promise<void> {
    return this.inner.joinFromWelcome(welcome);
  }
  processCommit(commit: Uint8Array): Promise<void> {
    if (this.frozen) {
      this.held.push(commit);
      return Promise.resolve();
    }
    return this.inner.processCommit(commit);
  }
  createGroup(): Promise<void> {
    return this.inner.createGroup();
  }
  addMember(keyPackage: Uint8Array): Promise<{ commit: Uint8Array; welcome: Uint8Array }> {
    return this.inner.addMember(keyPackage);
  }
  removeMember(appId: bigint): Promise<{ commit: Uint8Array }> {
    return this.inner.removeMember(appId);
  }
  encrypt(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    return this.inner.encrypt(plaintext, aad);
  }
  decrypt(message: Uint8Array): Promise<{ plaintext: Uint8Array; aad: Uint8Array }> {
    return this.inner.decrypt(message);
  }
}

// -----------------------------------------------------------------------------------------------
// Raw messages

type Command = MessageInitShape<typeof CommandPayloadSchema>["commandPayloadType"];

/** A session command publish (unsigned, no identity yet). */
export function commandPublish(
  source: Name,
  destination: Name,
  sessionId: number,
  type: SessionMessageType,
  messageId: number,
  payload: Command,
  options: { fanout?: number; sessionType?: SessionType } = {},
): Publish {
  return create(PublishSchema, {
    header: {
      source: nameToProto(source),
      destination: nameToProto(destination),
      fanout: options.fanout ?? 1,
      ttl: DEFAULT_TTL,
      version: SLIM_WIRE_VERSION,
    },
    session: {
      sessionType: options.sessionType ?? SessionType.MULTICAST,
      sessionMessageType: type,
      sessionId,
      messageId,
    },
    msg: { contentType: { case: "commandPayload", value: { commandPayloadType: payload } } },
  });
}

/** A data publish (MSG by default) with a clear blob (encrypt it before sending with MLS). */
export function dataPublish(
  source: Name,
  destination: Name,
  sessionId: number,
  messageId: number,
  blob: Uint8Array,
  options: { fanout?: number; type?: SessionMessageType; payloadType?: string } = {},
): Publish {
  return create(PublishSchema, {
    header: {
      source: nameToProto(source),
      destination: nameToProto(destination),
      fanout: options.fanout ?? 1,
      ttl: DEFAULT_TTL,
      version: SLIM_WIRE_VERSION,
    },
    session: {
      sessionType: SessionType.MULTICAST,
      sessionMessageType: options.type ?? SessionMessageType.MSG,
      sessionId,
      messageId,
    },
    msg: {
      contentType: {
        case: "appPayload",
        value: { payloadType: options.payloadType ?? "msg", blob },
      },
    },
  });
}

/** Stamps a fresh token of `identity` into the header and signs it. */
export async function stamp(p: Publish, identity: IdentityProvider): Promise<Publish> {
  p.header!.identity = await identity.token();
  await signPublish(identity.signingKey, p);
  return p;
}

/** Wraps a publish into a message. */
export function wrap(p: Publish, metadata: Record<string, string> = {}): Message {
  return makeMessage({ messageType: { case: "publish", value: p }, metadata });
}

/** A random control message id (non-zero). */
export function randomId(): number {
  return 1 + Math.floor(Math.random() * 0x7ffffffe);
}

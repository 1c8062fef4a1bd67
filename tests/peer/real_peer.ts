/**
 * Runs the real SLIM (npm `@agntcy/slim-bindings`, run by Node) as a peer of our tests.
 *
 * Interop claims are only worth something when the other side is the reference implementation,
 * so each real node or app is its own Node process running `peer.mjs`, driven over JSON lines.
 * This module owns those processes: it starts them, turns their answers and events into typed
 * promises, and guarantees they are gone when a test ends (pass or fail), so a failing test
 * never leaves listeners or ports behind.
 *
 * The bindings are installed with `npm ci --prefix tests/peer`; {@link ensurePeerInstalled}
 * turns a missing install into a loud failure rather than a skipped test.
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  ClosedError,
  ConfigError,
  SessionError,
  SlimError,
  TimeoutError,
} from "../../lib/errors.ts";

const PEER_SCRIPT = fileURLToPath(new URL("./peer.mjs", import.meta.url));
const PEER_DIR = fileURLToPath(new URL("./", import.meta.url));
const BINDINGS_MARKER = fileURLToPath(
  new URL("./node_modules/@agntcy/slim-bindings/package.json", import.meta.url),
);
const STDERR_LINES_KEPT = 400;

/** True when the real SLIM bindings are installed next to `peer.mjs`. */
export function peerInstalled(): boolean {
  try {
    return Deno.statSync(BINDINGS_MARKER).isFile;
  } catch {
    return false;
  }
}

/**
 * Throws unless the real SLIM bindings are installed.
 *
 * Interop tests must fail, never silently skip, when the reference implementation is missing:
 * a skipped interop suite reads as a green build.
 */
export function ensurePeerInstalled(): void {
  if (!peerInstalled()) {
    throw new ConfigError(
      `the real SLIM peer is not installed (${BINDINGS_MARKER} is missing); ` +
        "run `npm ci --prefix tests/peer` from the repository root (needs Node >= 20)",
    );
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago.
 *
 * The port is released before returning, so another process may still take it; callers that
 * start a listener on it should retry with a new port when binding fails.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}

/** A PEM key pair for {@link JwtIdentity} (`ES256`). */
export interface JwtKeyPair {
  /** PKCS#8 private key, PEM. */
  signKey: string;
  /** SPKI public key, PEM. */
  verifyKey: string;
}

/**
 * A fresh P-256 key pair in the PEM form the real apps load, so JWT interop tests need no key
 * files in the repository.
 */
export async function generateJwtKeyPair(): Promise<JwtKeyPair> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  return {
    signKey: toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    verifyKey: toPem("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey)),
  };
}

function toPem(label: string, der: ArrayBuffer): string {
  let bin = "";
  for (const b of new Uint8Array(der)) bin += String.fromCharCode(b);
  const lines = btoa(bin).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// Events and results (the JSON shapes printed by peer.mjs)

/** Metadata attached to sessions and messages. */
export type Metadata = Record<string, string>;

/**
 * One name as the peer prints it, in every spelling a test may hold: the bindings' `toString()`
 * drops the instance id, so matching on it alone cannot tell two instances apart.
 */
export interface SourceFields {
  /** `org/ns/app/<uuid>`, or `org/ns/app` when the name carries no instance id. */
  source: string;
  /** `org/ns/app`. */
  sourceBase: string;
  /** The bindings' own `Name.toString()`. */
  sourceString: string;
  /** The 128-bit instance id as a UUID (big-endian), or null for "any instance". */
  sourceId: string | null;
}

/** Same spellings as {@link SourceFields}, for the destination; absent names are null. */
export interface DestinationFields {
  /** `org/ns/app/<uuid>` or `org/ns/app`; null when the bindings report no destination. */
  destination: string | null;
  /** `org/ns/app`. */
  destinationBase?: string;
  /** The bindings' own `Name.toString()`. */
  destinationString?: string;
  /** The instance id as a UUID, or null. */
  destinationId?: string | null;
}

/** A session as seen by one real app. */
export interface SessionInfo extends SourceFields, DestinationFields {
  /** Harness handle of the session, unique within one app process; pass it to commands. */
  sid: number;
  /** SLIM's own 32-bit session id, identical on every member. */
  sessionId: number;
  /** Point-to-point or group (multicast). */
  kind: "p2p" | "group";
  /** True on the side that created the session (the moderator of a group). */
  initiator: boolean;
  /** Session metadata chosen by the initiator. */
  metadata: Metadata;
}

/** The first line of every peer process, printed before SLIM is loaded. */
export interface HelloEvent {
  /** Discriminant. */
  event: "hello";
  /** Pid of the worker process, the one that loads SLIM (the launcher is its parent). */
  pid: number;
  /** Role given on the command line. */
  role: "node" | "app";
}

/** A real node is accepting TCP connections. */
export interface NodeReadyEvent {
  /** Discriminant. */
  event: "ready";
  /** Discriminant among ready events. */
  role: "node";
  /** `127.0.0.1:PORT`. */
  endpoint: string;
  /** Listening port. */
  port: number;
  /** Whether inbound links must carry header MACs. */
  strict: boolean;
  /** Worker pid. */
  pid: number;
  /** Native core version, from `getVersion()`. */
  version: string;
}

/** A real app is connected and subscribed to its own name. */
export interface AppReadyEvent {
  /** Discriminant. */
  event: "ready";
  /** Discriminant among ready events. */
  role: "app";
  /** `org/ns/app/<uuid>`. */
  name: string;
  /** `org/ns/app`. */
  nameBase: string;
  /** The bindings' own `Name.toString()`. */
  nameString: string;
  /** Instance id as a UUID. */
  nameId: string;
  /** The app's 128-bit id as a UUID (see `idFormat`). */
  id: string;
  /** Always `uuid`: the id text is the 128-bit value in big-endian UUID form. */
  idFormat: "uuid";
  /** The same id as an unsigned decimal integer. */
  idDecimal: string;
  /** Which identity the app signs with. */
  identityKind: "secret" | "jwt";
  /** Node URL the app dialled. */
  endpoint: string;
  /** Worker pid. */
  pid: number;
  /** Native core version, from `getVersion()`. */
  version: string;
}

/** An incoming session was accepted (the peer accepts every invitation at once). */
export interface SessionEvent extends SessionInfo {
  /** Discriminant. */
  event: "session";
}

/** A message delivered to the application on one session. */
export interface MessageEvent extends SourceFields, DestinationFields {
  /** Discriminant. */
  event: "message";
  /** Session the message arrived on. */
  sid: number;
  /** Handle for `publishTo` replies; unique within one app process. */
  ref: number;
  /** Sender-chosen payload type (the bindings default to `msg`). */
  payloadType: string;
  /** Sender-chosen metadata, plus whatever SLIM adds (e.g. `PUBLISH_TO`). */
  metadata: Metadata;
  /** The sender's identity token as verified by the real app. */
  identity: string;
  /** Receiving connection id inside the real app, as decimal text. */
  inputConnection: string;
  /** The payload decoded as UTF-8 (lossy for binary payloads). */
  text: string;
  /** The exact payload bytes, base64. */
  b64: string;
}

/** A non-fatal notice delivered through a session's receive channel. */
export interface SessionErrorEvent {
  /** Discriminant. */
  event: "session-error";
  /** Session concerned. */
  sid: number;
  /** The bindings' error text, e.g. `participant disconnected: ...`. */
  error: string;
}

/** A session's receive channel ended (deleted, removed, or closed by the moderator). */
export interface SessionClosedEvent {
  /** Discriminant. */
  event: "session-closed";
  /** Session concerned. */
  sid: number;
  /** The error text that ended the receive loop. */
  reason: string;
}

/** An automatic echo reply was delivered (see {@link RealApp.echo}). */
export interface EchoedEvent {
  /** Discriminant. */
  event: "echoed";
  /** Session concerned. */
  sid: number;
  /** Ref of the message that was echoed. */
  ref: number;
  /** Time until the reply's completion handle resolved. */
  elapsedMs: number;
}

/** An automatic echo reply failed. */
export interface EchoErrorEvent {
  /** Discriminant. */
  event: "echo-error";
  /** Session concerned. */
  sid: number;
  /** Ref of the message that was to be echoed. */
  ref: number;
  /** Why the reply failed. */
  error: string;
}

/** The peer could not parse a line we sent. */
export interface ProtocolErrorEvent {
  /** Discriminant. */
  event: "protocol-error";
  /** What was wrong. */
  error: string;
}

/** Anything the peer printed that this module does not know; kept for debugging. */
export interface UnknownEvent {
  /** Discriminant. */
  event: "unknown";
  /** The parsed line as printed. */
  raw: Record<string, unknown>;
}

/** Every event a peer process can report. */
export type PeerEvent =
  | HelloEvent
  | NodeReadyEvent
  | AppReadyEvent
  | SessionEvent
  | MessageEvent
  | SessionErrorEvent
  | SessionClosedEvent
  | EchoedEvent
  | EchoErrorEvent
  | ProtocolErrorEvent
  | UnknownEvent;

const KNOWN_EVENTS = new Set([
  "hello",
  "ready",
  "session",
  "message",
  "session-error",
  "session-closed",
  "echoed",
  "echo-error",
  "protocol-error",
]);

/** How long a handle-based operation took, measured inside the real app. */
export interface Elapsed {
  /** From the call to the resolution of its completion handle. */
  elapsedMs: number;
}

/** A session member with its liveness as the real moderator sees it. */
export interface Participant {
  /** `org/ns/app/<uuid>`. */
  name: string;
  /** `org/ns/app`. */
  nameBase: string;
  /** The bindings' own `Name.toString()`. */
  nameString: string;
  /** Instance id as a UUID, or null. */
  nameId: string | null;
  /** Offline members missed heartbeats or acks; SLIM keeps them in the group. */
  status: "online" | "offline";
}

/** Options of {@link RealApp.createSession}. */
export interface CreateSessionOptions {
  /** Point-to-point (needs `peer`) or group (needs `channel`). */
  kind: "p2p" | "group";
  /** Peer of a p2p session: `org/ns/app` (any instance) or `org/ns/app/<uuid>`. */
  peer?: string;
  /** Channel of a group session. */
  channel?: string;
  /** Enables MLS. */
  mls?: boolean;
  /**
   * Retries of reliable delivery. Omitted means 5; `null` leaves it unset, which (together with
   * an unset interval) makes a best-effort session. Group sessions need both knobs.
   */
  maxRetries?: number | null;
  /** Retry interval in ms. Omitted means 1000; `null` leaves it unset. */
  intervalMs?: number | null;
  /** Session metadata, delivered to every invitee. */
  metadata?: Metadata;
  /** How long the real app waits for the session to be established. Default 30 s. */
  timeoutMs?: number;
}

/** Payload options shared by the publish calls. */
export interface PublishOptions {
  /** Defaults to the bindings' `"msg"`. */
  payloadType?: string;
  /** Message metadata. */
  metadata?: Metadata;
  /** How long the real app waits for the completion handle. Default 30 s. */
  timeoutMs?: number;
}

/** An operation timeout, passed through to the real app. */
export interface TimeoutOption {
  /** Milliseconds; the harness waits a few seconds longer for the answer. */
  timeoutMs?: number;
}

/** Shared-secret or JWT identity of a real app. */
export type RealIdentity =
  | { secret: string; jwt?: undefined }
  | { jwt: JwtIdentity; secret?: undefined };

/**
 * JWT identity: the app signs its own tokens with `signKey` and verifies everybody else's with
 * `verifyKey` (so all apps of a test usually share one key pair or one HMAC secret).
 */
export interface JwtIdentity {
  /** `ES256` (default), `ES384`, `RS256`, `HS256`, `EdDSA`... */
  alg?: string;
  /** Key format of both keys: `Pem` (default), `Jwk` or `Jwks`. */
  format?: "Pem" | "Jwk" | "Jwks";
  /** Private key (PEM text for asymmetric algorithms, the secret for HMAC). */
  signKey: string;
  /** Public key (or the same secret for HMAC). */
  verifyKey: string;
  /** `iss` claim to put in tokens and require from peers. */
  issuer?: string;
  /** `aud` claim(s) to put in tokens and require from peers. */
  audience?: string | string[];
  /**
   * Token subject, which becomes the app's identity and, hashed, its instance id; defaults to
   * the app name, so two instances of one name need distinct subjects.
   */
  subject?: string;
  /** Token lifetime in seconds (default 3600). */
  durationS?: number;
}

/** Options of {@link startRealNode}. */
export interface RealNodeOptions {
  /** Port on 127.0.0.1; a free one is chosen (and retried on a bind race) when omitted. */
  port?: number;
  /** Require header MACs on inbound links, as the `slim` binary does. */
  strict?: boolean;
  /** `RUST_LOG` of the native core (default `info`); its lines are kept for failure reports. */
  rustLog?: string;
  /** How long to wait for the node to listen. Default 20 s. */
  startTimeoutMs?: number;
}

/** Options of {@link startRealApp}. */
export type RealAppOptions = RealIdentity & {
  /** `org/ns/app`, without an id (the real app picks its own). */
  name: string;
  /** Node to connect to: `127.0.0.1:PORT` or `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** `RUST_LOG` of the native core (default `info`). */
  rustLog?: string;
  /** How long to wait for connect + subscribe. Default 20 s. */
  startTimeoutMs?: number;
};

// ---------------------------------------------------------------------------------------------
// One peer process

interface Waiter {
  predicate: (e: PeerEvent) => boolean;
  consume: boolean;
  resolve: (e: PeerEvent) => void;
  fail: (err: Error) => void;
}

interface Pending {
  cmd: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** Starts `node peer.mjs ...` and multiplexes requests and events over its stdio. */
class PeerProcess {
  readonly label: string;
  readonly events: PeerEvent[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<Waiter>();
  readonly #consumed = new Set<number>();
  readonly #stderr: string[] = [];
  readonly #readers: Promise<void>;
  readonly #verbose: boolean;
  #nextId = 1;
  #workerPid: number | undefined;
  #exit: Deno.CommandStatus | undefined;
  #closing: Promise<void> | undefined;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(label: string, args: string[], rustLog: string | undefined) {
    this.label = label;
    this.#verbose = (Deno.env.get("SLIM_PEER_VERBOSE") ?? "") !== "";
    const env: Record<string, string> = { RUST_LOG: rustLog ?? Deno.env.get("RUST_LOG") ?? "info" };
    this.#child = new Deno.Command(Deno.env.get("SLIM_PEER_NODE") ?? "node", {
      args: [PEER_SCRIPT, ...args],
      cwd: PEER_DIR,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.status = this.#child.status.then((s) => {
      this.#exit = s;
      return s;
    });
    this.#readers = Promise.all([
      readLines(this.#child.stdout, (line) => this.#onStdout(line)),
      readLines(this.#child.stderr, (line) => this.#onStderr(line)),
    ]).then(() => this.#onEnd());
  }

  /** Whether the launcher process has exited. */
  get exited(): boolean {
    return this.#exit !== undefined;
  }

  /** The last lines the peer wrote to stderr (its own log and the native core's). */
  stderrTail(lines = 40): string {
    return this.#stderr.slice(-lines).join("\n");
  }

  /** Sends one command and resolves with its `result`, or rejects with the peer's error. */
  request<T>(cmd: string, params: Record<string, unknown>, timeoutMs: number): Promise<T> {
    if (this.#exit !== undefined || this.#closing) {
      return Promise.reject(new ClosedError(`${this.label}: peer process is not running`));
    }
    const id = this.#nextId++;
    const line = JSON.stringify({ ...params, id, cmd }) + "\n";
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TimeoutError(`${this.label}: ${cmd} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        cmd,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#writer.write(new TextEncoder().encode(line)).catch((err) => {
        this.#pending.get(id)?.reject(
          new ClosedError(`${this.label}: cannot send ${cmd}`, { cause: err }),
        );
        this.#pending.delete(id);
      });
    });
  }

  /**
   * Resolves with the first event (already received or future) matching `predicate`. With
   * `consume`, each event is handed out at most once across consuming waits.
   */
  waitEvent(
    predicate: (e: PeerEvent) => boolean,
    timeoutMs: number,
    what: string,
    consume = false,
  ): Promise<PeerEvent> {
    const key = (e: PeerEvent) => (e.event === "message" ? e.ref : -1);
    for (const e of this.events) {
      if (consume && this.#consumed.has(key(e))) continue;
      if (predicate(e)) {
        if (consume) this.#consumed.add(key(e));
        return Promise.resolve(e);
      }
    }
    if (this.#exit !== undefined) {
      return Promise.reject(this.#deadError(`${what}: peer process has exited`));
    }
    return new Promise<PeerEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const message = `${this.label}: timed out after ${timeoutMs} ms waiting for ${what}`;
        reject(new TimeoutError(message));
      }, timeoutMs);
      const waiter: Waiter = {
        predicate,
        consume,
        resolve: (e) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(e);
        },
        fail: (err) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Worker pid, once the peer said hello. */
  get workerPid(): number | undefined {
    return this.#workerPid;
  }

  /**
   * Stops the peer: `quit`, then end of stdin, then SIGTERM, then SIGKILL of both processes.
   * Idempotent; resolves once every pipe is drained so Deno's resource sanitizer stays quiet.
   */
  close(graceMs = 3000): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    if (this.#exit === undefined) {
      try {
        await this.#writer.write(new TextEncoder().encode('{"id":0,"cmd":"quit"}\n'));
      } catch {
        // already gone
      }
    }
    try {
      await this.#writer.close();
    } catch {
      // already closed
    }
    if (!(await settlesWithin(this.status, graceMs))) {
      this.#signal("SIGTERM");
      if (!(await settlesWithin(this.status, 2000))) this.#signal("SIGKILL");
    }
    await this.status;
    // The worker holds the pipes too; make sure it is gone before waiting for end of stream.
    if (!(await settlesWithin(this.#readers, 2000))) {
      this.#killWorker();
      await this.#readers;
    }
  }

  #signal(sig: Deno.Signal): void {
    try {
      this.#child.kill(sig);
    } catch {
      // exited meanwhile
    }
    if (sig === "SIGKILL") this.#killWorker();
  }

  #killWorker(): void {
    if (this.#workerPid === undefined) return;
    try {
      Deno.kill(this.#workerPid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  #onStdout(line: string): void {
    if (line.trim() === "") return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line);
    } catch {
      this.#onStderr(`[stdout, not JSON] ${line}`);
      return;
    }
    if (typeof msg.id === "number" && typeof msg.ok === "boolean") {
      const pending = this.#pending.get(msg.id);
      if (!pending) return;
      this.#pending.delete(msg.id);
      if (msg.ok) pending.resolve(msg.result);
      else pending.reject(new SessionError(`${this.label}: ${pending.cmd}: ${String(msg.error)}`));
      return;
    }
    const event: PeerEvent = typeof msg.event === "string" && KNOWN_EVENTS.has(msg.event)
      ? msg as unknown as PeerEvent
      : { event: "unknown", raw: msg };
    if (event.event === "hello") this.#workerPid = event.pid;
    this.events.push(event);
    if (this.#verbose) console.error(`[${this.label}] ${line}`);
    for (const w of [...this.#waiters]) {
      const key = event.event === "message" ? event.ref : -1;
      if (w.consume && this.#consumed.has(key)) continue;
      if (w.predicate(event)) {
        if (w.consume) this.#consumed.add(key);
        w.resolve(event);
      }
    }
  }

  #onStderr(line: string): void {
    this.#stderr.push(line);
    if (this.#stderr.length > STDERR_LINES_KEPT) this.#stderr.shift();
    if (this.#verbose) console.error(`[${this.label}] ${line}`);
  }

  #onEnd(): void {
    const err = this.#deadError("peer process exited");
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const w of [...this.#waiters]) w.fail(err);
    this.#waiters.clear();
  }

  #deadError(what: string): ClosedError {
    const code = this.#exit ? ` (exit code ${this.#exit.code})` : "";
    const tail = this.stderrTail(25);
    return new ClosedError(`${this.label}: ${what}${code}; last stderr lines:\n${tail}`);
  }
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, nl).replace(/\r$/, ""));
      buffered = buffered.slice(nl + 1);
    }
  }
  buffered += decoder.decode();
  if (buffered !== "") onLine(buffered);
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the `ready` event; a process that dies first fails with its stderr. */
async function awaitReady(peer: PeerProcess, timeoutMs: number): Promise<PeerEvent> {
  try {
    return await peer.waitEvent((e) => e.event === "ready", timeoutMs, "startup");
  } catch (err) {
    await peer.close(500);
    if (err instanceof TimeoutError) {
      const tail = peer.stderrTail(25);
      throw new TimeoutError(
        `${peer.label}: not ready within ${timeoutMs} ms; last stderr lines:\n${tail}`,
      );
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Real node

/** A running real SLIM node. */
export interface RealNode extends AsyncDisposable {
  /** `127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** `http://127.0.0.1:PORT`, what apps dial. */
  readonly url: string;
  /** Listening port. */
  readonly port: number;
  /** Whether inbound links must carry header MACs. */
  readonly strict: boolean;
  /** Native core version (for example `2.0.0-alpha.10`). */
  readonly version: string;
  /** Pid of the process running the native node (for CPU accounting in benchmarks). */
  readonly pid: number;
  /** The node's recent log lines, for failure messages. */
  stderrTail(lines?: number): string;
  /** Stops the process; safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts one real SLIM node listening on 127.0.0.1.
 *
 * A non-strict node is what the bindings' examples run; a strict one requires the header MAC on
 * every inbound link, like the `slim` binary, which is the harder target for interop.
 */
export async function startRealNode(options: RealNodeOptions = {}): Promise<RealNode> {
  ensurePeerInstalled();
  const strict = options.strict ?? false;
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = options.port ?? freePort();
    const label = `real node :${port}${strict ? " (strict)" : ""}`;
    const args = ["node", "--endpoint", `127.0.0.1:${port}`, ...(strict ? ["--strict"] : [])];
    const peer = new PeerProcess(label, args, options.rustLog);
    try {
      const ready = await awaitReady(peer, options.startTimeoutMs ?? 20_000);
      if (ready.event !== "ready" || ready.role !== "node") {
        await peer.close();
        throw new SlimError("protocol", `${label}: unexpected ready ${JSON.stringify(ready)}`);
      }
      const stop = () => peer.close();
      return {
        endpoint: ready.endpoint,
        url: `http://${ready.endpoint}`,
        port: ready.port,
        strict: ready.strict,
        version: ready.version,
        pid: ready.pid,
        stderrTail: (lines?: number) => peer.stderrTail(lines),
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } catch (err) {
      lastError = err;
      if (!(err instanceof SlimError && /already in use/.test(err.message))) throw err;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// Real app

/** Options of {@link RealApp.nextMessage}. */
export interface NextMessageOptions {
  /** Only messages of this session. */
  sid?: number;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Further condition; non-matching messages stay available to later calls. */
  filter?: (m: MessageEvent) => boolean;
}

/**
 * A real SLIM app in its own process, connected to a node and subscribed to its own name.
 *
 * Every session it creates or accepts runs a receive loop in the peer; received messages and
 * session notices arrive as {@link PeerEvent}s, kept in order in {@link RealApp.events}.
 */
export class RealApp implements AsyncDisposable {
  readonly #peer: PeerProcess;
  /** The `ready` event: name, id and versions. */
  readonly info: AppReadyEvent;

  private constructor(peer: PeerProcess, info: AppReadyEvent) {
    this.#peer = peer;
    this.info = info;
  }

  /** Same as {@link startRealApp}. */
  static async start(options: RealAppOptions): Promise<RealApp> {
    ensurePeerInstalled();
    const args = ["app", "--name", options.name, "--endpoint", options.endpoint];
    if (options.secret !== undefined) args.push("--secret", options.secret);
    else if (options.jwt !== undefined) args.push("--jwt", JSON.stringify(options.jwt));
    else throw new ConfigError("startRealApp needs a secret or a jwt identity");
    const peer = new PeerProcess(`real app ${options.name}`, args, options.rustLog);
    const ready = await awaitReady(peer, options.startTimeoutMs ?? 20_000);
    if (ready.event !== "ready" || ready.role !== "app") {
      await peer.close();
      throw new SlimError("protocol", `${peer.label}: unexpected ready ${JSON.stringify(ready)}`);
    }
    return new RealApp(peer, ready);
  }

  /** `org/ns/app`. */
  get name(): string {
    return this.info.nameBase;
  }

  /** `org/ns/app/<uuid>`: this instance's full name. */
  get fullName(): string {
    return this.info.name;
  }

  /** This instance's 128-bit id, as a UUID. */
  get id(): string {
    return this.info.id;
  }

  /** False once the process has exited (crashed, quit or killed). */
  get running(): boolean {
    return !this.#peer.exited;
  }

  /** Every event received so far, in arrival order. */
  get events(): readonly PeerEvent[] {
    return this.#peer.events;
  }

  /** Every message received so far, in arrival order, on all sessions. */
  get messages(): readonly MessageEvent[] {
    return this.#peer.events.filter((e): e is MessageEvent => e.event === "message");
  }

  /** The app's recent log lines (its own and the native core's), for failure messages. */
  stderrTail(lines?: number): string {
    return this.#peer.stderrTail(lines);
  }

  /** Opens a session; for p2p it resolves once the peer has joined. */
  createSession(options: CreateSessionOptions): Promise<SessionInfo & Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.#peer.request("createSession", { ...options, timeoutMs }, timeoutMs + 5000);
  }

  /** The next incoming session not yet returned by `listen` (it may already have arrived). */
  listen(options: TimeoutOption = {}): Promise<SessionInfo> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return this.#peer.request("listen", { timeoutMs }, timeoutMs + 5000);
  }

  /** Invites `name` into a group session; resolves when the real moderator's handle does. */
  invite(sid: number, name: string, options: TimeoutOption = {}): Promise<Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.#peer.request("invite", { sid, name, timeoutMs }, timeoutMs + 5000);
  }

  /** Removes `name` from a group session. */
  remove(sid: number, name: string, options: TimeoutOption = {}): Promise<Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.#peer.request("remove", { sid, name, timeoutMs }, timeoutMs + 5000);
  }

  /** Publishes to the session; reliable sessions resolve once every ack is in. */
  publish(sid: number, data: string | Uint8Array, options: PublishOptions = {}): Promise<Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.#peer.request(
      "publish",
      { sid, ...payload(data), ...options, timeoutMs },
      timeoutMs + 5000,
    );
  }

  /** Replies to the sender of a received message. */
  publishTo(
    sid: number,
    replyTo: number | MessageEvent,
    data: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const ref = typeof replyTo === "number" ? replyTo : replyTo.ref;
    return this.#peer.request(
      "publishTo",
      { sid, replyTo: ref, ...payload(data), ...options, timeoutMs },
      timeoutMs + 5000,
    );
  }

  /**
   * From now on, answers every message received on `sid` with `prefix + text` (through
   * publishTo); `null` stops it. Each reply is reported as an `echoed` or `echo-error` event.
   */
  async echo(sid: number, prefix: string | null): Promise<void> {
    await this.#peer.request("echo", { sid, prefix }, 10_000);
  }

  /** The members the real session knows, with online/offline status. */
  async participants(sid: number): Promise<Participant[]> {
    const res = await this.#peer.request<{ participants: Participant[] }>(
      "participants",
      { sid },
      15_000,
    );
    return res.participants;
  }

  /** Deletes (hard-closes) a session; resolves when the real session task has ended. */
  deleteSession(sid: number, options: TimeoutOption = {}): Promise<Elapsed> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.#peer.request("deleteSession", { sid, timeoutMs }, timeoutMs + 5000);
  }

  /**
   * The next message not yet returned by `nextMessage` that matches; messages that arrived
   * before the call count, so no message is lost between calls.
   */
  async nextMessage(options: NextMessageOptions = {}): Promise<MessageEvent> {
    const { sid, filter } = options;
    const e = await this.#peer.waitEvent(
      (e) =>
        e.event === "message" && (sid === undefined || e.sid === sid) && (!filter || filter(e)),
      options.timeoutMs ?? 10_000,
      `a message${sid === undefined ? "" : ` on sid ${sid}`}`,
      true,
    );
    return e as MessageEvent;
  }

  /** The first event (past or future) matching `predicate`. */
  waitFor<E extends PeerEvent>(predicate: (e: PeerEvent) => e is E, timeoutMs?: number): Promise<E>;
  /** The first event (past or future) for which `predicate` holds. */
  waitFor(predicate: (e: PeerEvent) => boolean, timeoutMs?: number): Promise<PeerEvent>;
  waitFor(predicate: (e: PeerEvent) => boolean, timeoutMs = 10_000): Promise<PeerEvent> {
    return this.#peer.waitEvent(predicate, timeoutMs, "the awaited event");
  }

  /** Sends `quit`, then escalates to signals; never leaves the process behind. */
  close(): Promise<void> {
    return this.#peer.close();
  }

  /** Same as {@link RealApp.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function payload(data: string | Uint8Array): { text: string } | { b64: string } {
  if (typeof data === "string") return { text: data };
  let bin = "";
  for (const b of data) bin += String.fromCharCode(b);
  return { b64: btoa(bin) };
}

/** Starts one real SLIM app connected to `endpoint`, ready to create or accept sessions. */
export function startRealApp(options: RealAppOptions): Promise<RealApp> {
  return RealApp.start(options);
}

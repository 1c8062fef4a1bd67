/**
 * A SLIM app: an identity, a name with its instance id, one link to a node, and sessions.
 *
 * ```ts
 * const app = await App.connect({
 *   name: "org/ns/alice",
 *   endpoint: "http://127.0.0.1:46357",
 *   identity: { sharedSecret: "a-shared-secret-of-at-least-32-bytes!!" },
 * });
 * const s = await app.createSession({ kind: "point-to-point", peer: "org/ns/bob" });
 * await s.publish("hello");
 * const incoming = await app.listen();
 * await app.close();
 * ```
 *
 * Incoming sessions are verified before they exist: a discovery or join request must carry a
 * valid identity token and a header signature made with the key that token names.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { type Clock, systemClock } from "../clock.ts";
import { AuthError, ClosedError, SessionError, SlimError } from "../errors.ts";
import { headerAadFromPublish, verifyPublishIdentity } from "../identity/header_signature.ts";
import {
  createIdentity,
  type IdentityOptions,
  type IdentityProvider,
  type IdentityVerifier,
} from "../identity/identity.ts";
import { P256Verifier } from "../identity/p256_verifier.ts";
import { createLogger, type Logger } from "../log.ts";
import { xxh3_128Seeded } from "../names/hash.ts";
import { idFromIdentity, Name, RESERVED_ID_FLOOR } from "../names/name.ts";
import type { ClientTls } from "../transport/grpc_client.ts";
import {
  DEFAULT_TTL,
  makeMessage,
  type Message,
  nameFromProto,
  nameToProto,
  type Publish,
  PublishSchema,
  SessionMessageType,
  SessionType,
  SLIM_WIRE_VERSION,
} from "../wire/codec.ts";
import { AsyncQueue } from "../session/async_queue.ts";
import {
  MAX_PENDING_JOINS,
  MAX_SESSION_ID,
  MAX_UNCLAIMED_SESSIONS,
  peerTimers,
  type SessionOptions,
  type SessionSettings,
  settingsFrom,
} from "../session/config.ts";
import type { MessageCipher, OutMessage, SessionHost } from "../session/host.ts";
import type { MlsFactory } from "../session/mls_port.ts";
import { ModeratorSession } from "../session/moderator.ts";
import { ParticipantSession } from "../session/participant.ts";
import { Session } from "../session/session.ts";
import type { SessionCore } from "../session/session_core.ts";
import type { BackoffConfig } from "../config/schema.ts";
import { ClientLink, type LinkEvent } from "./client_link.ts";
import { defaultMlsFactory } from "./mls_factory.ts";

/** Options of {@link App.connect}. */
export interface AppOptions {
  /** The app's name, `org/ns/app` (its instance id is derived from the identity). */
  name: string | Name;
  /** Node to connect to: `http://host:port`, `https://host:port` or `unix:///path`. */
  endpoint: string;
  /** Shared secret (≥ 32 bytes) or JWT identity. */
  identity: IdentityOptions;
  /**
   * TLS settings for `https://` endpoints (SLIM YAML client `tls`).
   * @default the system CA pool, certificates verified
   */
  tls?: ClientTls;
  /**
   * Extra request headers, e.g. `authorization` for a node with transport auth (SLIM YAML
   * client `headers`).
   * @default none
   */
  headers?: Record<string, string>;
  /**
   * HTTP Basic credentials for a node with `auth: basic` (SLIM YAML client `auth.basic`).
   * @default none
   */
  basicAuth?: { username: string; password: string };
  /**
   * Reconnection delays (SLIM YAML client `backoff`).
   * @default SLIM's exponential backoff: base 100, factor 1, at most 1 s, jitter, no limit
   */
  backoff?: BackoffConfig;
  /**
   * Time allowed for the first connection, TCP to link negotiation (SLIM YAML client
   * `connect_timeout`).
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * Refuse a node that does not negotiate header MACs (SLIM YAML client `require_header_mac`).
   * @default true
   */
  requireHeaderMac?: boolean;
  /**
   * Messages held while the link is down, sent once it is back; beyond it the oldest are dropped
   * (slim-ts specific).
   * @default 10000
   */
  reconnectQueueMessages?: number;
  /**
   * Bytes held while the link is down (slim-ts specific).
   * @default 16 MiB
   */
  reconnectQueueBytes?: number;
  /** Creates the MLS state of sessions that use MLS. @default MLS on ts-mls (`lib/mls`) */
  mls?: MlsFactory;
  /**
   * Verifies signatures (header signatures, MLS). Apps of one process may share one: each key
   * then gets one comb table for all of them instead of one per app, and a signature checked by
   * one app is not checked again by the others (slim-ts specific).
   * @default one per app
   */
  signatures?: P256Verifier;
  /**
   * Where the app's log lines go.
   * @default a logger at `info` on standard error
   */
  logger?: Logger;
  /**
   * Time and timers of links and sessions (tests pass a {@link FakeClock}).
   * @default the system clock
   */
  clock?: Clock;
}

/** App-level events. */
export type AppEvent = LinkEvent;

/** A connected SLIM app. */
export class App {
  /** Our name, with the instance id derived from the identity. */
  readonly name: Name;
  /** Mints this app's identity tokens. */
  readonly identity: IdentityProvider;
  /** Checks the identity tokens of peers. */
  readonly verifier: IdentityVerifier;
  /** Checks signatures (header signatures, MLS); shared by the app's sessions. */
  readonly signatures: P256Verifier;
  /** The app's time source. */
  readonly clock: Clock;
  /** The app's logger. */
  readonly logger: Logger;
  readonly #link: ClientLink;
  readonly #sessions = new Map<number, SessionCore>();
  readonly #incoming = new AsyncQueue<Session>();
  readonly #events = new AsyncQueue<AppEvent>();
  readonly #names = new Map<string, Name>();
  readonly #mls: MlsFactory;
  /**
   * What sessions may ask of the app, kept off the public surface: a caller with `send` could
   * sign arbitrary commands, and `ended` would detach a live session.
   */
  readonly #host: SessionHost;
  #closing: Promise<void> | undefined;

  private constructor(init: {
    name: Name;
    identity: IdentityProvider;
    verifier: IdentityVerifier;
    signatures: P256Verifier;
    link: ClientLink;
    clock: Clock;
    logger: Logger;
    mls: MlsFactory;
  }) {
    this.name = init.name;
    this.identity = init.identity;
    this.verifier = init.verifier;
    this.signatures = init.signatures;
    this.#link = init.link;
    this.clock = init.clock;
    this.logger = init.logger;
    this.#mls = init.mls;
    this.#names.set(init.name.withoutId().key, init.name.withoutId());
    this.#host = {
      name: this.name,
      identity: this.identity,
      verifier: this.verifier,
      signatures: this.signatures,
      clock: this.clock,
      logger: this.logger,
      send: (sessionId, sessionType, batch, cipher) =>
        this.#send(sessionId, sessionType, batch, cipher),
      subscribe: (name) => this.#link.subscribe(this.name, name, () => this.identity.token()),
      unsubscribe: (name) => this.#link.unsubscribe(name, () => this.identity.token()),
      ended: (sessionId) => {
        this.#sessions.delete(sessionId);
      },
    };
  }

  /**
   * Creates the identity, connects to the node and subscribes the app's name. Rejects with a
   * {@link SlimError} naming the endpoint when the node is unreachable or refuses the link.
   */
  static async connect(options: AppOptions): Promise<App> {
    const base = typeof options.name === "string" ? Name.parse(options.name) : options.name;
    const { provider, verifier } = await createIdentity(base.withoutId(), options.identity);
    const name = base.withId(idFromIdentity(provider.id));
    const logger = options.logger ?? createLogger(`slim::app ${name.base}`);
    const clock = options.clock ?? systemClock;
    const headers = { ...options.headers };
    if (options.basicAuth) {
      headers.authorization = "Basic " +
        btoa(`${options.basicAuth.username}:${options.basicAuth.password}`);
    }
    // The link delivers into the app, which exists only once the link does.
    const holder: { app?: App } = {};
    const link = await ClientLink.connect({
      endpoint: options.endpoint,
      tls: options.tls,
      headers,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      requireHeaderMac: options.requireHeaderMac,
      reconnectQueueMessages: options.reconnectQueueMessages,
      reconnectQueueBytes: options.reconnectQueueBytes,
      logger,
      clock,
    }, (m) => {
      if (holder.app) holder.app.#dispatch(m);
    });
    // Its sessions and MLS groups share the hot keys' tables (and so may other apps).
    const signatures = options.signatures ?? new P256Verifier();
    const mls = options.mls ?? defaultMlsFactory({ provider, verifier, signatures, logger });
    const app = new App({
      name,
      identity: provider,
      verifier,
      signatures,
      link,
      clock,
      logger,
      mls,
    });
    holder.app = app;
    link.onEvent = (e) => app.#events.push(e);
    try {
      await link.subscribe(name, name, () => provider.token());
    } catch (e) {
      await link.close();
      throw e;
    }
    logger.info("app connected", { name: String(name), endpoint: link.endpoint });
    return app;
  }

  /** Link events (disconnected, reconnected, closed). */
  events(options: { signal?: AbortSignal } = {}): AsyncGenerator<AppEvent> {
    return this.#events.iterate(options.signal);
  }

  /**
   * Also answers for `name` (other instances may then discover us under it). The app's own name
   * is always answered for.
   */
  async subscribeName(name: string | Name): Promise<void> {
    const n = (typeof name === "string" ? Name.parse(name) : name).withId(this.name.id);
    await this.#link.subscribe(this.name, n, () => this.identity.token());
    this.#names.set(n.withoutId().key, n.withoutId());
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  /**
   * Creates a session. Point-to-point: discovers one instance of `peer` and resolves once it
   * accepted. Group: resolves at once; invite members with `session.invite`.
   */
  async createSession(options: SessionOptions): Promise<Session> {
    this.#assertOpen();
    const settings = settingsFrom(options);
    const id = this.#newSessionId();
    const mls = settings.mls ? await this.#createMls() : undefined;
    if (options.kind === "point-to-point") {
      const peer = typeof options.peer === "string" ? Name.parse(options.peer) : options.peer;
      const core = new ModeratorSession({
        host: this.#host,
        id,
        settings,
        destination: peer,
        control: peer,
        mls,
      });
      this.#sessions.set(id, core);
      await core.start(peer);
      return new Session(core);
    }
    const channel = typeof options.channel === "string"
      ? Name.parse(options.channel)
      : options.channel;
    const channels = await this.#channelNames(channel.withoutId());
    const core = new ModeratorSession({
      host: this.#host,
      id,
      settings,
      destination: channels.data,
      control: channels.control,
      channels,
      mls,
    });
    this.#sessions.set(id, core);
    await core.start();
    return new Session(core);
  }

  /**
   * The next session a peer opened with us (after its welcome). Rejects with the abort reason,
   * a `TimeoutError`, or `ClosedError` when the app closes.
   */
  listen(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Session> {
    return this.#incoming.next(options);
  }

  /** Sessions currently open. */
  sessions(): number[] {
    return [...this.#sessions.keys()];
  }

  #newSessionId(): number {
    while (true) {
      const id = crypto.getRandomValues(new Uint32Array(1))[0] % (MAX_SESSION_ID + 1);
      if (!this.#sessions.has(id)) return id;
    }
  }

  /** SLIM's channel ids: XXH3-128 of `<identity id>/<org>/<ns>/<name>/data|control`. */
  async #channelNames(channel: Name): Promise<{ data: Name; control: Name }> {
    const base = `${this.identity.id}/${channel.components.join("/")}`;
    for (let salt = 0n; salt <= 10n; salt++) {
      const data = fold(await xxh3_128Seeded(`${base}/data`, salt));
      const control = fold(await xxh3_128Seeded(`${base}/control`, salt));
      if (data !== control) return { data: channel.withId(data), control: channel.withId(control) };
    }
    throw new SessionError(`cannot derive distinct channel ids for ${channel}`);
  }

  #createMls() {
    return this.#mls();
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  #dispatch(message: Message): void {
    if (message.messageType.case !== "publish") return;
    const publish = message.messageType.value;
    const session = publish.session;
    if (!publish.header || !session) return;
    const core = this.#sessions.get(session.sessionId);
    if (core) {
      core.receive(publish, message.metadata);
      return;
    }
    switch (session.sessionMessageType) {
      case SessionMessageType.DISCOVERY_REQUEST:
        this.#answerDiscovery(publish).catch((e) => this.#reject(publish, e));
        return;
      case SessionMessageType.JOIN_REQUEST:
        this.#acceptJoin(publish, message.metadata).catch((e) => this.#reject(publish, e));
        return;
      default:
        this.logger.debug("dropped message for an unknown session", {
          session_id: session.sessionId,
          type: SessionMessageType[session.sessionMessageType],
        });
    }
  }

  #reject(publish: Publish, e: unknown): void {
    let from = "?";
    try {
      from = String(nameFromProto(publish.header?.source));
    } catch { /* unnamed */ }
    this.logger.warn("rejected session request", {
      from,
      type: SessionMessageType[publish.session!.sessionMessageType],
      reason: SlimError.from(e, "auth").message,
    });
  }

  /** The local name a request is addressed to, or undefined when it is not ours. */
  #localName(publish: Publish): Name | undefined {
    const dst = nameFromProto(publish.header!.destination);
    const known = this.#names.get(dst.withoutId().key);
    if (!known) return undefined;
    if (dst.hasId && dst.id !== this.name.id) return undefined;
    return Name.fromWire(
      dst.components[0] ? dst.components : known.components,
      dst.hashes,
      this.name.id,
    );
  }

  /** Verifies token and header signature, and that the token belongs to the header source. */
  async #verify(publish: Publish): Promise<void> {
    const who = await verifyPublishIdentity(publish, this.verifier, this.signatures);
    const source = nameFromProto(publish.header!.source);
    if (idFromIdentity(who.subject) !== source.id) {
      throw new AuthError(`the identity token is not ${source}'s`);
    }
  }

  async #answerDiscovery(publish: Publish): Promise<void> {
    await this.#verify(publish);
    const local = this.#localName(publish);
    if (!local) return;
    const s = publish.session!;
    await this.#send(s.sessionId, s.sessionType, [{
      type: SessionMessageType.DISCOVERY_REPLY,
      destination: nameFromProto(publish.header!.source),
      source: local,
      messageId: s.messageId,
      command: { case: "discoveryReply", value: {} },
    }]);
  }

  async #acceptJoin(publish: Publish, metadata: Record<string, string>): Promise<void> {
    await this.#verify(publish);
    const s = publish.session!;
    if (this.#sessions.has(s.sessionId)) {
      // Raced with another copy: let the session handle it as a duplicate.
      this.#sessions.get(s.sessionId)!.receive(publish, metadata);
      return;
    }
    if (!this.#localName(publish)) return;
    // Verified peers can still open sessions faster than the application takes them: bounded.
    let pending = 0;
    for (const c of this.#sessions.values()) {
      if (!c.moderator && c.state === "establishing") pending++;
    }
    if (pending >= MAX_PENDING_JOINS) {
      throw new SessionError(`${pending} incoming sessions are already waiting for a welcome`);
    }
    if (this.#incoming.size >= MAX_UNCLAIMED_SESSIONS) {
      throw new SessionError(
        `${this.#incoming.size} incoming sessions are waiting for listen(); refusing more`,
      );
    }
    const content = publish.msg?.contentType;
    const join = content?.case === "commandPayload" &&
        content.value.commandPayloadType.case === "joinRequest"
      ? content.value.commandPayloadType.value
      : undefined;
    if (!join) throw new SessionError("join request without payload");
    if (s.sessionId > MAX_SESSION_ID) throw new SessionError(`invalid session id ${s.sessionId}`);
    const group = s.sessionType === SessionType.MULTICAST;
    if (!group && s.sessionType !== SessionType.POINT_TO_POINT) {
      throw new SessionError(`unsupported session type ${s.sessionType}`);
    }
    if (group && (!join.timerSettings || !join.channel || !join.control)) {
      throw new SessionError("group join request without timer settings or channel names");
    }
    const settings: SessionSettings = {
      kind: group ? "group" : "point-to-point",
      reliable: join.timerSettings !== undefined,
      ...peerTimers(join.timerSettings?.timeout, join.timerSettings?.maxRetries),
      mls: join.mlsSettings
        ? {
          headerIntegrityValidationPercent: Math.min(
            100,
            join.mlsSettings.headerIntegrityValidationPercent,
          ),
        }
        : undefined,
      metadata: { ...metadata },
    };
    const moderator = nameFromProto(publish.header!.source);
    const channels = group
      ? { data: nameFromProto(join.channel), control: nameFromProto(join.control) }
      : undefined;
    const mls = settings.mls ? await this.#createMls() : undefined;
    if (this.#sessions.has(s.sessionId)) return;
    const core = new ParticipantSession({
      host: this.#host,
      id: s.sessionId,
      settings,
      destination: channels?.data ?? moderator,
      control: channels?.control ?? moderator,
      channels,
      moderator,
      mls,
    });
    this.#sessions.set(s.sessionId, core);
    core.ready.then(() => this.#incoming.push(new Session(core)), () => {});
    core.receive(publish, metadata);
  }

  // -------------------------------------------------------------------------------------------
  // Session host

  /** Stamps one identity token on the batch, signs commands, encrypts data, sends. */
  async #send(
    sessionId: number,
    sessionType: SessionType,
    batch: OutMessage[],
    cipher?: MessageCipher,
  ): Promise<void> {
    if (this.#linkClosed()) return;
    const token = await this.identity.token();
    for (const m of batch) {
      const publish = create(PublishSchema, {
        header: {
          source: nameToProto(m.source ?? this.name),
          destination: nameToProto(m.destination),
          identity: token,
          fanout: m.fanout ?? 1,
          version: SLIM_WIRE_VERSION,
          ttl: DEFAULT_TTL,
          error: m.error,
        },
        session: {
          sessionType,
          sessionMessageType: m.type,
          sessionId,
          messageId: m.messageId,
        },
        msg: m.command
          ? { contentType: { case: "commandPayload", value: { commandPayloadType: m.command } } }
          : { contentType: { case: "appPayload", value: m.app ?? {} } },
      });
      if (m.command) {
        publish.header!.e2eHeaderSig = this.identity.signingKey.signSync(
          headerAadFromPublish(publish),
        );
      } else if (
        cipher && m.app &&
        (m.type === SessionMessageType.MSG || m.type === SessionMessageType.RTX_REPLY)
      ) {
        const app = publish.msg!.contentType.value as { blob: Uint8Array };
        app.blob = await cipher.encrypt(m.app.blob, headerAadFromPublish(publish));
      }
      // The link may have closed while this batch was being stamped: drop quietly then.
      if (this.#linkClosed()) return;
      this.#link.send(makeMessage({
        messageType: { case: "publish", value: publish },
        metadata: m.metadata ?? {},
      }));
    }
  }

  #linkClosed(): boolean {
    return this.#link.state === "closed";
  }

  // -------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closing) throw new ClosedError("app is closed");
  }

  /** Closes every session (leaving or closing it properly), then the link. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const sessions = [...this.#sessions.values()];
      await Promise.allSettled(sessions.map((s) => withTimeout(s.close(), 5000)));
      this.#incoming.close(new ClosedError("app closed"));
      await this.#link.unsubscribe(this.name, () => this.identity.token()).catch(() => {});
      await this.#link.close();
      this.#events.close();
      this.logger.info("app closed", { name: String(this.name) });
    })();
    return this.#closing;
  }

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Channel ids in the reserved range are folded as SLIM does: `(id mod (2^128 - 52)) + 1`. */
function fold(id: bigint): bigint {
  return id >= RESERVED_ID_FLOOR ? (id % (RESERVED_ID_FLOOR - 1n)) + 1n : id;
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => t = setTimeout(r, ms))]).finally(() => clearTimeout(t));
}

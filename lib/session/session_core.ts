/**
 * Machinery shared by both session roles: inbound checks and dispatch, the data path (sender,
 * receiver, MLS encryption), heartbeats, the roster, and the application's queues.
 *
 * Session states:
 * - `establishing`: joining (participant waiting for the welcome; P2P initiator waiting for the
 *   peer to accept). Data published meanwhile is kept and sent once a receiver exists.
 * - `active`: messages flow.
 * - `closing`: leaving or closing; waiting for the goodbye to be acknowledged (bounded).
 * - `closed`: timers stopped, queues ended, channels unsubscribed. Terminal.
 *
 * Everything that changes session state (received messages, timer expiries' follow-ups, app
 * requests' control steps) runs one at a time on the session's serial queue, like the real
 * SLIM's per-session event loop; outbound messages are stamped and sent in order.
 * @module
 */
import { AuthError, SessionError } from "../errors.ts";
import { headerAadFromPublish, verifyPublishIdentity } from "../identity/header_signature.ts";
import type { Logger } from "../log.ts";
import { idFromIdentity, type Name } from "../names/name.ts";
import { nameFromProto, type Publish, SessionMessageType, SessionType } from "../wire/codec.ts";
import { AsyncQueue } from "./async_queue.ts";
import { SEEN_CONTROL_IDS, SESSION_EVENTS_KEPT, type SessionSettings } from "./config.ts";
import { ControlSender } from "./control_sender.ts";
import { DataReceiver, type Delivery } from "./data_receiver.ts";
import { DataSender, PUBLISH_TO } from "./data_sender.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { OutMessage, SessionHost } from "./host.ts";
import type { SessionMls } from "./mls_port.ts";

/** Lifecycle states of a session. */
export type SessionState = "establishing" | "active" | "closing" | "closed";

/** A data message received by the application. */
export interface ReceivedMessage {
  /** Sender, with its instance id. */
  source: Name;
  /** The application bytes (decrypted when the session uses MLS). */
  payload: Uint8Array;
  /** The sender's content type. @default "msg" */
  payloadType: string;
  /** `Message.metadata`, as sent (never encrypted). */
  metadata: Record<string, string>;
  /** The sender's sequence number in this session. */
  messageId: number;
  /** The sender's identity token. */
  identity: string;
  /** The payload as UTF-8 text. */
  text(): string;
}

/** Non-fatal things that happen in a session, surfaced without ending the message loop. */
export type SessionEvent =
  | { type: "participant-joined"; name: Name }
  | { type: "participant-left"; name: Name }
  | { type: "participant-removed"; name: Name }
  | { type: "participant-offline"; name: Name }
  | { type: "participant-online"; name: Name }
  | { type: "message-lost"; source: Name; messageId: number; count?: number }
  | { type: "closed"; reason: string };

/** A member as listed by `participants()`. */
export interface ParticipantInfo {
  /** The member's name, with its instance id. */
  name: Name;
  /** False once heartbeats stopped arriving (3 missed intervals), until it speaks again. */
  online: boolean;
  /** True for the group's moderator (the app that created the session). */
  moderator: boolean;
}

/** A roster entry. */
export interface Member {
  name: Name;
  online: boolean;
  sendsData: boolean;
  receivesData: boolean;
}

const COMMAND_MIN = SessionMessageType.DISCOVERY_REQUEST;
const textDecoder = new TextDecoder();

/** Options shared by both roles. */
export interface SessionCoreInit {
  host: SessionHost;
  id: number;
  settings: SessionSettings;
  /** Where data goes: the data channel, or the peer. */
  destination: Name;
  /** Where control broadcasts and heartbeats go: the control channel, or the peer. */
  control: Name;
  mls?: SessionMls;
}

/** Base of the moderator and participant state machines. */
export abstract class SessionCore {
  readonly id: number;
  readonly host: SessionHost;
  readonly settings: SessionSettings;
  readonly sessionType: SessionType;
  readonly log: Logger;
  readonly mls: SessionMls | undefined;
  readonly roster: Map<string, Member> = new Map();
  readonly messages: AsyncQueue<ReceivedMessage> = new AsyncQueue();
  /** Bounded: applications that never read events must not accumulate them. */
  readonly events: AsyncQueue<SessionEvent> = new AsyncQueue(SESSION_EVENTS_KEPT);
  readonly control: ControlSender;
  readonly sender: DataSender;
  readonly receiver: DataReceiver;
  readonly heartbeat: Heartbeat;
  /** Control broadcasts and heartbeats destination. */
  controlName: Name;
  state: SessionState = "establishing";
  /** Resolves when the session is usable (joined / peer accepted). */
  readonly ready: Promise<void>;
  /** Resolves when the session is closed. */
  readonly done: Promise<string>;

  #serial: Promise<void> = Promise.resolve();
  #sendChain: Promise<void> = Promise.resolve();
  #markReady!: () => void;
  #failReady!: (e: Error) => void;
  #markDone!: (reason: string) => void;
  /** sender key → control message ids seen, with the reply we sent (duplicates get it again). */
  readonly #seen = new Map<string, Map<number, OutMessage[] | undefined>>();

  constructor(init: SessionCoreInit) {
    this.id = init.id;
    this.host = init.host;
    this.settings = init.settings;
    this.mls = init.mls;
    this.sessionType = init.settings.kind === "group"
      ? SessionType.MULTICAST
      : SessionType.POINT_TO_POINT;
    this.log = init.host.logger.child(`session ${init.id}`);
    this.controlName = init.control;
    const clock = init.host.clock;
    const s = init.settings;
    this.ready = new Promise((resolve, reject) => {
      this.#markReady = resolve;
      this.#failReady = reject;
    });
    this.ready.catch(() => {});
    this.done = new Promise((resolve) => this.#markDone = resolve);
    this.control = new ControlSender({
      clock,
      intervalMs: s.intervalMs,
      maxRetries: s.maxRetries,
      resend: (m) => this.send([m]),
    });
    this.sender = new DataSender(init.destination, {
      clock,
      group: s.kind === "group",
      reliable: s.reliable,
      intervalMs: s.intervalMs,
      maxRetries: s.maxRetries,
      send: (batch) => this.send(batch),
      onSilent: (names) => this.serial(() => names.forEach((n) => this.memberOffline(n))),
    });
    this.receiver = new DataReceiver({
      clock,
      reliable: s.reliable,
      intervalMs: s.intervalMs,
      maxRetries: s.maxRetries,
      send: (batch) => this.send(batch),
      deliver: (d) => this.#deliver(d),
      problem: (p) => this.events.push(p),
    });
    this.heartbeat = new Heartbeat({
      clock,
      beat: () => this.#beat(),
      offline: (name) => this.serial(() => this.memberOffline(name)),
    });
    this.heartbeat.start();
  }

  /** True for the moderator (group creator or P2P initiator). */
  abstract readonly moderator: boolean;

  /** Handles a verified, non-duplicate command message. */
  protected abstract onCommand(
    type: SessionMessageType,
    publish: Publish,
    source: Name,
    metadata: Record<string, string>,
  ): Promise<void>;

  /** Runs `fn` after everything queued before it, one at a time. */
  serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#serial.then(fn);
    this.#serial = run.then(() => {}, (e) => {
      this.log.warn("session step failed", { error: (e as Error).message });
    });
    return run;
  }

  /** Stamps and sends a batch in order (one identity token for the batch). */
  send(batch: OutMessage[]): Promise<void> {
    if (batch.length === 0 || this.state === "closed") return Promise.resolve();
    const run = this.#sendChain.then(() =>
      this.host.send(this.id, this.sessionType, batch, this.mls?.joined ? this.mls : undefined)
    );
    this.#sendChain = run.catch((e) => {
      this.log.warn("send failed", { error: (e as Error).message });
    });
    return run;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  /** A publish for this session (routed by session id). */
  receive(publish: Publish, metadata: Record<string, string>): void {
    this.serial(() => this.#receive(publish, metadata));
  }

  async #receive(publish: Publish, metadata: Record<string, string>): Promise<void> {
    if (this.state === "closed") return;
    const header = publish.header!, session = publish.session!;
    const type = session.sessionMessageType;
    let source: Name;
    try {
      source = nameFromProto(header.source);
    } catch {
      return;
    }
    this.heartbeat.seen(source);
    if (type >= COMMAND_MIN) {
      try {
        const who = await verifyPublishIdentity(publish, this.host.verifier, this.host.signatures);
        // The token must be the sender's own: its subject is what the source id derives from.
        if (idFromIdentity(who.subject) !== source.id) {
          throw new AuthError(`the identity token is not ${source}'s`);
        }
      } catch (e) {
        this.log.warn("rejected control message", {
          from: String(source),
          type: SessionMessageType[type],
          reason: e instanceof AuthError ? e.message : String(e),
        });
        return;
      }
      if (session.messageId === 0) return;
      const seen = this.#seenFrom(source);
      if (seen.has(session.messageId)) {
        // A retransmission: our answer got lost. Answer again, do not process again.
        const reply = seen.get(session.messageId);
        if (reply) this.send(reply);
        this.onRetransmission(type);
        return;
      }
      seen.set(session.messageId, undefined);
      if (seen.size > SEEN_CONTROL_IDS) seen.delete(seen.keys().next().value!);
      await this.onCommand(type, publish, source, metadata);
      return;
    }
    switch (type) {
      case SessionMessageType.MSG:
      case SessionMessageType.RTX_REPLY:
        return await this.#data(publish, source, metadata, type === SessionMessageType.RTX_REPLY);
      case SessionMessageType.MSG_ACK:
        return this.sender.onAck(session.messageId, source);
      case SessionMessageType.RTX_REQUEST:
        return this.sender.onRtxRequest(session.messageId, source);
    }
  }

  /** A control message seen before arrived again (and was answered again); roles may react. */
  protected onRetransmission(_type: SessionMessageType): void {}

  #seenFrom(source: Name): Map<number, OutMessage[] | undefined> {
    let m = this.#seen.get(source.key);
    if (!m) {
      m = new Map();
      this.#seen.set(source.key, m);
      if (this.#seen.size > 100) this.#seen.delete(this.#seen.keys().next().value!);
    }
    return m;
  }

  /** Sends replies to a control message and remembers them for its retransmissions. */
  reply(request: Publish, source: Name, batch: OutMessage[]): Promise<void> {
    const seen = this.#seenFrom(source);
    seen.set(request.session!.messageId, batch);
    return this.send(batch);
  }

  async #data(
    publish: Publish,
    source: Name,
    metadata: Record<string, string>,
    rtxReply: boolean,
  ): Promise<void> {
    const header = publish.header!, session = publish.session!;
    const content = publish.msg?.contentType;
    const app = content?.case === "appPayload" ? content.value : undefined;
    if (rtxReply && header.error !== undefined) {
      this.receiver.onRtxError(source, session.messageId);
      return;
    }
    if (!app) return;
    if (!this.mls && !this.roster.has(source.key)) {
      // Without MLS nothing else vouches for the sender, and every sender costs receive state:
      // only members' data is taken. (A member the roster does not list yet is not acked, so
      // its retransmission lands once the update naming it has arrived.)
      this.log.debug("dropped data from a non-member", {
        from: String(source),
        message_id: session.messageId,
      });
      return;
    }
    let payload = app.blob;
    if (this.mls) {
      if (!this.mls.joined) return; // not in the group yet: no ack, the sender retransmits
      try {
        const { plaintext, aad, senderAppId } = await this.mls.decrypt(app.blob);
        if (senderAppId !== source.id) {
          // Encrypted by another member than the header claims (MLS says who really sent it),
          // or by a leaf whose credential we cannot tie to an app: either way, not trusted.
          this.log.warn("dropped message: its MLS sender is not its source", {
            from: String(source),
            message_id: session.messageId,
          });
          return;
        }
        const percent = this.settings.mls!.headerIntegrityValidationPercent;
        if (percent > 0 && (percent >= 100 || Math.random() * 100 < percent)) {
          const expected = headerAadFromPublish(publish);
          if (!equal(expected, aad)) {
            this.log.warn("dropped message: header does not match its MLS authenticated data", {
              from: String(source),
              message_id: session.messageId,
            });
            return;
          }
        }
        payload = plaintext;
      } catch (e) {
        this.log.warn("dropped undecryptable message", {
          from: String(source),
          message_id: session.messageId,
          reason: (e as Error).message,
        });
        return;
      }
    }
    const publishTo = metadata[PUBLISH_TO] === "TRUE" && this.settings.kind === "group";
    const md = { ...metadata };
    if (this.settings.kind !== "group") delete md[PUBLISH_TO];
    this.receiver.onMessage(
      {
        source,
        messageId: session.messageId,
        payloadType: app.payloadType || "msg",
        payload,
        metadata: md,
        identity: header.identity,
      },
      rtxReply,
      publishTo,
    );
  }

  #deliver(d: Delivery): void {
    this.messages.push({
      source: d.source,
      payload: d.payload,
      payloadType: d.payloadType,
      metadata: d.metadata,
      messageId: d.messageId,
      identity: d.identity,
      text: () => textDecoder.decode(d.payload),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Members

  /** Adds or refreshes a roster member; receivers become data endpoints and are watched. */
  addMember(name: Name, sendsData = true, receivesData = true, online = true): void {
    if (name.equals(this.host.name)) return;
    const known = this.roster.get(name.key);
    this.roster.set(name.key, { name, online, sendsData, receivesData });
    if (online) {
      if (receivesData) this.sender.addEndpoint(name);
      this.heartbeat.track(name);
    }
    if (!known && online) {
      // A peer that joins now publishes from id 1 on: a lost first message must be recovered.
      if (this.state !== "establishing" || this.settings.kind !== "group") {
        this.receiver.expectFromStart(name);
      }
      this.events.push({ type: "participant-joined", name });
    }
  }

  /** Removes a member from roster, endpoints and watches. */
  dropMember(name: Name): Member | undefined {
    const m = this.roster.get(name.key);
    this.roster.delete(name.key);
    this.sender.removeEndpoint(name);
    this.receiver.removeProducer(name);
    this.heartbeat.untrack(name);
    this.control.forget(name);
    return m;
  }

  /** A member went silent (heartbeat or unacknowledged data): offline, kept in the roster. */
  memberOffline(name: Name): void {
    const m = this.roster.get(name.key);
    if (!m || !m.online) return;
    m.online = false;
    this.sender.removeEndpoint(name);
    this.heartbeat.untrack(name);
    this.control.forget(name);
    this.log.info("participant offline", { name: String(name) });
    this.events.push({ type: "participant-offline", name });
  }

  /** A silent member spoke again. */
  memberOnline(name: Name): void {
    const m = this.roster.get(name.key);
    if (!m || m.online) return;
    m.online = true;
    if (m.receivesData) this.sender.addEndpoint(name);
    this.heartbeat.track(name);
    this.heartbeat.force();
    this.events.push({ type: "participant-online", name });
  }

  /** Members including ourselves. */
  participants(): ParticipantInfo[] {
    const out: ParticipantInfo[] = [{
      name: this.host.name,
      online: true,
      moderator: this.moderator,
    }];
    for (const m of this.roster.values()) {
      out.push({ name: m.name, online: m.online, moderator: this.isModerator(m.name) });
    }
    return out;
  }

  /** Whether `name` is this session's moderator. */
  protected abstract isModerator(name: Name): boolean;

  #beat(): void {
    const epoch = this.mls?.joined ? this.mls.epoch : 0xffffffffffffffffn;
    this.send([{
      type: SessionMessageType.HEARTBEAT,
      destination: this.controlName,
      fanout: this.settings.kind === "group" ? 256 : 1,
      messageId: randomId(),
      command: { case: "heartbeat", value: { epoch } },
    }]);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** The session became usable. */
  protected becomeReady(): void {
    if (this.state === "establishing") this.state = "active";
    this.#markReady();
  }

  /**
   * Ends the session: timers stop, pending publishes fail, queues end (with `error` for the
   * message loop when the session failed), channels are released by the role.
   */
  protected finish(reason: string, error?: Error): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.heartbeat.stop();
    this.control.cancelAll();
    this.sender.close(reason);
    this.receiver.close();
    this.#failReady(error ?? new SessionError(`session ${this.id} ${reason}`));
    this.events.push({ type: "closed", reason });
    this.events.close();
    this.messages.close(error);
    this.host.ended(this.id);
    this.log.debug("session closed", { reason });
    this.#markDone(reason);
  }

  /** Publishes application data. */
  publish(
    payload: Uint8Array,
    payloadType: string,
    metadata: Record<string, string> | undefined,
    to?: Name,
  ): Promise<void> {
    if (this.state === "closed" || this.state === "closing") {
      return Promise.reject(new SessionError(`session ${this.id} is ${this.state}`));
    }
    this.heartbeat.activity();
    return this.sender.publish(payloadType, payload, metadata, to);
  }

  /** Leaves or closes the session (role specific). */
  abstract close(): Promise<void>;
}

/** A random non-zero 32-bit control message id. */
export function randomId(): number {
  return (crypto.getRandomValues(new Uint32Array(1))[0] || 1) >>> 0;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The application's handle on a session.
 *
 * ```ts
 * const s = await app.createSession({ kind: "point-to-point", peer: "org/ns/bob" });
 * await s.publish("hello", { payloadType: "text/plain" });
 * for await (const m of s.messages()) await s.reply(m, `got ${m.text()}`);
 * ```
 * @module
 */
import { SessionError, UsageError } from "../errors.ts";
import { Name } from "../names/name.ts";
import { checkMetadata } from "./config.ts";
import type { ModeratorSession } from "./moderator.ts";
import type { ParticipantSession } from "./participant.ts";
import type {
  ParticipantInfo,
  ReceivedMessage,
  SessionEvent,
  SessionState,
} from "./session_core.ts";

const encoder = new TextEncoder();

/** Options of {@link Session.publish}. */
export interface PublishOptions {
  /** The content type receivers see. @default "msg" */
  payloadType?: string;
  /** Carried in clear beside the payload. */
  metadata?: Record<string, string>;
}

/** A point-to-point or group session. */
export class Session {
  readonly #core: ModeratorSession | ParticipantSession;

  /** @internal Created by the app. */
  constructor(core: ModeratorSession | ParticipantSession) {
    this.#core = core;
  }

  /** Session id (chosen by the moderator, shared by all members). */
  get id(): number {
    return this.#core.id;
  }

  /** Point-to-point or group. */
  get kind(): "point-to-point" | "group" {
    return this.#core.settings.kind;
  }

  /** True when we created it (group moderator, P2P initiator). */
  get isModerator(): boolean {
    return this.#core.moderator;
  }

  /** Where `publish` sends: the peer (with its id, once known) or the group channel. */
  get destination(): Name {
    return this.#core.sender.destination;
  }

  /** Metadata the moderator attached to the session. */
  get metadata(): Readonly<Record<string, string>> {
    return this.#core.settings.metadata;
  }

  /** Whether messages are end-to-end encrypted with MLS. */
  get mls(): boolean {
    return this.#core.mls !== undefined;
  }

  /** Where the session is in its life; see {@link SessionState}. */
  get state(): SessionState {
    return this.#core.state;
  }

  /** Resolves with the reason once the session has ended. */
  get closed(): Promise<string> {
    return this.#core.done;
  }

  /**
   * Publishes to the session (the peer, or every group member). Reliable sessions resolve once
   * every receiver acknowledged; best-effort sessions once sent.
   */
  publish(payload: Uint8Array | string, options: PublishOptions = {}): Promise<void> {
    return this.#publish(undefined, payload, options);
  }

  /**
   * Publishes to one member: in a group only that member receives it (SLIM's `publish_to`); in a
   * point-to-point session it is a normal publish.
   */
  publishTo(
    target: Name | string,
    payload: Uint8Array | string,
    options: PublishOptions = {},
  ): Promise<void> {
    return this.#publish(target, payload, options);
  }

  /** Checks the arguments (a {@link UsageError} names the bad one), then publishes. */
  #publish(
    target: Name | string | undefined,
    payload: Uint8Array | string,
    options: PublishOptions,
  ): Promise<void> {
    let data: Uint8Array, payloadType: string, metadata: Record<string, string> | undefined, to;
    try {
      to = typeof target === "string" ? Name.parse(target) : target;
      data = bytes(payload);
      payloadType = options.payloadType ?? "msg";
      if (typeof payloadType !== "string") {
        throw new UsageError(`payloadType must be a string, got ${String(payloadType)}`);
      }
      metadata = options.metadata && checkMetadata("metadata", options.metadata);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#core.publish(
      data,
      payloadType,
      metadata,
      this.kind === "group" ? to : undefined,
    );
  }

  /** Answers the sender of `message`. */
  reply(
    message: ReceivedMessage,
    payload: Uint8Array | string,
    options: PublishOptions = {},
  ): Promise<void> {
    return this.publishTo(message.source, payload, options);
  }

  /**
   * Received messages, in order per sender. Ends when the session closes; aborting `signal`
   * ends the iteration quietly.
   */
  messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<ReceivedMessage> {
    return this.#core.messages.iterate(options.signal);
  }

  /** The next message; rejects on timeout, abort or close. */
  nextMessage(
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<ReceivedMessage> {
    return this.#core.messages.next(options);
  }

  /**
   * Non-fatal events (members joining, leaving, going offline; lost messages; close). The last
   * 1000 unread events are kept; older ones are dropped.
   */
  events(options: { signal?: AbortSignal } = {}): AsyncGenerator<SessionEvent> {
    return this.#core.events.iterate(options.signal);
  }

  /** Current members, ourselves included. */
  participants(): ParticipantInfo[] {
    return this.#core.participants();
  }

  /** Invites a member (moderator of a group only). Resolves once the group acknowledged. */
  invite(name: Name | string): Promise<void> {
    return this.#moderator("invite").invite(typeof name === "string" ? Name.parse(name) : name);
  }

  /** Removes a member (moderator of a group only). Resolves once it acknowledged. */
  remove(name: Name | string): Promise<void> {
    return this.#moderator("remove").remove(typeof name === "string" ? Name.parse(name) : name);
  }

  /** Moderator: closes the session for everyone. Participant: leaves it. */
  close(): Promise<void> {
    return this.#core.close();
  }

  /**
   * Leaves the session: a group participant asks the moderator to remove it (the others see it
   * leave); a point-to-point session is closed. The moderator of a group cannot leave it, since
   * the group would be left without anyone to add or remove members: it rejects with a
   * {@link SessionError}, and {@link close} closes the group for everyone.
   */
  leave(): Promise<void> {
    if (this.kind === "group" && this.#core.moderator) {
      return Promise.reject(
        new SessionError("the moderator cannot leave its group; close() closes it for everyone"),
      );
    }
    return this.#core.close();
  }

  #moderator(what: string): ModeratorSession {
    if (!this.#core.moderator || this.kind !== "group") {
      throw new SessionError(`only the moderator of a group session can ${what}`);
    }
    return this.#core as ModeratorSession;
  }
}

function bytes(p: Uint8Array | string): Uint8Array {
  if (typeof p === "string") return encoder.encode(p);
  if (p instanceof Uint8Array) return p;
  throw new UsageError("payload must be a Uint8Array or a string");
}

export type { ParticipantInfo, ReceivedMessage, SessionEvent, SessionState };

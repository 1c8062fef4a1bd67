/**
 * The participant role: a member invited into a group, or the accepting side of a
 * point-to-point session.
 *
 * Created by a join request (already verified by the app): answers with a join reply (and an
 * MLS key package), becomes usable on the welcome (MLS join, channel subscriptions, then the
 * acknowledgement), applies group updates strictly in commit order, and ends on removal, on the
 * moderator's close, or when the application leaves (unsubscribe, then a leave request marked
 * `LEAVING_SESSION`).
 * @module
 */
import type { TimerHandle } from "../clock.ts";
import type { Name } from "../names/name.ts";
import { GroupUpdateOp, type Publish, SessionMessageType } from "../wire/codec.ts";
import { MAX_WELCOME_WAIT_MS } from "./config.ts";
import { memberFromProto, participantProto } from "./participants.ts";
import { randomId, SessionCore, type SessionCoreInit } from "./session_core.ts";

/** Control messages a participant accepts from the moderator only. */
const MODERATOR_ONLY = new Set([
  SessionMessageType.GROUP_WELCOME,
  SessionMessageType.GROUP_UPDATE,
  SessionMessageType.LEAVE_REQUEST,
  SessionMessageType.GROUP_CLOSE,
]);

/** Options of {@link ParticipantSession}. */
export interface ParticipantInit extends SessionCoreInit {
  /** Who invited us (the join request's source). */
  moderator: Name;
  /** Group: the channel names from the join request. */
  channels?: { data: Name; control: Name };
}

/** Session state machine of an invited member or P2P responder. */
export class ParticipantSession extends SessionCore {
  readonly moderator = false;
  readonly moderatorName: Name;
  readonly #channels: { data: Name; control: Name } | undefined;
  #welcomed = false;
  #subscribed = false;
  /** Ends a session whose welcome never comes (a moderator gone, or a join request alone). */
  #welcomeTimer: TimerHandle | undefined;
  /** Last MLS commit applied, and commits received ahead of it. */
  #lastCommit = 0;
  readonly #commits = new Map<number, Uint8Array>();

  constructor(init: ParticipantInit) {
    super(init);
    this.moderatorName = init.moderator;
    this.#channels = init.channels;
    this.heartbeat.enabled = true;
    this.#awaitWelcome();
  }

  /**
   * (Re)starts the wait for the welcome: the moderator sends it after our join reply and
   * retransmits it for `maxRetries` intervals, and a lost reply brings the join request again
   * (which restarts the wait), so a little more than that budget is enough.
   */
  #awaitWelcome(): void {
    const clock = this.host.clock;
    clock.clearTimeout(this.#welcomeTimer);
    const s = this.settings;
    const ms = Math.min(MAX_WELCOME_WAIT_MS, (s.maxRetries + 2) * s.intervalMs);
    this.#welcomeTimer = clock.setTimeout(() => {
      if (this.#welcomed || this.state === "closed") return;
      this.log.warn("no welcome after the join request; session dropped", {
        moderator: String(this.moderatorName),
        waited_ms: ms,
      });
      this.finish("no welcome from the moderator");
    }, ms);
  }

  /** The moderator is still asking (it lost our join reply): keep waiting for its welcome. */
  protected override onRetransmission(type: SessionMessageType): void {
    if (type === SessionMessageType.JOIN_REQUEST && !this.#welcomed) this.#awaitWelcome();
  }

  /** Stops the welcome wait with the session. */
  protected override finish(reason: string, error?: Error): void {
    this.host.clock.clearTimeout(this.#welcomeTimer);
    super.finish(reason, error);
  }

  protected isModerator(name: Name): boolean {
    return name.equals(this.moderatorName);
  }

  protected async onCommand(
    type: SessionMessageType,
    publish: Publish,
    source: Name,
  ): Promise<void> {
    const id = publish.session!.messageId;
    const content = publish.msg?.contentType;
    const cmd = content?.case === "commandPayload" ? content.value.commandPayloadType : undefined;
    if (MODERATOR_ONLY.has(type) && !source.equals(this.moderatorName)) {
      // The real SLIM does not check this; without it any member could fork the group (commit
      // an eavesdropper in), close it, or remove others.
      this.log.warn("rejected control message: only the moderator sends it", {
        type: SessionMessageType[type],
        from: String(source),
        moderator: String(this.moderatorName),
      });
      return;
    }
    switch (type) {
      case SessionMessageType.JOIN_REQUEST:
        if (this.#welcomed) return;
        this.#awaitWelcome();
        return await this.#joinRequest(publish, source);
      case SessionMessageType.GROUP_WELCOME:
        if (cmd?.case !== "groupWelcome" || this.#welcomed) return;
        return await this.#welcome(publish, source, cmd.value);
      case SessionMessageType.GROUP_UPDATE:
        if (cmd?.case !== "groupUpdate") return;
        return await this.#update(publish, source, cmd.value);
      case SessionMessageType.LEAVE_REQUEST:
        return await this.#removed(publish, source);
      case SessionMessageType.GROUP_CLOSE:
        return await this.#closedByModerator(publish, source);
      case SessionMessageType.HEARTBEAT: {
        const m = this.roster.get(source.key);
        if (m && !m.online) this.memberOnline(source);
        if (
          this.mls?.joined && cmd?.case === "heartbeat" &&
          cmd.value.epoch !== 0xffffffffffffffffn &&
          cmd.value.epoch > this.mls.epoch
        ) {
          this.log.warn("a member is at a later MLS epoch; this member missed a commit", {
            from: String(source),
            theirs: cmd.value.epoch,
            ours: this.mls.epoch,
          });
        }
        return;
      }
      case SessionMessageType.LEAVE_REPLY:
      case SessionMessageType.GROUP_ACK:
      case SessionMessageType.GROUP_NACK:
        this.control.onReply(id, source, publish);
        return;
      default:
        this.log.debug("ignored control message", {
          type: SessionMessageType[type],
          from: String(source),
        });
    }
  }

  async #joinRequest(publish: Publish, source: Name): Promise<void> {
    const keyPackage = this.mls ? await this.mls.generateKeyPackage() : undefined;
    await this.reply(publish, source, [{
      type: SessionMessageType.JOIN_REPLY,
      destination: source,
      messageId: publish.session!.messageId,
      command: {
        case: "joinReply",
        value: { keyPackage, participant: participantProto(this.host.name) },
      },
    }]);
  }

  async #welcome(
    publish: Publish,
    source: Name,
    w: {
      participants: Parameters<typeof memberFromProto>[0][];
      mls?: { commitId: number; mlsContent: Uint8Array };
    },
  ): Promise<void> {
    if (this.mls) {
      if (!w.mls) {
        this.log.warn("welcome without MLS content in an MLS session", { from: String(source) });
        return;
      }
      try {
        await this.mls.joinFromWelcome(w.mls.mlsContent);
      } catch (e) {
        this.log.warn("rejected MLS welcome", {
          from: String(source),
          reason: (e as Error).message,
        });
        return;
      }
      this.#lastCommit = w.mls.commitId;
    }
    if (this.#channels) {
      await this.host.subscribe(this.#channels.data);
      await this.host.subscribe(this.#channels.control);
      this.#subscribed = true;
    }
    for (const p of w.participants) {
      const m = memberFromProto(p);
      if (!m.name.equals(this.host.name)) {
        this.addMember(m.name, m.sendsData, m.receivesData, m.online);
      }
    }
    this.#welcomed = true;
    this.host.clock.clearTimeout(this.#welcomeTimer);
    await this.reply(publish, source, [this.#ack(publish, source)]);
    this.becomeReady();
  }

  #ack(publish: Publish, source: Name) {
    return {
      type: SessionMessageType.GROUP_ACK,
      destination: source,
      messageId: publish.session!.messageId,
      command: { case: "groupAck" as const, value: {} },
    };
  }

  async #update(
    publish: Publish,
    source: Name,
    u: {
      op: number;
      participant?: Parameters<typeof memberFromProto>[0];
      participants: Parameters<typeof memberFromProto>[0][];
      mls?: { commitId: number; mlsContent: Uint8Array };
    },
  ): Promise<void> {
    if (!this.#welcomed) return; // before the welcome: dropped unacknowledged, as SLIM does
    if (this.mls && u.mls) {
      const id = u.mls.commitId;
      if (id <= this.#lastCommit || this.#commits.has(id)) return;
      this.#commits.set(id, u.mls.mlsContent);
      // Strictly in commit order; later ones wait for the gap to fill.
      while (this.#commits.has(this.#lastCommit + 1)) {
        const next = this.#lastCommit + 1;
        const commit = this.#commits.get(next)!;
        this.#commits.delete(next);
        try {
          await this.mls.processCommit(commit);
        } catch (e) {
          this.log.warn("rejected MLS commit", {
            from: String(source),
            commit_id: next,
            reason: (e as Error).message,
          });
          return;
        }
        this.#lastCommit = next;
      }
    }
    const target = u.participant ? memberFromProto(u.participant) : undefined;
    if (target && !target.name.equals(this.host.name)) {
      if (u.op === GroupUpdateOp.REMOVE) {
        this.dropMember(target.name);
        this.events.push({ type: "participant-removed", name: target.name });
      } else {
        this.addMember(target.name, target.sendsData, target.receivesData, true);
      }
    }
    await this.reply(publish, source, [this.#ack(publish, source)]);
  }

  async #removed(publish: Publish, source: Name): Promise<void> {
    await this.reply(publish, source, [{
      type: SessionMessageType.LEAVE_REPLY,
      destination: source,
      messageId: publish.session!.messageId,
      command: { case: "leaveReply", value: {} },
    }]);
    await this.#release();
    this.finish("removed by the moderator");
  }

  async #closedByModerator(publish: Publish, source: Name): Promise<void> {
    await this.reply(publish, source, [this.#ack(publish, source)]);
    await this.#release();
    this.finish("closed by the moderator");
  }

  async #release(): Promise<void> {
    if (this.#channels && this.#subscribed) {
      this.#subscribed = false;
      await this.host.unsubscribe(this.#channels.data).catch(() => {});
      await this.host.unsubscribe(this.#channels.control).catch(() => {});
    }
  }

  /** Leaves the session: unsubscribe, tell the moderator, wait for its answer (bounded). */
  close(): Promise<void> {
    if (this.state === "closed" || this.state === "closing") return this.done.then(() => {});
    return this.serial(async () => {
      if (this.state === "closed") return;
      const wasActive = this.#welcomed;
      this.state = "closing";
      await this.#release();
      if (wasActive) {
        const leave = {
          type: SessionMessageType.LEAVE_REQUEST,
          destination: this.moderatorName,
          messageId: randomId(),
          metadata: { LEAVING_SESSION: "TRUE" },
          command: { case: "leaveRequest" as const, value: {} },
        };
        const answered = this.control.track(leave, [this.moderatorName]);
        this.send([leave]);
        // Not awaited inside the serial queue: the reply must be processable meanwhile.
        answered.then(() => this.finish("left")).catch(() => this.finish("left"));
      } else {
        this.finish("left");
      }
    }).then(() => this.done.then(() => {}));
  }

  /** The moderator's name as given in the join request (P2P: the peer). */
  get peer(): Name {
    return this.moderatorName;
  }
}

/**
 * The moderator role: creator of a group session, or initiator of a point-to-point session (a
 * two-member group in SLIM's model).
 *
 * Membership changes run as tasks, one at a time, in request order:
 * - invite: discovery (anycast to the name) → on the first answer, channel subscriptions and MLS
 *   group creation → join request → join reply (key package) → MLS add → group update to the
 *   existing members and welcome to the newcomer, in one batch → all acknowledged;
 * - remove: MLS remove → group update to the remaining members → leave request to the removed;
 * - a participant's own leave: leave reply, then an update removing it (or, when nobody else is
 *   left or in P2P, the session ends);
 * - close: group close to everyone, then the channels are released.
 * @module
 */
import { SessionError } from "../errors.ts";
import type { Name } from "../names/name.ts";
import {
  BROADCAST_FANOUT,
  GroupUpdateOp,
  nameFromProto,
  nameToProto,
  type Publish,
  SessionMessageType,
} from "../wire/codec.ts";
import type { ControlResult } from "./control_sender.ts";
import { participantList, participantProto } from "./participants.ts";
import { randomId, SessionCore, type SessionCoreInit } from "./session_core.ts";

const LEAVING_SESSION = "LEAVING_SESSION";

/** Options of {@link ModeratorSession}. */
export interface ModeratorInit extends SessionCoreInit {
  /** Group: the data channel and control channel names (subscribed at the first invite). */
  channels?: { data: Name; control: Name };
}

/** Session state machine of a moderator (group) or initiator (point-to-point). */
export class ModeratorSession extends SessionCore {
  readonly moderator = true;
  readonly #channels: { data: Name; control: Name } | undefined;
  #tasks: Promise<unknown> = Promise.resolve();
  #joined = false;
  #commitId = 0;

  constructor(init: ModeratorInit) {
    super(init);
    this.#channels = init.channels;
  }

  protected isModerator(name: Name): boolean {
    return name.equals(this.host.name);
  }

  /** Runs `fn` after every earlier membership task. */
  #task<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tasks.then(fn, fn);
    this.#tasks = run.catch(() => {});
    return run;
  }

  /** Group: usable at once. P2P: invites the peer; rejects when it does not accept. */
  async start(peer?: Name): Promise<void> {
    if (this.settings.kind === "group") {
      this.becomeReady();
      return;
    }
    try {
      await this.invite(peer!);
      this.becomeReady();
    } catch (e) {
      this.finish("peer did not accept the session", e as Error);
      throw e;
    }
  }

  /** Invites `name` (any instance when it has no id). Resolves once the group acknowledged. */
  invite(name: Name): Promise<void> {
    return this.#task(() => this.#invite(name));
  }

  async #invite(name: Name): Promise<void> {
    this.#assertOpen();
    if (this.roster.has(name.key)) throw new SessionError(`${name} is already in the session`);
    // 1. Discovery: whichever instance of the name answers first.
    const discovery = {
      type: SessionMessageType.DISCOVERY_REQUEST,
      destination: name,
      messageId: randomId(),
      command: { case: "discoveryRequest" as const, value: {} },
    };
    const found = this.control.track(discovery, [name], true);
    this.send([discovery]);
    const d = await found;
    this.#assertOpen();
    if (!d.ok) throw new SessionError(`no answer from ${name} (discovery)`);
    const peer = nameFromProto(d.replies[0].header!.source);
    if (this.roster.has(peer.key)) throw new SessionError(`${peer} is already in the session`);
    // 2. On the first answer: channels, MLS group.
    if (!this.#joined) await this.#join(peer);
    // 3. Join request; the reply carries the key package.
    const s = this.settings;
    const join = {
      type: SessionMessageType.JOIN_REQUEST,
      destination: peer,
      messageId: randomId(),
      metadata: Object.keys(s.metadata).length > 0 ? s.metadata : undefined,
      command: {
        case: "joinRequest" as const,
        value: {
          timerSettings: s.reliable
            ? { timeout: s.intervalMs, maxRetries: s.maxRetries }
            : undefined,
          channel: this.#channels ? nameToProto(this.#channels.data) : undefined,
          control: this.#channels ? nameToProto(this.#channels.control) : undefined,
          mlsSettings: s.mls
            ? { headerIntegrityValidationPercent: s.mls.headerIntegrityValidationPercent }
            : undefined,
        },
      },
    };
    const joined = this.control.track(join, [peer]);
    this.controlActivity(join.destination);
    this.send([join]);
    const j = await joined;
    this.#assertOpen();
    if (!j.ok) throw new SessionError(`${peer} did not answer the join request`);
    const cmd = j.replies[0].msg?.contentType;
    const reply =
      cmd?.case === "commandPayload" && cmd.value.commandPayloadType.case === "joinReply"
        ? cmd.value.commandPayloadType.value
        : undefined;
    if (!reply) throw new SessionError(`${peer} answered the join request with something else`);
    // 4. MLS add; the commit is applied here at once.
    let mls: { commit: Uint8Array; welcome: Uint8Array } | undefined;
    if (this.mls) {
      if (!reply.keyPackage) throw new SessionError(`${peer} sent no MLS key package`);
      mls = await this.mls.addMember(reply.keyPackage);
      this.#commitId++;
    }
    const settings = reply.participant?.settings;
    const existing = [...this.roster.values()].filter((m) => m.online).map((m) => m.name);
    this.addMember(peer, settings?.sendsData ?? true, settings?.receivesData ?? true);
    const participants = participantList(this.host.name, this.roster.values());
    const mlsPayload = (content: Uint8Array) => ({ commitId: this.#commitId, mlsContent: content });
    // 5. Update to the existing members and welcome to the newcomer, together.
    const batch = [];
    let update: Promise<ControlResult> | undefined;
    if (this.settings.kind === "group" && existing.length > 0) {
      const u = this.#groupUpdate(GroupUpdateOp.ADD, peer, participants, mls?.commit);
      update = this.control.track(u, existing);
      batch.push(u);
      this.heartbeat.activity();
    }
    const w = {
      type: SessionMessageType.GROUP_WELCOME,
      destination: peer,
      messageId: randomId(),
      command: {
        case: "groupWelcome" as const,
        value: { participants, mls: mls ? mlsPayload(mls.welcome) : undefined },
      },
    };
    const welcomed = this.control.track(w, [peer]);
    batch.push(w);
    this.controlActivity(peer);
    this.send(batch);
    const [wr, ur] = await Promise.all([welcomed, update]);
    if (!wr.ok) {
      // The newcomer never confirmed (SLIM leaves it in, wedged). Only its ack may have been
      // lost: it may well hold the group's keys. So it is removed like any member — an MLS
      // remove commit announced to the others, and a leave request to it — not just forgotten.
      await this.#dropUnconfirmed(peer);
      throw new SessionError(`${peer} did not acknowledge the welcome`);
    }
    if (ur && !ur.ok) { for (const n of ur.missing) this.memberOffline(n); }
    this.log.info("participant joined", { name: String(peer) });
  }

  async #join(peer: Name): Promise<void> {
    if (this.#channels) {
      await this.host.subscribe(this.#channels.data);
      await this.host.subscribe(this.#channels.control);
    } else {
      // P2P: sticky to the instance that answered.
      this.sender.destination = peer;
      this.controlName = peer;
    }
    if (this.mls) await this.mls.createGroup();
    this.heartbeat.enabled = true;
    this.#joined = true;
  }

  /** Heartbeats are skipped after tracked control traffic to the heartbeat destination. */
  controlActivity(destination: Name): void {
    if (destination.equals(this.controlName)) this.heartbeat.activity();
  }

  /** Removes a member. Resolves when it acknowledged its removal. */
  remove(name: Name): Promise<void> {
    return this.#task(() => this.#remove(name));
  }

  #find(name: Name) {
    const exact = this.roster.get(name.key);
    if (exact) return exact;
    const matches = [...this.roster.values()].filter((m) => m.name.samePrefix(name));
    if (!name.hasId && matches.length === 1) return matches[0];
    if (matches.length > 1 && !name.hasId) {
      throw new SessionError(
        `${name} matches several participants; give the full name with its id`,
      );
    }
    return undefined;
  }

  /** Takes back an invitee whose welcome was never acknowledged (see {@link #invite}). */
  async #dropUnconfirmed(peer: Name): Promise<void> {
    const before = participantList(this.host.name, this.roster.values());
    this.dropMember(peer);
    this.events.push({ type: "participant-removed", name: peer });
    this.log.warn("invitee did not acknowledge the welcome; removed", { name: String(peer) });
    if (this.settings.kind === "group") {
      await this.#commitRemoval(peer, before, this.roster.size > 0);
    }
    const leave = {
      type: SessionMessageType.LEAVE_REQUEST,
      destination: peer,
      messageId: randomId(),
      command: { case: "leaveRequest" as const, value: {} },
    };
    // Not awaited: the invitee has been silent for the whole retry budget already.
    this.control.track(leave, [peer]).catch(() => {});
    this.send([leave]);
  }

  async #remove(name: Name): Promise<void> {
    this.#assertOpen();
    if (this.settings.kind !== "group") {
      throw new SessionError("only group sessions remove members");
    }
    const member = this.#find(name);
    if (!member) throw new SessionError(`${name} is not in the session`);
    const target = member.name;
    const before = participantList(this.host.name, this.roster.values());
    const sizeBefore = this.roster.size + 1;
    this.dropMember(target);
    await this.#commitRemoval(target, before, sizeBefore > 2);
    const leave = {
      type: SessionMessageType.LEAVE_REQUEST,
      destination: target,
      messageId: randomId(),
      command: { case: "leaveRequest" as const, value: {} },
    };
    const left = this.control.track(leave, [target]);
    this.send([leave]);
    const l = await left;
    this.events.push({ type: "participant-removed", name: target });
    this.log.info("participant removed", { name: String(target), acknowledged: l.ok });
    if (!l.ok) throw new SessionError(`${target} did not acknowledge its removal`);
  }

  protected async onCommand(
    type: SessionMessageType,
    publish: Publish,
    source: Name,
    metadata: Record<string, string>,
  ): Promise<void> {
    const id = publish.session!.messageId;
    switch (type) {
      case SessionMessageType.DISCOVERY_REPLY:
        this.control.onReply(id, source, publish, true);
        return;
      case SessionMessageType.JOIN_REPLY:
      case SessionMessageType.GROUP_ACK:
      case SessionMessageType.GROUP_NACK:
      case SessionMessageType.LEAVE_REPLY:
      case SessionMessageType.REJOIN_REPLY:
        this.control.onReply(id, source, publish);
        return;
      case SessionMessageType.LEAVE_REQUEST:
        return await this.#participantLeaves(publish, source, metadata);
      case SessionMessageType.HEARTBEAT: {
        const m = this.roster.get(source.key);
        if (m && !m.online) this.memberOnline(source);
        return;
      }
      default:
        this.log.debug("ignored control message", {
          type: SessionMessageType[type],
          from: String(source),
        });
    }
  }

  async #participantLeaves(
    publish: Publish,
    source: Name,
    metadata: Record<string, string>,
  ): Promise<void> {
    const member = this.roster.get(source.key);
    if (!member) return;
    if (metadata[LEAVING_SESSION] !== "TRUE") {
      this.log.debug("leave request without LEAVING_SESSION", { from: String(source) });
    }
    await this.reply(publish, source, [{
      type: SessionMessageType.LEAVE_REPLY,
      destination: source,
      messageId: publish.session!.messageId,
      command: { case: "leaveReply", value: {} },
    }]);
    this.log.info("participant left", { name: String(source) });
    this.events.push({ type: "participant-left", name: source });
    const before = participantList(this.host.name, this.roster.values());
    this.dropMember(source);
    if (this.settings.kind !== "group" || this.roster.size === 0) {
      // Nobody left to talk to.
      await this.#release();
      this.finish(this.settings.kind === "group" ? "all participants left" : "peer left");
      return;
    }
    this.#task(() => this.#commitRemoval(source, before, true))
      .catch((e) => this.log.warn("could not remove a leaving participant", { error: e.message }));
  }

  /**
   * The MLS remove commit for a member already dropped from the roster, announced to the rest
   * with a group update (`participants` as before the removal, as SLIM sends it) when
   * `announce`; silent members are marked offline.
   */
  async #commitRemoval(
    target: Name,
    before: ReturnType<typeof participantList>,
    announce: boolean,
  ): Promise<void> {
    let commit: Uint8Array | undefined;
    if (this.mls) {
      commit = (await this.mls.removeMember(target.id)).commit;
      this.#commitId++;
    }
    if (!announce) return;
    const remaining = [...this.roster.values()].filter((m) => m.online).map((m) => m.name);
    const u = this.#groupUpdate(GroupUpdateOp.REMOVE, target, before, commit);
    const acked = this.control.track(u, remaining);
    this.heartbeat.activity();
    this.send([u]);
    const r = await acked;
    if (!r.ok) { for (const n of r.missing) this.memberOffline(n); }
  }

  /**
   * The GROUP_UPDATE announcing `participant`'s addition or removal to the members, with the
   * commit that made it (numbered by the current `commit_id`).
   */
  #groupUpdate(
    op: GroupUpdateOp,
    participant: Name,
    participants: ReturnType<typeof participantList>,
    commit: Uint8Array | undefined,
  ) {
    return {
      type: SessionMessageType.GROUP_UPDATE,
      destination: this.controlName,
      fanout: BROADCAST_FANOUT,
      messageId: randomId(),
      command: {
        case: "groupUpdate" as const,
        value: {
          op,
          participant: participantProto(participant),
          participants,
          mls: commit ? { commitId: this.#commitId, mlsContent: commit } : undefined,
        },
      },
    };
  }

  /** Closes the session for everyone. */
  close(): Promise<void> {
    if (this.state === "closed" || this.state === "closing") return this.done.then(() => {});
    return this.#task(async () => {
      if (this.state === "closed") return;
      this.state = "closing";
      const members = [...this.roster.values()];
      if (members.length > 0 && this.#joined) {
        const online = members.filter((m) => m.online).map((m) => m.name);
        const group = this.settings.kind === "group";
        const c = {
          type: SessionMessageType.GROUP_CLOSE,
          destination: group ? this.controlName : online[0] ?? members[0].name,
          fanout: group ? BROADCAST_FANOUT : 1,
          messageId: randomId(),
          command: {
            case: "groupClose" as const,
            value: {
              participants: [this.host.name, ...members.map((m) => m.name)].map(nameToProto),
            },
          },
        };
        const acked = this.control.track(c, online);
        this.send([c]);
        await acked;
      }
      await this.#release();
      this.finish("closed");
    });
  }

  async #release(): Promise<void> {
    if (this.#channels && this.#joined) {
      await this.host.unsubscribe(this.#channels.data).catch(() => {});
      await this.host.unsubscribe(this.#channels.control).catch(() => {});
    }
  }

  #assertOpen(): void {
    if (this.state === "closed" || this.state === "closing") {
      throw new SessionError(`session ${this.id} is ${this.state}`);
    }
  }
}

/**
 * MLS groups facing bad input: a Welcome that does not verify, commits out of order, commits and
 * other moderator-only commands sent by somebody else, application messages from outside the
 * group, headers that do not match their MLS authenticated data, and session requests signed
 * with another secret. Each one is refused (with a log line saying so) or, for the gap, held
 * until it can be applied in order; the group keeps working for everyone else, which every test
 * proves with a message exchange afterwards.
 *
 * Raw clients craft the messages: they hold a valid identity (the group's shared secret) or the
 * identity of a member app, and MLS state built with `lib/mls` or reached through the `mls`
 * factory option of `App.connect`.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TimeoutError } from "../../lib/errors.ts";
import { headerAadFromPublish } from "../../lib/identity/header_signature.ts";
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { decodeMls, encodeMls, MlsMember } from "../../lib/mls/mod.ts";
import { idFromIdentity, Name } from "../../lib/names/name.ts";
import type { SlimNode } from "../../lib/node/node.ts";
import { participantProto } from "../../lib/session/participants.ts";
import type { Session } from "../../lib/session/session.ts";
import {
  BROADCAST_FANOUT,
  type Message,
  nameFromProto,
  nameToProto,
  type Publish,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";
import { RawClient } from "../helpers/raw_client.ts";
import {
  appBlob,
  capture,
  commandPublish,
  connectApp,
  dataPublish,
  decoder,
  encoder,
  type LogCapture,
  OTHER_SECRET,
  publishOf,
  randomId,
  SECRET,
  sleep,
  stamp,
  startNode,
  Tap,
  type TestApp,
  until,
  wrap,
} from "./_helpers.ts";

/** Fast control retries so that missing acknowledgements show within a second. */
const RELIABLE = { intervalMs: 250, maxRetries: 3 };
/** How long "nothing happens" is waited for. */
const QUIET_MS = 400;

// -----------------------------------------------------------------------------------------------
// A raw actor: a raw client with its own valid identity (or another app's) and MLS state.

class Actor {
  readonly identity: SharedSecretIdentity;
  readonly name: Name;
  readonly raw: RawClient;
  readonly mls: MlsMember;

  private constructor(
    base: string,
    identity: SharedSecretIdentity,
    raw: RawClient,
    mls: MlsMember,
  ) {
    this.identity = identity;
    this.name = Name.parse(base).withId(idFromIdentity(identity.id));
    this.raw = raw;
    this.mls = mls;
  }

  /** Connects, subscribes its own name; `secret` signs its tokens. */
  static async connect(url: string, base: string, secret = SECRET): Promise<Actor> {
    const identity = new SharedSecretIdentity(base, secret);
    const raw = await RawClient.connect(url);
    const mls = await MlsMember.create({
      provider: identity,
      verifier: new SharedSecretVerifier(SECRET),
    });
    const actor = new Actor(base, identity, raw, mls);
    await raw.subscribe(actor.name, BigInt(randomId()));
    return actor;
  }

  publishes(): Publish[] {
    return this.raw.received.flatMap((m) => publishOf(m) ?? []);
  }

  /** Publishes of `type` (and message id) received so far. */
  replies(type: SessionMessageType, messageId?: number): Publish[] {
    return this.publishes().filter((p) =>
      p.session!.sessionMessageType === type &&
      (messageId === undefined || p.session!.messageId === messageId)
    );
  }

  async waitReply(type: SessionMessageType, messageId?: number, timeoutMs = 3000) {
    await this.raw.waitFor(() => this.replies(type, messageId).length > 0, timeoutMs);
    return this.replies(type, messageId)[0];
  }

  /** Signs `p` with this actor's identity and sends it. */
  async send(p: Publish, metadata: Record<string, string> = {}): Promise<void> {
    this.raw.send(wrap(await stamp(p, this.identity), metadata));
  }

  /** Sends an MLS-encrypted data message built from `p` (its blob is the plaintext). */
  async sendEncrypted(
    p: Publish,
    metadata: Record<string, string> = {},
    mls: { encrypt(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> } = this.mls,
  ): Promise<void> {
    p.header!.identity = await this.identity.token();
    await encryptInPlace(p, mls);
    this.raw.send(wrap(p, metadata));
  }

  close(): Promise<void> {
    return this.raw.close();
  }
}

/** Replaces the payload of `p` by its MLS encryption, with the header AAD of `p` as it is now. */
async function encryptInPlace(
  p: Publish,
  mls: { encrypt(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> },
): Promise<void> {
  const c = p.msg!.contentType;
  if (c.case !== "appPayload") throw new Error("not a data message");
  c.value.blob = await mls.encrypt(c.value.blob, headerAadFromPublish(p));
}

// -----------------------------------------------------------------------------------------------
// A real group: moderator M, members A and B, all apps through a tap (to see what A receives);
// P is an app that nobody invited yet.

interface World {
  node: SlimNode;
  url: string;
  tap: Tap;
  m: TestApp;
  a: TestApp;
  b: TestApp;
  p: TestApp;
  logs: { m: LogCapture; a: LogCapture; b: LogCapture; p: LogCapture };
  g: Session;
  sa: Session;
  sb: Session;
  /** Tap connection index of A. */
  aConn: number;
  actors: Actor[];
  actor(base: string, secret?: string): Promise<Actor>;
  close(): Promise<void>;
}

async function world(channel: string): Promise<World> {
  const { node, port, url } = await startNode();
  const tap = await Tap.start(port);
  const logs = { m: capture("m"), a: capture("a"), b: capture("b"), p: capture("p") };
  const m = await connectApp("org/ns/mod", tap.url, { logger: logs.m.logger });
  const a = await connectApp("org/ns/alice", tap.url, { logger: logs.a.logger });
  const aConn = tap.conns.length - 1;
  const b = await connectApp("org/ns/bob", tap.url, { logger: logs.b.logger });
  const p = await connectApp("org/ns/pat", tap.url, { logger: logs.p.logger });
  const g = await m.app.createSession({ kind: "group", channel, mls: true, reliable: RELIABLE });
  await g.invite("org/ns/alice");
  await g.invite("org/ns/bob");
  const sa = await a.app.listen({ timeoutMs: 5000 });
  const sb = await b.app.listen({ timeoutMs: 5000 });
  const actors: Actor[] = [];
  return {
    node,
    url,
    tap,
    m,
    a,
    b,
    p,
    logs,
    g,
    sa,
    sb,
    aConn,
    actors,
    actor: async (base, secret) => {
      const actor = await Actor.connect(url, base, secret);
      actors.push(actor);
      return actor;
    },
    close: async () => {
      await Promise.allSettled(actors.map((x) => x.close()));
      await Promise.allSettled([m, a, b, p].map((t) => t.app.close()));
      await tap.close();
      await node.stop();
    },
  };
}

/** Every session publishes once; every other one receives exactly that, nothing else. */
async function exchange(sessions: Session[], tag: string): Promise<void> {
  await Promise.all(sessions.map((s, i) => s.publish(`${tag} from ${i}`)));
  for (let i = 0; i < sessions.length; i++) {
    const got: string[] = [];
    for (let k = 0; k < sessions.length - 1; k++) {
      got.push((await sessions[i].nextMessage({ timeoutMs: 5000 })).text());
    }
    const expected = sessions.map((_, j) => `${tag} from ${j}`).filter((_, j) => j !== i);
    assertEquals(got.sort(), expected.sort(), `what member ${i} received`);
  }
  for (const s of sessions) {
    await assertRejects(() => s.nextMessage({ timeoutMs: 50 }), TimeoutError);
  }
}

/** Nothing (more) is delivered to `s` for a while. */
async function nothingDelivered(s: Session, who: string): Promise<void> {
  try {
    const m = await s.nextMessage({ timeoutMs: QUIET_MS });
    throw new Error(`${who} was delivered ${JSON.stringify(m.text())} from ${m.source}`);
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
  }
}

/** MSG_ACKs the node delivered to A's connection so far. */
function acksToA(w: World): Publish[] {
  return w.tap.messages().flatMap((x) => {
    if (x.conn !== w.aConn || x.direction !== "to-app") return [];
    const p = publishOf(x.m);
    return p?.session?.sessionMessageType === SessionMessageType.MSG_ACK ? [p] : [];
  });
}

/** A group join request as a moderator sends it. */
function groupJoin(
  from: Name,
  to: Name,
  sessionId: number,
  messageId: number,
  channels: { data: Name; control: Name },
): Publish {
  return commandPublish(from, to, sessionId, SessionMessageType.JOIN_REQUEST, messageId, {
    case: "joinRequest",
    value: {
      timerSettings: { timeout: RELIABLE.intervalMs, maxRetries: RELIABLE.maxRetries },
      channel: nameToProto(channels.data),
      control: nameToProto(channels.control),
      mlsSettings: { headerIntegrityValidationPercent: 100 },
    },
  });
}

function keyPackageOf(reply: Publish): Uint8Array {
  const c = reply.msg?.contentType;
  if (c?.case === "commandPayload" && c.value.commandPayloadType.case === "joinReply") {
    const kp = c.value.commandPayloadType.value.keyPackage;
    if (kp) return kp;
  }
  throw new Error("join reply without key package");
}

function flip(data: Uint8Array, at = data.length >> 1): Uint8Array {
  const copy = data.slice();
  copy[at] ^= 0x01;
  return copy;
}

/** A fake moderator's group with P: joined by P, which answered with its key package. */
async function fakeGroup(w: World) {
  const mallory = await w.actor("org/ns/mallory");
  const sessionId = 4242;
  const channels = {
    data: Name.parse("org/ns/evilchat").withId(1001n),
    control: Name.parse("org/ns/evilchat").withId(1002n),
  };
  await mallory.raw.subscribe(channels.data, 9001n);
  const joinId = randomId();
  await mallory.send(groupJoin(mallory.name, w.p.app.name, sessionId, joinId, channels));
  const kp = keyPackageOf(await mallory.waitReply(SessionMessageType.JOIN_REPLY, joinId));
  await mallory.mls.createGroup();
  const { welcome } = await mallory.mls.addMember(kp);
  const welcomeMessage = (mlsContent: Uint8Array, messageId: number) =>
    commandPublish(
      mallory.name,
      w.p.app.name,
      sessionId,
      SessionMessageType.GROUP_WELCOME,
      messageId,
      {
        case: "groupWelcome",
        value: {
          participants: [participantProto(mallory.name), participantProto(w.p.app.name)],
          mls: { commitId: 1, mlsContent },
        },
      },
    );
  /** An encrypted message from mallory to the data channel. */
  const say = (text: string, messageId: number) =>
    mallory.sendEncrypted(
      dataPublish(mallory.name, channels.data, sessionId, messageId, encoder.encode(text), {
        fanout: BROADCAST_FANOUT,
      }),
    );
  return { mallory, sessionId, channels, welcome, welcomeMessage, say };
}

// -----------------------------------------------------------------------------------------------

Deno.test("group bad input - a Welcome whose MLS content does not verify is refused; the genuine one works", async () => {
  const w = await world("org/ns/welcome");
  try {
    const f = await fakeGroup(w);
    const tampered = decodeMls(f.welcome);
    if (tampered.wireformat !== "mls_welcome") throw new Error("not a welcome");
    tampered.welcome.encryptedGroupInfo = flip(tampered.welcome.encryptedGroupInfo);
    const badId = randomId();
    await f.mallory.send(f.welcomeMessage(encodeMls(tampered), badId));
    const line = await w.logs.p.wait([
      "WARN",
      "rejected MLS welcome",
      `from=${f.mallory.name}`,
      "welcome rejected",
    ]);
    assert(line.includes(`session ${f.sessionId}`), line);
    await sleep(QUIET_MS);
    assertEquals(f.mallory.replies(SessionMessageType.GROUP_ACK, badId).length, 0, "not acked");
    assert(!w.p.mls[0].joined, "P did not join");
    await assertRejects(() => w.p.app.listen({ timeoutMs: 50 }), TimeoutError);

    // Truncated bytes: refused too.
    const cutId = randomId();
    await f.mallory.send(f.welcomeMessage(f.welcome.subarray(0, 100), cutId));
    await w.logs.p.wait(["rejected MLS welcome", "malformed"]);

    // The genuine Welcome (a new message id) is accepted: P's key package survived.
    const goodId = randomId();
    await f.mallory.send(f.welcomeMessage(f.welcome, goodId));
    await f.mallory.waitReply(SessionMessageType.GROUP_ACK, goodId);
    const sp = await w.p.app.listen({ timeoutMs: 3000 });
    assertEquals(sp.id, f.sessionId);
    assertEquals(f.mallory.replies(SessionMessageType.GROUP_ACK, badId).length, 0);
    assertEquals(f.mallory.replies(SessionMessageType.GROUP_ACK, cutId).length, 0);
    // Both ways in that group.
    await f.say("hello pat", 1);
    assertEquals((await sp.nextMessage({ timeoutMs: 3000 })).text(), "hello pat");
    void sp.publish("hello mallory").catch(() => {});
    await f.mallory.raw.waitFor(() =>
      f.mallory.replies(SessionMessageType.MSG).some((p) =>
        nameFromProto(p.header!.source).equals(w.p.app.name)
      )
    );
    const fromP = f.mallory.replies(SessionMessageType.MSG).find((p) =>
      nameFromProto(p.header!.source).equals(w.p.app.name)
    )!;
    assertEquals(
      decoder.decode((await f.mallory.mls.decrypt(appBlob(fromP)!)).plaintext),
      "hello mallory",
    );
    // And the real group never noticed.
    await exchange([w.g, w.sa, w.sb], "after welcome");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a commit ahead of order is held, then applied in order when the gap fills", async () => {
  const w = await world("org/ns/order");
  try {
    const f = await fakeGroup(w);
    const goodId = randomId();
    await f.mallory.send(f.welcomeMessage(f.welcome, goodId));
    await f.mallory.waitReply(SessionMessageType.GROUP_ACK, goodId);
    const sp = await w.p.app.listen({ timeoutMs: 3000 });
    const pMls = w.p.mls[0];
    assertEquals(pMls.epoch, 1n);

    // Two more members (MLS only), commits 2 and 3.
    const clock = () => Math.floor(Date.now() / 1000);
    const newcomer = async (base: string) =>
      await MlsMember.create({
        provider: new SharedSecretIdentity(base, SECRET),
        verifier: new SharedSecretVerifier(SECRET, { now: clock }),
      });
    const xavier = await newcomer("org/ns/xavier");
    const yvonne = await newcomer("org/ns/yvonne");
    const c2 = await f.mallory.mls.addMember(await xavier.generateKeyPackage());
    const c3 = await f.mallory.mls.addMember(await yvonne.generateKeyPackage());
    const update = (commitId: number, commit: Uint8Array, messageId: number, who: string) =>
      commandPublish(
        f.mallory.name,
        w.p.app.name,
        f.sessionId,
        SessionMessageType.GROUP_UPDATE,
        messageId,
        {
          case: "groupUpdate",
          value: {
            participant: participantProto(Name.parse(who).withId(BigInt(commitId))),
            participants: [participantProto(f.mallory.name), participantProto(w.p.app.name)],
            mls: { commitId, mlsContent: commit },
          },
        },
      );

    // Commit 3 first: held (acknowledged at once, as the real SLIM does), not applied.
    const u3 = randomId();
    await f.mallory.send(update(3, c3.commit, u3, "org/ns/yvonne"));
    await f.mallory.waitReply(SessionMessageType.GROUP_ACK, u3);
    await sleep(100);
    assertEquals(pMls.epoch, 1n, "commit 3 is not applied before commit 2");
    // A message of epoch 3 cannot be read yet: dropped, logged, not acknowledged.
    await f.say("too early", 1);
    await w.logs.p.wait(["dropped undecryptable message", `from=${f.mallory.name}`, "missing"]);
    await nothingDelivered(sp, "P");
    assertEquals(f.mallory.replies(SessionMessageType.MSG_ACK, 1).length, 0, "not acked");

    // Commit 2 arrives: 2 then 3 are applied.
    const u2 = randomId();
    await f.mallory.send(update(2, c2.commit, u2, "org/ns/xavier"));
    await f.mallory.waitReply(SessionMessageType.GROUP_ACK, u2);
    await until(() => pMls.epoch === 3n, "P at epoch 3");
    assertEquals(pMls.members().length, 4);
    // The sender retransmits message 1 (encrypted again): now delivered and acknowledged.
    await f.say("too early", 1);
    assertEquals((await sp.nextMessage({ timeoutMs: 3000 })).text(), "too early");
    await f.mallory.waitReply(SessionMessageType.MSG_ACK, 1);

    // Commit 2 again (new message id): old, dropped without an acknowledgement.
    const again = randomId();
    await f.mallory.send(update(2, c2.commit, again, "org/ns/xavier"));
    await sleep(QUIET_MS);
    assertEquals(f.mallory.replies(SessionMessageType.GROUP_ACK, again).length, 0);
    assertEquals(pMls.epoch, 3n);
    await f.say("in order", 2);
    assertEquals((await sp.nextMessage({ timeoutMs: 3000 })).text(), "in order");
    await exchange([w.g, w.sa, w.sb], "after reordering");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a GROUP_UPDATE forged by a member (not the moderator) is refused", async () => {
  const w = await world("org/ns/forged");
  try {
    // A is a member with a valid identity and MLS state; it commits an add of its own friend X.
    const aMls = w.a.mls[0];
    const bMls = w.b.mls[0];
    const epoch = bMls.epoch;
    const x = await MlsMember.create({
      provider: new SharedSecretIdentity("org/ns/xeve", SECRET),
      verifier: new SharedSecretVerifier(SECRET),
    });
    const forged = await aMls.addMember(await x.generateKeyPackage());
    await x.joinFromWelcome(forged.welcome);
    // The forger sends it as a group update, signed with A's own identity, to B.
    const forger = await w.actor("org/ns/forger");
    const spy = await w.actor("org/ns/spy");
    await spy.raw.subscribe(w.g.destination, 31337n);
    const id = randomId();
    const update = commandPublish(
      w.a.app.name,
      w.b.app.name,
      w.g.id,
      SessionMessageType.GROUP_UPDATE,
      id,
      {
        case: "groupUpdate",
        value: {
          participant: participantProto(Name.parse("org/ns/xeve").withId(x.appId)),
          participants: [participantProto(w.m.app.name), participantProto(w.b.app.name)],
          mls: { commitId: 3, mlsContent: forged.commit },
        },
      },
    );
    forger.raw.send(wrap(await stamp(update, w.a.app.identity)));
    await sleep(QUIET_MS);

    // What B did with it.
    const after = bMls.epoch;
    const xInB = bMls.members().includes(x.appId);
    await w.sb.publish("secret from bob").catch(() => {});
    await spy.raw.waitFor(() =>
      spy.replies(SessionMessageType.MSG).some((p) =>
        nameFromProto(p.header!.source).equals(w.b.app.name)
      )
    ).catch(() => {});
    const captured = spy.replies(SessionMessageType.MSG).find((p) =>
      nameFromProto(p.header!.source).equals(w.b.app.name)
    );
    const readByX = captured
      ? await x.decrypt(appBlob(captured)!).then((d) => decoder.decode(d.plaintext), () => "")
      : "";
    assert(
      after === epoch && !xInB,
      `B applied a GROUP_UPDATE commit forged by member A (not the moderator): B's MLS epoch ` +
        `${epoch} -> ${after}, A's friend X ${xInB ? "is" : "is not"} in B's group, and X ` +
        (readByX ? `decrypted B's next message: ${JSON.stringify(readByX)}` : "could not read it"),
    );
    await w.logs.b.wait(["GROUP_UPDATE", `from=${w.a.app.name}`, "moderator"]);
    // The group goes on: messages, and the moderator's own next commits apply at B.
    assertEquals((await w.g.nextMessage({ timeoutMs: 3000 })).text(), "secret from bob");
    const c = await connectApp("org/ns/carol", w.tap.url);
    try {
      await w.g.remove(w.a.app.name);
      await w.g.invite("org/ns/carol");
      const sc = await c.app.listen({ timeoutMs: 3000 });
      await exchange([w.g, w.sb, sc], "after forged update");
    } finally {
      await c.app.close();
    }
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a commit planted ahead by a non-member does not block the moderator's commits", async () => {
  const w = await world("org/ns/planted");
  try {
    // Mallory holds the shared secret but is in no group; her commit is for her own group.
    const mallory = await w.actor("org/ns/mallory");
    await mallory.mls.createGroup();
    const foreign = await MlsMember.create({
      provider: new SharedSecretIdentity("org/ns/friend", SECRET),
      verifier: new SharedSecretVerifier(SECRET),
    });
    const planted = await mallory.mls.addMember(await foreign.generateKeyPackage());
    // B is at commit 2; the moderator's next two commits will be 3 and 4. Plant 4.
    const id = randomId();
    await mallory.send(commandPublish(
      mallory.name,
      w.b.app.name,
      w.g.id,
      SessionMessageType.GROUP_UPDATE,
      id,
      {
        case: "groupUpdate",
        value: {
          participant: participantProto(mallory.name),
          participants: [participantProto(w.m.app.name), participantProto(w.b.app.name)],
          mls: { commitId: 4, mlsContent: planted.commit },
        },
      },
    ));
    await sleep(QUIET_MS);
    const plantAcked = mallory.replies(SessionMessageType.GROUP_ACK, id).length > 0;
    const malloryInRoster = w.sb.participants().some((p) => p.name.equals(mallory.name));
    // The moderator adds carol (commit 3): B must apply it, add carol and acknowledge.
    const c = await connectApp("org/ns/carol", w.tap.url);
    try {
      await w.g.invite("org/ns/carol");
      const sc = await c.app.listen({ timeoutMs: 3000 });
      const carolInRoster = w.sb.participants().some((p) => p.name.equals(c.app.name));
      const bOnline = w.g.participants().find((p) => p.name.equals(w.b.app.name))?.online;
      const log = w.logs.b.lines.filter((l) => l.includes("commit")).join("\n");
      assert(
        !plantAcked && !malloryInRoster && carolInRoster && bOnline,
        `a GROUP_UPDATE from non-member mallory with commit_id 4 was stored by B: ` +
          `acknowledged to mallory: ${plantAcked}; mallory added to B's roster: ` +
          `${malloryInRoster}. Then the moderator's commit 3: carol in B's roster: ` +
          `${carolInRoster}; moderator sees B online: ${bOnline} (B applied 3, then tried ` +
          `mallory's 4, failed, and returned before adding carol and acknowledging). ` +
          `B's log:\n${log}`,
      );
      await w.logs.b.wait(["GROUP_UPDATE", `from=${mallory.name}`, "moderator"]);
      assertEquals(w.b.mls[0].epoch, 3n);
      await exchange([w.g, w.sa, w.sb, sc], "after planted commit");
    } finally {
      await c.app.close();
    }
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - moderator-only commands (close, leave) from others are refused", async () => {
  const w = await world("org/ns/closing");
  try {
    await w.g.invite("org/ns/pat");
    const sp = await w.p.app.listen({ timeoutMs: 3000 });
    // Mallory is no member but holds a valid identity; A is a member. Neither is the moderator.
    const mallory = await w.actor("org/ns/mallory");
    const forger = await w.actor("org/ns/forger");
    const closeId = randomId();
    await mallory.send(commandPublish(
      mallory.name,
      w.b.app.name,
      w.g.id,
      SessionMessageType.GROUP_CLOSE,
      closeId,
      { case: "groupClose", value: { participants: [nameToProto(w.b.app.name)] } },
    ));
    const leaveId = randomId();
    const leave = commandPublish(
      w.a.app.name,
      w.p.app.name,
      w.g.id,
      SessionMessageType.LEAVE_REQUEST,
      leaveId,
      { case: "leaveRequest", value: {} },
    );
    forger.raw.send(wrap(await stamp(leave, w.a.app.identity)));
    await sleep(QUIET_MS);
    const ended = async (s: Session) =>
      await Promise.race([s.closed, sleep(1).then(() => undefined)]);
    const [bEnded, pEnded] = [await ended(w.sb), await ended(sp)];
    assert(
      !bEnded && !pEnded,
      `B's session ${bEnded ? `ended (${bEnded})` : "is open"} after a GROUP_CLOSE from ` +
        `non-member mallory; P's session ${pEnded ? `ended (${pEnded})` : "is open"} after a ` +
        `LEAVE_REQUEST forged by member A. Only the moderator may close or remove.`,
    );
    assertEquals(mallory.replies(SessionMessageType.GROUP_ACK, closeId).length, 0);
    await w.logs.b.wait(["GROUP_CLOSE", `from=${mallory.name}`, "moderator"]);
    await w.logs.p.wait(["LEAVE_REQUEST", `from=${w.a.app.name}`, "moderator"]);
    await exchange([w.g, w.sa, w.sb, sp], "after forged close");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a command naming the moderator as source but signed by another identity is refused", async () => {
  const w = await world("org/ns/impostor");
  try {
    // Mallory's token and signature are valid, but they are hers, not the moderator's.
    const mallory = await w.actor("org/ns/mallory");
    const closeId = randomId();
    await mallory.send(commandPublish(
      w.m.app.name,
      w.b.app.name,
      w.g.id,
      SessionMessageType.GROUP_CLOSE,
      closeId,
      { case: "groupClose", value: { participants: [nameToProto(w.b.app.name)] } },
    ));
    await sleep(QUIET_MS);
    const ended = await Promise.race([w.sb.closed, sleep(1).then(() => undefined)]);
    assert(
      !ended,
      `B's session ended (${ended}) on a GROUP_CLOSE whose source is the moderator's name but ` +
        `whose identity token is mallory's: the token subject is not bound to the header source`,
    );
    await w.logs.b.wait([
      "rejected control message",
      `from=${w.m.app.name}`,
      "type=GROUP_CLOSE",
    ]);
    await exchange([w.g, w.sa, w.sb], "after impostor");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - application messages from a non-member are dropped, logged, not acked", async () => {
  const w = await world("org/ns/outsider");
  try {
    // Mallory holds the shared secret, was never invited, and publishes to the data channel.
    const mallory = await w.actor("org/ns/mallory");
    await mallory.mls.createGroup();
    await mallory.raw.subscribe(w.g.destination, 777n);
    const toChannel = (id: number, text: string) =>
      dataPublish(mallory.name, w.g.destination, w.g.id, id, encoder.encode(text), {
        fanout: BROADCAST_FANOUT,
      });
    // 1. A PrivateMessage of her own group.
    await mallory.sendEncrypted(toChannel(1, "from another group"));
    for (const log of [w.logs.m, w.logs.a, w.logs.b]) {
      await log.wait([
        "dropped undecryptable message",
        `from=${mallory.name}`,
        "another MLS group",
      ]);
    }
    // 2. Plain text, no MLS at all.
    const clear = toChannel(2, "plain text");
    clear.header!.identity = await mallory.identity.token();
    mallory.raw.send(wrap(clear));
    for (const log of [w.logs.m, w.logs.a, w.logs.b]) {
      await log.wait(["dropped undecryptable message", `from=${mallory.name}`, "malformed"]);
    }
    // 3. A genuine ciphertext of the group, replayed as captured (same header, same bytes).
    await w.g.publish("genuine");
    await w.sa.nextMessage({ timeoutMs: 3000 });
    await w.sb.nextMessage({ timeoutMs: 3000 });
    const genuine = mallory.raw.received.find((m) =>
      publishOf(m)?.session?.sessionMessageType === SessionMessageType.MSG &&
      nameFromProto(publishOf(m)!.header!.source).equals(w.m.app.name)
    );
    assert(genuine, "mallory captured the moderator's ciphertext");
    const replay: Message = structuredClone(genuine);
    const rp = publishOf(replay)!;
    rp.header!.headerMac = undefined;
    rp.header!.recvFrom = undefined;
    rp.header!.forwardTo = undefined;
    mallory.raw.send(replay);
    for (const log of [w.logs.a, w.logs.b]) {
      await log.wait(["dropped undecryptable message", `from=${w.m.app.name}`]);
    }
    await sleep(QUIET_MS);
    for (const [s, who] of [[w.g, "M"], [w.sa, "A"], [w.sb, "B"]] as const) {
      await nothingDelivered(s, who);
    }
    assertEquals(mallory.replies(SessionMessageType.MSG_ACK).length, 0, "nobody acknowledged");
    await exchange([w.g, w.sa, w.sb], "after outsider");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a header that does not match its MLS authenticated data is dropped", async () => {
  const w = await world("org/ns/aad");
  try {
    // A member's MLS state encrypts for real; a raw client sends with A's name and identity.
    const aMls = w.a.mls[0];
    const raw = await w.actor("org/ns/relay");
    const direct = (to: Name, text: string) =>
      dataPublish(
        w.a.app.name,
        to,
        w.g.id,
        0x80000000 + Math.floor(Math.random() * 0x7fff0000),
        encoder.encode(text),
      );
    const send = async (p: Publish, tamper: (p: Publish) => void | Promise<void>) => {
      p.header!.identity = await w.a.app.identity.token();
      await encryptInPlace(p, aMls);
      await tamper(p);
      raw.raw.send(wrap(p, { PUBLISH_TO: "TRUE" }));
      return p.session!.messageId;
    };
    const acked = (id: number) => acksToA(w).some((p) => p.session!.messageId === id);

    // Control: untampered, B decrypts, delivers and acknowledges (to A).
    const okId = await send(direct(w.b.app.name, "untampered"), () => {});
    const ok = await w.sb.nextMessage({ timeoutMs: 3000 });
    assertEquals([ok.text(), String(ok.source)], ["untampered", String(w.a.app.name)]);
    await until(() => acked(okId), "B's acknowledgement of the untampered message");

    const cases: [string, (p: Publish) => void | Promise<void>][] = [
      ["message id", (p) => {
        p.session!.messageId += 1;
      }],
      ["destination", (p) => {
        // Encrypted for the moderator, delivered to B.
        p.header!.destination = nameToProto(w.b.app.name);
      }],
      ["identity", async (p) => {
        p.header!.identity = await w.a.app.identity.token();
      }],
      ["payload type", (p) => {
        const c = p.msg!.contentType;
        if (c.case === "appPayload") c.value.payloadType = "other";
      }],
    ];
    for (const [what, tamper] of cases) {
      const to = what === "destination" ? w.m.app.name : w.b.app.name;
      const id = await send(direct(to, `tampered ${what}`), tamper);
      await w.logs.b.wait([
        "dropped message: header does not match its MLS authenticated data",
        `from=${w.a.app.name}`,
        `message_id=${id}`,
      ]);
      await sleep(100);
      assert(!acked(id), `a message with a tampered ${what} was acknowledged`);
    }
    await nothingDelivered(w.sb, "B");
    await nothingDelivered(w.g, "M");
    assertEquals(
      w.logs.b.count("dropped undecryptable message"),
      0,
      "every tampered message decrypted: the AAD check dropped them",
    );
    await exchange([w.g, w.sa, w.sb], "after tampering");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - a member cannot send as another member (MLS sender vs header source)", async () => {
  const w = await world("org/ns/spoof");
  try {
    // A encrypts with its own MLS leaf, but header (and AAD) name B as the source.
    const raw = await w.actor("org/ns/relay");
    const p = dataPublish(
      w.b.app.name,
      w.m.app.name,
      w.g.id,
      0x80000000 + Math.floor(Math.random() * 0x7fff0000),
      encoder.encode("I am bob, honest"),
    );
    p.header!.identity = await w.b.app.identity.token();
    await encryptInPlace(p, w.a.mls[0]);
    raw.raw.send(wrap(p, { PUBLISH_TO: "TRUE" }));
    let delivered: string | undefined;
    try {
      const m = await w.g.nextMessage({ timeoutMs: QUIET_MS });
      delivered = `${JSON.stringify(m.text())} with source ${m.source}`;
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
    }
    assertEquals(
      delivered,
      undefined,
      "the moderator delivered a message MLS-signed by A as coming from B",
    );
    await w.logs.m.wait(["dropped", `from=${w.b.app.name}`, "sender"]);
    await exchange([w.g, w.sa, w.sb], "after spoofing");
  } finally {
    await w.close();
  }
});

Deno.test("group bad input - group discovery and join requests with the wrong secret create nothing", async () => {
  const w = await world("org/ns/secret");
  try {
    const eve = await w.actor("org/ns/eve", OTHER_SECRET);
    const channels = {
      data: Name.parse("org/ns/evechat").withId(2001n),
      control: Name.parse("org/ns/evechat").withId(2002n),
    };
    const discoveryId = randomId();
    await eve.send(commandPublish(
      eve.name,
      w.p.app.name.withoutId(),
      5151,
      SessionMessageType.DISCOVERY_REQUEST,
      discoveryId,
      { case: "discoveryRequest", value: {} },
    ));
    await w.logs.p.wait([
      "rejected session request",
      `from=${eve.name}`,
      "type=DISCOVERY_REQUEST",
      "mac mismatch",
    ]);
    const joinId = randomId();
    await eve.send(groupJoin(eve.name, w.p.app.name, 5152, joinId, channels));
    await w.logs.p.wait([
      "rejected session request",
      `from=${eve.name}`,
      "type=JOIN_REQUEST",
      "mac mismatch",
    ]);
    await sleep(QUIET_MS);
    assertEquals(eve.publishes().length, 0, "nothing sent back");
    assertEquals(w.p.app.sessions(), [], "no session created");
    assertEquals(w.p.mls.length, 0, "no MLS state created");

    // Control: the same discovery with the right secret is answered.
    const good = await w.actor("org/ns/eve");
    const again = randomId();
    await good.send(commandPublish(
      good.name,
      w.p.app.name.withoutId(),
      5151,
      SessionMessageType.DISCOVERY_REQUEST,
      again,
      { case: "discoveryRequest", value: {} },
      { sessionType: SessionType.MULTICAST },
    ));
    await good.waitReply(SessionMessageType.DISCOVERY_REPLY, again);

    // P can still be invited for real and talks with everyone.
    await w.g.invite("org/ns/pat");
    const sp = await w.p.app.listen({ timeoutMs: 3000 });
    await exchange([w.g, w.sa, w.sb, sp], "after wrong secret");
  } finally {
    await w.close();
  }
});

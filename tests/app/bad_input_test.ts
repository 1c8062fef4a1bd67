/**
 * An app facing bad session input: forged, expired, future-dated or mis-signed requests,
 * messages for unknown sessions, replayed control messages, unreachable nodes and peers with
 * another secret. In every case the app keeps serving the session it already has.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { FakeClock } from "../../lib/clock.ts";
import { MAX_PENDING_JOINS } from "../../lib/session/config.ts";
import { SessionError, TimeoutError, TransportError } from "../../lib/errors.ts";
import { signPublish } from "../../lib/identity/header_signature.ts";
import { SharedSecretIdentity } from "../../lib/identity/shared_secret.ts";
import { createLogger } from "../../lib/log.ts";
import { idFromIdentity, Name } from "../../lib/names/name.ts";
import { SlimNode } from "../../lib/node/node.ts";
import type { Session } from "../../lib/session/session.ts";
import { participantProto } from "../../lib/session/participants.ts";
import {
  type CommandPayloadSchema,
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
} from "../../lib/wire/codec.ts";
import { logCapture, RawClient } from "../helpers/raw_client.ts";
import { freePort } from "../peer/real_peer.ts";

const SECRET = "slim-ts-bad-input-tests-shared-secret-0123456789";
const OTHER_SECRET = "a-completely-different-shared-secret-9876543210";
const quiet = createLogger("test", { level: "error" });
// Mallory's tokens carry this id, and her name's id derives from it (receivers check the match).
const MALLORY_ID = "org/ns/mallory_TeStTeSt";
const mallory = Name.parse("org/ns/mallory").withId(idFromIdentity(MALLORY_ID));

interface World {
  node: SlimNode;
  url: string;
  alice: App;
  bob: App;
  /** Bob's log lines (debug and up). */
  log: ReturnType<typeof logCapture>;
  /** alice → bob, established. */
  ab: Session;
  ba: Session;
  raw: RawClient;
  good: SharedSecretIdentity;
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: quiet.child("node"),
    drainTimeoutMs: 500,
  });
  const url = `http://127.0.0.1:${node.addresses[0].port}`;
  const log = logCapture();
  const alice = await App.connect({
    name: "org/ns/alice",
    endpoint: url,
    identity: { sharedSecret: SECRET },
    logger: quiet.child("alice"),
  });
  const bob = await App.connect({
    name: "org/ns/bob",
    endpoint: url,
    identity: { sharedSecret: SECRET },
    logger: createLogger("bob", { level: "debug", sink: log.sink, timestamps: false }),
  });
  const ab = await alice.createSession({
    kind: "point-to-point",
    peer: "org/ns/bob",
    reliable: { maxRetries: 3, intervalMs: 100 },
  });
  const ba = await bob.listen({ timeoutMs: 3000 });
  const raw = await RawClient.connect(url);
  await raw.subscribe(mallory, 7n);
  const good = new SharedSecretIdentity("org/ns/mallory", SECRET, { id: MALLORY_ID });
  return {
    node,
    url,
    alice,
    bob,
    log,
    ab,
    ba,
    raw,
    good,
    close: async () => {
      await raw.close();
      await Promise.allSettled([alice.close(), bob.close()]);
      await node.stop();
    },
  };
}

/** The established session still carries messages both ways. */
async function stillServing(w: World, tag: string): Promise<void> {
  await w.ab.publish(`ping ${tag}`);
  assertEquals((await w.ba.nextMessage({ timeoutMs: 2000 })).text(), `ping ${tag}`);
  await w.ba.publish(`pong ${tag}`);
  assertEquals((await w.ab.nextMessage({ timeoutMs: 2000 })).text(), `pong ${tag}`);
  assertEquals(w.ab.state, "active");
  assertEquals(w.ba.state, "active");
}

/** A session command message from mallory. */
function command(
  type: SessionMessageType,
  destination: Name,
  sessionId: number,
  messageId: number,
  payload: MessageInitShape<typeof CommandPayloadSchema>["commandPayloadType"],
  sessionType = SessionType.POINT_TO_POINT,
): Publish {
  return create(PublishSchema, {
    header: {
      source: nameToProto(mallory),
      destination: nameToProto(destination),
      fanout: 1,
      ttl: DEFAULT_TTL,
      version: SLIM_WIRE_VERSION,
    },
    session: { sessionType, sessionMessageType: type, sessionId, messageId },
    msg: { contentType: { case: "commandPayload", value: { commandPayloadType: payload } } },
  });
}

/** Stamps a token (minted at `at`, Unix seconds) and signs the header. */
async function stamp(p: Publish, identity: SharedSecretIdentity, at?: number): Promise<Publish> {
  p.header!.identity = at === undefined ? await identity.token() : identity.mint(at);
  await signPublish(identity.signingKey, p);
  return p;
}

function wrap(p: Publish, metadata: Record<string, string> = {}): Message {
  return makeMessage({ messageType: { case: "publish", value: p }, metadata });
}

const publishes = (raw: RawClient) =>
  raw.received.flatMap((m) => m.messageType.case === "publish" ? [m.messageType.value] : []);

const discovery = (dst: Name, id: number) =>
  command(SessionMessageType.DISCOVERY_REQUEST, dst, 9001, id, {
    case: "discoveryRequest",
    value: {},
  });

const joinP2p = (dst: Name, sessionId: number, id: number) =>
  command(SessionMessageType.JOIN_REQUEST, dst, sessionId, id, {
    case: "joinRequest",
    value: { timerSettings: { timeout: 100, maxRetries: 2 } },
  });

const now = () => Math.floor(Date.now() / 1000);

/**
 * Sends `bad`, waits for bob's rejection log line naming mallory and `reason`, and checks that
 * nothing came back and no session was created.
 */
async function expectRejected(w: World, bad: Publish, reason: string): Promise<void> {
  const type = SessionMessageType[bad.session!.sessionMessageType];
  const sessionsBefore = w.bob.sessions().length;
  const repliesBefore = publishes(w.raw).length;
  w.raw.send(wrap(bad));
  const deadline = Date.now() + 2000;
  const logged = () =>
    w.log.has("rejected session request", `from=${mallory}`, `type=${type}`, reason);
  while (!logged()) {
    if (Date.now() > deadline) {
      throw new Error(`no rejection log for ${reason}; log:\n${w.log.lines.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(publishes(w.raw).length, repliesBefore, "nothing is sent back");
  assertEquals(w.bob.sessions().length, sessionsBefore, "no session is created");
}

Deno.test("bad input - a discovery request with the wrong secret: no reply, logged with sender and reason", async () => {
  const w = await world();
  try {
    const eve = new SharedSecretIdentity("org/ns/mallory", OTHER_SECRET, { id: MALLORY_ID });
    await expectRejected(
      w,
      await stamp(discovery(w.bob.name.withoutId(), 11), eve),
      "mac mismatch",
    );
    // The same request with the right secret is answered: the harness can see replies.
    w.raw.send(wrap(await stamp(discovery(w.bob.name.withoutId(), 12), w.good)));
    await w.raw.waitFor(() => publishes(w.raw).length > 0);
    const reply = publishes(w.raw)[0];
    assertEquals(reply.session!.sessionMessageType, SessionMessageType.DISCOVERY_REPLY);
    assertEquals(reply.session!.messageId, 12);
    assert(nameFromProto(reply.header!.source).equals(w.bob.name));
    await stillServing(w, "discovery");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - a join request with the wrong secret creates no session", async () => {
  const w = await world();
  try {
    const eve = new SharedSecretIdentity("org/ns/mallory", OTHER_SECRET, { id: MALLORY_ID });
    await expectRejected(w, await stamp(joinP2p(w.bob.name, 5001, 21), eve), "mac mismatch");
    assert(!w.bob.sessions().includes(5001));
    await stillServing(w, "join");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - an expired token (minted 2 hours ago) is refused", async () => {
  const w = await world();
  try {
    await expectRejected(
      w,
      await stamp(joinP2p(w.bob.name, 5002, 31), w.good, now() - 7200),
      "expired",
    );
    await expectRejected(
      w,
      await stamp(discovery(w.bob.name, 32), w.good, now() - 7200),
      "expired",
    );
    await stillServing(w, "expired");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - a token from the future is refused", async () => {
  const w = await world();
  try {
    await expectRejected(
      w,
      await stamp(joinP2p(w.bob.name, 5003, 41), w.good, now() + 3600),
      "from the future",
    );
    await stillServing(w, "future");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - a tampered or missing header signature is refused", async () => {
  const w = await world();
  try {
    const flipped = await stamp(joinP2p(w.bob.name, 5004, 51), w.good);
    flipped.header!.e2eHeaderSig![10] ^= 0x01;
    await expectRejected(w, flipped, "signature mismatch");
    // Signed, then a signed field changed (the message id).
    const moved = await stamp(joinP2p(w.bob.name, 5005, 52), w.good);
    moved.session!.messageId = 53;
    await expectRejected(w, moved, "signature mismatch");
    const unsigned = await stamp(discovery(w.bob.name, 54), w.good);
    unsigned.header!.e2eHeaderSig = undefined;
    await expectRejected(w, unsigned, "no header signature");
    await stillServing(w, "signature");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - malformed join requests are refused", async () => {
  const w = await world();
  try {
    // A group join without channel names.
    const group = await stamp(
      command(SessionMessageType.JOIN_REQUEST, w.bob.name, 5006, 61, {
        case: "joinRequest",
        value: { timerSettings: { timeout: 100, maxRetries: 2 } },
      }, SessionType.MULTICAST),
      w.good,
    );
    await expectRejected(w, group, "channel names");
    // A session id in the reserved range.
    await expectRejected(w, await stamp(joinP2p(w.bob.name, 0xffffffff, 62), w.good), "session id");
    await stillServing(w, "malformed");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - a message for an unknown session is dropped and logged at debug", async () => {
  const w = await world();
  try {
    const msg = create(PublishSchema, {
      header: {
        source: nameToProto(mallory),
        destination: nameToProto(w.bob.name),
        fanout: 1,
        ttl: DEFAULT_TTL,
        identity: await w.good.token(),
      },
      session: {
        sessionType: SessionType.POINT_TO_POINT,
        sessionMessageType: SessionMessageType.MSG,
        sessionId: 123456,
        messageId: 1,
      },
      msg: {
        contentType: {
          case: "appPayload",
          value: { payloadType: "msg", blob: new TextEncoder().encode("hello?") },
        },
      },
    });
    w.raw.send(wrap(msg));
    const leave = await stamp(
      command(SessionMessageType.LEAVE_REQUEST, w.bob.name, 123457, 71, {
        case: "leaveRequest",
        value: {},
      }),
      w.good,
    );
    w.raw.send(wrap(leave));
    const deadline = Date.now() + 2000;
    while (
      !(w.log.has("DEBUG", "unknown session", "session_id=123456", "type=MSG") &&
        w.log.has("DEBUG", "unknown session", "session_id=123457", "type=LEAVE_REQUEST"))
    ) {
      if (Date.now() > deadline) throw new Error(`not logged:\n${w.log.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 150));
    assertEquals(publishes(w.raw), [], "no ack, no reply");
    assertEquals(w.bob.sessions().length, 1);
    await stillServing(w, "unknown");
  } finally {
    await w.close();
  }
});

/** A received publish with the per-message stamps (token, signature, MAC) blanked. */
function unstamped(p: Publish): Publish {
  const c = create(PublishSchema, p);
  c.header!.identity = "";
  c.header!.e2eHeaderSig = undefined;
  c.header!.headerMac = undefined;
  return c;
}

Deno.test("bad input - replayed join request and welcome: processed once, the same reply re-sent", async () => {
  const w = await world();
  try {
    const sid = 7007;
    const replies = (type: SessionMessageType, id: number) =>
      publishes(w.raw).filter((p) =>
        p.session!.sessionMessageType === type && p.session!.messageId === id &&
        p.session!.sessionId === sid
      );
    // Join: the very same bytes twice.
    const join = await stamp(joinP2p(w.bob.name, sid, 81), w.good);
    w.raw.send(wrap(join));
    await w.raw.waitFor(() => replies(SessionMessageType.JOIN_REPLY, 81).length === 1);
    w.raw.send(wrap(join));
    await w.raw.waitFor(() => replies(SessionMessageType.JOIN_REPLY, 81).length === 2);
    const [j1, j2] = replies(SessionMessageType.JOIN_REPLY, 81);
    assertEquals(unstamped(j2), unstamped(j1), "the same reply, modulo token and signature");
    assertEquals(w.bob.sessions().filter((s) => s === sid).length, 1);
    assertEquals(w.bob.sessions().length, 2);
    const joinReply = j1.msg?.contentType.case === "commandPayload" &&
        j1.msg.contentType.value.commandPayloadType.case === "joinReply"
      ? j1.msg.contentType.value.commandPayloadType.value
      : undefined;
    assert(joinReply?.participant, "join reply names the participant");
    assert(nameFromProto(joinReply.participant.name).equals(w.bob.name));

    // Welcome twice: acked twice, one session for the application.
    const welcome = await stamp(
      command(SessionMessageType.GROUP_WELCOME, w.bob.name, sid, 82, {
        case: "groupWelcome",
        value: {
          participants: [participantProto(mallory), participantProto(w.bob.name)],
        },
      }),
      w.good,
    );
    w.raw.send(wrap(welcome));
    await w.raw.waitFor(() => replies(SessionMessageType.GROUP_ACK, 82).length === 1);
    const s = await w.bob.listen({ timeoutMs: 2000 });
    assertEquals(s.id, sid);
    w.raw.send(wrap(welcome));
    await w.raw.waitFor(() => replies(SessionMessageType.GROUP_ACK, 82).length === 2);
    const [a1, a2] = replies(SessionMessageType.GROUP_ACK, 82);
    assertEquals(unstamped(a2), unstamped(a1));
    await assertRejects(() => w.bob.listen({ timeoutMs: 300 }), TimeoutError);
    // A replayed join after the welcome is still only answered.
    w.raw.send(wrap(join));
    await w.raw.waitFor(() => replies(SessionMessageType.JOIN_REPLY, 81).length === 3);
    assertEquals(s.state, "active");
    assertEquals(s.participants().length, 2);

    // The replayed-into session works too: mallory sends one message, bob answers.
    const data = create(PublishSchema, {
      header: {
        source: nameToProto(mallory),
        destination: nameToProto(w.bob.name),
        fanout: 1,
        ttl: DEFAULT_TTL,
        identity: await w.good.token(),
      },
      session: {
        sessionType: SessionType.POINT_TO_POINT,
        sessionMessageType: SessionMessageType.MSG,
        sessionId: sid,
        messageId: 1,
      },
      msg: {
        contentType: {
          case: "appPayload",
          value: { payloadType: "msg", blob: new TextEncoder().encode("hi bob") },
        },
      },
    });
    w.raw.send(wrap(data));
    assertEquals((await s.nextMessage({ timeoutMs: 2000 })).text(), "hi bob");
    await w.raw.waitFor(() => replies(SessionMessageType.MSG_ACK, 1).length === 1);
    await stillServing(w, "replay");
  } finally {
    await w.close();
  }
});

Deno.test("bad input - a peer with another secret cannot open a session", async () => {
  const w = await world();
  const eve = await App.connect({
    name: "org/ns/eve",
    endpoint: w.url,
    identity: { sharedSecret: OTHER_SECRET },
    logger: quiet.child("eve"),
  });
  try {
    const t0 = Date.now();
    await assertRejects(
      () =>
        eve.createSession({
          kind: "point-to-point",
          peer: "org/ns/bob",
          reliable: { maxRetries: 1, intervalMs: 100 },
        }),
      SessionError,
    );
    assert(Date.now() - t0 < 2000, `gave up after ${Date.now() - t0} ms`);
    assert(
      w.log.has("rejected session request", `from=${eve.name}`, "type=DISCOVERY_REQUEST", "mac"),
      `bob logged the refusal:\n${w.log.lines.join("\n")}`,
    );
    assertEquals(w.bob.sessions().length, 1);
    // Bob cannot reach eve either.
    await assertRejects(
      () =>
        w.bob.createSession({
          kind: "point-to-point",
          peer: "org/ns/eve",
          reliable: { maxRetries: 1, intervalMs: 100 },
        }),
      SessionError,
    );
    await stillServing(w, "eve");
  } finally {
    await eve.close();
    await w.close();
  }
});

Deno.test("bad input - connecting to an unreachable node rejects quickly with a TransportError", async () => {
  const url = `http://127.0.0.1:${freePort()}`;
  const t0 = Date.now();
  const e = await assertRejects(
    () =>
      App.connect({
        name: "org/ns/alice",
        endpoint: url,
        identity: { sharedSecret: SECRET },
        logger: quiet,
      }),
    TransportError,
    url,
  );
  assert(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  assertEquals((e as TransportError).code, "transport");
});

Deno.test("bad input - a node that never answers: App.connect fails within connectTimeoutMs, naming it", async () => {
  // A listener that accepts TCP but never speaks HTTP/2.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) conns.push(c);
  })().catch(() => {});
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  try {
    const t0 = Date.now();
    const e = await assertRejects(() =>
      App.connect({
        name: "org/ns/alice",
        endpoint: url,
        identity: { sharedSecret: SECRET },
        logger: quiet,
        connectTimeoutMs: 300,
      })
    );
    const elapsed = Date.now() - t0;
    const problems = [];
    if (!e.message.includes(url)) problems.push(`message does not name ${url}: "${e.message}"`);
    if (elapsed > 2000) problems.push(`took ${elapsed} ms with connectTimeoutMs 300`);
    assertEquals(problems, []);
  } finally {
    listener.close();
    for (const c of conns) c.close();
    await accepting;
  }
});

Deno.test("bad input - a join request's timer settings are brought within bounds", async () => {
  const w = await world();
  // Carol's session timers run on fake time: retransmissions are counted exactly.
  const clock = new FakeClock(0, now());
  const carol = await App.connect({
    name: "org/ns/carol",
    endpoint: w.url,
    identity: { sharedSecret: SECRET },
    logger: quiet.child("carol"),
    clock,
  });
  try {
    const sid = 7010;
    // 1 ms between retransmissions, 2^32 - 1 of them: a flood if taken as asked.
    const join = command(SessionMessageType.JOIN_REQUEST, carol.name, sid, 91, {
      case: "joinRequest",
      value: { timerSettings: { timeout: 1, maxRetries: 0xffffffff } },
    });
    w.raw.send(wrap(await stamp(join, w.good)));
    await w.raw.waitFor(() =>
      publishes(w.raw).some((p) =>
        p.session!.sessionId === sid &&
        p.session!.sessionMessageType === SessionMessageType.JOIN_REPLY
      )
    );
    const welcome = command(SessionMessageType.GROUP_WELCOME, carol.name, sid, 92, {
      case: "groupWelcome",
      value: { participants: [participantProto(mallory), participantProto(carol.name)] },
    });
    w.raw.send(wrap(await stamp(welcome, w.good)));
    const s = await carol.listen({ timeoutMs: 2000 });
    const sent = () =>
      publishes(w.raw).filter((p) =>
        p.session!.sessionId === sid && p.session!.sessionMessageType === SessionMessageType.MSG
      ).length;
    // Mallory never acknowledges.
    const published = s.publish("unacknowledged").catch((e) => e);
    await w.raw.waitFor(() => sent() === 1);
    await clock.advance(9);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(sent(), 1, "no retransmission before the 10 ms floor");
    await clock.advance(1);
    await w.raw.waitFor(() => sent() === 2);
    // Retries are capped at 1000: the publish gives up instead of retrying 2^32 times.
    for (let i = 0; i < 1000; i++) await clock.advance(10);
    await w.raw.waitFor(() => sent() === 1001);
    assert((await published) instanceof TimeoutError);
    await clock.advance(1000);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(sent(), 1001);
  } finally {
    await carol.close();
    await w.close();
  }
});

Deno.test("bad input - join requests never followed by a welcome expire, and are bounded", async () => {
  const w = await world();
  const clock = new FakeClock(0, now());
  const log = logCapture();
  const carol = await App.connect({
    name: "org/ns/carol",
    endpoint: w.url,
    identity: { sharedSecret: SECRET },
    logger: createLogger("carol", { level: "debug", sink: log.sink, timestamps: false }),
    clock,
  });
  const joinReplies = (sid: number) =>
    publishes(w.raw).filter((p) =>
      p.session!.sessionId === sid &&
      p.session!.sessionMessageType === SessionMessageType.JOIN_REPLY
    ).length;
  const join = (sid: number, id: number) =>
    stamp(
      command(SessionMessageType.JOIN_REQUEST, carol.name, sid, id, {
        case: "joinRequest",
        value: { timerSettings: { timeout: 100, maxRetries: 2 } },
      }),
      w.good,
    );
  try {
    // Alone, a join request holds a session for (maxRetries + 2) intervals, then lets go.
    w.raw.send(wrap(await join(8000, 1)));
    await w.raw.waitFor(() => joinReplies(8000) === 1);
    assertEquals(carol.sessions(), [8000]);
    await clock.advance(399);
    assertEquals(carol.sessions(), [8000]);
    await clock.advance(1);
    assertEquals(carol.sessions(), []);
    assert(log.has("no welcome after the join request", `moderator=${mallory}`));
    // A repeated join request (the moderator lost our reply) restarts the wait.
    w.raw.send(wrap(await join(8001, 2)));
    await w.raw.waitFor(() => joinReplies(8001) === 1);
    await clock.advance(300);
    w.raw.send(wrap(await join(8001, 2)));
    await w.raw.waitFor(() => joinReplies(8001) === 2);
    await clock.advance(300);
    assertEquals(carol.sessions(), [8001]);
    await clock.advance(100);
    assertEquals(carol.sessions(), []);

    // At most MAX_PENDING_JOINS wait at once; the next is refused and logged.
    for (let i = 0; i < MAX_PENDING_JOINS; i++) w.raw.send(wrap(await join(9000 + i, 100 + i)));
    await w.raw.waitFor(() => carol.sessions().length === MAX_PENDING_JOINS, 10_000);
    w.raw.send(wrap(await join(9999, 99)));
    await w.raw.waitFor(() => log.has("rejected session request", "already waiting for a welcome"));
    assertEquals(joinReplies(9999), 0);
    assertEquals(carol.sessions().length, MAX_PENDING_JOINS);
    // They all expire in time, and then carol accepts again.
    await clock.advance(400);
    assertEquals(carol.sessions(), []);
    w.raw.send(wrap(await join(9999, 98)));
    await w.raw.waitFor(() => joinReplies(9999) === 1);
    await stillServing(w, "joins");
  } finally {
    await carol.close();
    await w.close();
  }
});

Deno.test("bad input - data from a non-member of a session without MLS is not taken", async () => {
  const w = await world();
  try {
    const sid = w.ba.id;
    const data = create(PublishSchema, {
      header: {
        source: nameToProto(mallory),
        destination: nameToProto(w.bob.name),
        fanout: 1,
        ttl: DEFAULT_TTL,
        identity: await w.good.token(),
      },
      session: {
        sessionType: SessionType.POINT_TO_POINT,
        sessionMessageType: SessionMessageType.MSG,
        sessionId: sid,
        messageId: 1,
      },
      msg: {
        contentType: {
          case: "appPayload",
          value: { payloadType: "msg", blob: new TextEncoder().encode("injected") },
        },
      },
    });
    w.raw.send(wrap(data));
    await w.raw.waitFor(() => w.log.has("dropped data from a non-member", `from=${mallory}`));
    const acks = publishes(w.raw).filter((p) =>
      p.session!.sessionMessageType === SessionMessageType.MSG_ACK
    );
    assertEquals(acks.length, 0);
    // The session's own traffic is untouched, and the injected text never shows up.
    await stillServing(w, "after injection");
    await assertRejects(() => w.ba.nextMessage({ timeoutMs: 200 }), TimeoutError);
  } finally {
    await w.close();
  }
});

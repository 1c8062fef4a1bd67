/**
 * The failure and timeout paths of sessions, driven by fake time: real apps and a real slim-ts
 * node on 127.0.0.1, every app with its own {@link FakeClock}, so that every session timer
 * (control retransmission, data retransmission, heartbeat) fires only when the test advances it.
 *
 * A silent peer is one of:
 * - a raw client subscribed to the peer's name that never answers (`RawClient`);
 * - a real app behind a `LossyProxy` that drops exactly one kind of message it sends;
 * - a real app whose clock is never advanced (it never beats).
 *
 * Real network delivery is awaited with bounded polls; timers are never slept on. Control
 * requests here use 3 retries every 5000 ms: the request goes out at t=0, copies at 5000, 10000
 * and 15000, and the next expiry (t=20000) is the failure, as in SLIM ((maxRetries+1)·interval).
 * The interval is long in real terms on purpose: each copy must show up within
 * {@link PROMPT_MS} of real time once the fake clock reached it, which a timer accidentally armed
 * on the real clock cannot do. Fake time stays below 30 s, so heartbeats (every 10 s, offline
 * after 3 missed) tick without marking anyone offline, except in the heartbeat test.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { FakeClock } from "../../lib/clock.ts";
import { SessionError, type SlimError, TimeoutError } from "../../lib/errors.ts";
import { Name } from "../../lib/names/name.ts";
import type { SlimNode } from "../../lib/node/node.ts";
import type { Session } from "../../lib/session/session.ts";
import {
  type Message,
  nameFromProto,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";
import { LossyProxy, type PublishInfo } from "../helpers/lossy_proxy.ts";
import { RawClient } from "../helpers/raw_client.ts";
import { publishOf, quiet, SECRET, startNode, until } from "../group/_helpers.ts";
import { Collector } from "./_harness.ts";

const INTERVAL = 5000;
const RETRIES = 3;
const RELIABLE = { intervalMs: INTERVAL, maxRetries: RETRIES };
/** When a request sent at t=0 is given up: (maxRetries + 1) · interval. */
const GIVE_UP = (RETRIES + 1) * INTERVAL;
/** Real time allowed for in-flight network work to land before checking that nothing happened. */
const SETTLE_MS = 150;
/** Real time within which what a fake-clock step triggered must have crossed the network. */
const PROMPT_MS = 1000;

// -----------------------------------------------------------------------------------------------
// World

/** One test's node, apps, clocks and silent peers; `close` tears everything down. */
class World {
  readonly node: SlimNode;
  readonly url: string;
  readonly apps: App[] = [];
  readonly clocks: FakeClock[] = [];
  readonly proxies: LossyProxy[] = [];
  readonly raws: RawClient[] = [];

  private constructor(node: SlimNode, url: string) {
    this.node = node;
    this.url = url;
  }

  static async start(): Promise<World> {
    const { node, url } = await startNode();
    return new World(node, url);
  }

  /** An app on its own fake clock, connected to the node (or to `endpoint`). */
  async app(name: string, endpoint = this.url): Promise<{ app: App; clock: FakeClock }> {
    const clock = new FakeClock();
    const app = await App.connect({
      name,
      endpoint,
      identity: { sharedSecret: SECRET },
      logger: quiet.child(name),
      connectTimeoutMs: 3000,
      clock,
    });
    this.apps.push(app);
    this.clocks.push(clock);
    return { app, clock };
  }

  /**
   * An app whose outgoing publishes of type `drop` are all lost between it and the node (an app
   * that receives everything and whose answers of that one kind never arrive).
   */
  async lossyApp(
    name: string,
    drop: SessionMessageType,
  ): Promise<{ app: App; clock: FakeClock; proxy: LossyProxy; dropped: PublishInfo[] }> {
    const dropped: PublishInfo[] = [];
    const proxy = await LossyProxy.start({
      target: this.url,
      lossRate: 1,
      eligible: (p) => p.direction === "to-node" && p.sessionMessageType === drop,
      onDrop: (p) => dropped.push(p),
    });
    this.proxies.push(proxy);
    const { app, clock } = await this.app(name, proxy.url);
    return { app, clock, proxy, dropped };
  }

  /** A raw client subscribed to `base` (with an id of its own) that never answers anything. */
  async silent(base: string): Promise<RawClient> {
    const raw = await RawClient.connect(this.url);
    this.raws.push(raw);
    await raw.subscribe(Name.parse(base).withId(0x5157n), 0x5157n);
    return raw;
  }

  /**
   * Closes every app, one after the other, while pumping every fake clock, so that goodbyes
   * nobody answers expire instead of waiting on a clock nobody advances.
   */
  async close(): Promise<void> {
    let done = false;
    const closing = (async () => {
      for (const a of this.apps) await a.close().catch(() => {});
    })().finally(() => done = true);
    while (!done) {
      for (const c of this.clocks) await c.advance(INTERVAL);
      await realDelay(10);
    }
    await closing;
    await Promise.allSettled(this.raws.map((r) => r.close()));
    await Promise.allSettled(this.proxies.map((p) => p.close()));
    await this.node.stop();
  }
}

function realDelay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Lets in-flight real work (network, serial queues) land; only used before absence checks. */
function settle(): Promise<void> {
  return realDelay(SETTLE_MS);
}

/** A promise's outcome, readable synchronously. */
interface Watched<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

function watch<T>(p: Promise<T>): Watched<T> {
  const w: Watched<T> = { settled: false };
  p.then((v) => {
    w.settled = true;
    w.value = v;
  }, (e) => {
    w.settled = true;
    w.error = e;
  });
  return w;
}

/** Advances `clock` to absolute fake time `t`. */
async function advanceTo(clock: FakeClock, t: number): Promise<void> {
  assert(t >= clock.now(), `cannot go back from ${clock.now()} to ${t}`);
  await clock.advance(t - clock.now());
}

/** Waits (real time, bounded) for the operation to settle, and returns its error. */
async function failure(w: Watched<unknown>, what: string, timeoutMs = 3000): Promise<unknown> {
  await until(() => w.settled, `${what} to settle`, timeoutMs);
  assert(w.error !== undefined, `${what} must fail, it resolved`);
  return w.error;
}

/** Asserts error class, stable code and message fragments. */
function assertError(
  e: unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => SlimError,
  code: string,
  fragments: string[],
): void {
  assert(
    e instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${(e as Error)?.constructor?.name}: ${e}`,
  );
  assertEquals(e.code, code);
  for (const f of fragments) {
    assert(e.message.includes(f), `error message ${JSON.stringify(e.message)} lacks ${f}`);
  }
}

/** Publishes of `type` a raw client received. */
function received(raw: RawClient, type: SessionMessageType) {
  return raw.received.flatMap((m: Message) => publishOf(m) ?? []).filter((p) =>
    p.session!.sessionMessageType === type
  );
}

/** `participants()` as `name:online` strings, ourselves first. */
function roster(s: Session): string[] {
  return s.participants().map((p) => `${p.name.base}:${p.online ? "online" : "offline"}`);
}

/**
 * Drives one tracked control request from t=0 to its give-up: after each interval a new copy
 * must have arrived (`copies()` counts what the silent side saw), at GIVE_UP-1 the operation
 * must still be pending with exactly 1 + RETRIES copies seen, and at GIVE_UP it settles.
 */
async function driveToGiveUp(
  clock: FakeClock,
  op: Watched<unknown>,
  copies: () => number,
  what: string,
): Promise<unknown> {
  assertEquals(clock.now(), 0, "the request was sent at t=0");
  await until(() => copies() >= 1, `${what}: the first copy`);
  for (let k = 1; k <= RETRIES; k++) {
    await advanceTo(clock, k * INTERVAL - 1);
    await settle();
    assertEquals(copies(), k, `${what}: no copy before t=${k * INTERVAL}`);
    await advanceTo(clock, k * INTERVAL);
    await until(
      () => copies() >= k + 1,
      `${what}: copy ${k + 1} at t=${k * INTERVAL}`,
      PROMPT_MS,
    );
  }
  await advanceTo(clock, GIVE_UP - 1);
  await settle();
  assertEquals(op.settled, false, `${what} is still pending at t=${GIVE_UP - 1}`);
  assertEquals(copies(), 1 + RETRIES, `${what}: exactly ${1 + RETRIES} copies before giving up`);
  await advanceTo(clock, GIVE_UP);
  const e = await failure(op, what, PROMPT_MS);
  await settle();
  assertEquals(copies(), 1 + RETRIES, `${what}: no copy after giving up`);
  return e;
}

/** An established group: moderator `mod` and the members in invite order. */
async function group(
  w: World,
  mod: App,
  members: App[],
  options: { mls?: boolean } = {},
): Promise<{ g: Session; sessions: Session[] }> {
  const g = await mod.createSession({
    kind: "group",
    channel: "org/ns/chat",
    reliable: RELIABLE,
    mls: options.mls ?? false,
  });
  const sessions: Session[] = [];
  for (const m of members) {
    await g.invite(m.name.withoutId());
    sessions.push(await m.listen({ timeoutMs: 5000 }));
  }
  assertEquals(w.clocks.every((c) => c.now() === 0), true, "set up without advancing time");
  return { g, sessions };
}

// -----------------------------------------------------------------------------------------------
// (a) Discovery nobody answers

Deno.test("timeouts - p2p: a discovery nobody answers fails the session after maxRetries copies", async () => {
  const w = await World.start();
  try {
    const { app: alice, clock } = await w.app("org/ns/alice");
    const bob = await w.silent("org/ns/bob");
    const discoveries = () => received(bob, SessionMessageType.DISCOVERY_REQUEST);
    const created = watch(alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    }));
    const e = await driveToGiveUp(clock, created, () => discoveries().length, "createSession");
    assertError(e, SessionError, "session", ["no answer from org/ns/bob", "discovery"]);
    // Every copy: the same request (same id, anycast to the name), freshly stamped.
    const copies = discoveries();
    assertEquals(new Set(copies.map((p) => p.session!.messageId)).size, 1, "one request id");
    assertEquals(
      new Set(copies.map((p) => p.header!.identity)).size,
      copies.length,
      "fresh tokens",
    );
    for (const p of copies) {
      assertEquals(nameFromProto(p.header!.destination).toString(), "org/ns/bob");
      assertEquals(p.session!.sessionType, SessionType.POINT_TO_POINT);
    }
    // Nothing else was attempted, and nothing is left behind.
    assertEquals(received(bob, SessionMessageType.JOIN_REQUEST).length, 0);
    assertEquals(alice.sessions(), [], "the failed session is forgotten");
    assertEquals(clock.pending, 0, "no session timer left running");
  } finally {
    await w.close();
  }
});

Deno.test("timeouts - group: an invite nobody answers fails; the group is untouched and still works", async () => {
  const w = await World.start();
  try {
    const { app: mod, clock } = await w.app("org/ns/mod");
    const { app: carol } = await w.app("org/ns/carol");
    const bob = await w.silent("org/ns/bob");
    const { g } = await group(w, mod, []);
    const events = new Collector(g);
    const discoveries = () => received(bob, SessionMessageType.DISCOVERY_REQUEST);
    const invited = watch(g.invite("org/ns/bob"));
    const e = await driveToGiveUp(clock, invited, () => discoveries().length, "invite");
    assertError(e, SessionError, "session", ["no answer from org/ns/bob", "discovery"]);
    assertEquals(new Set(discoveries().map((p) => p.session!.messageId)).size, 1);
    for (const p of discoveries()) assertEquals(p.session!.sessionType, SessionType.MULTICAST);
    assertEquals(received(bob, SessionMessageType.JOIN_REQUEST).length, 0);
    assertEquals(g.state, "active");
    assertEquals(roster(g), ["org/ns/mod:online"]);
    assertEquals(events.eventLines(), [], "no event for a member that never joined");
    // The group is not wedged: the next invite goes through.
    await g.invite("org/ns/carol");
    const sc = await carol.listen({ timeoutMs: 5000 });
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/carol:online"]);
    await g.publish("after");
    assertEquals((await sc.nextMessage({ timeoutMs: 3000 })).text(), "after");
    await until(() => events.events.length >= 1, "carol's join event");
    await settle();
    assertEquals(events.eventLines(), ["participant-joined org/ns/carol"]);
  } finally {
    await w.close();
  }
});

// -----------------------------------------------------------------------------------------------
// (b) Join request never answered

Deno.test("timeouts - p2p: a join request never answered fails the session after maxRetries", async () => {
  const w = await World.start();
  try {
    const { app: alice, clock } = await w.app("org/ns/alice");
    const bob = await w.lossyApp("org/ns/bob", SessionMessageType.JOIN_REPLY);
    const created = watch(alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    }));
    // Bob answers the request and every copy of it (a retransmission is answered again); all
    // his answers are lost.
    const e = await driveToGiveUp(clock, created, () => bob.dropped.length, "createSession");
    assertError(e, SessionError, "session", [
      String(bob.app.name),
      "did not answer the join request",
    ]);
    assertEquals(new Set(bob.dropped.map((d) => d.messageId)).size, 1, "one join request id");
    assertEquals(bob.proxy.stats["to-node"].dropped, 1 + RETRIES, "only join replies were lost");
    assertEquals(alice.sessions(), [], "the failed session is forgotten");
    assertEquals(clock.pending, 0, "no session timer left running");
  } finally {
    await w.close();
  }
});

Deno.test("timeouts - group: a join request never answered fails the invite; nobody is added", async () => {
  const w = await World.start();
  try {
    const { app: mod, clock } = await w.app("org/ns/mod");
    const { app: carol } = await w.app("org/ns/carol");
    const bob = await w.lossyApp("org/ns/bob", SessionMessageType.JOIN_REPLY);
    const { g, sessions: [sc] } = await group(w, mod, [carol]);
    const atMod = new Collector(g);
    const atCarol = new Collector(sc);
    await until(() => atMod.events.length >= 1 && atCarol.events.length >= 1, "join events");
    const invited = watch(g.invite("org/ns/bob"));
    const e = await driveToGiveUp(clock, invited, () => bob.dropped.length, "invite");
    assertError(e, SessionError, "session", [
      String(bob.app.name),
      "did not answer the join request",
    ]);
    await settle();
    assertEquals(g.state, "active");
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/carol:online"]);
    assertEquals(roster(sc), ["org/ns/carol:online", "org/ns/mod:online"]);
    assertEquals(atMod.eventLines(), ["participant-joined org/ns/carol"]);
    assertEquals(atCarol.eventLines(), ["participant-joined org/ns/mod"]);
    assertEquals(bob.proxy.stats["to-node"].dropped, 1 + RETRIES, "only join replies were lost");
  } finally {
    await w.close();
  }
});

// -----------------------------------------------------------------------------------------------
// (c) Welcome never acknowledged

/** Moderator, carol (a member), bob invited while his acknowledgements are all lost. */
async function unacknowledgedWelcome(w: World, mls: boolean) {
  const { app: mod, clock } = await w.app("org/ns/mod");
  const { app: carol } = await w.app("org/ns/carol");
  const bob = await w.lossyApp("org/ns/bob", SessionMessageType.GROUP_ACK);
  const { g, sessions: [sc] } = await group(w, mod, [carol], { mls });
  const atMod = new Collector(g);
  const atCarol = new Collector(sc);
  await until(() => atMod.events.length >= 1 && atCarol.events.length >= 1, "join events");
  const invited = watch(g.invite("org/ns/bob"));
  // Bob acknowledges the welcome and each copy of it; only the welcome's id counts here (a
  // correct moderator may send bob more afterwards).
  const welcomeAcks = () => bob.dropped.filter((d) => d.messageId === bob.dropped[0]?.messageId);
  const e = await driveToGiveUp(clock, invited, () => welcomeAcks().length, "invite");
  assertError(e, SessionError, "session", [
    String(bob.app.name),
    "did not acknowledge the welcome",
  ]);
  return { mod, carol, bob, g, sc, atMod, atCarol, clock };
}

Deno.test("timeouts - group: a welcome never acknowledged fails the invite; the moderator drops the member", async () => {
  const w = await World.start();
  try {
    const { g, atMod } = await unacknowledgedWelcome(w, false);
    await settle();
    assertEquals(g.state, "active");
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/carol:online"], "bob was dropped");
    // The moderator's events must replay to its roster: either bob never "joined", or his join
    // is followed by his removal.
    const lines = atMod.eventLines();
    assert(
      JSON.stringify(lines) === JSON.stringify(["participant-joined org/ns/carol"]) ||
        JSON.stringify(lines) === JSON.stringify([
            "participant-joined org/ns/carol",
            "participant-joined org/ns/bob",
            "participant-removed org/ns/bob",
          ]),
      `moderator events must not leave bob joined: ${JSON.stringify(lines)}`,
    );
    // Publishing does not wait for bob any more.
    const published = watch(g.publish("after the drop"));
    await until(() => published.settled, "publish to settle");
    assertEquals(published.error, undefined);
  } finally {
    await w.close();
  }
});

Deno.test("timeouts - group (MLS): after a welcome never acknowledged, the rest of the group drops the member too", async () => {
  const w = await World.start();
  try {
    const { g, sc, bob, atCarol } = await unacknowledgedWelcome(w, true);
    // Bob did join on his side (his acknowledgements were lost, not his welcome).
    const sb = await bob.app.listen({ timeoutMs: 3000 });
    const atBob = new Collector(sb);
    await g.publish("after the drop");
    await atCarol.waitTexts(1);
    await settle();
    // Carol must not keep a member the moderator dropped, and a member the moderator dropped
    // must not read the group any more (it is out of the MLS group).
    assertEquals({
      carolReads: atCarol.texts(),
      carolRoster: roster(sc),
      carolEvents: atCarol.eventLines(),
      bobReads: atBob.texts(),
    }, {
      carolReads: ["after the drop"],
      carolRoster: ["org/ns/carol:online", "org/ns/mod:online"],
      carolEvents: [
        "participant-joined org/ns/mod",
        "participant-joined org/ns/bob",
        "participant-removed org/ns/bob",
      ],
      bobReads: [],
    });
  } finally {
    await w.close();
  }
});

// -----------------------------------------------------------------------------------------------
// (d) Removal never acknowledged

Deno.test("timeouts - group: a removal never acknowledged rejects after maxRetries; the member is gone", async () => {
  const w = await World.start();
  try {
    const { app: mod, clock } = await w.app("org/ns/mod");
    const bob = await w.lossyApp("org/ns/bob", SessionMessageType.LEAVE_REPLY);
    const { app: carol } = await w.app("org/ns/carol");
    const { g, sessions: [sb, sc] } = await group(w, mod, [bob.app, carol]);
    const atMod = new Collector(g);
    const atBob = new Collector(sb);
    const atCarol = new Collector(sc);
    await until(() => atMod.events.length >= 2 && atCarol.events.length >= 2, "join events");
    const removed = watch(g.remove(bob.app.name));
    // Bob answers the leave request once, then his session is over: the copies find nobody.
    await until(() => bob.dropped.length >= 1, "bob's leave reply");
    await advanceTo(clock, GIVE_UP - 1);
    await settle();
    assertEquals(removed.settled, false, `remove is still pending at t=${GIVE_UP - 1}`);
    await advanceTo(clock, GIVE_UP);
    const e = await failure(removed, "remove", PROMPT_MS);
    assertError(e, SessionError, "session", [
      String(bob.app.name),
      "did not acknowledge its removal",
    ]);
    await settle();
    assertEquals(bob.dropped.length, 1, "bob answered once; later copies found no session");
    assertEquals(bob.proxy.stats["to-node"].dropped, 1, "only the leave reply was lost");
    assertEquals(g.state, "active");
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/carol:online"]);
    assertEquals(roster(sc), ["org/ns/carol:online", "org/ns/mod:online"]);
    assertEquals(atMod.eventLines(), [
      "participant-joined org/ns/bob",
      "participant-joined org/ns/carol",
      "participant-removed org/ns/bob",
    ]);
    assertEquals(atCarol.eventLines(), [
      "participant-joined org/ns/mod",
      "participant-joined org/ns/bob",
      "participant-removed org/ns/bob",
    ]);
    assertEquals(atBob.eventLines(), [
      "participant-joined org/ns/mod",
      "participant-joined org/ns/carol",
      "closed removed by the moderator",
    ]);
    assertEquals(sb.state, "closed");
  } finally {
    await w.close();
  }
});

// -----------------------------------------------------------------------------------------------
// (e) Point-to-point reliable publish never acknowledged

Deno.test("timeouts - p2p: a reliable publish never acknowledged rejects with TimeoutError after maxRetries", async () => {
  const w = await World.start();
  try {
    const { app: alice, clock } = await w.app("org/ns/alice");
    const bob = await w.lossyApp("org/ns/bob", SessionMessageType.MSG_ACK);
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: RELIABLE,
    });
    const sb = await bob.app.listen({ timeoutMs: 5000 });
    const atAlice = new Collector(s);
    const atBob = new Collector(sb);
    await until(() => atAlice.events.length >= 1 && atBob.events.length >= 1, "join events");
    assertEquals(clock.now(), 0);
    const published = watch(s.publish("unheard"));
    // Bob gets the message and every retransmitted copy, and acknowledges each; all acks lost.
    const e = await driveToGiveUp(clock, published, () => bob.dropped.length, "publish");
    assertError(e, TimeoutError, "timeout", [
      "message 1",
      String(bob.app.name),
      `after ${RETRIES} retransmissions`,
    ]);
    assertEquals(bob.dropped.map((d) => d.messageId), [1, 1, 1, 1], "acks of message 1 only");
    assertEquals(bob.proxy.stats["to-node"].dropped, 1 + RETRIES, "only acks were lost");
    await settle();
    assertEquals(atBob.texts(), ["unheard"], "delivered once despite the copies");
    assertEquals(s.state, "active");
    assertEquals(atAlice.eventLines(), [
      "participant-joined org/ns/bob",
      "participant-offline org/ns/bob",
    ]);
    assertEquals(roster(s), ["org/ns/alice:online", "org/ns/bob:offline"]);
    assertEquals(atBob.eventLines(), ["participant-joined org/ns/alice"]);
  } finally {
    await w.close();
  }
});

// -----------------------------------------------------------------------------------------------
// (f) Heartbeats

Deno.test("timeouts - heartbeat: a member silent for 3 intervals goes offline, and online when it beats again", async () => {
  const w = await World.start();
  try {
    const { app: mod, clock } = await w.app("org/ns/mod");
    // Bob's clock is never advanced until the end: he never beats and sends nothing on his own.
    const { app: bob, clock: bobClock } = await w.app("org/ns/bob");
    // Carol stays alive by publishing once per interval.
    const { app: carol } = await w.app("org/ns/carol");
    const { g, sessions: [, sc] } = await group(w, mod, [bob, carol]);
    const atMod = new Collector(g);
    await until(() => atMod.events.length >= 2, "join events");
    const beat = 10_000;
    for (let period = 1; period <= 3; period++) {
      // Resolves once everyone (the moderator included) acknowledged: the moderator heard carol.
      await sc.publish(`alive ${period}`);
      const end = period * beat;
      await advanceTo(clock, end - 1);
      await settle();
      assertEquals(
        atMod.eventLines().filter((l) => !l.startsWith("participant-joined")),
        [],
        `nobody offline before t=${end}`,
      );
      await advanceTo(clock, end);
      if (period < 3) {
        await settle();
        assertEquals(roster(g), [
          "org/ns/mod:online",
          "org/ns/bob:online",
          "org/ns/carol:online",
        ], `${period} missed interval(s) is not offline yet`);
      }
    }
    await until(() => atMod.events.length >= 3, "bob offline at t=30000", PROMPT_MS);
    await settle();
    assertEquals(atMod.eventLines(), [
      "participant-joined org/ns/bob",
      "participant-joined org/ns/carol",
      "participant-offline org/ns/bob",
    ]);
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/bob:offline", "org/ns/carol:online"]);
    // Bob speaks again: his first heartbeat brings him back.
    await advanceTo(bobClock, beat);
    await until(() => atMod.events.length >= 4, "bob online again", PROMPT_MS);
    await settle();
    assertEquals(atMod.eventLines(), [
      "participant-joined org/ns/bob",
      "participant-joined org/ns/carol",
      "participant-offline org/ns/bob",
      "participant-online org/ns/bob",
    ]);
    assertEquals(roster(g), ["org/ns/mod:online", "org/ns/bob:online", "org/ns/carol:online"]);
  } finally {
    await w.close();
  }
});

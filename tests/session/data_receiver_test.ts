/**
 * DataReceiver driven with a fake clock: baseline, ordering, duplicates, acknowledgements,
 * gap recovery through RTX, loss reporting, id wrap-around, best effort and publish-to.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { Name } from "../../lib/names/name.ts";
import {
  DataReceiver,
  type Delivery,
  type ReceiveProblem,
} from "../../lib/session/data_receiver.ts";
import type { OutMessage } from "../../lib/session/host.ts";
import { MAX_PUBLISH_ID, PRODUCER_BUFFER_SIZE } from "../../lib/session/config.ts";
import { SessionMessageType } from "../../lib/wire/codec.ts";

const alice = Name.parse("org/ns/alice").withId(1n);
const bob = Name.parse("org/ns/bob").withId(11n);
const enc = new TextEncoder();

function setup(o: { reliable?: boolean; intervalMs?: number; maxRetries?: number } = {}) {
  const clock = new FakeClock();
  const sent: { at: number; m: OutMessage }[] = [];
  const delivered: Delivery[] = [];
  const problems: ReceiveProblem[] = [];
  /** Delivered ids and lost markers, in the order the application saw them. */
  const seen: string[] = [];
  const receiver = new DataReceiver({
    clock,
    reliable: o.reliable ?? true,
    intervalMs: o.intervalMs ?? 1000,
    maxRetries: o.maxRetries ?? 3,
    send: (batch) => {
      for (const m of batch) sent.push({ at: clock.now(), m });
    },
    deliver: (d) => {
      delivered.push(d);
      seen.push(String(d.messageId));
    },
    problem: (p) => {
      problems.push(p);
      seen.push(`lost ${p.messageId}`);
    },
  });
  const msg = (id: number, source = alice): Delivery => ({
    source,
    messageId: id,
    payloadType: "msg",
    payload: enc.encode(`m${id}`),
    metadata: {},
    identity: "token",
  });
  const of = (type: SessionMessageType) => sent.filter((s) => s.m.type === type);
  return { clock, sent, delivered, problems, seen, receiver, msg, of };
}

Deno.test("data receiver - the first message is the baseline, later ones in order", () => {
  const { receiver, msg, seen } = setup();
  receiver.onMessage(msg(57));
  receiver.onMessage(msg(58));
  receiver.onMessage(msg(59));
  assertEquals(seen, ["57", "58", "59"]);
});

Deno.test("data receiver - every message is acknowledged with an empty MSG_ACK to its source", () => {
  const { receiver, msg, of } = setup();
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(2));
  const acks = of(SessionMessageType.MSG_ACK);
  assertEquals(acks.map((a) => a.m.messageId), [1, 2]);
  for (const a of acks) {
    assert(a.m.destination.equals(alice));
    assertEquals(a.m.app?.payloadType, "");
    assertEquals(a.m.app?.blob.length, 0, "an app payload is present but empty");
    assertEquals(a.m.metadata, undefined, "no PUBLISH_TO on a sequential ack");
    assertEquals(a.m.fanout ?? 1, 1);
  }
});

Deno.test("data receiver - duplicates and stale ids are dropped but still acknowledged", () => {
  const { receiver, msg, seen, of } = setup();
  receiver.onMessage(msg(10));
  receiver.onMessage(msg(11));
  receiver.onMessage(msg(11));
  receiver.onMessage(msg(10));
  receiver.onMessage(msg(3));
  assertEquals(seen, ["10", "11"]);
  assertEquals(of(SessionMessageType.MSG_ACK).map((a) => a.m.messageId), [10, 11, 11, 10, 3]);
  assertEquals(of(SessionMessageType.RTX_REQUEST), [], "a stale id opens no gap");
});

Deno.test("data receiver - a duplicate of a buffered message is dropped", () => {
  const { receiver, msg, seen, of } = setup();
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(3));
  receiver.onMessage(msg(3));
  receiver.onMessage(msg(2));
  assertEquals(seen, ["1", "2", "3"]);
  assertEquals(of(SessionMessageType.RTX_REQUEST).map((r) => r.m.messageId), [2]);
});

Deno.test("data receiver - a gap asks once per missing id, then re-asks every interval", async () => {
  const { clock, receiver, msg, seen, of } = setup({ intervalMs: 250, maxRetries: 5 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(5));
  assertEquals(seen, ["1"], "5 waits for 2..4");
  let rtx = of(SessionMessageType.RTX_REQUEST);
  assertEquals(rtx.map((r) => r.m.messageId), [2, 3, 4]);
  for (const r of rtx) {
    assert(r.m.destination.equals(alice), "asked of the producer");
    assertEquals(r.m.app?.blob.length, 0);
    assertEquals(r.at, 0);
  }
  receiver.onMessage(msg(6));
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, 3, "no second request for the same gap");
  await clock.advance(250);
  rtx = of(SessionMessageType.RTX_REQUEST);
  assertEquals(rtx.slice(3).map((r) => [r.m.messageId, r.at]), [[2, 250], [3, 250], [4, 250]]);
  await clock.advance(250);
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, 9);
});

Deno.test("data receiver - RTX replies fill the gap and release in order, without acks", async () => {
  const { clock, receiver, msg, seen, of } = setup({ intervalMs: 100 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(4));
  receiver.onMessage(msg(5));
  const acksBefore = of(SessionMessageType.MSG_ACK).length;
  receiver.onMessage(msg(3), true);
  assertEquals(seen, ["1"], "3 is buffered behind 2");
  receiver.onMessage(msg(2), true);
  assertEquals(seen, ["1", "2", "3", "4", "5"]);
  assertEquals(of(SessionMessageType.MSG_ACK).length, acksBefore, "RTX replies are never acked");
  const requests = of(SessionMessageType.RTX_REQUEST).length;
  await clock.advance(10_000);
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, requests, "answered requests stop");
  assertEquals(clock.pending, 0);
});

Deno.test("data receiver - a gap filled by the sender's own retransmission stops asking for it", async () => {
  const { clock, receiver, msg, seen, of } = setup({ intervalMs: 100, maxRetries: 5 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(3));
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, 1);
  // The producer's retransmission timer fires first: the missing message arrives as a MSG.
  receiver.onMessage(msg(2));
  assertEquals(seen, ["1", "2", "3"]);
  await clock.advance(1000);
  assertEquals(
    of(SessionMessageType.RTX_REQUEST).length,
    1,
    "no RTX request for a message already delivered",
  );
  assertEquals(clock.pending, 0, "no RTX timer left for a delivered message");
});

Deno.test("data receiver - an error RTX reply reports message-lost and delivery continues", () => {
  const { receiver, msg, seen, problems } = setup();
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(4));
  receiver.onRtxError(alice, 3);
  assertEquals(seen, ["1"], "3 is lost but 2 is still awaited");
  receiver.onRtxError(alice, 2);
  assertEquals(seen, ["1", "lost 2", "lost 3", "4"]);
  assertEquals(problems[0], { type: "message-lost", source: alice, messageId: 2 });
  receiver.onMessage(msg(5));
  assertEquals(seen.at(-1), "5");
});

Deno.test("data receiver - exhausted RTX retries report the id lost and delivery continues", async () => {
  const { clock, receiver, msg, seen, of } = setup({ intervalMs: 100, maxRetries: 2 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(3));
  await clock.advance(299);
  assertEquals(seen, ["1"]);
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, 3, "the request and 2 re-sends");
  await clock.advance(1);
  assertEquals(seen, ["1", "lost 2", "3"]);
  assertEquals(clock.pending, 0);
  receiver.onMessage(msg(4));
  assertEquals(seen.at(-1), "4");
});

Deno.test("data receiver - ids wrap from 2^31-1 to 0", async () => {
  const { clock, receiver, msg, seen, of } = setup({ intervalMs: 100 });
  receiver.onMessage(msg(MAX_PUBLISH_ID - 1));
  receiver.onMessage(msg(MAX_PUBLISH_ID));
  receiver.onMessage(msg(0));
  receiver.onMessage(msg(1));
  assertEquals(seen, [String(MAX_PUBLISH_ID - 1), String(MAX_PUBLISH_ID), "0", "1"]);
  receiver.onMessage(msg(MAX_PUBLISH_ID));
  assertEquals(seen.length, 4, "the id before the wrap is now stale");
  assertEquals(of(SessionMessageType.RTX_REQUEST), []);
  // A gap across the wrap.
  const r = setup({ intervalMs: 100 });
  r.receiver.onMessage(r.msg(MAX_PUBLISH_ID - 1));
  r.receiver.onMessage(r.msg(1));
  assertEquals(r.of(SessionMessageType.RTX_REQUEST).map((x) => x.m.messageId), [MAX_PUBLISH_ID, 0]);
  r.receiver.onMessage(r.msg(0), true);
  r.receiver.onMessage(r.msg(MAX_PUBLISH_ID), true);
  assertEquals(r.seen, [String(MAX_PUBLISH_ID - 1), String(MAX_PUBLISH_ID), "0", "1"]);
  await clock.advance(0);
});

Deno.test("data receiver - producers are ordered independently", () => {
  const { receiver, msg, seen } = setup();
  receiver.onMessage(msg(1, alice));
  receiver.onMessage(msg(100, bob));
  receiver.onMessage(msg(3, alice));
  receiver.onMessage(msg(101, bob));
  assertEquals(seen, ["1", "100", "101"]);
});

Deno.test("data receiver - best effort delivers at once, unordered, without acks", async () => {
  const { clock, receiver, msg, seen, sent } = setup({ reliable: false });
  receiver.onMessage(msg(5));
  receiver.onMessage(msg(2));
  receiver.onMessage(msg(2));
  receiver.onMessage(msg(9));
  assertEquals(seen, ["5", "2", "2", "9"]);
  await clock.advance(60_000);
  assertEquals(sent, [], "no ack, no RTX request");
});

Deno.test("data receiver - publish-to messages are acked with PUBLISH_TO and delivered once", () => {
  const { receiver, msg, seen, of } = setup();
  receiver.onMessage(msg(1));
  const direct = 0x80001234;
  receiver.onMessage(msg(direct), false, true);
  receiver.onMessage(msg(direct), false, true);
  receiver.onMessage(msg(2));
  assertEquals(seen, ["1", String(direct), "2"], "not ordered with, nor blocking, the sequence");
  const acks = of(SessionMessageType.MSG_ACK);
  assertEquals(acks.map((a) => a.m.messageId), [1, direct, direct, 2]);
  assertEquals(acks.map((a) => a.m.metadata), [
    undefined,
    { PUBLISH_TO: "TRUE" },
    { PUBLISH_TO: "TRUE" },
    undefined,
  ]);
  assertEquals(of(SessionMessageType.RTX_REQUEST), [], "publish-to ids open no gap");
});

Deno.test("data receiver - a removed producer re-baselines on its next message", () => {
  const { receiver, msg, seen } = setup();
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(2));
  receiver.removeProducer(alice);
  receiver.onMessage(msg(40));
  assertEquals(seen, ["1", "2", "40"]);
});

Deno.test("data receiver - close stops every RTX timer", async () => {
  const { clock, receiver, msg, of } = setup({ intervalMs: 100 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(5));
  assert(clock.pending > 0);
  receiver.close();
  assertEquals(clock.pending, 0);
  await clock.advance(1000);
  assertEquals(of(SessionMessageType.RTX_REQUEST).length, 3);
});

Deno.test("data receiver - a far jump ahead asks only for what the producer can still have", () => {
  // The producer keeps its last 512 messages; ids older than that are certainly gone, so asking
  // for them (one request and one timer each) only lets one message flood the session.
  const { receiver, msg, seen, of, clock } = setup({ intervalMs: 100 });
  receiver.onMessage(msg(1));
  receiver.onMessage(msg(100_001));
  const rtx = of(SessionMessageType.RTX_REQUEST).map((r) => r.m.messageId);
  assert(rtx.length <= PRODUCER_BUFFER_SIZE, `${rtx.length} RTX requests for one message`);
  assert(clock.pending <= PRODUCER_BUFFER_SIZE, `${clock.pending} RTX timers`);
  assert(rtx.every((id) => id >= 100_001 - PRODUCER_BUFFER_SIZE), "only the newest missing ids");
  // What the producer cannot have any more is reported lost at once, as one range.
  assertEquals(seen, ["1", "lost 2"]);
});

Deno.test("data receiver - a long wait for one gap does not give it up while later messages flow", () => {
  // Acks go out before ordering, so the producer keeps sending far past a gap that is still
  // being recovered. The gap is still at the producer (asked for, hence kept): it must not be
  // reported lost just because 512 newer messages arrived meanwhile.
  const { receiver, msg, seen, of } = setup({ intervalMs: 100 });
  receiver.onMessage(msg(1));
  for (let i = 3; i <= 1200; i++) receiver.onMessage(msg(i));
  assertEquals(seen, ["1"], "nothing delivered past the gap, nothing lost");
  assertEquals(of(SessionMessageType.RTX_REQUEST).map((r) => r.m.messageId), [2]);
  receiver.onMessage(msg(2), true);
  assertEquals(seen.length, 1200);
  assertEquals(seen.filter((s) => s.startsWith("lost")), []);
});

/**
 * ControlSender driven with a fake clock: retransmission, give-up, replies, forget, cancel.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { type ControlResult, ControlSender } from "../../lib/session/control_sender.ts";
import type { OutMessage } from "../../lib/session/host.ts";
import { Name } from "../../lib/names/name.ts";
import { create } from "@bufbuild/protobuf";
import {
  nameFromProto,
  nameToProto,
  type Publish,
  PublishSchema,
  SessionMessageType,
} from "../../lib/wire/codec.ts";

const bob = Name.parse("org/ns/bob").withId(11n);
const bob2 = Name.parse("org/ns/bob").withId(12n);
const carol = Name.parse("org/ns/carol").withId(21n);
const dave = Name.parse("org/ns/dave").withId(31n);

function setup(intervalMs = 1000, maxRetries = 3) {
  const clock = new FakeClock();
  const resent: { at: number; message: OutMessage }[] = [];
  const sender = new ControlSender({
    clock,
    intervalMs,
    maxRetries,
    resend: (message) => resent.push({ at: clock.now(), message }),
  });
  return { clock, resent, sender };
}

function request(messageId: number, destination: Name = bob): OutMessage {
  return {
    type: SessionMessageType.JOIN_REQUEST,
    destination,
    messageId,
    command: { case: "joinRequest", value: {} },
  };
}

function reply(messageId: number, source: Name, type = SessionMessageType.GROUP_ACK): Publish {
  return create(PublishSchema, {
    header: { source: nameToProto(source), destination: nameToProto(bob) },
    session: { sessionMessageType: type, messageId },
  });
}

/** Tracks the settlement of a promise without awaiting it. */
function watch<T>(p: Promise<T>) {
  const w: { value?: T; settled: boolean } = { settled: false };
  p.then((v) => {
    w.value = v;
    w.settled = true;
  });
  return w;
}

Deno.test("control sender - resends every interval with the same message id", async () => {
  const { clock, resent, sender } = setup(1000, 3);
  const m = request(77);
  const r = watch(sender.track(m, [bob]));
  await clock.advance(999);
  assertEquals(resent.length, 0, "nothing before the first interval");
  await clock.advance(1);
  assertEquals(resent.map((x) => x.at), [1000]);
  await clock.advance(2000);
  assertEquals(resent.map((x) => x.at), [1000, 2000, 3000]);
  for (const x of resent) {
    assert(x.message === m, "the stored request is re-sent as is");
    assertEquals(x.message.messageId, 77);
  }
  assert(!r.settled);
  assert(sender.pending(77));
});

Deno.test("control sender - fails after maxRetries resends, at (n+1) intervals, naming the missing", async () => {
  const { clock, resent, sender } = setup(500, 3);
  const r = watch(sender.track(request(5), [bob, carol]));
  assert(sender.onReply(5, carol, reply(5, carol)));
  await clock.advance(4 * 500 - 1);
  assertEquals(resent.length, 3);
  assert(!r.settled, "still waiting just before (n+1)·interval");
  await clock.advance(1);
  assert(r.settled, "given up at (n+1)·interval");
  const result = r.value as ControlResult;
  assertEquals(result.ok, false);
  assertEquals(result.missing.map(String), [String(bob)]);
  assertEquals(result.replies.length, 1);
  assert(!sender.pending(5));
  assertEquals(clock.pending, 0, "no timer left behind");
  await clock.advance(10_000);
  assertEquals(resent.length, 3, "no resend after giving up");
});

Deno.test("control sender - maxRetries 0 fails at the first expiry without resending", async () => {
  const { clock, resent, sender } = setup(200, 0);
  const r = watch(sender.track(request(9), [bob]));
  await clock.advance(200);
  assert(r.settled);
  assertEquals(r.value!.ok, false);
  assertEquals(resent.length, 0);
});

Deno.test("control sender - succeeds once every replier answered, and stops resending", async () => {
  const { clock, resent, sender } = setup(1000, 5);
  const r = watch(sender.track(request(42), [bob, carol, dave]));
  await clock.advance(1000);
  assertEquals(resent.length, 1);
  assert(sender.onReply(42, bob, reply(42, bob)));
  assert(
    !sender.onReply(42, bob, reply(42, bob)),
    "a second reply from the same member is not new",
  );
  assert(!sender.onReply(43, carol, reply(43, carol)), "another id does not count");
  assert(!sender.onReply(42, bob2, reply(42, bob2)), "another instance does not count");
  assert(sender.onReply(42, carol, reply(42, carol, SessionMessageType.GROUP_NACK)));
  await clock.advance(0);
  assert(!r.settled);
  assert(sender.onReply(42, dave, reply(42, dave, SessionMessageType.LEAVE_REPLY)));
  await clock.advance(0);
  assert(r.settled);
  assertEquals(r.value!.ok, true);
  assertEquals(r.value!.missing, []);
  assertEquals(r.value!.replies.length, 3);
  assertEquals(clock.pending, 0);
  await clock.advance(10_000);
  assertEquals(resent.length, 1);
});

Deno.test("control sender - no repliers resolves at once", async () => {
  const { clock, sender } = setup();
  const r = watch(sender.track(request(1), []));
  await clock.advance(0);
  assert(r.settled);
  assertEquals(r.value!.ok, true);
  assertEquals(clock.pending, 0);
});

Deno.test("control sender - a discovery is answered by any instance of the name", async () => {
  const { clock, sender } = setup();
  const any = Name.parse("org/ns/bob");
  const r = watch(sender.track(request(8, any), [any], true));
  assert(!sender.onReply(8, carol, reply(8, carol), true), "another name does not answer");
  assert(sender.onReply(8, bob2, reply(8, bob2, SessionMessageType.DISCOVERY_REPLY), true));
  await clock.advance(0);
  assert(r.settled);
  assertEquals(r.value!.ok, true);
  assert(nameFromProto(r.value!.replies[0].header!.source).equals(bob2));
});

Deno.test("control sender - forget completes a request that only waited for the forgotten member", async () => {
  const { clock, resent, sender } = setup(1000, 3);
  const a = watch(sender.track(request(1), [bob]));
  const b = watch(sender.track(request(2), [bob, carol]));
  sender.forget(bob);
  await clock.advance(0);
  assert(a.settled);
  assertEquals(a.value!.ok, true);
  assert(!b.settled, "still waits for carol");
  await clock.advance(1000);
  assertEquals(resent.map((x) => x.message.messageId), [2]);
  sender.onReply(2, carol, reply(2, carol));
  await clock.advance(0);
  assert(b.settled);
  assertEquals(b.value!.ok, true);
});

Deno.test("control sender - cancelAll fails everything outstanding and stops the timers", async () => {
  const { clock, resent, sender } = setup(1000, 3);
  const a = watch(sender.track(request(1), [bob]));
  const b = watch(sender.track(request(2), [carol]));
  sender.cancelAll();
  await clock.advance(0);
  assert(a.settled && b.settled);
  assertEquals(a.value!.ok, false);
  assertEquals(b.value!.missing.map(String), [String(carol)]);
  assertEquals(clock.pending, 0);
  await clock.advance(10_000);
  assertEquals(resent.length, 0);
  assert(!sender.pending(1) && !sender.pending(2));
});

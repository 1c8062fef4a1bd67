/**
 * DataSender driven with a fake clock: ids, acknowledgements, retransmission, give-up, RTX
 * service, buffering before the first receiver, publish-to and endpoint removal.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { SessionError, TimeoutError } from "../../lib/errors.ts";
import { Name } from "../../lib/names/name.ts";
import { DataSender, PUBLISH_TO } from "../../lib/session/data_sender.ts";
import type { OutMessage } from "../../lib/session/host.ts";
import { PRODUCER_BUFFER_SIZE } from "../../lib/session/config.ts";
import { SessionMessageType } from "../../lib/wire/codec.ts";

const channel = Name.parse("org/ns/chat").withId(1000n);
const bob = Name.parse("org/ns/bob").withId(11n);
const carol = Name.parse("org/ns/carol").withId(21n);
const dave = Name.parse("org/ns/dave").withId(31n);
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Sent {
  at: number;
  m: OutMessage;
}

function setup(
  o: { group?: boolean; reliable?: boolean; intervalMs?: number; maxRetries?: number } = {},
  destination: Name = o.group === false ? bob : channel,
) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const silent: Name[][] = [];
  const sender = new DataSender(destination, {
    clock,
    group: o.group ?? true,
    reliable: o.reliable ?? true,
    intervalMs: o.intervalMs ?? 1000,
    maxRetries: o.maxRetries ?? 3,
    send: (batch) => {
      for (const m of batch) sent.push({ at: clock.now(), m });
    },
    onSilent: (names) => silent.push(names),
  });
  return { clock, sent, silent, sender };
}

/** Settlement of a promise, observed without awaiting it. */
function watch(p: Promise<void>) {
  const w: { state: "pending" | "resolved" | "rejected"; error?: Error } = { state: "pending" };
  p.then(() => w.state = "resolved", (e) => {
    w.state = "rejected";
    w.error = e;
  });
  return w;
}

const text = (m: OutMessage) => dec.decode(m.app!.blob);

Deno.test("data sender - sequential ids start at 1 and increase by one", async () => {
  const { sent, sender, clock } = setup({ reliable: false });
  sender.addEndpoint(bob);
  for (let i = 0; i < 5; i++) await sender.publish("msg", enc.encode(`m${i}`), undefined);
  await clock.advance(0);
  assertEquals(sent.map((s) => s.m.messageId), [1, 2, 3, 4, 5]);
  assertEquals(sent.map((s) => s.m.type), Array(5).fill(SessionMessageType.MSG));
  assertEquals(sent.map((s) => s.m.fanout), Array(5).fill(256), "group broadcast fanout");
  assertEquals(sent.map((s) => String(s.m.destination)), Array(5).fill(String(channel)));
});

Deno.test("data sender - point-to-point messages go to the peer with fanout 1", async () => {
  const { sent, sender } = setup({ group: false, reliable: false });
  sender.addEndpoint(bob);
  await sender.publish("text/plain", enc.encode("hi"), { k: "v" });
  assertEquals(sent.length, 1);
  assertEquals(sent[0].m.fanout, 1);
  assert(sent[0].m.destination.equals(bob));
  assertEquals(sent[0].m.app!.payloadType, "text/plain");
  assertEquals(sent[0].m.metadata, { k: "v" });
});

Deno.test("data sender - best effort completes at once, ignores acks and RTX requests", async () => {
  const { clock, sent, sender } = setup({ reliable: false });
  sender.addEndpoint(bob);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined));
  await clock.advance(0);
  assertEquals(w.state, "resolved");
  assertEquals(clock.pending, 0, "no retransmission timer");
  sender.onAck(1, bob);
  sender.onRtxRequest(1, bob);
  await clock.advance(60_000);
  assertEquals(sent.length, 1, "sent once, RTX request not answered");
});

Deno.test("data sender - reliable publish completes when every endpoint acknowledged", async () => {
  const { clock, sender } = setup();
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined));
  await clock.advance(0);
  sender.onAck(1, bob);
  sender.onAck(1, bob);
  sender.onAck(2, carol);
  sender.onAck(1, dave);
  await clock.advance(0);
  assertEquals(w.state, "pending", "carol has not acknowledged message 1");
  sender.onAck(1, carol);
  await clock.advance(0);
  assertEquals(w.state, "resolved");
  assertEquals(clock.pending, 0);
});

Deno.test("data sender - retransmits to each silent member every interval, unicast, same id", async () => {
  const { clock, sent, sender } = setup({ intervalMs: 400, maxRetries: 5 });
  for (const n of [bob, carol, dave]) sender.addEndpoint(n);
  const w = watch(sender.publish("msg", enc.encode("payload"), { k: "v" }));
  assertEquals(sent.length, 1);
  sender.onAck(1, carol);
  await clock.advance(399);
  assertEquals(sent.length, 1, "nothing before the interval");
  await clock.advance(1);
  const first = sent.slice(1);
  assertEquals(
    first.map((s) => String(s.m.destination)).sort(),
    [String(bob), String(dave)].sort(),
  );
  for (const s of first) {
    assertEquals(s.m.type, SessionMessageType.MSG);
    assertEquals(s.m.messageId, 1);
    assertEquals(s.m.fanout, 256, "SLIM keeps the stored fanout on unicast copies");
    assertEquals(text(s.m), "payload");
    assertEquals(s.m.metadata, { k: "v" });
    assertEquals(s.at, 400);
  }
  sender.onAck(1, bob);
  await clock.advance(400);
  const second = sent.slice(3);
  assertEquals(second.map((s) => String(s.m.destination)), [String(dave)], "only the silent one");
  assertEquals(second[0].at, 800);
  sender.onAck(1, dave);
  await clock.advance(0);
  assertEquals(w.state, "resolved");
  await clock.advance(10_000);
  assertEquals(sent.length, 4, "no more copies once everyone acknowledged");
});

Deno.test("data sender - group: after maxRetries the silent members are reported and publish resolves", async () => {
  const { clock, sent, silent, sender } = setup({ intervalMs: 100, maxRetries: 2 });
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined));
  sender.onAck(1, bob);
  await clock.advance(299);
  assertEquals(sent.length, 3, "original + 2 copies to carol");
  assertEquals(silent, []);
  assertEquals(w.state, "pending");
  await clock.advance(1);
  assertEquals(silent.map((ns) => ns.map(String)), [[String(carol)]]);
  assertEquals(w.state, "resolved");
  assertEquals(clock.pending, 0);
});

Deno.test("data sender - point-to-point: after maxRetries publish rejects with TimeoutError", async () => {
  const { clock, silent, sender } = setup({ group: false, intervalMs: 100, maxRetries: 2 });
  sender.addEndpoint(bob);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined));
  await clock.advance(300);
  assertEquals(w.state, "rejected");
  assert(w.error instanceof TimeoutError, `got ${w.error}`);
  assertEquals(silent.map((ns) => ns.map(String)), [[String(bob)]]);
});

Deno.test("data sender - an RTX request acts as an ack and is answered with the stored message", async () => {
  const { clock, sent, sender } = setup();
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  const w = watch(sender.publish("text/plain", enc.encode("stored"), { a: "b" }));
  sender.onAck(1, bob);
  sender.onRtxRequest(1, carol);
  await clock.advance(0);
  assertEquals(w.state, "resolved", "the RTX request counted as carol's ack");
  const r = sent[1].m;
  assertEquals(r.type, SessionMessageType.RTX_REPLY);
  assert(r.destination.equals(carol));
  assertEquals(r.messageId, 1);
  assertEquals(r.app!.payloadType, "text/plain");
  assertEquals(text(r), "stored");
  assertEquals(r.metadata, { a: "b" });
  assertEquals(r.error, undefined);
  assertEquals(r.fanout, 256, "stored fanout");
});

Deno.test("data sender - an RTX request for an evicted message gets an error reply (buffer 512)", () => {
  const { sent, sender } = setup({ reliable: true });
  sender.addEndpoint(bob);
  for (let i = 0; i < PRODUCER_BUFFER_SIZE + 1; i++) {
    sender.publish("msg", enc.encode(`m${i + 1}`), undefined).catch(() => {});
    sender.onAck(i + 1, bob);
  }
  assertEquals(PRODUCER_BUFFER_SIZE, 512);
  sent.length = 0;
  sender.onRtxRequest(1, bob);
  assertEquals(sent.length, 1);
  const e = sent[0].m;
  assertEquals(e.type, SessionMessageType.RTX_REPLY);
  assertEquals(e.error, true);
  assertEquals(e.messageId, 1);
  assertEquals(e.fanout, 1);
  assert(e.destination.equals(bob));
  assertEquals(e.app?.blob.length ?? 0, 0);
  sent.length = 0;
  sender.onRtxRequest(2, bob);
  assertEquals(sent[0].m.error, undefined, "message 2 is the oldest still kept");
  assertEquals(text(sent[0].m), "m2");
  sent.length = 0;
  sender.onRtxRequest(513, bob);
  assertEquals(text(sent[0].m), "m513");
});

Deno.test("data sender - publishes before any endpoint are held and flushed when the first appears", async () => {
  const { clock, sent, sender } = setup({ intervalMs: 100, maxRetries: 2 });
  const a = watch(sender.publish("msg", enc.encode("early 1"), undefined));
  const b = watch(sender.publish("msg", enc.encode("early 2"), undefined));
  await clock.advance(1000);
  assertEquals(sent.length, 0, "nothing sent without a receiver");
  assertEquals(a.state, "pending");
  sender.addEndpoint(bob);
  assertEquals(sent.map((s) => text(s.m)), ["early 1", "early 2"]);
  assertEquals(sent.map((s) => s.m.messageId), [1, 2]);
  sender.addEndpoint(carol);
  assertEquals(sent.length, 2, "flushed once");
  sender.onAck(1, bob);
  sender.onAck(2, bob);
  await clock.advance(0);
  assertEquals(a.state, "resolved", "waits only for the members present at the flush");
  assertEquals(b.state, "resolved");
});

Deno.test("data sender - best effort publishes before any endpoint are flushed too", async () => {
  const { sent, sender } = setup({ reliable: false, group: false });
  await sender.publish("msg", enc.encode("early"), undefined);
  assertEquals(sent.length, 0);
  sender.addEndpoint(bob);
  assertEquals(sent.map((s) => text(s.m)), ["early"]);
});

Deno.test("data sender - publishTo in a group: id >= 2^31, fanout 1, PUBLISH_TO, only the target acks", async () => {
  const { clock, sent, sender } = setup({ intervalMs: 100, maxRetries: 3 });
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  const w = watch(sender.publish("msg", enc.encode("direct"), { x: "1" }, carol));
  const m = sent[0].m;
  assert(m.messageId >= 0x80000000 && m.messageId <= 0xfffffffe, `id ${m.messageId}`);
  assertEquals(m.fanout, 1);
  assert(m.destination.equals(carol));
  assertEquals(m.metadata, { x: "1", [PUBLISH_TO]: "TRUE" });
  await clock.advance(100);
  assertEquals(sent.map((s) => String(s.m.destination)), [String(carol), String(carol)]);
  assertEquals(sent[1].m.messageId, m.messageId);
  sender.onAck(m.messageId, carol);
  await clock.advance(0);
  assertEquals(w.state, "resolved", "bob's ack was never needed");
  // Sequential numbering is not consumed by publish-to.
  sender.publish("msg", enc.encode("seq"), undefined).catch(() => {});
  assertEquals(sent.at(-1)!.m.messageId, 1);
});

Deno.test("data sender - publishTo a non-member of a group is refused", async () => {
  const { sender, sent } = setup();
  sender.addEndpoint(bob);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined, dave));
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(w.state, "rejected");
  assert(w.error instanceof SessionError);
  assertEquals(sent.length, 0);
});

Deno.test("data sender - removing an endpoint completes publishes that only waited for it", async () => {
  const { clock, sent, sender } = setup({ intervalMs: 100, maxRetries: 5 });
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  const one = watch(sender.publish("msg", enc.encode("1"), undefined));
  const two = watch(sender.publish("msg", enc.encode("2"), undefined));
  sender.onAck(1, bob);
  sender.removeEndpoint(carol);
  await clock.advance(0);
  assertEquals(one.state, "resolved");
  assertEquals(two.state, "pending", "still waits for bob");
  const before = sent.length;
  await clock.advance(100);
  assertEquals(
    sent.slice(before).map((s) => String(s.m.destination)),
    [String(bob)],
    "no copy to the removed member",
  );
  assertEquals(sender.endpoints.map(String), [String(bob)]);
});

Deno.test("data sender - close rejects outstanding publishes and later ones", async () => {
  const { clock, sender } = setup();
  sender.addEndpoint(bob);
  const w = watch(sender.publish("msg", enc.encode("x"), undefined));
  sender.close("bye");
  await clock.advance(0);
  assertEquals(w.state, "rejected");
  assert(w.error instanceof SessionError);
  assertEquals(clock.pending, 0);
  const after = watch(sender.publish("msg", enc.encode("y"), undefined));
  await clock.advance(0);
  assertEquals(after.state, "rejected");
});

Deno.test("data sender - an RTX request for a message still awaiting acks is served beyond 512 newer ones", () => {
  // Group: bob acknowledged message 1, carol did not (the sender still retransmits it to her).
  const { sent, sender } = setup({ intervalMs: 100, maxRetries: 10 });
  sender.addEndpoint(bob);
  sender.addEndpoint(carol);
  sender.publish("msg", enc.encode("m1"), undefined).catch(() => {});
  sender.onAck(1, bob);
  for (let id = 2; id <= PRODUCER_BUFFER_SIZE + 1; id++) {
    sender.publish("msg", enc.encode(`m${id}`), undefined).catch(() => {});
    sender.onAck(id, bob);
    sender.onAck(id, carol);
  }
  sent.length = 0;
  sender.onRtxRequest(1, carol);
  assertEquals(sent.length, 1);
  assertEquals(
    sent[0].m.error,
    undefined,
    "message 1 is still held (pending for carol): it must not be reported lost",
  );
  assertEquals(text(sent[0].m), "m1");
});

Deno.test("data sender - a message asked for by an RTX request stays available while the asker retries", () => {
  // P2P at full speed: bob's RTX request counts as his ack; the RTX reply is lost; 512 newer
  // messages go out before bob's RTX timer asks again (well within its retries).
  const { sent, sender } = setup({ group: false, intervalMs: 100, maxRetries: 10 });
  sender.addEndpoint(bob);
  sender.publish("msg", enc.encode("m1"), undefined).catch(() => {});
  sender.onRtxRequest(1, bob);
  assertEquals(text(sent.at(-1)!.m), "m1");
  for (let id = 2; id <= PRODUCER_BUFFER_SIZE + 1; id++) {
    sender.publish("msg", enc.encode(`m${id}`), undefined).catch(() => {});
    sender.onAck(id, bob);
  }
  sent.length = 0;
  sender.onRtxRequest(1, bob);
  assertEquals(sent[0].m.error, undefined, "answered with the message, not as lost");
  assertEquals(text(sent[0].m), "m1");
});

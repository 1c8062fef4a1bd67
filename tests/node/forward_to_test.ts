/**
 * Subscriptions propagated through `forward_to` (wire.md §5.4 (b)), driven with crafted
 * Subscribes from a raw client over real sockets; re-send timers on a fake clock. Covers the
 * acknowledgement wait, re-sends, loop suppression, and that the state is pruned on ack, on
 * failure, when either connection ends, and is bounded.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { type NodeOptions, routerOf, SlimNode } from "../../lib/node/node.ts";
import { DEFAULT_TTL, makeMessage, type Message, nameToProto } from "../../lib/wire/codec.ts";
import { ackOf, RawClient } from "../helpers/raw_client.ts";
import { routes, waitUntil } from "./_multinode.ts";

const carol = Name.parse("org/ns/carol").withId(3n);
const dave = Name.parse("org/ns/dave").withId(4n);
const erin = Name.parse("org/ns/erin").withId(5n);

async function setup(options: Partial<NodeOptions> = {}) {
  const clock = new FakeClock();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: createLogger("slim", { level: "error" }),
    drainTimeoutMs: 1000,
    clock,
    ...options,
  });
  const url = `http://127.0.0.1:${node.addresses[0].port}`;
  // `origin` subscribes and asks the node to propagate to `upstream`, as an SDK app does on its
  // embedded node; `upstream` stands for the next node and answers by hand.
  const origin = await RawClient.connect(url);
  const upstream = await RawClient.connect(url);
  const upstreamIndex =
    routerOf(node).links().find((l) => l.linkId === upstream.link.linkId)!.index;
  return { clock, node, origin, upstream, upstreamIndex };
}

function subscription(
  kind: "subscribe" | "unsubscribe",
  name: Name,
  id: bigint,
  forwardTo?: number,
): Message {
  return makeMessage({
    messageType: {
      case: kind,
      value: {
        header: {
          source: nameToProto(name),
          destination: nameToProto(name),
          identity: "token",
          fanout: 1,
          ttl: DEFAULT_TTL,
          forwardTo: forwardTo === undefined ? undefined : BigInt(forwardTo),
        },
        subscriptionId: id,
      },
    },
  });
}

function subscribesOf(c: RawClient, id: bigint): Message[] {
  return c.received.filter((m) =>
    (m.messageType.case === "subscribe" || m.messageType.case === "unsubscribe") &&
    m.messageType.value.subscriptionId === id
  );
}

function ackFor(c: RawClient, id: bigint) {
  return c.received.map(ackOf).find((a) => a?.subscriptionId === id);
}

function sendAck(c: RawClient, id: bigint, success: boolean, error = ""): void {
  c.send(makeMessage({
    messageType: { case: "subscriptionAck", value: { subscriptionId: id, success, error } },
  }));
}

/** Lets real I/O happen for a moment (to check that something did not arrive). */
const settle = () => new Promise((r) => setTimeout(r, 100));

Deno.test("forward_to - the origin is acknowledged with the upstream's ack; re-sent every 5 s; a loop is acknowledged and ignored; pruned on ack and when the origin ends", async () => {
  const { clock, node, origin, upstream, upstreamIndex } = await setup();
  try {
    origin.sendVerbatim(subscription("subscribe", carol, 77n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 77n).length === 1);
    const sent = subscribesOf(upstream, 77n)[0];
    const h = sent.messageType.case === "subscribe" ? sent.messageType.value.header : undefined;
    assertEquals([h?.forwardTo, h?.recvFrom, h?.ttl], [undefined, undefined, 7]);
    assertEquals(upstream.rejected, [], "MAC'd for the upstream link");
    await settle();
    assertEquals(ackFor(origin, 77n), undefined, "the origin waits for the upstream");
    assertEquals(routerOf(node).forwards.pending, 1);

    // The same subscription coming back while it is pending is a loop: acknowledged, ignored.
    upstream.send(subscription("subscribe", carol, 77n));
    await upstream.waitFor(() => ackFor(upstream, 77n) !== undefined);
    assertEquals(ackFor(upstream, 77n)?.success, true);
    assertEquals(routes(node), ["org/ns/carol edge"], "registered for the origin only");

    await clock.advance(5000);
    await upstream.waitFor(() => subscribesOf(upstream, 77n).length === 2);

    sendAck(upstream, 77n, true);
    await origin.waitFor(() => ackFor(origin, 77n) !== undefined);
    assertEquals(ackFor(origin, 77n)?.success, true);
    assertEquals(routerOf(node).forwards.pending, 0, "pruned on ack");
    assertEquals(routerOf(node).forwards.remembered, 1, "kept for a redial of the upstream");
    assertEquals(clock.pending, 0, "no re-send timer left");

    // Once acknowledged, the id is no longer a loop: it is processed normally.
    upstream.send(subscription("subscribe", carol, 77n));
    await waitUntil(() => routes(node).length === 2, 3000, "upstream's own subscription");

    await origin.close();
    await waitUntil(() => routerOf(node).forwards.remembered === 0, 3000, "origin's replay pruned");
  } finally {
    await Promise.all([origin.close(), upstream.close()]);
    await node.stop();
  }
});

Deno.test("forward_to - never acknowledged: sent 1 + 3 times, the origin told, nothing kept", async () => {
  const { clock, node, origin, upstream, upstreamIndex } = await setup();
  try {
    origin.sendVerbatim(subscription("subscribe", dave, 78n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 78n).length === 1);
    for (let resend = 2; resend <= 4; resend++) {
      await clock.advance(5000);
      await upstream.waitFor(() => subscribesOf(upstream, 78n).length === resend);
    }
    assertEquals(ackFor(origin, 78n), undefined);
    await clock.advance(5000);
    await origin.waitFor(() => ackFor(origin, 78n) !== undefined);
    assertEquals(ackFor(origin, 78n), {
      ...ackFor(origin, 78n)!,
      success: false,
      error: "remote subscription ack timed out after 3 retries",
    });
    assertEquals(subscribesOf(upstream, 78n).length, 4);
    assertEquals(routerOf(node).forwards.pending, 0);
    assertEquals(routerOf(node).forwards.remembered, 0, "the upstream never took it: no replay");
    assertEquals(clock.pending, 0);
  } finally {
    await Promise.all([origin.close(), upstream.close()]);
    await node.stop();
  }
});

Deno.test("forward_to - refused upstream: the origin gets the refusal, nothing kept; unsubscribe forgets", async () => {
  const { node, origin, upstream, upstreamIndex } = await setup();
  try {
    origin.sendVerbatim(subscription("subscribe", dave, 79n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 79n).length === 1);
    sendAck(upstream, 79n, false, "no thanks");
    await origin.waitFor(() => ackFor(origin, 79n) !== undefined);
    assertEquals([ackFor(origin, 79n)?.success, ackFor(origin, 79n)?.error], [false, "no thanks"]);
    assertEquals([routerOf(node).forwards.pending, routerOf(node).forwards.remembered], [0, 0]);

    origin.sendVerbatim(subscription("subscribe", erin, 80n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 80n).length === 1);
    sendAck(upstream, 80n, true);
    await origin.waitFor(() => ackFor(origin, 80n) !== undefined);
    assertEquals(routerOf(node).forwards.remembered, 1);
    origin.sendVerbatim(subscription("unsubscribe", erin, 80n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 80n).length === 2);
    assertEquals(routerOf(node).forwards.remembered, 0, "an unsubscribe forgets the replay");
    sendAck(upstream, 80n, true);
    await waitUntil(() => routerOf(node).forwards.pending === 0);
  } finally {
    await Promise.all([origin.close(), upstream.close()]);
    await node.stop();
  }
});

Deno.test("forward_to - either connection ending while pending ends the wait at once", async () => {
  let s = await setup();
  try {
    // The upstream goes: the origin is told, nothing stays.
    s.origin.sendVerbatim(subscription("subscribe", carol, 81n, s.upstreamIndex));
    await s.upstream.waitFor(() => subscribesOf(s.upstream, 81n).length === 1);
    await s.upstream.close();
    await s.origin.waitFor(() => ackFor(s.origin, 81n) !== undefined);
    assertEquals(ackFor(s.origin, 81n)?.success, false);
    assertEquals([routerOf(s.node).forwards.pending, routerOf(s.node).forwards.remembered], [0, 0]);
    assertEquals(s.clock.pending, 0);
  } finally {
    await s.origin.close();
    await s.node.stop();
  }
  s = await setup();
  try {
    // The origin goes: re-sending stops without waiting for the timers.
    s.origin.sendVerbatim(subscription("subscribe", carol, 82n, s.upstreamIndex));
    await s.upstream.waitFor(() => subscribesOf(s.upstream, 82n).length === 1);
    await s.origin.close();
    await waitUntil(() => routerOf(s.node).forwards.pending === 0, 3000, "pending pruned");
    assertEquals(routerOf(s.node).forwards.remembered, 0);
    assertEquals(s.clock.pending, 0, "no re-send timer left");
    await s.clock.advance(20_000);
    await settle();
    assertEquals(subscribesOf(s.upstream, 82n).length, 1, "never re-sent");
  } finally {
    await s.upstream.close();
    await s.node.stop();
  }
});

Deno.test("forward_to - bounded: beyond the limits new propagations are refused", async () => {
  const { node, origin, upstream, upstreamIndex } = await setup({
    maxPendingForwards: 1,
    maxForwardedSubscriptions: 2,
  });
  try {
    origin.sendVerbatim(subscription("subscribe", carol, 90n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 90n).length === 1);
    origin.sendVerbatim(subscription("subscribe", dave, 91n, upstreamIndex));
    await origin.waitFor(() => ackFor(origin, 91n) !== undefined);
    assertEquals(ackFor(origin, 91n)?.success, false);
    assert(ackFor(origin, 91n)!.error.includes("waiting for acknowledgement (limit 1)"));
    sendAck(upstream, 90n, true);
    await origin.waitFor(() => ackFor(origin, 90n) !== undefined);

    origin.sendVerbatim(subscription("subscribe", dave, 92n, upstreamIndex));
    await upstream.waitFor(() => subscribesOf(upstream, 92n).length === 1);
    sendAck(upstream, 92n, true);
    await origin.waitFor(() => ackFor(origin, 92n) !== undefined);
    assertEquals(routerOf(node).forwards.remembered, 2);
    origin.sendVerbatim(subscription("subscribe", erin, 93n, upstreamIndex));
    await origin.waitFor(() => ackFor(origin, 93n) !== undefined);
    assertEquals(ackFor(origin, 93n)?.success, false);
    assert(ackFor(origin, 93n)!.error.includes("too many subscriptions forwarded (limit 2)"));
    await settle();
    assertEquals(subscribesOf(upstream, 93n).length, 0, "not sent on");
    assertEquals(routerOf(node).forwards.remembered, 2);
  } finally {
    await Promise.all([origin.close(), upstream.close()]);
    await node.stop();
  }
});

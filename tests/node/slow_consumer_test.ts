/**
 * A subscriber that stops reading must not freeze its publishers: the wait for a congested
 * output is bounded per output link, then what is routed to it is dropped (reason "congested"),
 * and after sustained congestion the link is closed. Real sockets; congestion timers on a fake
 * clock.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { logCapture, RawClient } from "../helpers/raw_client.ts";
import { waitUntil } from "./_multinode.ts";
import { stalledSubscriber } from "./_stalled_client.ts";

const publisherName = Name.parse("org/ns/publisher").withId(1n);
const chat = Name.parse("org/ns/chat").withId(7n);
const friend = Name.parse("org/ns/friend").withId(1n);
/** 3000 × 4 KiB: far beyond the stalled client's 4 MiB window plus the 1 MiB high-water mark. */
const BULK = 3000;
const BULK_TEXT = "x".repeat(4096);

async function startNode(clock: FakeClock) {
  const log = logCapture();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: createLogger("slim", { level: "info", sink: log.sink }),
    drainTimeoutMs: 1000,
    clock,
    congestionWaitMs: 2000,
    congestionCloseMs: 30_000,
  });
  return { node, endpoint: `http://127.0.0.1:${node.addresses[0].port}`, log };
}

function linkOf(node: SlimNode, linkId: string) {
  return routerOf(node).links().find((l) => l.linkId === linkId);
}

Deno.test("node - a subscriber that stops reading costs its publishers at most the wait, then is shed and closed", async () => {
  const clock = new FakeClock();
  const { node, endpoint, log } = await startNode(clock);
  const stalled = await stalledSubscriber(endpoint, chat);
  const reader = await RawClient.connect(endpoint);
  const mate = await RawClient.connect(endpoint);
  const publisher = await RawClient.connect(endpoint);
  try {
    await reader.subscribe(chat, 101n);
    await mate.subscribe(friend, 102n);
    const slow = linkOf(node, stalled.link.linkId)!;
    for (let i = 0; i < BULK; i++) {
      publisher.publish(publisherName, chat, BULK_TEXT, { fanout: 256, messageId: i + 1 });
    }
    for (let i = 0; i < 10; i++) {
      publisher.publish(publisherName, friend, `unicast ${i}`, { messageId: BULK + i + 1 });
    }
    // The publisher's input now waits for the stalled output, with a deadline on the clock.
    await waitUntil(
      () => routerOf(node).congested === 1 && clock.pending === 1,
      10_000,
      "congestion",
    );
    assertEquals(mate.texts().length, 0, "held back while the input waits");
    assertEquals(routerOf(node).stats(slow)?.dropped.get("congested"), undefined);

    await clock.advance(2000);
    await mate.waitFor(() => mate.texts().length === 10, 10_000);
    assertEquals(mate.texts(), Array.from({ length: 10 }, (_, i) => `unicast ${i}`));
    // The healthy subscriber of the same channel lost nothing; the stalled one had the rest
    // dropped, counted on its link under a reason of its own.
    await reader.waitFor(() => reader.texts().length === BULK, 20_000);
    const dropped = routerOf(node).stats(slow)?.dropped.get("congested") ?? 0;
    assert(dropped > 0 && dropped < BULK, `dropped ${dropped}`);
    assert(log.has("not keeping up", `peer=${slow.remote}`), "shedding logged with the peer");
    assertEquals(routerOf(node).stats(linkOf(node, publisher.link.linkId)!)?.dropped.size, 0);

    // Everything else keeps flowing while the stalled link is shed.
    publisher.publish(publisherName, friend, "while shedding", { messageId: 99_999 });
    await mate.waitFor(() => mate.texts().includes("while shedding"));

    // Sustained congestion: the link is closed, with a line naming the peer.
    await clock.advance(28_000);
    await waitUntil(() => linkOf(node, stalled.link.linkId) === undefined, 5000, "closed");
    assert(
      log.has("closing connection that stopped reading", `peer=${slow.remote}`),
      log.lines.join("\n"),
    );
    assert(
      log.has(
        "connection lost",
        `peer=${slow.remote}`,
        "did not read what was sent to it for 30000 ms",
      ),
    );
    assertEquals(routerOf(node).congested, 0);
    assertEquals(clock.pending, 0, "no timer left behind");
    publisher.publish(publisherName, friend, "after close", { messageId: 100_000 });
    await mate.waitFor(() => mate.texts().includes("after close"));
  } finally {
    stalled.channel.destroy();
    await Promise.all([reader.close(), mate.close(), publisher.close()]);
    await node.stop();
  }
});

Deno.test("node - a subscriber that resumes reading within the wait loses nothing", async () => {
  const clock = new FakeClock();
  const { node, endpoint, log } = await startNode(clock);
  const stalled = await stalledSubscriber(endpoint, chat);
  const publisher = await RawClient.connect(endpoint);
  const mate = await RawClient.connect(endpoint);
  try {
    await mate.subscribe(friend, 102n);
    const slow = linkOf(node, stalled.link.linkId)!;
    for (let i = 0; i < BULK; i++) {
      publisher.publish(publisherName, chat, BULK_TEXT, { fanout: 256, messageId: i + 1 });
    }
    publisher.publish(publisherName, friend, "after the bulk", { messageId: BULK + 1 });
    await waitUntil(() => routerOf(node).congested === 1, 10_000, "congestion");
    // Just short of the deadline, the subscriber reads again.
    await clock.advance(1999);
    let got = 0;
    const reading = stalled.resume((n) => got = n);
    await waitUntil(() => got === BULK, 20_000, `all ${BULK} delivered (got ${got})`);
    await mate.waitFor(() => mate.texts().includes("after the bulk"));
    assertEquals(routerOf(node).stats(slow)?.dropped.get("congested"), undefined);
    assertEquals(routerOf(node).congested, 0);
    assertEquals(clock.pending, 0, "the deadline was cancelled");
    assert(!log.has("not keeping up"));
    stalled.channel.destroy();
    await reading;
  } finally {
    stalled.channel.destroy();
    await Promise.all([publisher.close(), mate.close()]);
    await node.stop();
  }
});

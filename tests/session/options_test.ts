/**
 * Session options are checked where they are given: a bad value is a `UsageError` naming the
 * option, never a failure blamed on the peer later.
 */
import { assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { UsageError } from "../../lib/errors.ts";
import {
  MAX_INTERVAL_MS,
  MAX_RETRIES_LIMIT,
  MIN_INTERVAL_MS,
  peerTimers,
  type SessionOptions,
  settingsFrom,
} from "../../lib/session/config.ts";
import { Collector, connectApp, startNode } from "./_harness.ts";

const p2p = (extra: Partial<SessionOptions> = {}) =>
  ({ kind: "point-to-point", peer: "org/ns/bob", ...extra }) as SessionOptions;

Deno.test("options - bad reliability, MLS and metadata values name the option", () => {
  const cases: [SessionOptions, string][] = [
    [p2p({ reliable: { intervalMs: -5 } }), "reliable.intervalMs"],
    [p2p({ reliable: { intervalMs: 5e9 } }), "reliable.intervalMs"],
    [p2p({ reliable: { intervalMs: 1.5 } }), "reliable.intervalMs"],
    [p2p({ reliable: { intervalMs: MIN_INTERVAL_MS - 1 } }), "reliable.intervalMs"],
    [p2p({ reliable: { maxRetries: -1 } }), "reliable.maxRetries"],
    [p2p({ reliable: { maxRetries: MAX_RETRIES_LIMIT + 1 } }), "reliable.maxRetries"],
    [p2p({ reliable: { maxRetries: NaN } }), "reliable.maxRetries"],
    [p2p({ mls: { headerIntegrityValidationPercent: 101 } }), "headerIntegrityValidationPercent"],
    [p2p({ metadata: { k: 5 as unknown as string } }), "metadata.k"],
    [p2p({ metadata: "x" as unknown as Record<string, string> }), "metadata"],
    [{ kind: "bogus" } as unknown as SessionOptions, "kind"],
  ];
  for (const [options, what] of cases) {
    assertThrows(() => settingsFrom(options), UsageError, what);
  }
  // The bounds themselves are accepted.
  const s = settingsFrom(
    p2p({ reliable: { intervalMs: MAX_INTERVAL_MS, maxRetries: MAX_RETRIES_LIMIT } }),
  );
  assertEquals([s.intervalMs, s.maxRetries], [MAX_INTERVAL_MS, MAX_RETRIES_LIMIT]);
  assertEquals(settingsFrom(p2p({ reliable: { intervalMs: MIN_INTERVAL_MS } })).intervalMs, 10);
  assertEquals(settingsFrom(p2p()).reliable, false);
  assertEquals(settingsFrom({ kind: "group", channel: "org/ns/c" }).reliable, true);
});

Deno.test("options - a peer's timer settings are clamped, not refused", () => {
  assertEquals(peerTimers(1, 0xffffffff), {
    intervalMs: MIN_INTERVAL_MS,
    maxRetries: MAX_RETRIES_LIMIT,
  });
  assertEquals(peerTimers(0xffffffff, 3), { intervalMs: MAX_INTERVAL_MS, maxRetries: 3 });
  assertEquals(peerTimers(undefined, undefined), { intervalMs: 1000, maxRetries: 10 });
  assertEquals(peerTimers(250, 0), { intervalMs: 250, maxRetries: 0 });
});

Deno.test("options - createSession and publish reject bad arguments with UsageError", async () => {
  const { node, url } = await startNode();
  const alice = await connectApp("org/ns/alice", url);
  const bob = await connectApp("org/ns/bob", url);
  try {
    await assertRejects(
      () => alice.createSession(p2p({ reliable: { intervalMs: -5 } })),
      UsageError,
      "reliable.intervalMs",
    );
    const s = await alice.createSession(p2p({ reliable: { intervalMs: 200, maxRetries: 5 } }));
    const incoming = new Collector(await bob.listen({ timeoutMs: 3000 }));
    await assertRejects(
      () => s.publish("x", { payloadType: 7 as unknown as string }),
      UsageError,
      "payloadType",
    );
    await assertRejects(
      () => s.publish("x", { metadata: { a: 1 as unknown as string } }),
      UsageError,
      "metadata.a",
    );
    await assertRejects(() => s.publish(42 as unknown as string), UsageError, "payload");
    await assertRejects(() => s.publishTo("not a name", "x"), Error);
    // Nothing was sent by the refused publishes; a good one goes through, and is the first.
    await s.publish("good");
    await incoming.waitTexts(1);
    assertEquals(incoming.texts(), ["good"]);
  } finally {
    await Promise.allSettled([alice.close(), bob.close()]);
    await node.stop();
  }
});

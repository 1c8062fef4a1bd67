/**
 * Heartbeat driven with a fake clock: beats, suppression by activity, forced beats, offline
 * detection after three silent periods.
 */
import { assertEquals } from "../helpers/assert.ts";
import { FakeClock } from "../../lib/clock.ts";
import { Name } from "../../lib/names/name.ts";
import { Heartbeat } from "../../lib/session/heartbeat.ts";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_MISSES } from "../../lib/session/config.ts";

const bob = Name.parse("org/ns/bob").withId(11n);
const carol = Name.parse("org/ns/carol").withId(21n);

function setup(enabled = true) {
  const clock = new FakeClock();
  const beats: number[] = [];
  const offline: { at: number; name: string }[] = [];
  const hb = new Heartbeat({
    clock,
    beat: () => beats.push(clock.now()),
    offline: (n) => offline.push({ at: clock.now(), name: String(n) }),
  });
  hb.enabled = enabled;
  hb.start();
  return { clock, beats, offline, hb };
}

Deno.test("heartbeat - beats every 10 s while idle, from creation", async () => {
  const { clock, beats } = setup();
  assertEquals(HEARTBEAT_INTERVAL_MS, 10_000);
  await clock.advance(9_999);
  assertEquals(beats, []);
  await clock.advance(30_001);
  assertEquals(beats, [10_000, 20_000, 30_000, 40_000]);
});

Deno.test("heartbeat - no beats while there is nowhere to send them", async () => {
  const { clock, beats, hb } = setup(false);
  await clock.advance(25_000);
  assertEquals(beats, []);
  hb.enabled = true;
  await clock.advance(5_000);
  assertEquals(beats, [30_000], "the phase stays anchored at creation");
});

Deno.test("heartbeat - a tick after activity is skipped, the next one beats again", async () => {
  const { clock, beats, hb } = setup();
  hb.track(bob);
  await clock.advance(5_000);
  hb.activity();
  await clock.advance(5_000);
  assertEquals(beats, [], "activity in the period replaces the beat");
  hb.seen(bob);
  await clock.advance(10_000);
  assertEquals(beats, [20_000]);
});

Deno.test("heartbeat - force() beats even after activity", async () => {
  const { clock, beats, hb } = setup();
  hb.track(bob);
  hb.activity();
  hb.force();
  await clock.advance(10_000);
  assertEquals(beats, [10_000]);
  hb.seen(bob);
  hb.activity();
  await clock.advance(10_000);
  assertEquals(beats, [10_000], "force applies to one tick only");
});

Deno.test("heartbeat - a tracked member silent for 3 periods goes offline, once", async () => {
  const { clock, offline, hb } = setup();
  assertEquals(HEARTBEAT_MISSES, 3);
  hb.track(bob);
  await clock.advance(29_999);
  assertEquals(offline, []);
  await clock.advance(1);
  assertEquals(offline, [{ at: 30_000, name: String(bob) }]);
  await clock.advance(60_000);
  assertEquals(offline.length, 1, "reported once, then no longer tracked");
});

Deno.test("heartbeat - seen() resets a member's missed periods", async () => {
  const { clock, offline, hb } = setup();
  hb.track(bob);
  hb.track(carol);
  await clock.advance(25_000);
  hb.seen(bob);
  await clock.advance(5_000);
  assertEquals(offline.map((o) => o.name), [String(carol)]);
  await clock.advance(19_999);
  assertEquals(offline.length, 1, "bob was heard at 25 s: misses at 30, 40 s only");
  await clock.advance(1);
  assertEquals(offline.map((o) => [o.name, o.at]), [[String(carol), 30_000], [
    String(bob),
    50_000,
  ]]);
});

Deno.test("heartbeat - untrack and stop", async () => {
  const { clock, beats, offline, hb } = setup();
  hb.track(bob);
  hb.untrack(bob);
  await clock.advance(40_000);
  assertEquals(offline, []);
  assertEquals(beats.length, 4);
  hb.stop();
  assertEquals(clock.pending, 0);
  await clock.advance(40_000);
  assertEquals(beats.length, 4);
});

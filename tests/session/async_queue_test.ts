/** The queue sessions hand messages and events through. */
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { ClosedError, TimeoutError } from "../../lib/errors.ts";
import { AsyncQueue } from "../../lib/session/async_queue.ts";

Deno.test("async queue - bounded: the oldest unread items make room, and are counted", async () => {
  const q = new AsyncQueue<number>(3);
  for (let i = 1; i <= 5; i++) q.push(i);
  assertEquals(q.size, 3);
  assertEquals(q.dropped, 2);
  assertEquals([await q.next(), await q.next(), await q.next()], [3, 4, 5]);
  // A waiting consumer gets items directly: nothing is dropped however many pass through.
  for (let i = 0; i < 10; i++) {
    const n = q.next();
    q.push(100 + i);
    assertEquals(await n, 100 + i);
  }
  assertEquals(q.dropped, 2);
  q.push(7);
  q.close();
  assertEquals(await q.next(), 7);
  await assertRejects(() => q.next(), ClosedError);
});

Deno.test("async queue - unbounded by default; timeouts and close errors", async () => {
  const q = new AsyncQueue<number>();
  for (let i = 0; i < 5000; i++) q.push(i);
  assertEquals([q.size, q.dropped], [5000, 0]);
  const empty = new AsyncQueue<number>();
  await assertRejects(() => empty.next({ timeoutMs: 5 }), TimeoutError);
  const failed = new AsyncQueue<number>();
  const waiting = failed.next();
  failed.close(new Error("boom"));
  await assertRejects(() => waiting, Error, "boom");
});

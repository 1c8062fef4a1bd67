/**
 * Benchmark worker for the slim-ts app: same roles and output as tests/peer/bench_worker.mjs.
 * usage: deno run -A ts_app_worker.ts <role> <endpoint> <name> <peer> <count> <window> <secret>
 * @module
 */
import { App } from "../../lib/app/app.ts";
import { createLogger } from "../../lib/log.ts";

const [role, endpoint, name, peer, countStr, windowStr, secret] = Deno.args;
const count = Number(countStr), window = Number(windowStr);
const out = (o: unknown) => console.log(JSON.stringify(o));
const app = await App.connect({
  name,
  endpoint,
  identity: { sharedSecret: secret },
  logger: createLogger("bench", { level: "warn" }),
});

if (role === "receiver" || role === "echo") {
  out({ event: "ready" });
  const session = await app.listen({ timeoutMs: 60_000 });
  let n = 0, t0 = 0;
  for await (const m of session.messages()) {
    if (n === 0) t0 = performance.now();
    n++;
    if (role === "echo") await session.reply(m, m.payload);
    if (n >= count) break;
  }
  out({ event: "done", received: n, ms: performance.now() - t0 });
} else {
  const session = await app.createSession({
    kind: "point-to-point",
    peer,
    reliable: { maxRetries: 10, intervalMs: 1000 },
  });
  const payload = new Uint8Array(100).fill(97);
  if (role === "sender") {
    const t0 = performance.now();
    // A counter and one waiter, not Promise.race over the in-flight set: racing N promises per
    // message costs O(N) per message and would measure the harness, not the app.
    let inflight = 0;
    let wake: (() => void) | undefined;
    let failure: unknown;
    for (let i = 0; i < count; i++) {
      while (inflight >= window) await new Promise<void>((r) => wake = r);
      if (failure) throw failure;
      inflight++;
      session.publish(payload).then(() => {
        inflight--;
        wake?.();
      }, (e) => {
        failure = e;
        inflight--;
        wake?.();
      });
    }
    while (inflight > 0) await new Promise<void>((r) => wake = r);
    out({ event: "done", sent: count, ms: performance.now() - t0 });
  } else {
    const rtts: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await session.publish(payload);
      await session.nextMessage({ timeoutMs: 10_000 });
      rtts.push(performance.now() - t);
    }
    out({ event: "done", rtts });
  }
}
await app.close();
Deno.exit(0);

/**
 * `deno task bench`: the same raw-protocol load against the slim-ts node and the real SLIM node
 * (npm `@agntcy/slim-bindings`, a strict config-built service), in one run, side by side.
 *
 * Both nodes run in their own process; the load generator (this process) dials them as apps do:
 * one HTTP/2 connection and one OpenChannel stream per client, X25519 link keys, every message
 * MAC'd (the nodes verify every MAC and sign every forward). By default consecutive publishes
 * carry different identity tokens, as a shared-secret app mints one per message (`--identity
 * fixed`: one token throughout, as a JWT app sends). The generator signs a few such headers up
 * front and patches a sequence number and a send timestamp into the payload, which the MAC does
 * not cover.
 *
 * Scenarios (100-byte payloads): point-to-point with at most 1000 messages in flight and open
 * loop (only HTTP/2 flow control limits the sender), 4 pairs, fan-out 1 → 10, and fixed-rate
 * latency at 1k and 10k msg/s. Prints msg/s, latency percentiles, node CPU per delivered message
 * and the ratio ours / real.
 *
 * Usage: deno task bench [--duration SECONDS] [--only p2p,pairs,fanout,latency] [--json FILE]
 *        [--identity fresh|fixed] [--payload BYTES]
 *        [--ours-bin dist/slim] (measure the single binary instead of `deno run main.ts`)
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Name } from "../lib/names/name.ts";
import { parseFlags } from "../lib/cli/args.ts";
import { freePort, startRealNode } from "../tests/peer/real_peer.ts";
import { LoadClient, type Template } from "./bench/load_client.ts";
import { UsageError } from "../lib/errors.ts";

const { flags } = parseFlags(Deno.args, {
  duration: { kind: "string" },
  only: { kind: "string" },
  json: { kind: "string" },
  payload: { kind: "string" },
  // Measure an already running slim-ts node (e.g. under a profiler) instead of starting one.
  "ours-url": { kind: "string" },
  "ours-pid": { kind: "string" },
  // Start this slim-ts executable (e.g. the Bun-built dist/slim) instead of `deno run main.ts`.
  "ours-bin": { kind: "string" },
  "skip-real": { kind: "boolean" },
  identity: { kind: "string" },
});
const DURATION_MS = Number(flags.duration ?? 5) * 1000;
const WARMUP_MS = 1000;
const PAYLOAD = Number(flags.payload ?? 100);
const ONLY = flags.only ? new Set(String(flags.only).split(",")) : undefined;
const IDENTITY = String(flags.identity ?? "fresh");
if (IDENTITY !== "fresh" && IDENTITY !== "fixed") {
  throw new UsageError(`--identity must be fresh or fixed, not ${JSON.stringify(IDENTITY)}`);
}
/** Distinct identity tokens a sender rotates through (see the module comment). */
const VARIANTS = IDENTITY === "fresh" ? 16 : 1;

// ------------------------------------------------------------------------------------------------
// Nodes under test

interface Target {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startOurs(): Promise<Target> {
  if (flags["ours-url"]) {
    return {
      name: "slim-ts",
      url: String(flags["ours-url"]),
      pid: Number(flags["ours-pid"] ?? 0),
      stop: () => Promise.resolve(),
    };
  }
  const port = freePort();
  const dir = await Deno.makeTempDir();
  const config = `${dir}/node.yaml`;
  await Deno.writeTextFile(
    config,
    `tracing: {log_level: warn}\nservices:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: "127.0.0.1:${port}"\n          tls: {insecure: true}\n`,
  );
  const main = fileURLToPath(new URL("../main.ts", import.meta.url));
  const bin = flags["ours-bin"] ? String(flags["ours-bin"]) : undefined;
  const child = new Deno.Command(bin ?? Deno.execPath(), {
    args: bin ? ["--config", config] : ["run", "-A", main, "--config", config],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const c = await LoadClient.connect(url);
      await c.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    name: bin ? "slim-ts (binary)" : "slim-ts",
    url,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function startReal(): Promise<Target> {
  const node = await startRealNode({ strict: true });
  return { name: "real", url: node.url, pid: node.pid, stop: () => node.stop() };
}

/** CPU seconds (user + system) used so far by a process, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------------------------------------------
// Scenarios

interface Result {
  scenario: string;
  target: string;
  msgPerSec: number;
  p50?: number;
  p90?: number;
  p99?: number;
  nodeCpuPct: number;
  nodeUsPerMsg: number;
  lost?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function throughput(
  target: Target,
  label: string,
  pairs: number,
  fanout: number,
  window: number,
): Promise<Result> {
  const pubs: LoadClient[] = [];
  const subs: LoadClient[][] = [];
  const templates: Template[] = [];
  for (let p = 0; p < pairs; p++) {
    const pub = await LoadClient.connect(target.url);
    const group: LoadClient[] = [];
    const dest = Name.parse(`bench/ns/dest${p}`).withId(BigInt(p + 1));
    for (let s = 0; s < fanout; s++) {
      const sub = await LoadClient.connect(target.url);
      await sub.subscribe(dest);
      group.push(sub);
    }
    pubs.push(pub);
    subs.push(group);
    templates.push(
      pub.template(
        Name.parse(`bench/ns/src${p}`).withId(1n),
        dest,
        fanout > 1 ? 256 : 1,
        PAYLOAD,
        VARIANTS,
      ),
    );
  }
  const sent = new Array(pairs).fill(0);
  let running = true;
  const delivered = (p: number) => subs[p].reduce((n, s) => n + s.received, 0);
  const pumps = pubs.map((pub, p) => {
    const step = () => {
      if (!running) return;
      const inflight = sent[p] - delivered(p) / fanout;
      const room = Math.min(window - inflight, 512);
      if (room > 0) {
        pub.send(templates[p], sent[p], room);
        sent[p] += room;
      }
      if (pub.link.transport.congested) pub.link.transport.drained().then(step);
      else if (window === Infinity || sent[p] - delivered(p) / fanout < window) setTimeout(step, 0);
      // Otherwise a receiver batch wakes us up.
    };
    for (const s of subs[p]) s.onBatch = step;
    return step;
  });
  pumps.forEach((f) => f());
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const r0 = subs.flat().reduce((n, s) => n + s.received, 0);
  const c0 = cpuSeconds(target.pid), t0 = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const r1 = subs.flat().reduce((n, s) => n + s.received, 0);
  const c1 = cpuSeconds(target.pid), t1 = performance.now();
  running = false;
  const secs = (t1 - t0) / 1000;
  const msgs = r1 - r0;
  // Publishers first, so that an open loop's backlog drains into its subscribers.
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(pubs.map((c) => c.close()));
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all(subs.flat().map((c) => c.close()));
  return {
    scenario: label,
    target: target.name,
    msgPerSec: msgs / secs,
    nodeCpuPct: (c1 - c0) / secs * 100,
    nodeUsPerMsg: (c1 - c0) / msgs * 1e6,
  };
}

async function latency(target: Target, rate: number): Promise<Result> {
  const pub = await LoadClient.connect(target.url);
  const sub = await LoadClient.connect(target.url);
  const dest = Name.parse("bench/ns/latency").withId(1n);
  await sub.subscribe(dest);
  const template = pub.template(Name.parse("bench/ns/src").withId(1n), dest, 1, PAYLOAD, VARIANTS);
  let seq = 0, running = true;
  const tick = 1; // ms
  const perTick = Math.max(1, Math.round(rate / 1000 * tick));
  const start = performance.now();
  const timer = setInterval(() => {
    if (!running) return;
    // Catch up to the schedule (timers fire late under load), one message per write.
    const due = Math.floor((performance.now() - start) / 1000 * rate);
    const n = Math.min(due - seq, perTick * 4);
    for (let i = 0; i < n; i++) pub.send(template, seq++, 1);
  }, tick);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  sub.latencies = [];
  const c0 = cpuSeconds(target.pid), r0 = sub.received, t0 = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const c1 = cpuSeconds(target.pid), r1 = sub.received, t1 = performance.now();
  running = false;
  clearInterval(timer);
  const lat = sub.latencies.sort((a, b) => a - b);
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all([pub.close(), sub.close()]);
  const secs = (t1 - t0) / 1000;
  return {
    scenario: `latency ${rate / 1000}k msg/s`,
    target: target.name,
    msgPerSec: (r1 - r0) / secs,
    p50: percentile(lat, 0.5),
    p90: percentile(lat, 0.9),
    p99: percentile(lat, 0.99),
    nodeCpuPct: (c1 - c0) / secs * 100,
    nodeUsPerMsg: (c1 - c0) / (r1 - r0) * 1e6,
  };
}

// ------------------------------------------------------------------------------------------------

const scenarios: { key: string; run: (t: Target) => Promise<Result> }[] = [
  { key: "p2p", run: (t) => throughput(t, "p2p 1 pair, window 1000", 1, 1, 1000) },
  { key: "p2p", run: (t) => throughput(t, "p2p 1 pair, open loop", 1, 1, Infinity) },
  { key: "pairs", run: (t) => throughput(t, "p2p 4 pairs, window 1000", 4, 1, 1000) },
  { key: "fanout", run: (t) => throughput(t, "fanout 1 -> 10, window 1000", 1, 10, 1000) },
  { key: "latency", run: (t) => latency(t, 1000) },
  { key: "latency", run: (t) => latency(t, 10000) },
];

const results: Result[] = [];
console.log(
  `slim-ts node vs real SLIM node (strict, npm bindings), payload ${PAYLOAD} B, ` +
    `${IDENTITY} identity tokens, ` +
    `${DURATION_MS / 1000} s per point after ${WARMUP_MS / 1000} s warm-up`,
);
// Interrupted, stop the node under test rather than leave it running.
let current: Target | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
for (const s of scenarios) {
  if (ONLY && !ONLY.has(s.key)) continue;
  // A fresh node per point; alternate which goes first.
  const order = results.length % 2 === 0 ? [startOurs, startReal] : [startReal, startOurs];
  for (const start of order.filter((f) => !(flags["skip-real"] && f === startReal))) {
    const target = current = await start();
    try {
      const r = await s.run(target);
      results.push(r);
      console.log(
        `  ${r.scenario.padEnd(28)} ${r.target.padEnd(8)} ${
          Math.round(r.msgPerSec).toString().padStart(8)
        } msg/s` +
          (r.p50 !== undefined
            ? `  p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90!.toFixed(2)} ms  p99 ${
              r.p99!.toFixed(2)
            } ms`
            : "") +
          `  node CPU ${r.nodeCpuPct.toFixed(0)}%  ${r.nodeUsPerMsg.toFixed(1)} µs/msg`,
      );
    } finally {
      current = undefined;
      await target.stop();
    }
  }
}

console.log(
  "\nratio ours / real (msg/s; latency p50 and p99: real / ours, > 1 means ours is faster)",
);
for (const label of [...new Set(results.map((r) => r.scenario))]) {
  const ours = results.find((r) => r.scenario === label && r.target.startsWith("slim-ts"));
  const real = results.find((r) => r.scenario === label && r.target === "real");
  if (!ours || !real) continue;
  let line = `  ${label.padEnd(28)} throughput ${(ours.msgPerSec / real.msgPerSec).toFixed(2)}x`;
  if (ours.p50 !== undefined && real.p50 !== undefined) {
    line += `  p50 ${(real.p50 / ours.p50).toFixed(2)}x  p99 ${
      (real.p99! / ours.p99!).toFixed(2)
    }x`;
  }
  line += `  node CPU/msg ${(real.nodeUsPerMsg / ours.nodeUsPerMsg).toFixed(2)}x`;
  console.log(line);
}
if (flags.json) {
  await Deno.writeTextFile(
    String(flags.json),
    results.map((r) => JSON.stringify({ ...r, at: new Date().toISOString() })).join("\n") + "\n",
  );
}
process.exit(0);

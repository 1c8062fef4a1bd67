/**
 * `deno run -A scripts/bench_client.ts`: reliable point-to-point throughput and round-trip latency
 * of a slim-ts app pair next to a pair of real SLIM apps (npm bindings), through the same node,
 * in the same run. Each app runs in its own process (Deno for ours, Node for the real ones).
 *
 * Throughput: the sender keeps up to `--window` reliable publishes (100 B) in flight and stops
 * after `--count`; msg/s counts acknowledged messages. Latency: one message at a time, the
 * receiver replies with publish-to, round trip measured at the sender.
 *
 * Usage: deno run -A scripts/bench_client.ts [--count 20000] [--window 256] [--rtt 1000]
 *        [--node ours|real]
 * @module
 */
import { fileURLToPath } from "node:url";
import process from "node:process";
import { parseFlags } from "../lib/cli/args.ts";
import { SlimNode } from "../lib/node/node.ts";
import { createLogger } from "../lib/log.ts";
import { ensurePeerInstalled, startRealNode } from "../tests/peer/real_peer.ts";

const { flags } = parseFlags(Deno.args, {
  count: { kind: "string" },
  window: { kind: "string" },
  rtt: { kind: "string" },
  node: { kind: "string" },
});
const COUNT = Number(flags.count ?? 20000);
const WINDOW = Number(flags.window ?? 256);
const RTT = Number(flags.rtt ?? 1000);
const SECRET = "bench-shared-secret-0123456789-abcdefghijklmnopqrstuv";
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

ensurePeerInstalled();
let url: string, stopNode: () => Promise<void>;
if (flags.node === "ours") {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: createLogger("node", { level: "warn" }),
  });
  url = `http://127.0.0.1:${node.addresses[0].port}`;
  stopNode = () => node.stop();
} else {
  const node = await startRealNode({ strict: true });
  url = node.url;
  stopNode = () => node.stop();
}

type Impl = "slim-ts" | "real";

function spawn(impl: Impl, args: string[]) {
  const cmd = impl === "slim-ts"
    ? new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", here("./bench/ts_app_worker.ts"), ...args],
      stdout: "piped",
      stderr: "null",
    })
    : new Deno.Command("node", {
      args: [here("../tests/peer/bench_worker.mjs"), ...args],
      cwd: here("../tests/peer/"),
      stdout: "piped",
      stderr: "null",
    });
  const child = cmd.spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const next = async (): Promise<Record<string, unknown>> => {
    while (true) {
      const i = buf.indexOf("\n");
      if (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          return JSON.parse(line);
        } catch {
          continue;
        }
      }
      const r = await lines.read();
      if (r.done) throw new Error(`${impl} worker ended early`);
      buf += r.value;
    }
  };
  return { child, next };
}

async function pair(impl: Impl, mode: "throughput" | "rtt") {
  const tag = crypto.randomUUID().slice(0, 8);
  const rx = `bench/ns/rx${tag}`, tx = `bench/ns/tx${tag}`;
  const count = mode === "throughput" ? COUNT : RTT;
  const receiver = spawn(impl, [
    mode === "throughput" ? "receiver" : "echo",
    url,
    rx,
    "",
    String(count),
    "1",
    SECRET,
  ]);
  await receiver.next();
  const sender = spawn(impl, [
    mode === "throughput" ? "sender" : "pinger",
    url,
    tx,
    rx,
    String(count),
    String(WINDOW),
    SECRET,
  ]);
  const result = await sender.next();
  const received: Record<string, unknown> = await receiver.next().catch(() => ({}));
  await Promise.allSettled([sender.child.status, receiver.child.status]);
  return { result, received };
}

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

console.log(
  `reliable p2p, 100 B payloads, through the ${flags.node === "ours" ? "slim-ts" : "real"} node; ` +
    `${COUNT} messages, window ${WINDOW}; ${RTT} round trips`,
);
const rates: Record<string, number> = {};
const p50s: Record<string, number> = {};
for (const impl of ["slim-ts", "real"] as Impl[]) {
  const t = await pair(impl, "throughput");
  const rate = COUNT / (Number(t.result.ms) / 1000);
  rates[impl] = rate;
  console.log(
    `  ${impl.padEnd(8)} throughput ${Math.round(rate).toString().padStart(7)} msg/s ` +
      `(receiver got ${t.received.received ?? "?"})`,
  );
  const r = await pair(impl, "rtt");
  const rtts = r.result.rtts as number[];
  p50s[impl] = pct(rtts, 0.5);
  console.log(
    `  ${impl.padEnd(8)} round trip p50 ${pct(rtts, 0.5).toFixed(2)} ms  p99 ${
      pct(rtts, 0.99).toFixed(2)
    } ms`,
  );
}
console.log(
  `ratio ours/real: throughput ${(rates["slim-ts"] / rates.real).toFixed(2)}x, ` +
    `round-trip p50 ${(p50s.real / p50s["slim-ts"]).toFixed(2)}x faster`,
);
await stopNode();
process.exit(0);

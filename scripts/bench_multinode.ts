/**
 * Cross-node point-to-point load: a publisher on west, its subscriber on east, west peering with
 * east (`connection_type: peer`), against the same load through one node. Each node is its own
 * `deno run main.ts --config` process (or, with `--real-east`, east is the real SLIM node); the
 * load generator (this process) dials them as apps do, MAC'd links, 100-byte payloads, a fresh
 * identity token per message as shared-secret apps send.
 *
 * Prints msg/s with at most 1000 messages in flight, and latency percentiles at 1k msg/s.
 *
 * Usage: deno run -A scripts/bench_multinode.ts [--duration SECONDS] [--real-east]
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseFlags } from "../lib/cli/args.ts";
import { Name } from "../lib/names/name.ts";
import { freePort, startRealNode } from "../tests/peer/real_peer.ts";
import { LoadClient } from "./bench/load_client.ts";

const { flags } = parseFlags(Deno.args, {
  duration: { kind: "string" },
  "real-east": { kind: "boolean" },
});
const DURATION_MS = Number(flags.duration ?? 5) * 1000;
const WARMUP_MS = 1000;
const PAYLOAD = 100;
const SOURCE = Name.parse("bench/ns/src").withId(1n);
/** Identity tokens a sender rotates through, so that consecutive headers differ. */
const VARIANTS = 16;

interface Node {
  url: string;
  stop(): Promise<void>;
}

/** Our node in its own process; `clients` is YAML under `dataplane`. */
async function ours(nodeId: string, clients = ""): Promise<Node> {
  const port = freePort();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/node.yaml`,
    `tracing: {log_level: warn}
services:
  slim/0:
    node_id: ${nodeId}
    dataplane:
      servers:
        - endpoint: "127.0.0.1:${port}"
          tls: {insecure: true}
${clients}`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL("../main.ts", import.meta.url)),
      "--config",
      `${dir}/node.yaml`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await (await LoadClient.connect(url)).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function throughput(pubUrl: string, subUrl: string, dest: Name): Promise<number> {
  const sub = await LoadClient.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await LoadClient.connect(pubUrl);
  const template = pub.template(SOURCE, dest, 1, PAYLOAD, VARIANTS);
  let sent = 0, running = true;
  const step = () => {
    if (!running) return;
    const room = Math.min(1000 - (sent - sub.received), 512);
    if (room > 0) {
      pub.send(template, sent, room);
      sent += room;
    }
    if (pub.link.transport.congested) pub.link.transport.drained().then(step);
    else if (sent - sub.received < 1000) setTimeout(step, 0);
  };
  sub.onBatch = step;
  step();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const r0 = sub.received, t0 = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const rate = (sub.received - r0) / ((performance.now() - t0) / 1000);
  running = false;
  // Publisher first, and a moment for what the nodes still hold to arrive, so that nothing is
  // addressed to a subscriber that is gone.
  await pub.close();
  await new Promise((r) => setTimeout(r, 200));
  await sub.close();
  return rate;
}

async function latency(pubUrl: string, subUrl: string, dest: Name, rate: number) {
  const sub = await LoadClient.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await LoadClient.connect(pubUrl);
  const template = pub.template(SOURCE, dest, 1, PAYLOAD, VARIANTS);
  let seq = 0;
  const start = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - start) / 1000 * rate);
    for (; seq < due; seq++) pub.send(template, seq, 1);
  }, 1);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  sub.latencies = [];
  await new Promise((r) => setTimeout(r, DURATION_MS));
  clearInterval(timer);
  const lat = sub.latencies.sort((a, b) => a - b);
  // Publisher first, so nothing is still addressed to a subscriber that is gone.
  await pub.close();
  await sub.close();
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))].toFixed(2);
  return `p50 ${p(0.5)} ms  p90 ${p(0.9)} ms  p99 ${p(0.99)} ms`;
}

async function waitForRoute(pubUrl: string, subUrl: string, dest: Name): Promise<void> {
  // The subscriber's ack already waits for the peer's, so one probe is enough to check wiring.
  const sub = await LoadClient.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await LoadClient.connect(pubUrl);
  pub.send(pub.template(SOURCE, dest, 1, PAYLOAD, VARIANTS), 0, 1);
  for (let i = 0; i < 100 && sub.received === 0; i++) await new Promise((r) => setTimeout(r, 20));
  // Publisher first, so nothing is still addressed to a subscriber that is gone.
  await pub.close();
  await sub.close();
  if (sub.received === 0) throw new Error("no route across the nodes");
}

const single = await ours("bench-single");
const realEast = flags["real-east"] ? await startRealNode({ strict: true }) : undefined;
const east = realEast ?? await ours("bench-east");
const west = await ours(
  "bench-west",
  `      clients:\n        - endpoint: "${east.url}"\n          connection_type: peer\n          tls: {insecure: true}\n`,
);
try {
  await waitForRoute(west.url, east.url, Name.parse("bench/ns/probe").withId(9n));
  const eastName = realEast ? "real east" : "east";
  console.log(`p2p, payload ${PAYLOAD} B, ${DURATION_MS / 1000} s per point`);
  for (
    const [label, pubUrl, subUrl] of [
      ["one slim-ts node", single.url, single.url],
      [`slim-ts west -> ${eastName} (peer link)`, west.url, east.url],
    ] as const
  ) {
    const dest = Name.parse(`bench/ns/${label.length}`).withId(7n);
    const mps = await throughput(pubUrl, subUrl, dest);
    const lat = await latency(
      pubUrl,
      subUrl,
      Name.parse("bench/ns/lat").withId(BigInt(label.length)),
      1000,
    );
    console.log(
      `  ${label.padEnd(40)} ${
        Math.round(mps).toString().padStart(8)
      } msg/s (window 1000)  ${lat} at 1k msg/s`,
    );
  }
} finally {
  await Promise.all([single.stop(), west.stop(), east.stop()]);
}

/**
 * Cross-node point-to-point load: a publisher on west, its subscriber on east, west peering with
 * east (`connection_type: peer`), against the same load through one node. Each node is its own
 * `deno run main.ts --config` process (or, with `--real-east`, east is the real SLIM node); the
 * load generator (this process) dials them as apps do, MAC'd links, 100-byte payloads.
 *
 * Prints msg/s with at most 1000 messages in flight, and latency percentiles at 1k msg/s.
 *
 * Usage: deno run -A scripts/bench_multinode.ts [--duration SECONDS] [--real-east]
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseFlags } from "../lib/cli/args.ts";
import { dialLink } from "../lib/link/dial.ts";
import type { Link } from "../lib/link/link.ts";
import { Name } from "../lib/names/name.ts";
import type { DialedChannel } from "../lib/transport/grpc_client.ts";
import {
  decodeMessage,
  encodeMessage,
  makeMessage,
  nameToProto,
  SessionMessageType,
  SessionType,
} from "../lib/wire/codec.ts";
import { freePort, startRealNode } from "../tests/peer/real_peer.ts";

const { flags } = parseFlags(Deno.args, {
  duration: { kind: "string" },
  "real-east": { kind: "boolean" },
});
const DURATION_MS = Number(flags.duration ?? 5) * 1000;
const WARMUP_MS = 1000;
const PAYLOAD = 100;

/** An app-like raw connection. */
class Client {
  received = 0;
  latencies: number[] | undefined;
  onBatch: (() => void) | undefined;
  readonly #acks = new Map<bigint, () => void>();

  private constructor(readonly link: Link, readonly channel: DialedChannel) {
    this.#pump();
  }

  static async connect(url: string): Promise<Client> {
    const { link, channel } = await dialLink({
      endpoint: url,
      linkId: crypto.randomUUID(),
      nodeId: "bench",
    });
    return new Client(link, channel);
  }

  async #pump(): Promise<void> {
    try {
      for await (const batch of this.link.batches()) {
        for (const m of batch) {
          if (m.length < 64) {
            const ack = decodeMessage(m);
            if (ack.messageType.case === "subscriptionAck") {
              this.#acks.get(ack.messageType.value.subscriptionId)?.();
            }
            continue;
          }
          this.received++;
          if (this.latencies) {
            const dv = new DataView(m.buffer, m.byteOffset + m.length - 8, 8);
            this.latencies.push(performance.now() - dv.getFloat64(0, true));
          }
        }
        this.onBatch?.();
      }
    } catch {
      // Torn down at the end.
    }
  }

  async subscribe(name: Name): Promise<void> {
    const id = BigInt(Math.floor(Math.random() * 2 ** 48)) + 1n;
    const acked = new Promise<void>((r) => this.#acks.set(id, r));
    const wire = nameToProto(name);
    this.link.send(encodeMessage(makeMessage({
      messageType: {
        case: "subscribe",
        value: {
          header: { source: wire, destination: wire, identity: "bench", fanout: 1, ttl: 8 },
          subscriptionId: id,
        },
      },
    })));
    await acked;
  }

  /** A signed publish whose payload tail (sequence, timestamp) is patched per send. */
  template(destination: Name): Uint8Array {
    const message = encodeMessage(makeMessage({
      messageType: {
        case: "publish",
        value: {
          header: {
            source: nameToProto(Name.parse("bench/ns/src").withId(1n)),
            destination: nameToProto(destination),
            identity: "bench",
            fanout: 1,
            ttl: 8,
          },
          session: {
            sessionType: SessionType.POINT_TO_POINT,
            sessionMessageType: SessionMessageType.MSG,
            sessionId: 1,
            messageId: 1,
          },
          msg: {
            contentType: {
              case: "appPayload",
              value: { payloadType: "bench", blob: new Uint8Array(PAYLOAD).fill(0x61) },
            },
          },
        },
      },
    }));
    let signed: Uint8Array | undefined;
    const t = this.link.transport;
    const reserve = t.reserve.bind(t);
    t.reserve = (len: number) => signed = new Uint8Array(len);
    this.link.send(message);
    t.reserve = reserve;
    return signed!;
  }

  send(template: Uint8Array, seq: number, count: number): void {
    const t = this.link.transport;
    for (let i = 0; i < count; i++) {
      const buf = t.reserve(template.length);
      buf.set(template);
      const dv = new DataView(buf.buffer, buf.byteOffset + template.length - 16, 16);
      dv.setUint32(0, seq + i, true);
      dv.setFloat64(8, performance.now(), true);
    }
  }

  async close(): Promise<void> {
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.channel.close(), new Promise((r) => t = setTimeout(r, 500))]);
    clearTimeout(t);
    this.channel.destroy();
  }
}

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
      await (await Client.connect(url)).close();
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
  const sub = await Client.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await Client.connect(pubUrl);
  const template = pub.template(dest);
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
  await Promise.all([pub.close(), sub.close()]);
  return rate;
}

async function latency(pubUrl: string, subUrl: string, dest: Name, rate: number) {
  const sub = await Client.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await Client.connect(pubUrl);
  const template = pub.template(dest);
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
  await Promise.all([pub.close(), sub.close()]);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))].toFixed(2);
  return `p50 ${p(0.5)} ms  p90 ${p(0.9)} ms  p99 ${p(0.99)} ms`;
}

async function waitForRoute(pubUrl: string, subUrl: string, dest: Name): Promise<void> {
  // The subscriber's ack already waits for the peer's, so one probe is enough to check wiring.
  const sub = await Client.connect(subUrl);
  await sub.subscribe(dest);
  const pub = await Client.connect(pubUrl);
  pub.send(pub.template(dest), 0, 1);
  for (let i = 0; i < 100 && sub.received === 0; i++) await new Promise((r) => setTimeout(r, 20));
  await Promise.all([pub.close(), sub.close()]);
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

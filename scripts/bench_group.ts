/**
 * `deno run -A scripts/bench_group.ts`: MLS group sessions of slim-ts apps next to the same work
 * done by real SLIM apps (npm `@agntcy/slim-bindings`), through the same node, in one run.
 *
 * Usage: deno run -A scripts/bench_group.ts [--sizes 2,8,32] [--messages 200] [--window 32]
 *        [--latency 100] [--node ours|real] [--only slim-ts|real] [--ts-member-processes 1]
 *
 * Every group is MLS-encrypted (ciphersuite 2, header integrity checked on every message),
 * reliable (10 retries, 1000 ms interval), and every payload is 100 bytes. The node is a slim-ts
 * node started in this process (`--node ours`, the default) or a real node in a Node process
 * (`--node real`, requiring header MACs as the `slim` binary does).
 *
 * Processes. Real apps are heavy (a native runtime each, ~80 MB resident), so each real app —
 * the moderator and every member — is its own Node process (`tests/peer/bench_group_worker.mjs`),
 * all started in parallel: 33 of them for N = 32, about 2.6 GB. slim-ts apps are cheap: the
 * moderator is one Deno process and all members share ONE other Deno process
 * (`scripts/bench/ts_group_worker.ts`, where they also share one signature verifier, as apps
 * hosted together would: `AppOptions.signatures`), so our members' MLS work (every member
 * decrypts every message and processes every commit) is serialised on one thread where the real
 * members' is spread over both cores. `--ts-member-processes K` spreads our members over K processes
 * instead (for comparison only: each extra isolate JITs the MLS code again, which costs more than
 * it gains on 2 cores). `--only` runs one side. Workers take commands as JSON lines on stdin and
 * answer one JSON object per phase on stdout; this script kills them all when it ends, whichever
 * way it ends, and they kill themselves if it disappears.
 *
 * Method, per side (slim-ts first, then real; the other side's processes are gone by then):
 * 1. Invite time: for each size N, a fresh group (new session, new channel) with the first N
 *    member apps, invited one after the other, each `invite` awaited until acknowledged. Reported:
 *    total, mean per invite, and the last invite (the costliest: every member processes its
 *    commit). The member apps are reused across groups; each group is closed before the next.
 *    A one-member group is created and closed first as a warm-up and not reported.
 * 2. Throughput, group of 8 (moderator + 7 members): the moderator publishes `--messages`
 *    reliable messages with at most `--window` unacknowledged; msg/s = messages ÷ time until the
 *    last was acknowledged by all 7. Each member checks it got every message once, in order.
 * 3. Latency, same group: `--latency` messages, one at a time (each publish awaited until
 *    acknowledged by all). The payload carries the wall-clock send time
 *    (`performance.timeOrigin + performance.now()`, sub-ms, in Deno and in Node); each member
 *    records arrival − send; p50/p99 are over all members' samples. Samples over 20 ms are
 *    counted per probe and per member: a probe late at every member is a stall on the
 *    moderator's side of the path (its send, or the node), a single late member is that member.
 * 4. A table of ours/real ratios. Each phase also reports the CPU time (user + system, from
 *    `/proc`, 10 ms resolution) of the moderator, of all members and of the node (our node: this
 *    whole process, otherwise idle), and with our node the number of messages it received, which
 *    shows both sides put the same traffic on the wire (N data + 7 N acks in the group of 8).
 *
 * Caveats: one 2-core machine runs the node, the moderator and the members, so every figure
 * includes CPU contention (worse for the real side's 33 processes at N = 32, and for our single
 * members process, which does all members' MLS work); anything else running on the machine shows
 * up too. Latency across processes relies on both runtimes' `timeOrigin` reading the same system
 * clock; a clock step during the run would skew it. The real moderator must `setRoute` each
 * invitee first: done before the invite clock starts. Through the real node (`--node real`),
 * which leaves Nagle on, one-at-a-time publishes wait ~45 ms for their acknowledgements.
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseFlags } from "../lib/cli/args.ts";
import { createLogger } from "../lib/log.ts";
import { routerOf, SlimNode } from "../lib/node/node.ts";
import { ensurePeerInstalled, startRealNode } from "../tests/peer/real_peer.ts";

const { flags } = parseFlags(Deno.args, {
  sizes: { kind: "string" },
  messages: { kind: "string" },
  window: { kind: "string" },
  latency: { kind: "string" },
  node: { kind: "string" },
  only: { kind: "string" },
  "ts-member-processes": { kind: "string" },
});
const SIZES = String(flags.sizes ?? "2,8,32").split(",").map(Number);
const MESSAGES = Number(flags.messages ?? 200);
const WINDOW = Number(flags.window ?? 32);
const LATENCY = Number(flags.latency ?? 100);
const NODE = String(flags.node ?? "ours");
/** slim-ts member apps are spread round-robin over this many processes (the brief's layout: 1). */
const TS_MEMBER_PROCS = Number(flags["ts-member-processes"] ?? 1);
const GROUP = 8; // moderator + 7 members for phases 2 and 3
const SLOW_MS = 20; // latency samples above this are counted as the tail
const SECRET = "bench-shared-secret-0123456789-abcdefghijklmnopqrstuv";
const CLOCK_TICKS = 100; // USER_HZ: the unit of /proc/<pid>/stat times on Linux
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
if (
  SIZES.some((n) => !(n >= 1)) || !(MESSAGES >= 1) || !(WINDOW >= 1) || !(LATENCY >= 1) ||
  !(TS_MEMBER_PROCS >= 1) || !["ours", "real"].includes(NODE) ||
  (flags.only !== undefined && !["slim-ts", "real"].includes(String(flags.only)))
) {
  console.error(
    "usage: bench_group.ts [--sizes 2,8,32] [--messages 200] [--window 32] " +
      "[--latency 100] [--node ours|real] [--only slim-ts|real] [--ts-member-processes 1]",
  );
  Deno.exit(2);
}

type Impl = "slim-ts" | "real";
type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Worker processes

const running = new Set<Worker>();
let interrupted = false;

/** One worker process, driven by JSON lines; never outlives this script. */
class Worker {
  readonly label: string;
  readonly ready: Promise<Json>;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly #tail: string[] = [];
  readonly #ended: Promise<void>;
  #onReady!: { resolve: (v: Json) => void; reject: (e: Error) => void };
  #nextId = 1;
  #exited: Error | undefined;

  constructor(label: string, command: Deno.Command) {
    this.label = label;
    this.ready = new Promise((resolve, reject) => this.#onReady = { resolve, reject });
    this.ready.catch(() => {});
    this.#child = command.spawn();
    running.add(this);
    this.#writer = this.#child.stdin.getWriter();
    this.#ended = Promise.all([
      readLines(this.#child.stdout, (l) => this.#onLine(l)),
      readLines(this.#child.stderr, (l) => this.#keep(l)),
    ]).then(async () => {
      const status = await this.#child.status;
      running.delete(this);
      const err = this.#exited = new Error(
        `${this.label} exited (code ${status.code}${status.signal ? `, ${status.signal}` : ""})` +
          (this.#tail.length ? `; last output:\n    ${this.#tail.slice(-8).join("\n    ")}` : ""),
      );
      this.#onReady.reject(err);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  #keep(line: string): void {
    this.#tail.push(line.slice(0, 300));
    if (this.#tail.length > 40) this.#tail.shift();
  }

  #onLine(line: string): void {
    let msg: Json;
    try {
      msg = JSON.parse(line);
      if (typeof msg !== "object" || msg === null) throw new Error();
    } catch {
      this.#keep(line); // the native core's log lines share stdout
      return;
    }
    if (msg.event === "ready") this.#onReady.resolve(msg);
    const p = typeof msg.id === "number" ? this.#pending.get(msg.id) : undefined;
    if (!p) return;
    this.#pending.delete(msg.id as number);
    if (msg.ok) p.resolve(msg.result as Json);
    else p.reject(new Error(`${this.label}: ${msg.error}`));
  }

  /** Sends one command; resolves with its result object. */
  request(cmd: string, params: Json, timeoutMs: number): Promise<Json> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<Json>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label}: ${cmd} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const line = new TextEncoder().encode(JSON.stringify({ ...params, id, cmd }) + "\n");
    this.#writer.write(line)
      .catch((e) => this.#pending.get(id)?.reject(new Error(`${this.label}: ${e}`)));
    return answer.finally(() => clearTimeout(timer));
  }

  /** Asks the worker to quit, then kills it if it has not exited within 3 s. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      await this.request("quit", {}, 1000).catch(() => {});
      const t = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 3000);
      await this.#ended;
      clearTimeout(t);
    }
    await this.#writer.close().catch(() => {});
  }

  /** Resident memory in MB (Linux), or 0 when unknown. */
  rssMb(): number {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${this.pid}/status`));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

function spawnWorker(impl: Impl, role: "moderator" | "member", names: string[], url: string) {
  const label = `${impl} ${role}${role === "member" ? ` ${names.join(",")}` : ""}`;
  const stdio = { stdin: "piped", stdout: "piped", stderr: "piped" } as const;
  return new Worker(
    label.length > 60 ? `${label.slice(0, 57)}...` : label,
    impl === "slim-ts"
      ? new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", here("./bench/ts_group_worker.ts"), role, url, names.join(","), SECRET],
        ...stdio,
      })
      : new Deno.Command("node", {
        args: [here("../tests/peer/bench_group_worker.mjs"), role, url, names[0], SECRET],
        cwd: here("../tests/peer/"),
        env: { RUST_LOG: "warn" },
        ...stdio,
      }),
  );
}

async function stopAll(): Promise<void> {
  await Promise.allSettled([...running].map((w) => w.stop()));
}

// ---------------------------------------------------------------------------------------------
// One side

interface Invite {
  n: number;
  totalMs: number;
  meanMs: number;
  lastMs: number;
}

interface SideResult {
  impl: Impl;
  processes: number;
  startMs?: number;
  rssMb?: number;
  invites: Invite[];
  msgPerSec?: number;
  delivery?: string;
  p50?: number;
  p99?: number;
  throughputCpu?: Cpu;
  errors: string[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

/** CPU time (user + system, all threads) of a process in ms, from /proc; 0 when unknown. */
function cpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 1000 / CLOCK_TICKS; // utime + stime
  } catch {
    return 0;
  }
}

interface Cpu {
  moderator: number;
  members: number;
  node: number;
  /** Messages the node received (our node only). */
  messages?: number;
}

async function runSide(impl: Impl, url: string): Promise<SideResult> {
  const tag = `${impl === "slim-ts" ? "ts" : "real"}${crypto.randomUUID().slice(0, 6)}`;
  const memberCount = Math.max(...SIZES, GROUP - 1);
  const members = Array.from({ length: memberCount }, (_, i) => `bench/${tag}/m${i}`);
  const say = (s: string) => console.log(`[${impl}] ${s}`);
  const res: SideResult = { impl, processes: 0, invites: [], errors: [] };
  const fail = (what: string, e: unknown) => {
    const text = `${what}: ${e instanceof Error ? e.message : e}`;
    res.errors.push(text);
    if (!interrupted) say(`FAILED ${text}`);
  };
  let groups = 0;
  try {
    // Start every process at once and wait for all of them.
    const t0 = performance.now();
    const moderator = spawnWorker(impl, "moderator", [`bench/${tag}/mod`], url);
    const procs = Math.min(TS_MEMBER_PROCS, memberCount);
    const memberWorkers: Worker[] = impl === "slim-ts"
      ? Array.from({ length: procs }, (_, k) => {
        const mine = members.filter((_, i) => i % procs === k);
        return spawnWorker(impl, "member", mine, url);
      })
      : members.map((m) => spawnWorker(impl, "member", [m], url));
    const all = [moderator, ...memberWorkers];
    res.processes = all.length;
    await withTimeout(Promise.all(all.map((w) => w.ready)), 90_000, "start-up");
    res.startMs = performance.now() - t0;
    say(
      `${all.length} processes (${
        impl === "slim-ts"
          ? `moderator in one Deno process, ${
            memberWorkers.length === 1
              ? `all ${memberCount} members in one other`
              : `${memberCount} members spread over ${memberWorkers.length} others`
          }`
          : `one Node process per app: moderator + ${memberCount} members`
      }) ready in ${res.startMs.toFixed(0)} ms`,
    );
    const membersOf = (names: string[]) =>
      impl === "slim-ts" ? memberWorkers : memberWorkers.slice(0, names.length);
    const cpuNow = (): Cpu => ({
      moderator: cpuMs(moderator.pid),
      members: memberWorkers.reduce((a, w) => a + cpuMs(w.pid), 0),
      node: nodeCpuMs(),
      messages: nodeReceived(),
    });
    const cpuSince = (c0: Cpu): Cpu => {
      const c = cpuNow();
      return {
        moderator: c.moderator - c0.moderator,
        members: c.members - c0.members,
        node: c.node - c0.node,
        messages: c.messages === undefined ? undefined : c.messages - c0.messages!,
      };
    };
    const cpuText = (c: Cpu) =>
      `CPU ms: moderator ${c.moderator.toFixed(0)}, members ${c.members.toFixed(0)}, ` +
      `node ${c.node.toFixed(0)}` +
      (c.messages === undefined ? "" : `; node received ${c.messages} messages`);

    /** Creates a group with `names`, runs `body`, closes the group (even on failure). */
    const withGroup = async (names: string[], body: (inv: Json, cpu: Cpu) => Promise<void>) => {
      const channel = `bench/${tag}/g${groups++}`;
      const timeoutMs = 30_000 + names.length * 5_000;
      try {
        const c0 = cpuNow();
        const inv = await moderator.request("group", { channel, members: names }, timeoutMs);
        await body(inv, cpuSince(c0));
      } finally {
        await moderator.request("close", {}, 35_000).catch((e) => fail("closing the group", e));
      }
    };

    // Warm-up: one invite, not reported.
    await withGroup(members.slice(0, 1), () => Promise.resolve()).catch((e) => {
      throw new Error(`warm-up group: ${e instanceof Error ? e.message : e}`);
    });

    // 1. Invite times.
    for (const n of SIZES) {
      try {
        await withGroup(members.slice(0, n), (r, cpu) => {
          const per = r.perInviteMs as number[];
          const inv = { n, totalMs: r.totalMs as number, meanMs: mean(per), lastMs: per.at(-1)! };
          res.invites.push(inv);
          say(
            `invite N=${String(n).padStart(2)}: total ${inv.totalMs.toFixed(1)} ms, ` +
              `mean ${inv.meanMs.toFixed(1)} ms/invite, first ${per[0].toFixed(1)} ms, ` +
              `last ${inv.lastMs.toFixed(1)} ms; ${cpuText(cpu)}`,
          );
          return Promise.resolve();
        });
      } catch (e) {
        fail(`invite N=${n}`, e);
      }
      if (n === Math.max(...SIZES)) {
        res.rssMb = all.reduce((a, w) => a + w.rssMb(), 0);
        say(
          `resident memory of the ${all.length} app processes after N=${n}: ` +
            `${res.rssMb.toFixed(0)} MB`,
        );
      }
    }

    // 2 and 3. Group of 8: throughput, then latency, in one group.
    const names = members.slice(0, GROUP - 1);
    try {
      await withGroup(names, async (inv) => {
        say(
          `group of ${GROUP}: ${names.length} invited in ${(inv.totalMs as number).toFixed(1)} ms`,
        );
        try {
          const c0 = cpuNow();
          const t = await moderator.request(
            "throughput",
            { messages: MESSAGES, window: WINDOW },
            120_000,
          );
          res.throughputCpu = cpuSince(c0);
          res.msgPerSec = MESSAGES / ((t.ms as number) / 1000);
          say(
            `throughput: ${MESSAGES} messages acknowledged by all ${names.length} members in ` +
              `${(t.ms as number).toFixed(1)} ms = ${res.msgPerSec.toFixed(0)} msg/s; ` +
              cpuText(res.throughputCpu),
          );
        } catch (e) {
          fail("throughput", e);
        }
        try {
          const c0 = cpuNow();
          const l = await moderator.request("latency", { count: LATENCY }, 120_000);
          say(
            `latency: ${LATENCY} one-at-a-time publishes took ${(l.ms as number).toFixed(0)} ms ` +
              `(${((l.ms as number) / LATENCY).toFixed(2)} ms per acknowledged publish); ` +
              cpuText(cpuSince(c0)),
          );
        } catch (e) {
          fail("latency", e);
        }
        // Members' view: counts, order, latencies.
        const reports = await Promise.allSettled(
          membersOf(names).map((w) =>
            w.request(
              "report",
              { names, expectT: MESSAGES, expectL: LATENCY, timeoutMs: 10_000 },
              20_000,
            )
          ),
        );
        const apps: Json[] = [];
        for (const r of reports) {
          if (r.status === "rejected") fail("member report", r.reason);
          else {apps.push(...(r.value.apps as Json[]).filter((a) =>
              names.includes(a.name as string)
            ));}
        }
        const counts = apps.map((a) => a.t as number);
        const ordered = apps.every((a) => a.outOfOrder === 0 && a.dup === 0);
        const complete = apps.length === names.length && counts.every((c) => c === MESSAGES);
        res.delivery = `${apps.length} members received [${counts.join(", ")}] of ${MESSAGES}` +
          `, ${ordered ? "all in order, no duplicate" : "OUT OF ORDER or duplicated"}`;
        say(`delivery: ${res.delivery}`);
        if (!complete || !ordered) {
          fail("delivery check", JSON.stringify(apps.map(({ lat: _, ...a }) => a)));
        }
        const lat = apps.flatMap((a) => a.lat as number[]);
        if (lat.length) {
          res.p50 = pct(lat, 0.5);
          res.p99 = pct(lat, 0.99);
          say(
            `end-to-end latency over ${lat.length} samples (${apps.length} members): ` +
              `p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms, ` +
              `max ${Math.max(...lat).toFixed(2)} ms`,
          );
          // Where the tail comes from: a slow probe for every member points at the moderator's
          // side of the path, a slow member at that member's.
          const slowProbes = new Set<number>(), slowMembers = new Set<string>();
          let slow = 0;
          for (const a of apps) {
            (a.lat as number[]).forEach((ms, probe) => {
              if (ms <= SLOW_MS) return;
              slow++;
              slowProbes.add(probe);
              slowMembers.add(a.name as string);
            });
          }
          say(
            `samples over ${SLOW_MS} ms: ${slow} of ${lat.length}, in ${slowProbes.size} ` +
              `of ${LATENCY} probes` +
              (slowProbes.size && slowProbes.size <= 5
                ? ` (#${[...slowProbes].join(", #")})`
                : "") +
              `, at ${slowMembers.size} of ${apps.length} members`,
          );
        }
      });
    } catch (e) {
      fail(`group of ${GROUP}`, e);
    }
  } catch (e) {
    fail("side aborted", e);
  } finally {
    await stopAll();
  }
  return res;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function table(results: SideResult[]): void {
  const ours = results.find((r) => r.impl === "slim-ts");
  const real = results.find((r) => r.impl === "real");
  const rows: [string, (r: SideResult) => number | undefined, number][] = [];
  for (const n of SIZES) {
    const inv = (r: SideResult) => r.invites.find((i) => i.n === n);
    rows.push([`invite N=${n}: total ms`, (r) => inv(r)?.totalMs, 1]);
    rows.push([`invite N=${n}: mean ms/invite`, (r) => inv(r)?.meanMs, 1]);
    rows.push([`invite N=${n}: last invite ms`, (r) => inv(r)?.lastMs, 1]);
  }
  rows.push([`group of ${GROUP}: msg/s`, (r) => r.msgPerSec, 0]);
  rows.push([`group of ${GROUP}: latency p50 ms`, (r) => r.p50, 2]);
  rows.push([`group of ${GROUP}: latency p99 ms`, (r) => r.p99, 2]);
  rows.push([`group of ${GROUP}: thr. CPU ms moderator`, (r) => r.throughputCpu?.moderator, 0]);
  rows.push([`group of ${GROUP}: thr. CPU ms members`, (r) => r.throughputCpu?.members, 0]);
  rows.push([`group of ${GROUP}: thr. CPU ms node`, (r) => r.throughputCpu?.node, 0]);
  rows.push([`group of ${GROUP}: thr. node received`, (r) => r.throughputCpu?.messages, 0]);
  rows.push(["start-up of all apps, ms", (r) => r.startMs, 0]);
  rows.push([`resident memory at N=${Math.max(...SIZES)}, MB`, (r) => r.rssMb, 0]);
  const cell = (v: number | undefined, d: number) => (v === undefined ? "—" : v.toFixed(d));
  const line = (a: string, b: string, c: string, d: string) =>
    console.log(`${a.padEnd(34)}${b.padStart(10)}${c.padStart(10)}${d.padStart(11)}`);
  console.log();
  line("figure", "slim-ts", "real", "ours/real");
  for (const [label, get, d] of rows) {
    const a = ours && get(ours), b = real && get(real);
    const ratio = a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}x` : "—";
    line(label, cell(a, d), cell(b, d), ratio);
  }
  console.log("(times: below 1x means slim-ts is faster; msg/s: above 1x means slim-ts is faster)");
}

ensurePeerInstalled();
let stopNode: () => Promise<void> = () => Promise.resolve();
/** CPU ms of the node (for ours: this whole process, which otherwise only waits). */
let nodeCpuMs = () => 0;
/** Messages the node received from all links so far (only known for our node). */
let nodeReceived = (): number | undefined => undefined;
const onSignal = () => {
  if (interrupted) return;
  interrupted = true;
  console.log("\ninterrupted: stopping every worker process and the node");
  stopAll().finally(() => stopNode()).finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);
const results: SideResult[] = [];
try {
  let url: string;
  if (NODE === "ours") {
    const node = await SlimNode.start({
      servers: [{ endpoint: "127.0.0.1:0" }],
      logger: createLogger("node", { level: "error" }),
    });
    url = `http://127.0.0.1:${node.addresses[0].port}`;
    stopNode = () => node.stop();
    nodeCpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    nodeReceived = () =>
      routerOf(node).links().reduce((a, l) => a + (routerOf(node).stats(l)?.received ?? 0), 0);
  } else {
    const node = await startRealNode({ strict: true, rustLog: "warn" });
    url = node.url;
    stopNode = () => node.stop();
    nodeCpuMs = () => cpuMs(node.pid);
  }
  console.log(
    `MLS group sessions (ciphersuite 2), reliable (10 retries, 1000 ms), 100 B payloads, ` +
      `through the ${NODE === "ours" ? "slim-ts node (in this process)" : "real node"} at ${url}`,
  );
  console.log(
    `invite sizes ${SIZES.join(", ")}; group of ${GROUP}: ${MESSAGES} messages ` +
      `(window ${WINDOW}), ${LATENCY} latency probes`,
  );
  console.log(
    `processes: slim-ts = moderator in one Deno process + ${
      TS_MEMBER_PROCS === 1
        ? "ALL members in one other Deno process"
        : `members spread over ${TS_MEMBER_PROCS} other Deno processes`
    }; real = one Node process per app (moderator and each member)\n`,
  );
  const sides: Impl[] = flags.only ? [String(flags.only) as Impl] : ["slim-ts", "real"];
  for (const impl of sides) {
    if (interrupted) break;
    const t0 = performance.now();
    const r = await runSide(impl, url);
    results.push(r);
    console.log(
      `[${impl}] side done in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
        (r.errors.length ? ` with ${r.errors.length} error(s)` : "") + "\n",
    );
  }
  if (!interrupted) {
    table(results);
    for (const r of results) {
      for (const e of r.errors) console.log(`ERROR [${r.impl}] ${e}`);
    }
  }
} finally {
  await stopAll();
  await stopNode();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
}
Deno.exit(results.some((r) => r.errors.length) ? 1 : 0);

/**
 * Group benchmark worker for slim-ts apps; same protocol as tests/peer/bench_group_worker.mjs
 * (see there), driven by scripts/bench_group.ts.
 *
 * usage: deno run -A ts_group_worker.ts <moderator|member> <endpoint> <names> <secret>
 *
 * `moderator`: one app named `<names>`. `member`: one app per comma-separated name in `<names>`,
 * all in this process, sharing one signature verifier (`AppOptions.signatures`); `report`
 * answers with one entry per app.
 * @module
 */
import { App } from "../../lib/app/app.ts";
import { P256Verifier } from "../../lib/identity/p256_verifier.ts";
import { createLogger } from "../../lib/log.ts";
import type { Session } from "../../lib/session/session.ts";

const [role, endpoint, namesText, secret] = Deno.args;
const PAYLOAD_BYTES = 100;
const now = () => performance.timeOrigin + performance.now();
const out = (o: unknown) => console.log(JSON.stringify(o));
const encoder = new TextEncoder(), decoder = new TextDecoder();
const logger = createLogger("bench", { level: "error" });

function payload(kind: "T" | "L", seq: number): Uint8Array {
  return encoder.encode(`${kind}|${seq}|${now().toFixed(3)}|`.padEnd(PAYLOAD_BYTES, "."));
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// Never outlive the driver: leave when re-parented (the end of stdin is handled below).
const parent = Deno.ppid;
Deno.unrefTimer(setInterval(() => Deno.ppid !== parent && Deno.exit(3), 500));

const names = namesText.split(",");
// The apps of this process share one signature verifier, as a process hosting many apps would:
// each key gets one comb table, and a signature the first member checked is known to the others.
const signatures = new P256Verifier();
const apps = await Promise.all(
  names.map((name) =>
    App.connect({
      name,
      endpoint,
      identity: { sharedSecret: secret },
      logger: logger.child(name),
      signatures,
    })
  ),
);

type Request = Record<string, unknown> & { id: number; cmd: string };
type Handler = (req: Request) => Promise<unknown>;

// ---------------------------------------------------------------------------------------------
// Moderator

let group: Session | undefined;

function current(): Session {
  if (!group) throw new Error("no group is open");
  return group;
}

const moderator: Record<string, Handler> = {
  async group(req) {
    if (group) throw new Error("a group is already open");
    const members = req.members as string[];
    group = await apps[0].createSession({
      kind: "group",
      channel: req.channel as string,
      mls: { headerIntegrityValidationPercent: 100 },
      reliable: { maxRetries: 10, intervalMs: 1000 },
    });
    const perInviteMs: number[] = [];
    const t0 = now();
    for (const m of members) {
      const t = now();
      await group.invite(m);
      perInviteMs.push(now() - t);
    }
    return { n: members.length, perInviteMs, totalMs: now() - t0 };
  },
  async throughput(req) {
    const session = current();
    const messages = req.messages as number, window = req.window as number;
    const t0 = now();
    let inflight = 0;
    let wake: (() => void) | undefined;
    for (let i = 0; i < messages; i++) {
      while (inflight >= window) await new Promise<void>((r) => wake = r);
      inflight++;
      session.publish(payload("T", i)).finally(() => {
        inflight--;
        wake?.();
      });
    }
    while (inflight > 0) await new Promise<void>((r) => wake = r);
    return { sent: messages, ms: now() - t0 };
  },
  async latency(req) {
    const session = current();
    const count = req.count as number;
    const t0 = now();
    for (let i = 0; i < count; i++) await session.publish(payload("L", i));
    return { sent: count, ms: now() - t0 };
  },
  async close() {
    const session = current();
    group = undefined;
    const t0 = now();
    await session.close();
    return { ms: now() - t0 };
  },
};

// ---------------------------------------------------------------------------------------------
// Members: accept every session, drain every session, keep the statistics per app.

interface Stats {
  name: string;
  t: number;
  next: number;
  outOfOrder: number;
  dup: number;
  l: number;
  lat: number[];
}

const stats: Stats[] = names.map((name) => ({
  name,
  t: 0, // throughput messages received
  next: 0, // next expected throughput sequence number
  outOfOrder: 0,
  dup: 0,
  l: 0, // latency probes received
  lat: [], // their arrival − send times, ms
}));
const wakers = new Set<() => void>();

function onPayload(s: Stats, bytes: Uint8Array): void {
  const received = now();
  const [kind, seqText, sentText] = decoder.decode(bytes).split("|");
  const seq = Number(seqText);
  if (kind === "T") {
    if (seq < s.next) s.dup++;
    else {
      if (seq !== s.next) s.outOfOrder++;
      s.t++;
      s.next = seq + 1;
    }
  } else if (kind === "L") {
    s.l++;
    s.lat.push(received - Number(sentText));
  }
  for (const wake of wakers) wake();
}

async function drain(s: Stats, session: Session): Promise<void> {
  for await (const m of session.messages()) onPayload(s, m.payload);
}

if (role === "member") {
  apps.forEach(async (app, i) => {
    while (true) {
      let session: Session;
      try {
        session = await app.listen();
      } catch {
        return; // the app closed
      }
      drain(stats[i], session).catch(() => {});
    }
  });
}

const member: Record<string, Handler> = {
  async report(req) {
    const expectT = req.expectT as number, expectL = req.expectL as number;
    const deadline = Date.now() + ((req.timeoutMs as number | undefined) ?? 10_000);
    const wanted = req.names as string[] | undefined;
    const mine = stats.filter((s) => !wanted || wanted.includes(s.name));
    const done = () => mine.every((s) => s.t >= expectT && s.l >= expectL);
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          wakers.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
        wakers.add(wake);
      });
    }
    return {
      apps: mine.map(({ name, t, outOfOrder, dup, lat }) => ({ name, t, outOfOrder, dup, lat })),
    };
  },
};

// ---------------------------------------------------------------------------------------------

const commands = role === "moderator" ? moderator : member;
out({ event: "ready", role, name: namesText, pid: Deno.pid, version: "slim-ts" });
let buf = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    let req: Request;
    try {
      req = JSON.parse(line);
    } catch {
      continue;
    }
    if (req.cmd === "quit") {
      out({ id: req.id, ok: true, result: {} });
      Deno.exit(0);
    }
    const fn = Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : undefined;
    Promise.resolve()
      .then(() => {
        if (!fn) throw new Error(`unknown command ${req.cmd} for a ${role}`);
        return fn(req);
      })
      .then(
        (result) => out({ id: req.id, ok: true, result }),
        (e) => out({ id: req.id, ok: false, error: errText(e) }),
      );
  }
}
Deno.exit(0);

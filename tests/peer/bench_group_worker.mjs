// Group benchmark worker for the REAL SLIM app (npm @agntcy/slim-bindings), run by Node with
// cwd tests/peer. Driven by scripts/bench_group.ts; the slim-ts twin is
// scripts/bench/ts_group_worker.ts and speaks the same protocol.
//
// usage: node bench_group_worker.mjs <moderator|member> <endpoint> <name> <secret>
//
// One process is one real app. Requests arrive on stdin as JSON lines `{"id":N,"cmd":...}` and
// are answered on stdout with `{"id":N,"ok":true,"result":{...}}` (one result per phase) or
// `{"id":N,"ok":false,"error":"..."}`; `{"event":"ready",...}` is printed once connected. The
// native core may also print log lines on stdout (it logs to fd 1): the driver skips every line
// that is not a JSON object. The process exits on `quit`, and kills itself when stdin ends or
// its parent disappears, so it never outlives the driver.
//
// Moderator commands (one group at a time):
//   group {channel, members: [name...]} -> {n, perInviteMs: [...], totalMs}
//     creates an MLS (ciphersuite 2), reliable (10 retries, 1000 ms) group and invites the
//     members one after the other, each invite awaited until acknowledged.
//   throughput {messages, window} -> {sent, ms}   reliable publishes, at most `window` in flight
//   latency {count} -> {sent, ms}                 one publish at a time, send time in payload
//   close -> {ms}                                 deletes the group
// Member commands:
//   report {expectT, expectL, timeoutMs, names?} -> {apps: [{name, t, outOfOrder, dup, lat}]}
//     waits until `expectT` throughput and `expectL` latency messages arrived (or the timeout);
//     t = throughput messages received, lat = arrival − send time (ms) of each latency message.
//     `names` selects apps in a process holding several (the slim-ts twin); ignored here.
// Payload (100 bytes, ASCII): `<T|L>|<seq>|<send time, ms since epoch, 3 decimals>|` + padding.
// Loaded dynamically: a static import of a package only tests/peer/node_modules holds fails
// `deno check` of the repository.
const slim = (await import("@agntcy/slim-bindings")).default;
import readline from "node:readline";

const [role, endpoint, nameText, secret] = process.argv.slice(2);
const PAYLOAD_BYTES = 100;
const now = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const toName = (s) => {
  const [a, b, c] = s.split("/");
  return new slim.Name(a, b, c);
};
const errText = (e) => {
  if (e == null) return "unknown error";
  if (typeof e === "string") return e;
  return e.inner?.message ?? e.message ?? String(e);
};

function payload(kind, seq) {
  const text = `${kind}|${seq}|${now().toFixed(3)}|`.padEnd(PAYLOAD_BYTES, ".");
  const bytes = Buffer.from(text, "latin1");
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

// Leave at once when the driver is gone (stdin ended, or we were re-parented): a plain
// process.exit can hang in the native core's teardown while it retries a lost connection.
const die = () => process.kill(process.pid, "SIGKILL");
const parent = process.ppid;
setInterval(() => process.ppid !== parent && die(), 500).unref();
const commands = {}; // filled once connected
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("close", die);
rl.on("line", (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  if (req.cmd === "quit") {
    out({ id: req.id, ok: true, result: {} });
    process.exit(0);
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
});

slim.initializeWithDefaults();
const svc = slim.getGlobalService();
// The blocking constructor: its async twin panics in this build ("no reactor running").
const app = svc.createAppWithSecret(toName(nameText), secret);
// The bindings retry a refused connection forever: give up after 15 s.
const giveUp = setTimeout(() => {
  process.stderr.write(`cannot connect to ${endpoint} within 15 s\n`);
  die();
}, 15_000);
const conn = await svc.connectAsync(slim.newInsecureClientConfig(endpoint));
await app.subscribeAsync(app.name(), conn);
clearTimeout(giveUp);

// ---------------------------------------------------------------------------------------------
// Moderator

let group; // the current group session
const mod = {
  async group(req) {
    if (group) throw new Error("a group is already open");
    // Routes first: the real app needs one per invitee; not part of the invite time.
    for (const m of req.members) await app.setRouteAsync(toName(m), conn);
    const created = await app.createSessionAsync({
      sessionType: slim.SessionType.Group,
      maxRetries: 10,
      interval: 1000,
      metadata: new Map(),
      mlsSettings: {
        headerIntegrityValidationPercent: 100,
        maxSeenControlMessageIdsSize: undefined,
      },
    }, toName(req.channel));
    await created.completion.waitForAsync(30_000);
    group = created.session;
    const perInviteMs = [];
    const t0 = now();
    for (const m of req.members) {
      const t = now();
      const h = await group.inviteAsync(toName(m));
      await h.waitForAsync(60_000);
      perInviteMs.push(now() - t);
    }
    return { n: req.members.length, perInviteMs, totalMs: now() - t0 };
  },
  async throughput(req) {
    const session = current();
    const t0 = now();
    // A counter and one waiter (same harness as the slim-ts worker), not Promise.race.
    let inflight = 0;
    let wake;
    let failure;
    for (let i = 0; i < req.messages; i++) {
      while (inflight >= req.window) await new Promise((r) => wake = r);
      inflight++;
      session.publishAsync(payload("T", i), undefined, undefined)
        .then((h) => h.waitForAsync(60_000))
        .catch((e) => failure ??= e)
        .finally(() => {
          inflight--;
          wake?.();
        });
    }
    while (inflight > 0) await new Promise((r) => wake = r);
    if (failure) throw failure;
    return { sent: req.messages, ms: now() - t0 };
  },
  async latency(req) {
    const session = current();
    const t0 = now();
    for (let i = 0; i < req.count; i++) {
      const h = await session.publishAsync(payload("L", i), undefined, undefined);
      await h.waitForAsync(60_000);
    }
    return { sent: req.count, ms: now() - t0 };
  },
  async close() {
    const session = current();
    group = undefined;
    const t0 = now();
    await (await app.deleteSessionAsync(session)).waitForAsync(30_000);
    return { ms: now() - t0 };
  },
};

function current() {
  if (!group) throw new Error("no group is open");
  return group;
}

// ---------------------------------------------------------------------------------------------
// Member: accept every session, drain every session, keep the statistics.

const stats = { t: 0, next: 0, outOfOrder: 0, dup: 0, l: 0, lat: [] };
const changed = new Set(); // wake-ups of pending reports

function onPayload(buf) {
  const received = now();
  const [kind, seqText, sentText] = Buffer.from(buf).toString("latin1").split("|");
  const seq = Number(seqText);
  if (kind === "T") {
    if (seq < stats.next) stats.dup++;
    else {
      if (seq !== stats.next) stats.outOfOrder++;
      stats.t++;
      stats.next = seq + 1;
    }
  } else if (kind === "L") {
    stats.l++;
    stats.lat.push(received - Number(sentText));
  }
  for (const wake of changed) wake();
}

async function drain(session) {
  for (;;) {
    let msg;
    try {
      msg = await session.getMessageAsync(2000);
    } catch (e) {
      const text = errText(e);
      if (/receive timeout/i.test(text)) continue;
      if (/session closed/i.test(text)) return;
      // Non-fatal notices (a member left, a message was lost) come this way too: keep going.
      await sleep(1);
      continue;
    }
    onPayload(msg.payload);
  }
}

if (role === "member") {
  (async () => {
    for (;;) {
      let session;
      try {
        session = await app.listenForSessionAsync(1000);
      } catch {
        continue;
      }
      drain(session);
    }
  })();
}

const member = {
  async report(req) {
    const deadline = Date.now() + (req.timeoutMs ?? 10_000);
    while ((stats.t < req.expectT || stats.l < req.expectL) && Date.now() < deadline) {
      await new Promise((resolve) => {
        const wake = () => {
          changed.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
        changed.add(wake);
      });
    }
    const { t, outOfOrder, dup, lat } = stats;
    return { apps: [{ name: nameText, t, outOfOrder, dup, lat }] };
  },
};

// ---------------------------------------------------------------------------------------------

Object.assign(commands, role === "moderator" ? mod : member);
out({ event: "ready", role, name: nameText, pid: process.pid, version: slim.getVersion() });

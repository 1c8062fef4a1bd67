// Benchmark worker for the REAL SLIM app (npm @agntcy/slim-bindings), run by Node.
// usage: node tests/peer/bench_worker.mjs <role: sender|receiver|echo|pinger> <endpoint> <name> <peer> <count> <window> <secret>
// Prints one JSON line with the result on stdout (native logs go to stderr via the env below).
// Loaded dynamically: a static import of a package only tests/peer/node_modules holds fails
// `deno check` of the repository.
const slim = (await import("@agntcy/slim-bindings")).default;

const [role, endpoint, nameStr, peerStr, countStr, windowStr, secret] = process.argv.slice(2);
const count = Number(countStr), window = Number(windowStr);
const parse = (s) => {
  const [a, b, c] = s.split("/");
  return new slim.Name(a, b, c);
};
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

slim.initializeWithDefaults();
const svc = slim.getGlobalService();
const app = svc.createAppWithSecret(parse(nameStr), secret);
const conn = await svc.connectAsync(slim.newInsecureClientConfig(endpoint));
await app.subscribeAsync(app.name(), conn);

if (role === "receiver" || role === "echo") {
  out({ event: "ready" });
  const session = await app.listenForSessionAsync(60000);
  let n = 0, t0 = 0;
  while (n < count) {
    let m;
    try {
      m = await session.getMessageAsync(30000);
    } catch {
      continue;
    }
    if (n === 0) t0 = performance.now();
    n++;
    if (role === "echo") {
      await (await session.publishToAsync(m.context, m.payload, undefined, undefined)).waitAsync();
    }
  }
  out({ event: "done", received: n, ms: performance.now() - t0 });
  setTimeout(() => process.exit(0), 300);
} else {
  const peer = parse(peerStr);
  await app.setRouteAsync(peer, conn);
  const cfg = {
    sessionType: slim.SessionType.PointToPoint,
    maxRetries: 10,
    interval: 1000,
    metadata: new Map(),
  };
  const sc = await app.createSessionAsync(cfg, peer);
  await sc.completion.waitAsync();
  const session = sc.session;
  const payload = new Uint8Array(100).fill(97).buffer;
  if (role === "sender") {
    const t0 = performance.now();
    // A counter and one waiter (same harness as the slim-ts worker), not Promise.race.
    let inflight = 0;
    let wake;
    for (let i = 0; i < count; i++) {
      while (inflight >= window) await new Promise((r) => wake = r);
      inflight++;
      session.publishAsync(payload, undefined, undefined).then((h) => h.waitAsync())
        .finally(() => {
          inflight--;
          wake?.();
        });
    }
    while (inflight > 0) await new Promise((r) => wake = r);
    out({ event: "done", sent: count, ms: performance.now() - t0 });
  } else {
    const rtts = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await (await session.publishAsync(payload, undefined, undefined)).waitAsync();
      await session.getMessageAsync(10000);
      rtts.push(performance.now() - t);
    }
    out({ event: "done", rtts });
  }
  setTimeout(() => process.exit(0), 300);
}

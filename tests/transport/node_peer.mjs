// A reference HTTP/2 peer for the transport tests, run by real Node (`node node_peer.mjs ...`):
// Node's own `node:http2` (nghttp2) on the other end of our implementation.
//
//   node node_peer.mjs server [--tls CERT KEY]      h2c (or TLS) gRPC echo server; prints
//                                                    {"port": N}, then one JSON line per event
//   node node_peer.mjs client URL SCENARIO [CA]      runs SCENARIO against URL; prints JSON lines
//
// Every line on stdout is one JSON object; the last one of a client run has "done": true.
import * as http2 from "node:http2";
import { Buffer } from "node:buffer";
import process from "node:process";
import { readFileSync } from "node:fs";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;
const PATH = "/dataplane.proto.v1.DataPlaneService/OpenChannel";
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

/** gRPC-frames `body`. */
function frame(body) {
  const b = Buffer.alloc(5 + body.length);
  b.writeUInt32BE(body.length, 1);
  body.copy(b, 5);
  return b;
}

/** A message of `n` octets whose content depends on `seed`. */
function message(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Collects gRPC messages from a readable stream. */
function deframer(onMessage) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 5) {
      const n = buf.readUInt32BE(1);
      if (buf.length < 5 + n) break;
      onMessage(buf.subarray(5, 5 + n));
      buf = buf.subarray(5 + n);
    }
  };
}

// -------------------------------------------------------------------------------------------------
// Server

function server(args) {
  const tls = args[0] === "--tls";
  const srv = tls
    ? http2.createSecureServer({ cert: readFileSync(args[1]), key: readFileSync(args[2]) })
    : http2.createServer();
  srv.on("session", (session) => {
    session.on("error", () => {});
    session.on("goaway", (code) => out({ event: "goaway", code }));
  });
  srv.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const scenario = String(headers["x-scenario"] ?? "echo");
    out({
      event: "request",
      path: headers[":path"],
      scenario,
      te: headers.te,
      ua: headers["user-agent"],
    });
    if (scenario === "trailers-only") {
      stream.respond({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "12",
        "grpc-message": "nope%20here",
      }, { endStream: true });
      return;
    }
    if (scenario === "http-503") {
      stream.respond({ ":status": 503 }, { endStream: true });
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
      waitForTrailers: true,
    });
    stream.on("wantTrailers", () => {
      try {
        stream.sendTrailers({ "grpc-status": "0", "grpc-message": "bye 100%" });
      } catch {
        // gone
      }
    });
    let count = 0;
    const deframe = deframer((m) => {
      count++;
      if (scenario === "rst" && count === 2) {
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (scenario === "goaway" && count === 2) {
        stream.session.goaway(NGHTTP2_NO_ERROR, stream.id);
        out({ event: "sent-goaway" });
      }
      if (scenario === "ping" && count === 1) {
        stream.session.ping((err, ms) => out({ event: "ping-ack", ok: !err, ms }));
      }
      if (!stream.destroyed && !stream.writableEnded) stream.write(frame(m));
    });
    stream.on("data", deframe);
    stream.on("end", () => {
      out({ event: "request-end", count });
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    });
    stream.on("close", () => out({ event: "stream-close", rstCode: stream.rstCode }));
  });
  srv.listen(0, "127.0.0.1", () => out({ port: srv.address().port }));
}

// -------------------------------------------------------------------------------------------------
// Client

function connect(url, ca) {
  const session = http2.connect(url, ca ? { ca: readFileSync(ca), servername: "localhost" } : {});
  session.on("error", (e) => out({ event: "session-error", error: e.message }));
  return session;
}

function request(session, extra = {}) {
  const stream = session.request({
    ":method": "POST",
    ":path": PATH,
    "content-type": "application/grpc",
    "te": "trailers",
    ...extra,
  });
  stream.on("error", (e) => out({ event: "stream-error", error: e.message }));
  return stream;
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));

/** Echo round trips of assorted sizes (1 MiB included), then half-close, trailers, ping, GOAWAY. */
async function echo(url, ca) {
  const session = connect(url, ca);
  await new Promise((r, j) => {
    session.once("connect", r);
    session.once("error", j);
  });
  if (session.alpnProtocol !== undefined) out({ event: "alpn", alpn: session.alpnProtocol });
  const stream = request(session);
  const sizes = [0, 1, 100, 16_384, 16_385, 70_000, 1_048_576, 5, 1_048_576, 3];
  const got = [];
  const response = new Promise((r) => stream.once("response", r));
  const trailers = new Promise((r) => stream.once("trailers", r));
  const done = new Promise((r) => stream.once("close", r));
  stream.on("data", deframer((m) => got.push(Buffer.from(m))));
  for (let i = 0; i < sizes.length; i++) stream.write(frame(message(sizes[i], i)));
  const headers = await response;
  out({ event: "response", status: headers[":status"], contentType: headers["content-type"] });
  while (got.length < sizes.length && !stream.destroyed) await wait(5);
  const ok = got.length === sizes.length &&
    got.every((m, i) => m.equals(message(sizes[i], i)));
  out({ event: "echoed", count: got.length, ok });
  const rtt = await new Promise((r) => session.ping((err, ms) => r(err ? -1 : ms)));
  out({ event: "ping", ok: rtt >= 0 });
  stream.end();
  const t = await trailers;
  out({ event: "trailers", status: t["grpc-status"], message: t["grpc-message"] });
  await done;
  out({ event: "closed", rstCode: stream.rstCode });
  session.close();
  await new Promise((r) => session.once("close", r));
  out({ done: true });
}

/** Abrupt behaviours, one per scenario name; each ends with `done`. */
async function abuse(url, scenario, ca) {
  const session = connect(url, ca);
  await new Promise((r, j) => {
    session.once("connect", r);
    session.once("error", j);
  });
  const stream = request(session);
  stream.resume();
  const half = frame(message(1000, 1)).subarray(0, 600);
  switch (scenario) {
    case "destroy-mid-stream":
      stream.write(half);
      await wait(20);
      session.destroy();
      break;
    case "destroy-mid-stream-rst":
      stream.write(half);
      await wait(20);
      stream.close(NGHTTP2_CANCEL);
      session.destroy();
      break;
    case "rst-then-goaway":
      stream.write(frame(message(10, 1)));
      await wait(20);
      stream.close(NGHTTP2_CANCEL);
      session.close();
      break;
    case "goaway-then-rst":
      stream.write(frame(message(10, 1)));
      await wait(20);
      session.close();
      stream.close(NGHTTP2_CANCEL);
      break;
    case "half-close-then-reset":
      stream.end(frame(message(10, 1)));
      stream.close(NGHTTP2_CANCEL);
      await wait(20);
      session.destroy();
      break;
    case "many-streams": {
      // More than MAX_CONCURRENT_STREAMS, all reset at once, then the session vanishes.
      const streams = [];
      for (let i = 0; i < 150; i++) {
        const s = request(session);
        s.resume();
        s.write(frame(message(10, i)));
        streams.push(s);
      }
      await wait(30);
      for (const s of streams) s.close(NGHTTP2_CANCEL);
      await wait(20);
      session.destroy();
      break;
    }
    case "reset-during-big-write":
      stream.write(frame(message(3_000_000, 1)));
      await wait(5);
      stream.close(NGHTTP2_CANCEL);
      await wait(5);
      session.destroy();
      break;
    default:
      out({ event: "unknown-scenario", scenario });
  }
  await wait(20);
  if (!session.destroyed) session.destroy();
  out({ done: true });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "server") {
  server(rest);
} else if (mode === "client") {
  const [url, scenario, ca] = rest;
  (scenario === "echo" ? echo(url, ca) : abuse(url, scenario, ca)).catch((e) => {
    out({ event: "failed", error: String(e?.message ?? e) });
    out({ done: true });
  });
} else {
  process.stderr.write("usage: node node_peer.mjs server|client ...\n");
  process.exit(2);
}

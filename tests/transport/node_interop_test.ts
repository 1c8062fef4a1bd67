/**
 * Our HTTP/2 against real Node's `node:http2` (nghttp2), a solid reference peer, in both roles:
 * bidirectional gRPC streams, messages of up to 1 MiB crossing frame and window boundaries,
 * trailers, trailers-only and non-200 responses, RST_STREAM, GOAWAY, PING, TLS with ALPN.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { TransportError } from "../../lib/errors.ts";
import { dialGrpc } from "../../lib/transport/grpc_client.ts";
import type { Http2Transport } from "../../lib/transport/http2_transport.ts";
import { echoServer, FIXTURES, healthyClient, nodeClient, nodePeer } from "./helpers.ts";

const event = (events: Record<string, unknown>[], name: string) =>
  events.find((e) => e.event === name);

// -------------------------------------------------------------------------------------------------
// Our server, Node's client

Deno.test("node interop - our server: Node client echoes 1 MiB messages, gets trailers, pings, GOAWAY", async () => {
  const s = await echoServer();
  try {
    const events = await nodeClient(s.url, "echo");
    assertEquals(event(events, "failed"), undefined, JSON.stringify(events));
    assertEquals(event(events, "response"), {
      event: "response",
      status: 200,
      contentType: "application/grpc",
    });
    assertEquals(event(events, "echoed"), { event: "echoed", count: 10, ok: true });
    assertEquals(event(events, "ping"), { event: "ping", ok: true });
    assertEquals(event(events, "trailers"), { event: "trailers", status: "0" });
    assertEquals(event(events, "closed")?.rstCode, 0);
    assertEquals(event(events, "session-error"), undefined);
    assertEquals(s.log.lines.filter((l) => l.includes("http2 connection error")), []);
  } finally {
    s.close();
  }
});

Deno.test("node interop - our TLS server: Node client negotiates ALPN h2 and echoes", async () => {
  const cert = await Deno.readTextFile(new URL("server.crt", FIXTURES));
  const key = await Deno.readTextFile(new URL("server.key", FIXTURES));
  const s = await echoServer({ tls: { cert, key } });
  try {
    const url = `https://localhost:${s.port}`;
    const events = await nodeClient(url, "echo", new URL("server.crt", FIXTURES).pathname);
    assertEquals(event(events, "failed"), undefined, JSON.stringify(events));
    assertEquals(event(events, "alpn"), { event: "alpn", alpn: "h2" });
    assertEquals(event(events, "echoed"), { event: "echoed", count: 10, ok: true });
    assertEquals(event(events, "trailers")?.status, "0");
  } finally {
    s.close();
  }
});

Deno.test("node interop - our server pings a Node client (keepalive) and keeps the connection", async () => {
  const s = await echoServer({ keepaliveTimeMs: 30, keepaliveTimeoutMs: 1000 });
  try {
    const events = await nodeClient(s.url, "echo");
    assertEquals(event(events, "echoed"), { event: "echoed", count: 10, ok: true });
    assertEquals(event(events, "trailers")?.status, "0");
    assertEquals(s.log.has("keepalive ping not acknowledged"), false);
  } finally {
    s.close();
  }
});

// -------------------------------------------------------------------------------------------------
// Our client, Node's server

async function nodeServer(args: string[] = []) {
  const peer = nodePeer(["server", ...args]);
  const { port } = await peer.next((e) => typeof e.port === "number") as { port: number };
  return { peer, port, url: `http://127.0.0.1:${port}` };
}

/** Reads echoes until `count` messages arrived. */
async function collect(t: Http2Transport, count: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for await (const batch of t) {
    for (const m of batch) got.push(new Uint8Array(m));
    if (got.length >= count) break;
  }
  return got;
}

function message(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("node interop - our client: Node server echoes 1 MiB messages and ends with trailers", async () => {
  const srv = await nodeServer();
  try {
    const ch = await dialGrpc({ endpoint: srv.url });
    const sizes = [0, 1, 100, 16_384, 16_385, 70_000, 1_048_576, 5, 1_048_576, 3];
    sizes.forEach((n, i) => ch.transport.send(message(n, i)));
    const it = ch.transport[Symbol.asyncIterator]();
    const got: Uint8Array[] = [];
    while (got.length < sizes.length) {
      const r = await it.next();
      if (r.done) break;
      for (const m of r.value) got.push(new Uint8Array(m));
    }
    assertEquals(got.map((m) => m.length), sizes);
    got.forEach((m, i) => assertEquals(m, message(sizes[i], i)));
    await ch.transport.close();
    assertEquals((await it.next()).done, true);
    assertEquals(ch.transport.remoteStatus, { code: 0, message: "bye 100%" });
    assertEquals((await ch.transport.closed).clean, true);
    const req = await srv.peer.next((e) => e.event === "request");
    assertEquals(req.te, "trailers");
    assertEquals(req.ua, "slim-ts");
    await srv.peer.next((e) => e.event === "request-end" && e.count === sizes.length);
    await ch.close();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

Deno.test("node interop - our client: trailers-only and non-200 responses set remoteStatus", async () => {
  const srv = await nodeServer();
  try {
    const a = await dialGrpc({ endpoint: srv.url, headers: { "x-scenario": "trailers-only" } });
    assertEquals((await a.transport[Symbol.asyncIterator]().next()).done, true);
    assertEquals(a.transport.remoteStatus, { code: 12, message: "nope here" });
    await a.close();
    const b = await dialGrpc({ endpoint: srv.url, headers: { "x-scenario": "http-503" } });
    assertEquals((await b.transport[Symbol.asyncIterator]().next()).done, true);
    assertEquals(b.transport.remoteStatus, { code: -503, message: "HTTP 503" });
    await b.close();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

Deno.test("node interop - our client: a server RST_STREAM fails the stream with TransportError", async () => {
  const srv = await nodeServer();
  try {
    const ch = await dialGrpc({ endpoint: srv.url, headers: { "x-scenario": "rst" } });
    ch.transport.send(message(10, 1));
    ch.transport.send(message(10, 2));
    let error: unknown;
    try {
      await collect(ch.transport, 5);
    } catch (e) {
      error = e;
    }
    assert(error instanceof TransportError, String(error));
    assert(String(error).includes("INTERNAL_ERROR"), String(error));
    assertEquals((await ch.transport.closed).clean, false);
    ch.destroy();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

Deno.test("node interop - our client: after a server GOAWAY the open stream still completes", async () => {
  const srv = await nodeServer();
  try {
    const ch = await dialGrpc({ endpoint: srv.url, headers: { "x-scenario": "goaway" } });
    for (let i = 0; i < 4; i++) ch.transport.send(message(100, i));
    const got = await collect(ch.transport, 4);
    assertEquals(got.length, 4);
    await srv.peer.next((e) => e.event === "sent-goaway");
    await ch.transport.close();
    assertEquals(ch.transport.remoteStatus?.code, 0);
    await ch.close();
    // A new stream on that connection is refused, so a new dial opens a new connection.
    const again = await healthyClient(srv.url);
    await again.roundTrip();
    await again.close();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

Deno.test("node interop - our client answers a Node server's PING", async () => {
  const srv = await nodeServer();
  try {
    const ch = await dialGrpc({ endpoint: srv.url, headers: { "x-scenario": "ping" } });
    ch.transport.send(message(10, 1));
    await collect(ch.transport, 1);
    const ack = await srv.peer.next((e) => e.event === "ping-ack");
    assertEquals(ack.ok, true);
    await ch.close();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

Deno.test("node interop - our client over TLS to a Node server (ALPN h2, CA verified)", async () => {
  const crt = new URL("server.crt", FIXTURES).pathname;
  const key = new URL("server.key", FIXTURES).pathname;
  const srv = await nodeServer(["--tls", crt, key]);
  try {
    const ch = await dialGrpc({
      endpoint: `https://localhost:${srv.port}`,
      tls: { ca: await Deno.readTextFile(crt) },
    });
    ch.transport.send(message(70_000, 3));
    const [m] = await collect(ch.transport, 1);
    assertEquals(m, message(70_000, 3));
    await ch.transport.close();
    assertEquals(ch.transport.remoteStatus?.code, 0);
    await ch.close();
  } finally {
    srv.peer.kill();
    await srv.peer.status;
  }
});

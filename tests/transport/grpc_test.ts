/**
 * Our gRPC server and client together: Unix sockets, TLS (with and without ALPN, mTLS), the
 * authorization hook, refused calls, connection age, drain, and backpressure through flow
 * control.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { TransportError } from "../../lib/errors.ts";
import { dialGrpc } from "../../lib/transport/grpc_client.ts";
import { H2Connection } from "../../lib/transport/h2/connection.ts";
import type { HeaderField } from "../../lib/transport/h2/hpack.ts";
import type { H2Stream } from "../../lib/transport/h2/stream.ts";
import {
  OPEN_CHANNEL_PATH,
  percentDecode,
  percentEncode,
} from "../../lib/transport/http2_transport.ts";
import type { Transport } from "../../lib/transport/transport.ts";
import {
  echoServer,
  FIXTURES,
  goawayCode,
  healthyClient,
  preface,
  rawConnection,
} from "./helpers.ts";

const read = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

Deno.test("grpc - Unix domain sockets in both roles", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/slim.sock`;
  const s = await echoServer({ path });
  try {
    const c = await healthyClient(`unix://${path}`);
    await c.roundTrip();
    await c.roundTrip(300_000);
    assertEquals(s.channels[0].remote, `unix:${path}`);
    await c.close();
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("grpc - TLS: our client verifies our server; a client without ALPN is served too", async () => {
  const s = await echoServer({ tls: { cert: read("server.crt"), key: read("server.key") } });
  try {
    const c = await healthyClient(`https://localhost:${s.port}`, {
      tls: { ca: read("server.crt") },
    });
    await c.roundTrip(70_000);
    await c.close();
    // No ALPN offered at all (like clients that do not know about it).
    const socket = tls.connect({
      host: "127.0.0.1",
      port: s.port,
      ca: read("server.crt"),
      servername: "localhost",
    });
    await new Promise((r) => socket.once("secureConnect", r));
    assertEquals(socket.alpnProtocol, false);
    const conn = new H2Connection(socket, { role: "client", remote: "no-alpn" });
    const stream = conn.request(request());
    const reply = collectStream(stream);
    stream.write(grpcFrame(new Uint8Array([1, 2, 3])));
    stream.end();
    assertEquals(await reply, { status: "200", grpcStatus: "0", data: [0, 0, 0, 0, 3, 1, 2, 3] });
    conn.close();
    await conn.closed;
    // An unknown CA is refused.
    await assertRejects(
      () => dialGrpc({ endpoint: `https://localhost:${s.port}`, tls: { ca: read("client.crt") } }),
      TransportError,
      "cannot connect",
    );
  } finally {
    s.close();
  }
});

Deno.test("grpc - mTLS: a client certificate is required and checked", async () => {
  const s = await echoServer({
    tls: { cert: read("server.crt"), key: read("server.key"), clientCa: read("client.crt") },
  });
  try {
    const endpoint = `https://localhost:${s.port}`;
    const good = await dialGrpc({
      endpoint,
      tls: { ca: read("server.crt"), cert: read("client.crt"), key: read("client.key") },
    });
    good.transport.send(new Uint8Array([5]));
    const r = await good.transport[Symbol.asyncIterator]().next();
    assertEquals(r.value?.map((m: Uint8Array) => [...m]), [[5]]);
    await good.close();
    // Without a certificate the handshake fails (TLS 1.3 reports it after the handshake, so the
    // failure may surface on the first read instead of the connect).
    let failed = false;
    try {
      const bad = await dialGrpc({ endpoint, tls: { ca: read("server.crt") } });
      bad.transport.send(new Uint8Array([1]));
      try {
        for await (const _ of bad.transport) break;
      } catch {
        failed = true;
      }
      failed ||= (await bad.transport.closed).clean === false;
      bad.destroy();
    } catch (e) {
      failed = e instanceof TransportError;
    }
    assert(failed, "a client without certificate must not get through");
  } finally {
    s.close();
  }
});

Deno.test("grpc - authorize: refusal is a plain HTTP status with its headers; errors are 500", async () => {
  let calls = 0;
  const s = await echoServer({
    authorize: (headers) => {
      calls++;
      if (headers["authorization"] === "Basic good") return { ok: true };
      if (headers["authorization"] === "Basic throw") throw new Error("broken verifier");
      return {
        ok: false,
        httpStatus: 401,
        headers: { "www-authenticate": "Basic" },
        reason: "wrong basic credentials",
      };
    },
  });
  try {
    const ok = await dialGrpc({ endpoint: s.url, headers: { authorization: "Basic good" } });
    ok.transport.send(new Uint8Array([1]));
    assertEquals((await ok.transport[Symbol.asyncIterator]().next()).value?.length, 1);
    await ok.close();

    const refused = await dialGrpc({ endpoint: s.url, headers: { authorization: "Basic bad" } });
    assertEquals((await refused.transport[Symbol.asyncIterator]().next()).done, true);
    assertEquals(refused.transport.remoteStatus, { code: -401, message: "HTTP 401" });
    await refused.close();
    assert(s.log.has("refused unauthenticated call", "wrong basic credentials"));

    const raw = await rawHeaders(s.port, [["authorization", "Basic bad"]]);
    assertEquals(raw.find(([n]) => n === "www-authenticate"), ["www-authenticate", "Basic"]);

    const broken = await dialGrpc({ endpoint: s.url, headers: { authorization: "Basic throw" } });
    assertEquals((await broken.transport[Symbol.asyncIterator]().next()).done, true);
    assertEquals(broken.transport.remoteStatus?.code, -500);
    await broken.close();
    assert(s.log.has("authorization failed", "broken verifier"));
    assertEquals(calls, 4);
  } finally {
    s.close();
  }
});

Deno.test("grpc - wrong path and compressed calls get trailers-only status 12", async () => {
  const s = await echoServer();
  try {
    const path = await rawHeaders(s.port, [], "/other.Service/Call");
    assertEquals(path.find(([n]) => n === "grpc-status"), ["grpc-status", "12"]);
    assertEquals(path.find(([n]) => n === ":status"), [":status", "200"]);
    const gz = await rawHeaders(s.port, [["grpc-encoding", "gzip"]]);
    assertEquals(gz.find(([n]) => n === "grpc-status"), ["grpc-status", "12"]);
    assertEquals(gz.find(([n]) => n === "grpc-accept-encoding"), [
      "grpc-accept-encoding",
      "identity",
    ]);
    assertEquals(
      percentDecode(gz.find(([n]) => n === "grpc-message")![1]),
      "Content is compressed with `gzip` which isn't supported",
    );
    // identity is fine, and the response headers come at once, before any message.
    const id = await rawHeaders(s.port, [["grpc-encoding", "identity"]], OPEN_CHANNEL_PATH, false);
    assertEquals(id.slice(0, 2), [[":status", "200"], ["content-type", "application/grpc"]]);
  } finally {
    s.close();
  }
});

Deno.test("grpc - maxConnectionAge sends GOAWAY; the open stream still completes", async () => {
  const s = await echoServer({ maxConnectionAgeMs: 100 });
  try {
    const c = await healthyClient(s.url);
    await new Promise((r) => setTimeout(r, 200));
    await c.roundTrip(); // after the GOAWAY, on the existing stream
    await c.close();
    const raw = await rawConnection(s.port);
    raw.write(preface());
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(goawayCode(raw.received()), 0);
    assert(await raw.closedWithin(10_000), "no streams: the server ends the connection");
  } finally {
    s.close();
  }
});

Deno.test("grpc - destroySessions ends open channels; stopAccepting refuses new ones", async () => {
  const s = await echoServer();
  const c = await healthyClient(s.url);
  await c.roundTrip();
  s.server.stopAccepting();
  await assertRejects(() => dialGrpc({ endpoint: s.url, connectTimeoutMs: 1000 }), TransportError);
  s.server.destroySessions();
  const info = await c.channel.transport.closed;
  assertEquals(info.clean, false);
  await c.close();
});

Deno.test("grpc - backpressure: a reader that stops reading stops the writer", async () => {
  let serverSide: Transport | undefined;
  let resolveSide!: () => void;
  const sideReady = new Promise<void>((r) => resolveSide = r);
  const s = await echoServer({
    onChannel: (t) => {
      serverSide = t;
      resolveSide();
    },
  });
  try {
    const c = await dialGrpc({ endpoint: s.url });
    c.transport.send(new Uint8Array([0])); // opens the stream on the server
    await sideReady;
    const t = serverSide!;
    // Write until congested: the client does not read, so windows (4 MiB stream) run out.
    const msg = new Uint8Array(16 * 1024).fill(7);
    let sent = 0;
    while (!t.congested && sent < 4000) {
      for (let i = 0; i < 16; i++) t.send(msg);
      sent += 16;
      await new Promise((r) => setTimeout(r, 0));
    }
    assert(t.congested, "server side congested while the client does not read");
    assert(sent * msg.length < 16 * 1024 * 1024, `congested after ${sent} messages`);
    let drained = false;
    const draining = t.drained().then(() => drained = true);
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(drained, false, "still congested while nobody reads");
    // Now read everything: windows reopen, the queue drains, all messages arrive in order.
    let got = 0;
    for await (const batch of c.transport) {
      for (const m of batch) {
        assertEquals(m.length, msg.length);
        got++;
      }
      if (got >= sent) break;
    }
    await draining;
    assertEquals(got, sent);
    await t.close(0);
    await c.close();
  } finally {
    s.close();
  }
});

Deno.test("grpc - the connect timeout covers the HTTP/2 handshake", async () => {
  // Accepts TCP, never speaks HTTP/2; then one that hangs up at once.
  const sockets: net.Socket[] = [];
  const silent = net.createServer((sock) => {
    sockets.push(sock);
    sock.on("error", () => {});
  });
  const rude = net.createServer((sock) => sock.destroy());
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => rude.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const t0 = Date.now();
    await assertRejects(
      () => dialGrpc({ endpoint: url, connectTimeoutMs: 200 }),
      TransportError,
      `timed out connecting to ${url} after 200 ms`,
    );
    assert(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
    const url2 = `http://127.0.0.1:${(rude.address() as net.AddressInfo).port}`;
    await assertRejects(
      () => dialGrpc({ endpoint: url2 }),
      TransportError,
      `cannot connect to ${url2}`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await new Promise((r) => rude.close(r));
  }
});

Deno.test("grpc - grpc-message percent-encoding", () => {
  assertEquals(percentEncode("plain text: ok"), "plain text: ok");
  assertEquals(percentEncode("100% ünïcode\n"), "100%25 %C3%BCn%C3%AFcode%0A");
  assertEquals(percentDecode("100%25 %C3%BCn%C3%AFcode%0A"), "100% ünïcode\n");
  assertEquals(percentDecode("bad %zz and %4"), "bad %zz and %4");
  assertEquals(percentDecode("nope%20here"), "nope here");
});

// -------------------------------------------------------------------------------------------------

function request(extra: HeaderField[] = [], path = OPEN_CHANNEL_PATH): HeaderField[] {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ];
}

function grpcFrame(m: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + m.length);
  new DataView(out.buffer).setUint32(1, m.length);
  out.set(m, 5);
  return out;
}

/** Reads a whole response: status, grpc-status (headers or trailers) and the DATA octets. */
function collectStream(stream: H2Stream) {
  return new Promise<{ status?: string; grpcStatus?: string; data: number[] }>((resolve) => {
    const data: number[] = [];
    const result: { status?: string; grpcStatus?: string; data: number[] } = { data };
    stream.onHeaders = (fields) => {
      for (const [n, v] of fields) {
        if (n === ":status") result.status = v;
        if (n === "grpc-status") result.grpcStatus = v;
      }
    };
    stream.onReadable = () => {
      for (const c of stream.take() ?? []) data.push(...c);
    };
    stream.onClose = () => {
      for (const c of stream.take() ?? []) data.push(...c);
      resolve(result);
    };
  });
}

/** Opens one stream with our H2Connection and returns the first response header list. */
async function rawHeaders(
  port: number,
  extra: HeaderField[],
  path = OPEN_CHANNEL_PATH,
  endStream = true,
): Promise<HeaderField[]> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise((r) => socket.once("connect", r));
  const conn = new H2Connection(socket, { role: "client", remote: "raw" });
  const stream = conn.request(request(extra, path), endStream);
  const headers = await new Promise<HeaderField[]>((resolve) => {
    stream.onHeaders = (fields) => resolve(fields);
  });
  conn.destroy();
  await conn.closed;
  return headers;
}

/**
 * No client behaviour can hurt the server beyond its own connection: every abrupt or malicious
 * thing we can produce (raw bytes, and real Node's http2 client tearing down at awkward moments)
 * ends with that connection or stream closed with the right HTTP/2 error code, while a healthy
 * client on the same server keeps getting its echoes.
 */
import * as net from "node:net";
import { assert, assertEquals } from "../helpers/assert.ts";
import { concat } from "../fixtures/captures.ts";
import { createLogger } from "../../lib/log.ts";
import { ErrorCode, Flag, FrameType, Setting } from "../../lib/transport/h2/constants.ts";
import {
  encodeFrame,
  goawayFrame,
  headersFrames,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from "../../lib/transport/h2/frame.ts";
import { H2Connection } from "../../lib/transport/h2/connection.ts";
import { HpackEncoder } from "../../lib/transport/h2/hpack.ts";
import {
  dataFrame,
  echoServer,
  framesOf,
  goawayCode,
  healthyClient,
  nodeClient,
  openStream,
  preface,
  rawConnection,
  requestFields,
  rstCodes,
} from "./helpers.ts";

type Server = Awaited<ReturnType<typeof echoServer>>;
type Healthy = Awaited<ReturnType<typeof healthyClient>>;

/** One server and one healthy client for a whole test; the client must survive every case. */
async function withServer(
  fn: (s: Server, healthy: Healthy) => Promise<void>,
  options: Parameters<typeof echoServer>[0] = {},
): Promise<void> {
  const s = await echoServer(options);
  const healthy = await healthyClient(s.url);
  try {
    await healthy.roundTrip();
    await fn(s, healthy);
    await healthy.roundTrip(100_000);
  } finally {
    await healthy.close();
    s.close();
  }
}

/** Sends `bytes` on a fresh raw connection; expects the server to close it with GOAWAY `code`. */
async function expectGoaway(s: Server, bytes: Uint8Array, code: number, label: string) {
  const c = await rawConnection(s.port);
  c.write(bytes);
  assert(await c.closedWithin(10_000), `${label}: connection not closed`);
  assertEquals(goawayCode(c.received()), code, label);
}

const enc = new HpackEncoder();

Deno.test("robustness - framing and protocol violations close only that connection", async () => {
  await withServer(async (s, healthy) => {
    // Not HTTP/2 at all.
    const http1 = await rawConnection(s.port);
    http1.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert(await http1.closedWithin(10_000));
    assertEquals(goawayCode(http1.received()), ErrorCode.PROTOCOL_ERROR);
    assert(s.log.has("http2 connection error", "peer=127.0.0.1:", "invalid connection preface"));
    await healthy.roundTrip();

    // Garbage after a valid preface.
    const garbage = await rawConnection(s.port);
    // Fixed garbage whose first "frame" claims ~16 MiB, beyond any SETTINGS_MAX_FRAME_SIZE:
    // random bytes often announce a length the server may legitimately wait for (up to 4 MiB).
    garbage.write(
      concat([preface(), new Uint8Array(4096).map((_, i) => i < 3 ? 0xff : (i * 151 + 7) & 0xff)]),
    );
    assert(await garbage.closedWithin(10_000), "garbage after preface");
    await healthy.roundTrip();

    await expectGoaway(
      s,
      concat([preface(), new Uint8Array([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1])]),
      ErrorCode.FRAME_SIZE_ERROR,
      "oversized frame",
    );
    await expectGoaway(
      s,
      concat([new Uint8Array(preface().subarray(0, 24)), pingFrame(new Uint8Array(8))]),
      ErrorCode.PROTOCOL_ERROR,
      "first frame not SETTINGS",
    );
    await expectGoaway(
      s,
      concat([
        preface(),
        encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([0x80])),
      ]),
      ErrorCode.COMPRESSION_ERROR,
      "invalid HPACK",
    );
    await expectGoaway(
      s,
      concat([preface(), dataFrame(9, new Uint8Array(10))]),
      ErrorCode.PROTOCOL_ERROR,
      "DATA on an idle stream",
    );
    await expectGoaway(
      s,
      concat([
        preface(),
        encodeFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, new Uint8Array(4)),
      ]),
      ErrorCode.PROTOCOL_ERROR,
      "PUSH_PROMISE from a client",
    );
    await expectGoaway(
      s,
      concat([preface(), settingsFrame([[Setting.MAX_FRAME_SIZE, 100]])]),
      ErrorCode.PROTOCOL_ERROR,
      "SETTINGS_MAX_FRAME_SIZE out of range",
    );
    await expectGoaway(
      s,
      concat([preface(), settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x80000000]])]),
      ErrorCode.FLOW_CONTROL_ERROR,
      "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
    );
    await expectGoaway(
      s,
      concat([preface(), windowUpdateFrame(0, 0x7fffffff)]),
      ErrorCode.FLOW_CONTROL_ERROR,
      "connection window overflow",
    );
    await expectGoaway(
      s,
      concat([preface(), encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array(5))]),
      ErrorCode.FRAME_SIZE_ERROR,
      "SETTINGS length not a multiple of 6",
    );
    await expectGoaway(
      s,
      concat([
        preface(),
        encodeFrame(FrameType.HEADERS, 0, 1, enc.encode(requestFields())),
        pingFrame(new Uint8Array(8)),
      ]),
      ErrorCode.PROTOCOL_ERROR,
      "frame inside an unfinished header block",
    );
    await healthy.roundTrip();
  });
});

Deno.test("robustness - floods are ENHANCE_YOUR_CALM", async () => {
  await withServer(async (s, healthy) => {
    // CONTINUATION flood: an endless header block.
    const block = enc.encode(requestFields());
    const cont = encodeFrame(FrameType.CONTINUATION, 0, 1, new Uint8Array(8192).fill(0x40));
    await expectGoaway(
      s,
      concat([
        preface(),
        encodeFrame(FrameType.HEADERS, 0, 1, block),
        ...Array.from({ length: 20 }, () => cont),
      ]),
      ErrorCode.ENHANCE_YOUR_CALM,
      "CONTINUATION flood",
    );
    // Empty CONTINUATION frames cost nothing to send.
    const empty = encodeFrame(FrameType.CONTINUATION, 0, 1);
    await expectGoaway(
      s,
      concat([
        preface(),
        encodeFrame(FrameType.HEADERS, 0, 1, block),
        ...Array.from({ length: 1500 }, () => empty),
      ]),
      ErrorCode.ENHANCE_YOUR_CALM,
      "empty CONTINUATION flood",
    );
    // PING flood.
    const ping = pingFrame(new Uint8Array(8));
    await expectGoaway(
      s,
      concat([preface(), ...Array.from({ length: 1500 }, () => ping)]),
      ErrorCode.ENHANCE_YOUR_CALM,
      "PING flood",
    );
    // Rapid reset: open and cancel streams as fast as possible.
    const parts = [preface()];
    for (let id = 1; id < 3000; id += 2) {
      parts.push(openStream(id), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    await expectGoaway(s, concat(parts), ErrorCode.ENHANCE_YOUR_CALM, "rapid reset");
    await healthy.roundTrip();
  });
});

Deno.test("robustness - stream errors cost only the stream", async () => {
  await withServer(async (s, healthy) => {
    const c = await rawConnection(s.port);
    const big = enc.encode(requestFields([["x-big", "y".repeat(20_000)]]));
    c.write(concat([
      preface(),
      // Header list above 16 KiB: 431 and the stream is closed.
      headersFrames(1, big, false, 16384),
      // A good stream on the same connection.
      openStream(5),
      dataFrame(5, new Uint8Array([1, 2, 3])),
      // DATA after END_STREAM.
      openStream(7, true),
      dataFrame(7, new Uint8Array([1])),
      // WINDOW_UPDATE of 0 on a stream.
      openStream(9),
      windowUpdateFrame(9, 0),
    ]));
    // The uppercase case, built by hand (the encoder lowercases names).
    const upper = new Uint8Array([0x83, 0x86, 0x84, 0x00, 0x01, 0x58, 0x01, 0x79]);
    c.write(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 11, upper));
    await new Promise((r) => setTimeout(r, 300));
    const frames = framesOf(c.received());
    const status431 = frames.find(([t, , id]) => t === FrameType.HEADERS && id === 1);
    assert(status431, "a response to the oversized request");
    const rst = rstCodes(c.received());
    assertEquals(rst.get(7), ErrorCode.STREAM_CLOSED);
    assertEquals(rst.get(9), ErrorCode.PROTOCOL_ERROR);
    assertEquals(rst.get(11), ErrorCode.PROTOCOL_ERROR);
    // Stream 5 got its echo.
    const echo = frames.find(([t, , id, p]) => t === FrameType.DATA && id === 5 && p.length === 8);
    assert(echo, "stream 5 echoed");
    assertEquals(goawayCode(c.received()), undefined);
    c.destroy();
    await healthy.roundTrip();
  });
});

Deno.test("robustness - streams beyond MAX_CONCURRENT_STREAMS are refused", async () => {
  await withServer(async (s) => {
    const c = await rawConnection(s.port);
    const parts = [preface()];
    for (let id = 1; id <= 25; id += 2) parts.push(openStream(id));
    c.write(concat(parts));
    await new Promise((r) => setTimeout(r, 200));
    const rst = rstCodes(c.received());
    assertEquals([...rst.keys()], [21, 23, 25]);
    assert([...rst.values()].every((v) => v === ErrorCode.REFUSED_STREAM));
    c.destroy();
  }, { maxConcurrentStreams: 10 });
});

Deno.test("robustness - flow-control violations: stream error, then connection error", async () => {
  // A server that never reads: windows are never credited back.
  const s = await echoServer({ onChannel: () => {} });
  try {
    const c = await rawConnection(s.port);
    const chunk = new Uint8Array(16384 - 5);
    const parts = [preface(), openStream(1)];
    // The 4 MiB stream window, and one frame more.
    for (let i = 0; i <= 4 * 1024 * 1024 / 16384; i++) parts.push(dataFrame(1, chunk));
    c.write(concat(parts));
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(rstCodes(c.received()).get(1), ErrorCode.FLOW_CONTROL_ERROR);
    assertEquals(goawayCode(c.received()), undefined);
    // Beyond the 16 MiB connection window over several streams, each within its own window.
    const more = [];
    for (let id = 3; id <= 13; id += 2) {
      more.push(openStream(id));
      for (let i = 0; i < 3 * 1024 * 1024 / 16384; i++) more.push(dataFrame(id, chunk));
    }
    c.write(concat(more));
    assert(await c.closedWithin(10_000), "connection window overflow closes");
    assertEquals(goawayCode(c.received()), ErrorCode.FLOW_CONTROL_ERROR);
  } finally {
    s.close();
  }
});

Deno.test("robustness - abrupt endings of raw connections", async () => {
  await withServer(async (s, healthy) => {
    const msg = new Uint8Array(1000).fill(9);
    const cases: [string, (c: Awaited<ReturnType<typeof rawConnection>>) => Promise<void>][] = [
      ["destroy mid-message", async (c) => {
        c.write(concat([preface(), openStream(1), dataFrame(1, msg).subarray(0, 500)]));
        await new Promise((r) => setTimeout(r, 20));
        c.destroy();
      }],
      ["half-close then reset", async (c) => {
        c.write(concat([preface(), openStream(1), dataFrame(1, msg, true)]));
        c.write(rstStreamFrame(1, ErrorCode.CANCEL));
        await new Promise((r) => setTimeout(r, 20));
        c.destroy();
      }],
      ["RST then GOAWAY", async (c) => {
        c.write(concat([preface(), openStream(1), dataFrame(1, msg)]));
        c.write(concat([rstStreamFrame(1, ErrorCode.CANCEL), goawayFrame(0, ErrorCode.NO_ERROR)]));
        assert(await c.closedWithin(10_000), "server ends the connection after GOAWAY");
      }],
      ["GOAWAY with an error then FIN", async (c) => {
        c.write(concat([preface(), openStream(1), goawayFrame(0, ErrorCode.INTERNAL_ERROR, "x")]));
        c.socket.end();
        assert(await c.closedWithin(10_000));
      }],
      ["truncated frame then FIN", async (c) => {
        c.write(concat([preface(), openStream(1).subarray(0, 12)]));
        c.socket.end();
        assert(await c.closedWithin(10_000));
      }],
      ["preface only, then destroy", (c) => {
        c.write(preface().subarray(0, 10));
        c.destroy();
        return Promise.resolve();
      }],
    ];
    for (const [label, run] of cases) {
      const c = await rawConnection(s.port);
      await run(c);
      await c.closed;
      await healthy.roundTrip().catch((e) => {
        throw new Error(`after ${label}: ${e.message}`);
      });
    }
  });
});

Deno.test("robustness - a client sending one octet at a time is served", async () => {
  await withServer(async (s) => {
    const c = await rawConnection(s.port);
    const bytes = concat([preface(), openStream(1), dataFrame(1, new Uint8Array([7, 8, 9]), true)]);
    for (const b of bytes) {
      c.write(new Uint8Array([b]));
      await new Promise((r) => setTimeout(r, 0));
    }
    await new Promise((r) => setTimeout(r, 200));
    const frames = framesOf(c.received());
    const data = frames.find(([t, , id]) => t === FrameType.DATA && id === 1);
    assertEquals(data && [...data[3]], [0, 0, 0, 0, 3, 7, 8, 9]);
    const trailers = frames.filter(([t, f, id]) =>
      t === FrameType.HEADERS && id === 1 && (f & Flag.END_STREAM)
    );
    assertEquals(trailers.length, 1);
    c.destroy();
  });
});

Deno.test("robustness - keepalive closes a peer that never acknowledges PINGs", async () => {
  await withServer(async (s, healthy) => {
    const c = await rawConnection(s.port);
    c.write(preface());
    assert(await c.closedWithin(10_000), "closed after the keepalive timeout");
    assert(framesOf(c.received()).some(([t, f]) => t === FrameType.PING && !(f & Flag.ACK)));
    assert(s.log.has("closing connection: keepalive ping not acknowledged", "timeout_ms=150"));
    // The healthy client answers pings (our client does) and stays.
    await healthy.roundTrip();
  }, { keepaliveTimeMs: 50, keepaliveTimeoutMs: 150 });
});

Deno.test("robustness - a peer that never sends the preface times out", async () => {
  const log: string[] = [];
  const conns: H2Connection[] = [];
  const server = net.createServer((socket) => {
    conns.push(
      new H2Connection(socket, {
        role: "server",
        remote: "test",
        handshakeTimeoutMs: 100,
        onError: (e) => log.push(e.message),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const c = await rawConnection(port);
    assert(await c.closedWithin(10_000));
    assertEquals(goawayCode(c.received()), ErrorCode.SETTINGS_TIMEOUT);
    assert(log.some((l) => l.includes("SETTINGS_TIMEOUT")), log.join("\n"));
    await conns[0].closed;
  } finally {
    await new Promise((r) => server.close(r));
  }
});

Deno.test("robustness - real Node clients tearing down at awkward moments", async () => {
  await withServer(async (s, healthy) => {
    const scenarios = [
      "destroy-mid-stream",
      "destroy-mid-stream-rst",
      "rst-then-goaway",
      "goaway-then-rst",
      "half-close-then-reset",
      "many-streams",
      "reset-during-big-write",
    ];
    for (let round = 0; round < 3; round++) {
      for (const scenario of scenarios) {
        const events = await nodeClient(s.url, scenario);
        assertEquals(events.find((e) => e.event === "failed"), undefined, scenario);
        await healthy.roundTrip().catch((e) => {
          throw new Error(`after ${scenario}: ${e.message}`);
        });
      }
    }
    // Every abused channel ended.
    const unfinished = await Promise.race([
      Promise.all(s.channels.slice(1).map((c) => c.closed)).then(() => 0),
      new Promise<number>((r) => setTimeout(() => r(-1), 3000)),
    ]);
    assertEquals(unfinished, 0, "channels of abusive clients all closed");
  });
});

Deno.test("robustness - a logger that throws cannot break the server", async () => {
  const s = await echoServer({
    logger: {
      ...createLogger("t", { level: "off" }),
      info: () => {
        throw new Error("logger exploded");
      },
      warn: () => {
        throw new Error("logger exploded");
      },
    },
  });
  try {
    const c = await rawConnection(s.port);
    c.write(new TextEncoder().encode("nonsense that is not HTTP/2 at all......"));
    assert(await c.closedWithin(10_000));
    const healthy = await healthyClient(s.url);
    await healthy.roundTrip();
    await healthy.close();
  } finally {
    s.close();
  }
});

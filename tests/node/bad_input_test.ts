/**
 * Bad input: each case costs only the offending connection, is logged with the peer and the
 * reason, and a healthy pair of clients keeps exchanging messages through the node.
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import { assert, assertEquals } from "../helpers/assert.ts";
import { SlimNode } from "../../lib/node/node.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { OPEN_CHANNEL_PATH } from "../../lib/transport/http2_transport.ts";
import { frame } from "../../lib/wire/grpc_frame.ts";
import { encodeMessage, makeMessage, nameToProto } from "../../lib/wire/codec.ts";
import { negotiationMessage } from "../../lib/link/negotiation.ts";
import { logCapture, publishMessage, RawClient } from "../helpers/raw_client.ts";

const alice = Name.parse("org/ns/alice").withId(1n);
const bob = Name.parse("org/ns/bob").withId(2n);

async function setup(options: { requireHeaderMac?: boolean; negotiationTimeoutMs?: number } = {}) {
  const log = logCapture();
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0", ...options }],
    logger: createLogger("slim", { level: "info", sink: log.sink }),
    drainTimeoutMs: 1000,
  });
  const port = node.addresses[0].port;
  const endpoint = `http://127.0.0.1:${port}`;
  const a = await RawClient.connect(endpoint);
  const b = await RawClient.connect(endpoint);
  await b.subscribe(bob, 1n);
  let n = 0;
  /** Proves the healthy pair still works. */
  const healthy = async () => {
    const text = `still alive ${++n}`;
    a.publish(alice, bob, text, { messageId: n });
    await b.waitFor(() => b.texts().includes(text));
  };
  await healthy();
  const close = async () => {
    await Promise.all([a.close(), b.close()]);
    await node.stop();
  };
  return { node, port, endpoint, log, a, b, healthy, close };
}

/** Opens an OpenChannel stream and lets the test write raw bytes. */
async function rawStream(port: number, path = OPEN_CHANNEL_PATH) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  await new Promise((r) => session.once("connect", r));
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    "te": "trailers",
  });
  stream.on("error", () => {});
  const status = new Promise<{ code: number; message: string }>((resolve) => {
    const pick = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        resolve({
          code: Number(h["grpc-status"]),
          message: decodeURIComponent(String(h["grpc-message"] ?? "")),
        });
      }
    };
    stream.on("response", pick);
    stream.on("trailers", pick);
    stream.on("close", () => resolve({ code: -1, message: "closed without status" }));
  });
  stream.resume();
  return {
    write: (b: Uint8Array) => stream.write(b),
    end: () => stream.end(),
    status,
    close: () => {
      stream.close();
      session.destroy();
    },
  };
}

function negotiationRequest(withKey = true): Uint8Array {
  return encodeMessage(negotiationMessage({
    linkId: crypto.randomUUID(),
    isReply: false,
    publicKey: withKey ? crypto.getRandomValues(new Uint8Array(32)) : new Uint8Array(0),
    category: "edge",
    nodeId: "bad-client",
  }));
}

Deno.test("bad input - garbage instead of HTTP/2 closes only that socket", async () => {
  const t = await setup();
  try {
    const sock = net.connect({ host: "127.0.0.1", port: t.port });
    await new Promise((r) => sock.once("connect", r));
    sock.on("error", () => {});
    sock.resume(); // a paused socket would never see the server's close
    sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\nnonsense nonsense nonsense");
    await new Promise((r) => sock.once("close", r));
    assert(t.log.has("http2 connection error", "peer=127.0.0.1:"));
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - invalid gRPC framing is refused and logged with the peer", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port);
    s.write(new Uint8Array([7, 0, 0, 0, 3, 1, 2, 3]));
    const st = await s.status;
    assertEquals(st.code, 3);
    assert(st.message.includes("invalid gRPC frame flag 7"), st.message);
    assert(t.log.has("link negotiation failed", "peer=127.0.0.1:", "invalid gRPC frame flag 7"));
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - a compressed frame is refused", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port);
    s.write(new Uint8Array([1, 0, 0, 0, 1, 0]));
    const st = await s.status;
    assert(st.message.includes("compressed"), st.message);
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - a stream ending inside a frame is reported", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port);
    s.write(new Uint8Array([0, 0, 0, 0, 100, 1, 2, 3]));
    s.end();
    const st = await s.status;
    assertEquals(st.code, 3);
    assert(st.message.includes("ended inside a message"), st.message);
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - an oversized message closes the link with RESOURCE_EXHAUSTED", async () => {
  const t = await setup();
  try {
    const c = await RawClient.connect(t.endpoint);
    c.channel.transport.send(new Uint8Array(4 * 1024 * 1024 + 1));
    await c.done;
    assertEquals(c.channel.transport.remoteStatus?.code, 8);
    assert(t.log.has("connection closed on error", "exceeds the maximum"));
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - first message not a negotiation request", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port);
    s.write(frame(encodeMessage(publishMessage(alice, bob, "too early"))));
    const st = await s.status;
    assertEquals(st.code, 3);
    assert(t.log.has("link negotiation failed", "not a link negotiation request"));
    s.close();
    await t.healthy();
    assertEquals(t.b.texts().includes("too early"), false);
  } finally {
    await t.close();
  }
});

Deno.test("bad input - a strict node refuses a link without an X25519 key", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port);
    s.write(frame(negotiationRequest(false)));
    const st = await s.status;
    assertEquals(st.code, 3);
    assert(st.message.includes("public key length is invalid"), st.message);
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - a non-strict node accepts a keyless link without MACs", async () => {
  const t = await setup({ requireHeaderMac: false });
  try {
    const c = await RawClient.connect(t.endpoint, { requireHeaderMac: false });
    // The client offered a key, so MACs are on; a keyless client is covered via the raw stream.
    assert(c.link.mac !== undefined);
    await c.close();
    const s = await rawStream(t.port);
    s.write(frame(negotiationRequest(false)));
    await new Promise((r) => setTimeout(r, 100));
    assert(t.log.has("connection established", "header_mac=false"));
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - negotiation timeout closes the stream", async () => {
  const t = await setup({ negotiationTimeoutMs: 200 });
  try {
    const s = await rawStream(t.port);
    const st = await s.status;
    assertEquals(st.code, 4);
    assert(t.log.has("link negotiation failed", "no link negotiation request within 200 ms"));
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - unknown method gets UNIMPLEMENTED", async () => {
  const t = await setup();
  try {
    const s = await rawStream(t.port, "/other.Service/Call");
    const st = await s.status;
    assertEquals(st.code, 12);
    s.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - subscribe without str_name is refused, the connection keeps working", async () => {
  const t = await setup();
  try {
    const c = await RawClient.connect(t.endpoint);
    const nameless = Name.parse("org/ns/newname").withId(9n);
    const ack = await c.subscribe(nameless, 77n, { strName: false });
    assertEquals(ack.success, false);
    assert(ack.error.includes("string name missing"), ack.error);
    const ok = await c.subscribe(nameless, 78n);
    assertEquals(ok.success, true);
    t.a.publish(alice, nameless, "reached");
    await c.waitFor(() => c.texts().includes("reached"));
    await c.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

Deno.test("bad input - missing or wrong header MAC, ttl 0 and empty message_type are dropped", async () => {
  const t = await setup();
  try {
    const c = await RawClient.connect(t.endpoint);
    // No MAC: bypass the link's signing.
    c.channel.transport.send(encodeMessage(publishMessage(alice, bob, "no mac")));
    // Wrong MAC.
    const wrong = publishMessage(alice, bob, "bad mac");
    if (wrong.messageType.case === "publish") {
      wrong.messageType.value.header!.headerMac = new Uint8Array(32);
    }
    c.channel.transport.send(encodeMessage(wrong));
    // Correctly signed but ttl 0.
    c.publish(alice, bob, "ttl zero", { ttl: 0 });
    // Nothing in the oneof.
    c.channel.transport.send(encodeMessage(makeMessage({})));
    // Subscribe with a MAC for someone else's key.
    c.channel.transport.send(encodeMessage(makeMessage({
      messageType: {
        case: "subscribe",
        value: {
          header: {
            source: nameToProto(alice),
            destination: nameToProto(alice),
            fanout: 1,
            ttl: 8,
            headerMac: new Uint8Array(32).fill(1),
          },
          subscriptionId: 5n,
        },
      },
    })));
    c.publish(alice, bob, "good one");
    await t.b.waitFor(() => t.b.texts().includes("good one"));
    for (const bad of ["no mac", "bad mac", "ttl zero"]) {
      assertEquals(t.b.texts().includes(bad), false, bad);
    }
    assert(t.log.has("dropped message", "missing SLIM header integrity tag", "peer=127.0.0.1:"));
    assert(t.log.has("dropped message", "SLIM header integrity tag mismatch"));
    assert(t.log.has("dropped message", "ttl is 0"));
    assert(t.log.has("dropped message", "message_type not set"));
    await c.close();
    await t.healthy();
  } finally {
    await t.close();
  }
});

/**
 * Point-to-point sessions between slim-ts apps and real SLIM apps (npm bindings, core
 * 2.0.0-alpha.10), in both directions, through a real node and through the slim-ts node.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { createLogger } from "../../lib/log.ts";
import { SlimNode } from "../../lib/node/node.ts";
import { ensurePeerInstalled, startRealApp, startRealNode } from "../peer/real_peer.ts";
import { SECRET } from "../peer/scenarios.ts";

const N = 1000;
const quiet = createLogger("test", { level: "warn" });

interface NodeUnderTest {
  url: string;
  stop(): Promise<void>;
}

async function realNode(): Promise<NodeUnderTest> {
  const n = await startRealNode({ strict: true });
  return { url: n.url, stop: () => n.stop() };
}

async function ourNode(): Promise<NodeUnderTest> {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: quiet.child("node"),
    drainTimeoutMs: 1000,
  });
  return { url: `http://127.0.0.1:${node.addresses[0].port}`, stop: () => node.stop() };
}

function ourApp(name: string, url: string): Promise<App> {
  return App.connect({
    name,
    endpoint: url,
    identity: { sharedSecret: SECRET },
    logger: quiet.child(name),
  });
}

/** Our app opens the session; 1000 reliable messages each way, in order, none lost. */
async function oursToReal(node: NodeUnderTest, reliable: boolean) {
  ensurePeerInstalled();
  await using real = await startRealApp({
    name: "org/ns/realbob",
    endpoint: node.url,
    secret: SECRET,
  });
  const alice = await ourApp("org/ns/tsalice", node.url);
  try {
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/realbob",
      reliable: reliable ? { maxRetries: 5, intervalMs: 500 } : false,
      metadata: { via: "slim-ts" },
    });
    assertEquals(s.destination.base, "org/ns/realbob");
    assertEquals(s.destination.id, BigInt("0x" + real.id.replaceAll("-", "")));
    const inc = await real.listen({ timeoutMs: 5000 });
    assertEquals(inc.sessionId, s.id);
    assertEquals(inc.metadata, { via: "slim-ts" });
    const count = reliable ? N : 100;
    await Promise.all(
      Array.from(
        { length: count },
        (_, i) => s.publish(`ts ${i}`, { payloadType: "text/plain", metadata: { i: String(i) } }),
      ),
    );
    for (let i = 0; i < count; i++) {
      const m = await real.nextMessage({ sid: inc.sid, timeoutMs: 5000 });
      assertEquals(m.text, `ts ${i}`);
      assertEquals(m.payloadType, "text/plain");
      assertEquals(m.metadata.i, String(i));
      assertEquals(m.sourceBase, "org/ns/tsalice");
    }
    if (reliable) {
      for (let i = 0; i < count; i++) await real.publish(inc.sid, `real ${i}`);
      for (let i = 0; i < count; i++) {
        const m = await s.nextMessage({ timeoutMs: 5000 });
        assertEquals(m.text(), `real ${i}`);
        assertEquals(m.source.base, "org/ns/realbob");
      }
    }
    // publishTo / reply from the real side, then close from ours.
    await real.publishTo(inc.sid, (await sendAndGet(s, real, inc.sid)).ref, "pong");
    assertEquals((await s.nextMessage({ timeoutMs: 5000 })).text(), "pong");
    await s.close();
    await real.waitFor((e) => e.event === "session-closed" && e.sid === inc.sid, 5000);
  } finally {
    await alice.close();
  }
}

async function sendAndGet(
  s: Awaited<ReturnType<App["createSession"]>>,
  real: Awaited<ReturnType<typeof startRealApp>>,
  sid: number,
) {
  await s.publish("ping");
  return await real.nextMessage({ sid, timeoutMs: 5000 });
}

/** The real app opens the session to ours; 1000 reliable messages each way. */
async function realToOurs(node: NodeUnderTest) {
  ensurePeerInstalled();
  await using real = await startRealApp({
    name: "org/ns/realalice",
    endpoint: node.url,
    secret: SECRET,
  });
  const bob = await ourApp("org/ns/tsbob", node.url);
  try {
    const created = real.createSession({ kind: "p2p", peer: "org/ns/tsbob", metadata: { k: "v" } });
    const inc = await bob.listen({ timeoutMs: 5000 });
    const out = await created;
    assertEquals(inc.id, out.sessionId);
    assertEquals(inc.isModerator, false);
    assertEquals({ ...inc.metadata }, { k: "v" });
    for (let i = 0; i < N; i++) {
      await real.publish(out.sid, `real ${i}`, { payloadType: "text/plain" });
    }
    for (let i = 0; i < N; i++) {
      const m = await inc.nextMessage({ timeoutMs: 5000 });
      assertEquals(m.text(), `real ${i}`);
      assertEquals(m.payloadType, "text/plain");
    }
    await Promise.all(Array.from({ length: N }, (_, i) => inc.publish(`ts ${i}`)));
    for (let i = 0; i < N; i++) {
      const m = await real.nextMessage({ sid: out.sid, timeoutMs: 5000 });
      assertEquals(m.text, `ts ${i}`);
    }
    // Reply semantics: answer one specific message.
    await real.publish(out.sid, "question");
    const q = await inc.nextMessage({ timeoutMs: 5000 });
    await inc.reply(q, "answer");
    assertEquals((await real.nextMessage({ sid: out.sid, timeoutMs: 5000 })).text, "answer");
    // The real initiator deletes: our side sees the close.
    await real.deleteSession(out.sid);
    const reason = await inc.closed;
    assert(reason.length > 0);
  } finally {
    await bob.close();
  }
}

Deno.test("interop p2p - our app to a real app through a real node, 1000 reliable each way", async () => {
  const node = await realNode();
  try {
    await oursToReal(node, true);
  } finally {
    await node.stop();
  }
});

Deno.test("interop p2p - our app to a real app through our node, 1000 reliable each way", async () => {
  const node = await ourNode();
  try {
    await oursToReal(node, true);
  } finally {
    await node.stop();
  }
});

Deno.test("interop p2p - a real app to our app through a real node, 1000 reliable each way", async () => {
  const node = await realNode();
  try {
    await realToOurs(node);
  } finally {
    await node.stop();
  }
});

Deno.test("interop p2p - a real app to our app through our node, 1000 reliable each way", async () => {
  const node = await ourNode();
  try {
    await realToOurs(node);
  } finally {
    await node.stop();
  }
});

Deno.test("interop p2p - best effort from our app to a real app", async () => {
  const node = await realNode();
  try {
    await oursToReal(node, false);
  } finally {
    await node.stop();
  }
});

/**
 * An app survives its node restarting: it redials with the same link id, replays its
 * subscriptions, and sessions can be opened again.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App, type AppEvent } from "../../lib/app/app.ts";
import { createLogger } from "../../lib/log.ts";
import { SlimNode } from "../../lib/node/node.ts";
import { freePort } from "../peer/real_peer.ts";

const SECRET = "reconnect-test-shared-secret-0123456789-abcdef";
const quiet = createLogger("test", { level: "error" });

function startNode(port: number) {
  return SlimNode.start({
    servers: [{ endpoint: `127.0.0.1:${port}` }],
    logger: quiet,
    drainTimeoutMs: 500,
  });
}

async function nextEvent(app: App, type: AppEvent["type"], timeoutMs = 10_000): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for await (const e of app.events({ signal: ac.signal })) if (e.type === type) return;
    throw new Error(`no ${type} event within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("app - reconnects after the node restarts, same link id, subscriptions replayed", async () => {
  const port = freePort();
  let node = await startNode(port);
  const url = `http://127.0.0.1:${port}`;
  const mk = (name: string) =>
    App.connect({
      name,
      endpoint: url,
      identity: { sharedSecret: SECRET },
      logger: quiet,
      backoff: { type: "fixed_interval", intervalMs: 100 },
    });
  const alice = await mk("org/ns/alice");
  const bob = await mk("org/ns/bob");
  try {
    const linksBefore = node.router.links().map((l) => l.linkId).sort();
    const aliceDown = nextEvent(alice, "disconnected");
    const bobDown = nextEvent(bob, "disconnected");
    await node.stop();
    await Promise.all([aliceDown, bobDown]);
    const aliceUp = nextEvent(alice, "reconnected");
    const bobUp = nextEvent(bob, "reconnected");
    node = await startNode(port);
    await Promise.all([aliceUp, bobUp]);
    assertEquals(node.router.links().map((l) => l.linkId).sort(), linksBefore);
    // Both names are replayed (with subscription id 0, so without acks: poll the table).
    const names = () => node.router.table.list().map((r) => r.name).sort().join(",");
    for (let i = 0; i < 100 && names() !== "org/ns/alice,org/ns/bob"; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(names(), "org/ns/alice,org/ns/bob");
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: { maxRetries: 5, intervalMs: 200 },
    });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await s.publish("after the restart");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "after the restart");
    assert(inc.id === s.id);
  } finally {
    await Promise.allSettled([alice.close(), bob.close()]);
    await node.stop();
  }
});

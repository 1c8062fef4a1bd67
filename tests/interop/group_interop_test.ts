/**
 * MLS group sessions mixing slim-ts apps and real SLIM apps, with either side as moderator, and
 * an all-slim-ts group under load.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { createLogger } from "../../lib/log.ts";
import { SlimNode } from "../../lib/node/node.ts";
import type { Session } from "../../lib/session/session.ts";
import {
  ensurePeerInstalled,
  type RealApp,
  startRealApp,
  startRealNode,
} from "../peer/real_peer.ts";
import { SECRET } from "../peer/scenarios.ts";

const quiet = createLogger("test", { level: "warn" });

async function ourNode() {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: quiet.child("node"),
    drainTimeoutMs: 1000,
  });
  return { node, url: `http://127.0.0.1:${node.addresses[0].port}` };
}

function ourApp(name: string, url: string): Promise<App> {
  return App.connect({
    name,
    endpoint: url,
    identity: { sharedSecret: SECRET },
    logger: quiet.child(name),
  });
}

async function texts(s: Session, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await s.nextMessage({ timeoutMs: 10_000 })).text());
  return out.sort();
}

async function realTexts(app: RealApp, sid: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await app.nextMessage({ sid, timeoutMs: 10_000 })).text);
  return out.sort();
}

Deno.test("interop group - a real moderator invites our app and a real app (MLS, real node)", async () => {
  ensurePeerInstalled();
  await using node = await startRealNode({ strict: true });
  await using mod = await startRealApp({
    name: "org/ns/realmod",
    endpoint: node.url,
    secret: SECRET,
  });
  await using real = await startRealApp({
    name: "org/ns/realmember",
    endpoint: node.url,
    secret: SECRET,
  });
  const ours = await ourApp("org/ns/tsmember", node.url);
  try {
    const g = await mod.createSession({ kind: "group", channel: "org/ns/mixed", mls: true });
    await mod.invite(g.sid, "org/ns/tsmember");
    await mod.invite(g.sid, "org/ns/realmember");
    const s = await ours.listen({ timeoutMs: 10_000 });
    const r = await real.listen({ timeoutMs: 10_000 });
    assert(s.mls, "our member joined an MLS session");
    assertEquals(s.kind, "group");
    await mod.publish(g.sid, "from realmod");
    await real.publish(r.sid, "from realmember");
    await s.publish("from tsmember");
    assertEquals(await texts(s, 2), ["from realmember", "from realmod"]);
    assertEquals(await realTexts(mod, g.sid, 2), ["from realmember", "from tsmember"]);
    assertEquals(await realTexts(real, r.sid, 2), ["from realmod", "from tsmember"]);
    // Our member leaves; the real ones go on.
    await s.close();
    await mod.publish(g.sid, "after leave");
    assertEquals((await real.nextMessage({ sid: r.sid, timeoutMs: 10_000 })).text, "after leave");
    await mod.deleteSession(g.sid);
  } finally {
    await ours.close();
  }
});

Deno.test("interop group - our moderator invites two real apps (MLS, our node): remove and close", async () => {
  ensurePeerInstalled();
  const { node, url } = await ourNode();
  await using r1 = await startRealApp({ name: "org/ns/real1", endpoint: url, secret: SECRET });
  await using r2 = await startRealApp({ name: "org/ns/real2", endpoint: url, secret: SECRET });
  const mod = await ourApp("org/ns/tsmod", url);
  try {
    const g = await mod.createSession({ kind: "group", channel: "org/ns/tschat", mls: true });
    await g.invite("org/ns/real1");
    await g.invite("org/ns/real2");
    const s1 = await r1.listen({ timeoutMs: 10_000 });
    const s2 = await r2.listen({ timeoutMs: 10_000 });
    assertEquals(g.participants().length, 3);
    await g.publish("from tsmod");
    await r1.publish(s1.sid, "from real1");
    await r2.publish(s2.sid, "from real2");
    assertEquals(await texts(g, 2), ["from real1", "from real2"]);
    assertEquals(await realTexts(r1, s1.sid, 2), ["from real2", "from tsmod"]);
    assertEquals(await realTexts(r2, s2.sid, 2), ["from real1", "from tsmod"]);
    // Remove real2: it stops receiving, the other two go on.
    await g.remove("org/ns/real2");
    await r2.waitFor((e) => e.event === "session-closed" && e.sid === s2.sid, 10_000);
    await g.publish("after remove");
    await r1.publish(s1.sid, "real1 after remove");
    assertEquals((await r1.nextMessage({ sid: s1.sid, timeoutMs: 10_000 })).text, "after remove");
    assertEquals((await g.nextMessage({ timeoutMs: 10_000 })).text(), "real1 after remove");
    assert(!r2.messages.some((m) => m.text === "after remove"), "removed member got nothing more");
    // Close: the real participant sees it.
    await g.close();
    await r1.waitFor((e) => e.event === "session-closed" && e.sid === s1.sid, 10_000);
  } finally {
    await mod.close();
    await node.stop();
  }
});

Deno.test("interop group - p2p with MLS between our app and a real app, both directions", async () => {
  ensurePeerInstalled();
  await using node = await startRealNode({ strict: true });
  await using real = await startRealApp({
    name: "org/ns/realpeer",
    endpoint: node.url,
    secret: SECRET,
  });
  const ours = await ourApp("org/ns/tspeer", node.url);
  try {
    // Ours initiates.
    const s = await ours.createSession({
      kind: "point-to-point",
      peer: "org/ns/realpeer",
      mls: true,
      reliable: { maxRetries: 5, intervalMs: 1000 },
    });
    const inc = await real.listen({ timeoutMs: 10_000 });
    await s.publish("encrypted hello");
    const m = await real.nextMessage({ sid: inc.sid, timeoutMs: 10_000 });
    assertEquals(m.text, "encrypted hello");
    await real.publishTo(inc.sid, m, "encrypted reply");
    assertEquals((await s.nextMessage({ timeoutMs: 10_000 })).text(), "encrypted reply");
    await s.close();
    // The real app initiates.
    const created = real.createSession({ kind: "p2p", peer: "org/ns/tspeer", mls: true });
    const mine = await ours.listen({ timeoutMs: 10_000 });
    const out = await created;
    assert(mine.mls);
    await real.publish(out.sid, "real encrypted");
    assertEquals((await mine.nextMessage({ timeoutMs: 10_000 })).text(), "real encrypted");
    await mine.publish("ts encrypted");
    assertEquals(
      (await real.nextMessage({ sid: out.sid, timeoutMs: 10_000 })).text,
      "ts encrypted",
    );
    await real.deleteSession(out.sid);
    await mine.closed;
  } finally {
    await ours.close();
  }
});

Deno.test("interop group - 8 of our apps, 200 reliable MLS messages each, all received in order", async () => {
  const { node, url } = await ourNode();
  const apps = await Promise.all(
    Array.from({ length: 8 }, (_, i) => ourApp(`org/ns/member${i}`, url)),
  );
  try {
    const g = await apps[0].createSession({ kind: "group", channel: "org/ns/eight", mls: true });
    for (let i = 1; i < 8; i++) await g.invite(`org/ns/member${i}`);
    const sessions: Session[] = [g];
    for (let i = 1; i < 8; i++) sessions.push(await apps[i].listen({ timeoutMs: 10_000 }));
    const PER = 200;
    const received = sessions.map(() => new Map<string, number[]>());
    const readers = sessions.map(async (s, i) => {
      let n = 0;
      for await (const m of s.messages()) {
        const [who, seq] = m.text().split(":");
        const list = received[i].get(who) ?? [];
        list.push(Number(seq));
        received[i].set(who, list);
        if (++n === PER * 7) return;
      }
    });
    // Each member keeps a bounded number of reliable publishes in flight, as a real sender would.
    await Promise.all(sessions.map(async (s, i) => {
      const inflight = new Set<Promise<void>>();
      for (let k = 0; k < PER; k++) {
        const p: Promise<void> = s.publish(`m${i}:${k}`).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 16) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    }));
    await Promise.all(readers);
    for (let i = 0; i < 8; i++) {
      assertEquals(received[i].size, 7, `member ${i} heard from everyone else`);
      for (const [who, seqs] of received[i]) {
        assert(who !== `m${i}`, "nobody receives its own messages");
        assertEquals(seqs, Array.from({ length: PER }, (_, k) => k), `${who} at member ${i}`);
      }
    }
    await g.close();
  } finally {
    await Promise.all(apps.map((a) => a.close()));
    await node.stop();
  }
});

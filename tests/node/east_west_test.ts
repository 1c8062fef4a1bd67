/**
 * Two slim-ts nodes in SLIM's east-west shape (`config/east-west/` upstream): west dials east
 * with `connection_type: peer`; apps on either node reach apps on the other. Real sockets on
 * 127.0.0.1; nodes built from YAML as `slim --config` builds them.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { freePort } from "../peer/real_peer.ts";
import { Collector, connectApp, quiet, SECRET } from "../session/_harness.ts";
import {
  established,
  nextClientEvent,
  nodeFromYaml,
  routes,
  serviceYaml,
  type TestNode,
  waitUntil,
} from "./_multinode.ts";
import { routerOf } from "../../lib/node/node.ts";

const FAST = { maxRetries: 5, intervalMs: 200 };

function eastYaml(port: number): string {
  return serviceYaml("slim-east", port);
}

function westYaml(port: number, eastPort: number, type = "peer"): string {
  return serviceYaml(
    "slim-west",
    port,
    `      clients:
        - endpoint: "http://127.0.0.1:${eastPort}"
          connection_type: ${type}
          link_id: west-to-east
          tls: {insecure: true}
          backoff: {type: fixed_interval, interval: 50ms}
`,
  );
}

async function eastWest(): Promise<{ east: TestNode; west: TestNode; eastPort: number }> {
  const eastPort = freePort();
  const east = await nodeFromYaml(eastYaml(eastPort));
  const west = await nodeFromYaml(westYaml(freePort(), eastPort));
  await established(west.node.clients[0]);
  return { east, west, eastPort };
}

async function closeAll(apps: App[], ...nodes: TestNode[]): Promise<void> {
  await Promise.allSettled(apps.map((a) => a.close()));
  await Promise.all(nodes.map((n) => n.node.stop()));
}

Deno.test("east-west - west dials east as a peer: both sides list a PEER link without MACs", async () => {
  const { east, west } = await eastWest();
  try {
    const [e] = routerOf(east.node).links();
    const [w] = routerOf(west.node).links();
    assertEquals([e.category, e.role, e.linkId, e.remoteNodeId], [
      "peer",
      "acceptor",
      "west-to-east",
      "slim-west",
    ]);
    assertEquals([w.category, w.role, w.linkId, w.remoteNodeId], [
      "peer",
      "dialler",
      "west-to-east",
      "slim-east",
    ]);
    assertEquals(
      [e.mac, w.mac],
      [undefined, undefined],
      "peer links are neither signed nor checked",
    );
    assert(west.log.has("connected to node", "link_id=west-to-east", "type=peer"));
    assert(!west.log.has("not implemented"), "clients are no longer warned about");
  } finally {
    await closeAll([], west, east);
  }
});

Deno.test("east-west - a p2p session between an app on each node, both directions", async () => {
  const { east, west } = await eastWest();
  const alice = await connectApp("org/ns/alice", east.url);
  const bob = await connectApp("org/ns/bob", west.url);
  try {
    // An app's subscribe is acknowledged only after the peer acknowledged the announcement, so
    // the routes are in place as soon as connect() returns.
    assertEquals(routes(west.node), ["org/ns/alice peer", "org/ns/bob edge"]);
    assertEquals(routes(east.node), ["org/ns/alice edge", "org/ns/bob peer"]);

    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
    });
    assert(s.destination.equals(bob.name));
    const inc = await bob.listen({ timeoutMs: 5000 });
    for (let i = 0; i < 20; i++) await s.publish(`east->west ${i}`);
    for (let i = 0; i < 20; i++) {
      assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), `east->west ${i}`);
    }
    await inc.publish("west->east");
    assertEquals((await s.nextMessage({ timeoutMs: 5000 })).text(), "west->east");

    const back = await bob.createSession({
      kind: "point-to-point",
      peer: "org/ns/alice",
      reliable: FAST,
    });
    const inc2 = await alice.listen({ timeoutMs: 5000 });
    await back.publish("initiated on west");
    assertEquals((await inc2.nextMessage({ timeoutMs: 5000 })).text(), "initiated on west");
  } finally {
    await closeAll([alice, bob], west, east);
  }
});

Deno.test("east-west - a group session with members on both nodes; each message crosses once", async () => {
  const { east, west } = await eastWest();
  const mod = await connectApp("org/ns/mod", east.url);
  const p1 = await connectApp("org/ns/p1", east.url);
  const p2 = await connectApp("org/ns/p2", west.url);
  const p3 = await connectApp("org/ns/p3", west.url);
  const apps = [mod, p1, p2, p3];
  try {
    const session = await mod.createSession({
      kind: "group",
      channel: "org/ns/chat",
      reliable: FAST,
    });
    const members: Collector[] = [];
    for (const p of [p1, p2, p3]) {
      await session.invite(p.name.withoutId());
      members.push(new Collector(await p.listen({ timeoutMs: 5000 })));
    }
    // The channel (data and control names) is known on both sides.
    assert(routes(west.node).some((r) => r.startsWith("org/ns/chat") && r.endsWith(" peer")));
    assert(routes(east.node).some((r) => r.startsWith("org/ns/chat") && r.endsWith(" peer")));

    const westLink = routerOf(west.node).links()[0];
    const crossedBefore = routerOf(west.node).stats(westLink)!.received;
    const M = 10;
    for (let i = 0; i < M; i++) await session.publish(`from mod ${i}`);
    await members[2].session.publish("from p3");
    const all = [new Collector(session), ...members];
    for (const [k, c] of members.entries()) {
      await c.waitTexts(k === 2 ? M : M + 1, 5000);
    }
    await all[0].waitTexts(1, 5000);
    for (const [k, c] of members.entries()) {
      const fromMod = c.texts().filter((t) => t.startsWith("from mod"));
      assertEquals(
        fromMod,
        Array.from({ length: M }, (_, i) => `from mod ${i}`),
        `member ${k + 1}`,
      );
      assertEquals(c.texts().filter((t) => t === "from p3").length, k === 2 ? 0 : 1);
    }
    assertEquals(all[0].texts(), ["from p3"]);
    // A broadcast crosses the peer link once however many members are behind it: the M data
    // messages of the moderator reach p2 and p3 through a single copy each (the acks of p3's
    // message account for the rest of what west received from east).
    const crossed = routerOf(west.node).stats(westLink)!.received - crossedBefore;
    assert(crossed < 2 * M, `west received ${crossed} messages from east for ${M} broadcasts`);
  } finally {
    await closeAll(apps, west, east);
  }
});

Deno.test("east-west - east stops and restarts: west redials with the same link id, routes come back", async () => {
  const { east, west, eastPort } = await eastWest();
  const alice = await connectApp("org/ns/alice", east.url);
  const bob = await connectApp("org/ns/bob", west.url);
  const client = west.node.clients[0];
  const linkIndex = client.connection!;
  let east2: TestNode | undefined;
  try {
    assertEquals(routes(west.node), ["org/ns/alice peer", "org/ns/bob edge"]);
    const down = nextClientEvent(client, "disconnected");
    await east.node.stop();
    await down;
    // East withdrew what it had announced before closing the link.
    assertEquals(routes(west.node), ["org/ns/bob edge"]);
    assertEquals(client.state, "reconnecting");

    const up = nextClientEvent(client, "established");
    east2 = await nodeFromYaml(eastYaml(eastPort));
    const e = await up;
    assertEquals(e.type === "established" && e.connection, linkIndex, "same connection index");
    const [link] = routerOf(east2.node).links().filter((l) => l.category === "peer");
    assertEquals([link.linkId, link.remoteNodeId], ["west-to-east", "slim-west"]);
    // West re-sent its table on the new link; alice's app came back to east and re-announced.
    await waitUntil(() => routes(east2!.node).join() === "org/ns/alice edge,org/ns/bob peer");
    await waitUntil(() => routes(west.node).join() === "org/ns/alice peer,org/ns/bob edge");

    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
    });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await s.publish("after the restart");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "after the restart");
  } finally {
    await closeAll([alice, bob], west, ...(east2 ? [east2] : []));
    await east.node.stop();
  }
});

Deno.test("east-west - west stops and restarts: east drops its routes, then learns them again", async () => {
  const { east, west, eastPort } = await eastWest();
  const westPort = west.port;
  const alice = await connectApp("org/ns/alice", east.url);
  const bob = await connectApp("org/ns/bob", west.url);
  let west2: TestNode | undefined;
  try {
    assertEquals(routes(east.node), ["org/ns/alice edge", "org/ns/bob peer"]);
    await west.node.stop();
    await waitUntil(() => routerOf(east.node).links().every((l) => l.category !== "peer"));
    assertEquals(routes(east.node), ["org/ns/alice edge"]);

    west2 = await nodeFromYaml(westYaml(westPort, eastPort));
    await established(west2.node.clients[0]);
    await waitUntil(() => routes(east.node).join() === "org/ns/alice edge,org/ns/bob peer");
    await waitUntil(() => routes(west2!.node).join() === "org/ns/alice peer,org/ns/bob edge");
    const s = await bob.createSession({
      kind: "point-to-point",
      peer: "org/ns/alice",
      reliable: FAST,
    });
    const inc = await alice.listen({ timeoutMs: 5000 });
    await s.publish("after the restart");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "after the restart");
  } finally {
    await closeAll([alice, bob], east, ...(west2 ? [west2] : []));
    await west.node.stop();
  }
});

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

Deno.test("east-west - `slim --config` west is killed (-9) and restarted: east drops, then relearns its routes", async () => {
  const eastPort = freePort();
  const east = await nodeFromYaml(eastYaml(eastPort));
  const westPort = freePort();
  const config = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(config, westYaml(westPort, eastPort));
  const startWest = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--config", config],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const kill = async (p: Deno.ChildProcess) => {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
    await p.status;
  };
  const westLink = () => routerOf(east.node).links().find((l) => l.remoteNodeId === "slim-west");
  let west = startWest();
  const apps: App[] = [];
  try {
    await waitUntil(() => westLink() !== undefined, 20_000, "west's peer link");
    const alice = await connectApp("org/ns/alice", east.url);
    const bob = await App.connect({
      name: "org/ns/bob",
      endpoint: `http://127.0.0.1:${westPort}`,
      identity: { sharedSecret: SECRET },
      logger: quiet,
      backoff: { type: "fixed_interval", intervalMs: 50 },
    });
    apps.push(alice, bob);
    assertEquals(routes(east.node), ["org/ns/alice edge", "org/ns/bob peer"]);

    await kill(west);
    await waitUntil(() => westLink() === undefined, 5000, "the dead link dropped");
    assertEquals(routes(east.node), ["org/ns/alice edge"]);

    west = startWest();
    // West redials east and re-sends its table; bob's app redials west and replays its name.
    await waitUntil(() => routes(east.node).join() === "org/ns/alice edge,org/ns/bob peer", 20_000);
    assertEquals(westLink()!.linkId, "west-to-east");
    const s = await alice.createSession({
      kind: "point-to-point",
      peer: "org/ns/bob",
      reliable: FAST,
    });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await s.publish("after kill -9");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "after kill -9");
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await kill(west);
    await east.node.stop();
    await Deno.remove(config).catch(() => {});
  }
});

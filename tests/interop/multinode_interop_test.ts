/**
 * Our node and the real SLIM node (npm bindings, core 2.0.0-alpha.10) in one network, linked as
 * SLIM's east-west example links them (`connection_type: peer`), in both roles:
 * - the real node is east (`runServer`) and ours dials it: real apps on the real node and real
 *   or slim-ts apps on ours complete sessions across the two; the real node restarting is
 *   survived; an `edge` link, as SLIM documents, carries no routes;
 * - the real node is west, built from a configuration file as the `slim` binary builds it, and
 *   dials ours: sessions across, and it being killed (-9) and restarted.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { connectApp } from "../session/_harness.ts";
import { SECRET } from "../peer/scenarios.ts";
import {
  freePort,
  type MessageEvent,
  type RealApp,
  type RealNode,
  startRealApp,
  startRealNode,
} from "../peer/real_peer.ts";
import {
  established,
  nextClientEvent,
  nodeFromYaml,
  routes,
  serviceYaml,
  type TestNode,
  waitUntil,
} from "../node/_multinode.ts";
import { routerOf } from "../../lib/node/node.ts";

async function westDialling(east: RealNode, type = "peer"): Promise<TestNode> {
  const west = await nodeFromYaml(serviceYaml(
    "slim-west",
    freePort(),
    `      clients:
        - endpoint: "${east.url}"
          connection_type: ${type}
          link_id: west-to-real-east
          tls: {insecure: true}
          backoff: {type: fixed_interval, interval: 100ms}
`,
  ));
  await established(west.node.clients[0]);
  return west;
}

function real(name: string, url: string) {
  return startRealApp({ name, endpoint: url, secret: SECRET });
}

Deno.test("interop multinode - our node peers with a strict real node; real alice (east) and our bob (west) talk both ways", async () => {
  await using east = await startRealNode({ strict: true });
  const west = await westDialling(east);
  const bob = await connectApp("org/ns/bob", west.url, { secret: SECRET });
  let alice: RealApp | undefined;
  try {
    const [link] = routerOf(west.node).links();
    assertEquals([link.category, link.remoteNodeId, link.mac], [
      "peer",
      `peer-node-${east.port}`,
      undefined,
    ]);
    alice = await real("org/ns/alice", east.url);
    // The real node acknowledges its app only after we acknowledged its announcement.
    assert(routes(west.node).includes("org/ns/alice peer"), routes(west.node).join());

    const out = await alice.createSession({ kind: "p2p", peer: "org/ns/bob" });
    const inc = await bob.listen({ timeoutMs: 5000 });
    assertEquals(inc.id, out.sessionId);
    await alice.publish(out.sid, "real east to our west");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "real east to our west");
    await inc.publish("our west to real east");
    const back = await alice.nextMessage({ sid: out.sid, timeoutMs: 5000 });
    assertEquals([back.text, back.sourceBase], ["our west to real east", "org/ns/bob"]);

    // And a session opened on our side.
    const s = await bob.createSession({
      kind: "point-to-point",
      peer: "org/ns/alice",
      reliable: { maxRetries: 5, intervalMs: 200 },
    });
    const inc2 = await alice.listen({ timeoutMs: 5000 });
    await s.publish("opened on west");
    const m = await alice.nextMessage({ sid: inc2.sid, timeoutMs: 5000 });
    assertEquals(m.text, "opened on west");
  } finally {
    // Ours first: an app closing sessions whose peer is gone waits for its replies.
    await bob.close();
    await alice?.close();
    await west.node.stop();
  }
});

Deno.test("interop multinode - real apps on both nodes: p2p round trip and an MLS group across the peer link", async () => {
  await using east = await startRealNode();
  const west = await westDialling(east);
  try {
    await using alice = await real("org/ns/alice", east.url);
    await using bob = await real("org/ns/bob", west.url);
    const out = await alice.createSession({ kind: "p2p", peer: "org/ns/bob" });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await alice.publish(out.sid, "hello bob");
    const got = await bob.nextMessage({ sid: inc.sid, timeoutMs: 5000 });
    assertEquals([got.text, got.source], ["hello bob", alice.fullName]);
    await bob.publishTo(inc.sid, got, "hello alice");
    assertEquals((await alice.nextMessage({ sid: out.sid, timeoutMs: 5000 })).text, "hello alice");

    // An MLS group: the real moderator on east, one member on each node.
    await using m1 = await real("org/ns/member1", east.url);
    await using m2 = await real("org/ns/member2", west.url);
    const group = await alice.createSession({ kind: "group", channel: "org/ns/chat", mls: true });
    await alice.invite(group.sid, m1.name);
    await alice.invite(group.sid, m2.name);
    const s1 = await m1.listen({ timeoutMs: 5000 });
    const s2 = await m2.listen({ timeoutMs: 5000 });
    const sides = [[alice, group.sid], [m1, s1.sid], [m2, s2.sid]] as const;
    await Promise.all(sides.map(([app, sid]) => app.publish(sid, `from ${app.name}`)));
    for (const [app, sid] of sides) {
      const texts: string[] = [];
      for (let i = 0; i < 2; i++) {
        const m: MessageEvent = await app.nextMessage({ sid, timeoutMs: 5000 });
        texts.push(m.text);
      }
      const expected = sides.filter(([o]) => o !== app).map(([o]) => `from ${o.name}`);
      assertEquals(texts.sort(), expected.sort(), `${app.name} got each message once`);
    }
    await alice.deleteSession(group.sid);
    await m2.waitFor((e) => e.event === "session-closed" && e.sid === s2.sid, 5000);
  } finally {
    await west.node.stop();
  }
});

Deno.test("interop multinode - the real node restarts: we redial with the same link id and sessions work again", async () => {
  const port = freePort();
  let east = await startRealNode({ port, strict: true });
  const west = await westDialling(east);
  const bob = await connectApp("org/ns/bob", west.url, { secret: SECRET });
  let alice: RealApp | undefined;
  try {
    const client = west.node.clients[0];
    const index = client.connection!;
    const down = nextClientEvent(client, "disconnected");
    await east.stop();
    await down;
    const up = nextClientEvent(client, "established");
    east = await startRealNode({ port, strict: true });
    const e = await up;
    assertEquals(e.type === "established" && e.connection, index);
    alice = await real("org/ns/alice", east.url);
    assert(routes(west.node).includes("org/ns/alice peer"));
    // The restarted real node learned bob from our full sync on the new link.
    const out = await alice.createSession({ kind: "p2p", peer: "org/ns/bob" });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await alice.publish(out.sid, "after the real node restarted");
    assertEquals(
      (await inc.nextMessage({ timeoutMs: 5000 })).text(),
      "after the real node restarted",
    );
  } finally {
    await bob.close();
    await west.node.stop();
    await east.stop();
  }
});

Deno.test("interop multinode - an edge link to the real node is an app link: no routes cross it", async () => {
  await using east = await startRealNode({ strict: true });
  const west = await westDialling(east, "edge");
  const bob = await connectApp("org/ns/bob", west.url, { secret: SECRET });
  try {
    const [link] = routerOf(west.node).links().filter((l) => l.linkId === "west-to-real-east");
    assertEquals([link.category, link.mac !== undefined], ["edge", true], "MAC'd like an app link");
    await using alice = await real("org/ns/alice", east.url);
    // Nothing is announced on an edge link, in either direction.
    assertEquals(routes(west.node), ["org/ns/bob edge"]);
    const failed = await alice.createSession({
      kind: "p2p",
      peer: "org/ns/bob",
      maxRetries: 1,
      intervalMs: 200,
      timeoutMs: 2000,
    }).then(() => false, () => true);
    assert(failed, "bob is unreachable from east over an edge link");
    await waitUntil(() => routes(west.node).join() === "org/ns/bob edge", 100);
  } finally {
    await bob.close();
    await west.node.stop();
  }
});

const CONFIG_NODE = fileURLToPath(new URL("./real_config_node.mjs", import.meta.url));

/** A real node started from a configuration file in its own process (see real_config_node.mjs). */
class RealConfigNode {
  readonly #child: Deno.ChildProcess;
  readonly #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stderr = new Response(child.stderr).text();
  }

  /** Starts it; it dials its clients while we wait for its link elsewhere. */
  static start(configFile: string): RealConfigNode {
    return new RealConfigNode(
      new Deno.Command("node", {
        args: [CONFIG_NODE, configFile],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn(),
    );
  }

  /** SIGKILL: no drain, no unsubscribe, the sockets just die. */
  async kill(): Promise<string> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.#child.status;
    return await this.#stderr;
  }
}

Deno.test("interop multinode - a config-built real node dials ours as a peer; sessions cross; kill -9 and restart", async () => {
  const east = await nodeFromYaml(serviceYaml("slim-east", freePort()));
  const alice = await connectApp("org/ns/alice", east.url, { secret: SECRET });
  const westUrl = `http://127.0.0.1:${freePort()}`;
  const config = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    config,
    `tracing: {log_level: info}
services:
  slim/0:
    node_id: real-west
    dataplane:
      servers:
        - endpoint: "${westUrl.slice("http://".length)}"
          tls: {insecure: true}
      clients:
        - endpoint: "${east.url}"
          connection_type: peer
          link_id: real-west-to-east
          tls: {insecure: true}
`,
  );
  const peerLink = () =>
    routerOf(east.node).links().find((l) =>
      l.category === "peer" && l.remoteNodeId === "real-west"
    );
  let west = RealConfigNode.start(config);
  let bob: RealApp | undefined;
  try {
    await waitUntil(() => peerLink() !== undefined, 20_000, "the real node's peer link");
    assertEquals([peerLink()!.linkId, peerLink()!.role, peerLink()!.mac], [
      "real-west-to-east",
      "acceptor",
      undefined,
    ]);
    bob = await real("org/ns/bob", westUrl);
    // The real node waited for our ack before acknowledging bob: the route is here.
    assert(routes(east.node).includes("org/ns/bob peer"), routes(east.node).join());
    const out = await bob.createSession({ kind: "p2p", peer: "org/ns/alice" });
    const inc = await alice.listen({ timeoutMs: 5000 });
    await bob.publish(out.sid, "real west to our east");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "real west to our east");
    await inc.publish("our east to real west");
    assertEquals(
      (await bob.nextMessage({ sid: out.sid, timeoutMs: 5000 })).text,
      "our east to real west",
    );

    await west.kill();
    await waitUntil(() => peerLink() === undefined, 5000, "the dead link to be dropped");
    assertEquals(routes(east.node), ["org/ns/alice edge"]);
    await bob.close();

    west = RealConfigNode.start(config);
    await waitUntil(() => peerLink() !== undefined, 20_000, "the restarted node's link");
    bob = await real("org/ns/bob", westUrl);
    assert(routes(east.node).includes("org/ns/bob peer"));
    const again = await bob.createSession({ kind: "p2p", peer: "org/ns/alice" });
    const inc2 = await alice.listen({ timeoutMs: 5000 });
    await bob.publish(again.sid, "after kill -9");
    assertEquals((await inc2.nextMessage({ timeoutMs: 5000 })).text(), "after kill -9");
  } finally {
    await alice.close();
    await bob?.close();
    await west.kill();
    await east.node.stop();
    await Deno.remove(config).catch(() => {});
  }
});

Deno.test("interop multinode - full mesh (`peers:` static discovery): the real replica slim-1 dials our slim-2", async () => {
  const ourPort = freePort(), realPort = freePort();
  const peers = `    peers:
      deployment_name: thegroup
      discovery:
        type: static
        peers:
          - node_id: slim-1
            endpoint: "http://127.0.0.1:${realPort}"
            tls: {insecure: true}
          - node_id: slim-2
            endpoint: "http://127.0.0.1:${ourPort}"
            tls: {insecure: true}
`;
  const ours = await nodeFromYaml(serviceYaml("slim-2", ourPort, peers));
  const config = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    config,
    `tracing: {log_level: info}
services:
  slim/0:
    node_id: slim-1
    dataplane:
      servers:
        - endpoint: "127.0.0.1:${realPort}"
          tls: {insecure: true}
${peers}`,
  );
  const replica = RealConfigNode.start(config);
  const bob = await connectApp("org/ns/bob", ours.url, { secret: SECRET });
  let alice: RealApp | undefined;
  try {
    assertEquals(ours.node.clients, [], "the larger node id only accepts");
    const link = () => routerOf(ours.node).links().find((l) => l.remoteNodeId === "slim-1");
    await waitUntil(() => link() !== undefined, 20_000, "the real replica's link");
    assertEquals([link()!.linkId, link()!.category, link()!.remoteDeploymentName], [
      "slim-1:slim-2",
      "peer",
      "thegroup",
    ]);
    alice = await real("org/ns/alice", `http://127.0.0.1:${realPort}`);
    assert(routes(ours.node).includes("org/ns/alice peer"));
    const out = await alice.createSession({ kind: "p2p", peer: "org/ns/bob" });
    const inc = await bob.listen({ timeoutMs: 5000 });
    await alice.publish(out.sid, "across the mesh");
    assertEquals((await inc.nextMessage({ timeoutMs: 5000 })).text(), "across the mesh");
    await inc.publish("and back");
    assertEquals((await alice.nextMessage({ sid: out.sid, timeoutMs: 5000 })).text, "and back");
  } finally {
    await bob.close();
    await alice?.close();
    await replica.kill();
    await ours.node.stop();
    await Deno.remove(config).catch(() => {});
  }
});

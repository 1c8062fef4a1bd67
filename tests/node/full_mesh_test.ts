/**
 * Three slim-ts replicas in a full mesh from static discovery (`peers:`, as SLIM's
 * `config/full-mesh/` example): the smaller node id of each pair dials, with link id
 * `<dialler>:<acceptor>`; a group session spans the three nodes. Real sockets on 127.0.0.1.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import type { App } from "../../lib/app/app.ts";
import { freePort } from "../peer/real_peer.ts";
import { Collector, connectApp } from "../session/_harness.ts";
import { established, nodeFromYaml, routes, serviceYaml, type TestNode } from "./_multinode.ts";
import { routerOf } from "../../lib/node/node.ts";

function replicaYaml(id: number, ports: number[]): string {
  const peers = ports.map((p, i) =>
    `          - node_id: slim-${i + 1}
            endpoint: "http://127.0.0.1:${p}"
            tls: {insecure: true}
            backoff: {type: fixed_interval, interval: 50ms}`
  ).join("\n");
  return serviceYaml(
    `slim-${id}`,
    ports[id - 1],
    `    peers:
      deployment_name: thegroup
      discovery:
        type: static
        peers:
${peers}
`,
  );
}

Deno.test("full mesh - three replicas link once per pair and carry a group session", async () => {
  const ports = [freePort(), freePort(), freePort()];
  const nodes: TestNode[] = [];
  const apps: App[] = [];
  try {
    // Started in reverse so that every dialler finds its acceptor listening.
    for (const id of [3, 2, 1]) nodes.unshift(await nodeFromYaml(replicaYaml(id, ports)));
    for (const n of nodes) for (const c of n.node.clients) await established(c);
    assertEquals(nodes.map((n) => n.node.clients.map((c) => c.linkId)), [
      ["slim-1:slim-2", "slim-1:slim-3"],
      ["slim-2:slim-3"],
      [],
    ]);
    for (const n of nodes) {
      const links = routerOf(n.node).links();
      assertEquals(links.length, 2, `${n.node.nodeId} has one link per other replica`);
      assert(links.every((l) => l.category === "peer" && l.mac === undefined));
    }
    assert(!nodes[0].log.has("not implemented"));

    const mod = await connectApp("org/ns/mod", nodes[0].url);
    const members = [
      await connectApp("org/ns/m2", nodes[1].url),
      await connectApp("org/ns/m3", nodes[2].url),
    ];
    apps.push(mod, ...members);
    // Every replica learned every app directly (TTL 2, never relayed: one route each).
    assertEquals(routes(nodes[2].node), ["org/ns/m2 peer", "org/ns/m3 edge", "org/ns/mod peer"]);

    const session = await mod.createSession({
      kind: "group",
      channel: "org/ns/room",
      reliable: { maxRetries: 5, intervalMs: 200 },
    });
    const got: Collector[] = [];
    for (const m of members) {
      await session.invite(m.name.withoutId());
      got.push(new Collector(await m.listen({ timeoutMs: 5000 })));
    }
    await session.publish("to the mesh");
    await got[1].session.publish("from m3");
    for (const c of got) await c.waitTexts(c === got[1] ? 1 : 2, 5000);
    assertEquals(got[0].texts().sort(), ["from m3", "to the mesh"]);
    assertEquals(got[1].texts(), ["to the mesh"]);
  } finally {
    await Promise.allSettled(apps.map((a) => a.close()));
    await Promise.all(nodes.map((n) => n.node.stop()));
  }
});

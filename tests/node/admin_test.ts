import { assert, assertEquals } from "../helpers/assert.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import { adminApp, serveAdmin } from "../../lib/node/admin.ts";
import { createLogger } from "../../lib/log.ts";
import { Name } from "../../lib/names/name.ts";
import { RawClient } from "../helpers/raw_client.ts";

Deno.test("admin - health, connections, routes and metrics of a running node", async () => {
  const log = createLogger("t", { level: "error" });
  const node = await SlimNode.start({ servers: [{ endpoint: "127.0.0.1:0" }], logger: log });
  const admin = await serveAdmin(adminApp([node]), "127.0.0.1", 0, log);
  const client = await RawClient.connect(`http://127.0.0.1:${node.addresses[0].port}`);
  try {
    await client.subscribe(Name.parse("org/ns/alice").withId(5n), 9n);
    const base = `http://127.0.0.1:${admin.port}`;
    assertEquals(await (await fetch(`${base}/healthz`)).text(), "ok\n");
    const conns = await (await fetch(`${base}/connections`)).json();
    assertEquals(conns.length, 1);
    assertEquals(conns[0].link_id, client.link.linkId);
    assertEquals(conns[0].header_mac, true);
    const routes = await (await fetch(`${base}/routes`)).json();
    assertEquals(routes.map((r: { name: string }) => r.name), ["org/ns/alice"]);
    assertEquals(routes[0].id, "00000000-0000-0000-0000-000000000005");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert(metrics.includes(`slim_connections{node="${node.nodeId}"} 1`), metrics);
    assert(metrics.includes(`slim_routes{node="${node.nodeId}"} 1`), metrics);
    assertEquals((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await client.close();
    await admin.close();
    await node.stop();
  }
});

Deno.test("admin - message counters survive the links that counted them", async () => {
  const log = createLogger("t", { level: "error" });
  const node = await SlimNode.start({ servers: [{ endpoint: "127.0.0.1:0" }], logger: log });
  const admin = await serveAdmin(adminApp([node]), "127.0.0.1", 0, log);
  const base = `http://127.0.0.1:${admin.port}`;
  const received = async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const m = metrics.match(/^slim_messages_received_total\{[^}]*\} (\d+)$/m);
    assert(m, metrics);
    return Number(m[1]);
  };
  try {
    const client = await RawClient.connect(`http://127.0.0.1:${node.addresses[0].port}`);
    await client.subscribe(Name.parse("org/ns/alice").withId(5n), 9n);
    const before = await received();
    assert(before >= 1, `received ${before}`);
    await client.close();
    for (let i = 0; i < 100 && routerOf(node).links().length > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(routerOf(node).links().length, 0);
    assertEquals(await received(), before);
  } finally {
    await admin.close();
    await node.stop();
  }
});

import { assert, assertEquals } from "../helpers/assert.ts";
import { SlimNode } from "../../lib/node/node.ts";
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

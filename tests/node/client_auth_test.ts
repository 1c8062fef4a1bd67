/**
 * A node's outgoing connection configured with TLS and transport authentication (HTTP Basic,
 * signed JWT), against a node that requires them. Real sockets on 127.0.0.1.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort, generateJwtKeyPair } from "../peer/real_peer.ts";
import { established, nodeFromYaml, serviceYaml, type TestNode, waitUntil } from "./_multinode.ts";
import { routerOf } from "../../lib/node/node.ts";

const FIXTURES = fileURLToPath(new URL("../transport/fixtures/", import.meta.url));

function tlsServerYaml(nodeId: string, port: number, auth: string): string {
  return `
runtime:
  drain_timeout: 1s
services:
  slim/0:
    node_id: ${nodeId}
    dataplane:
      servers:
        - endpoint: "127.0.0.1:${port}"
          tls:
            source: {type: file, cert: "${FIXTURES}server.crt", key: "${FIXTURES}server.key"}
          auth:
${auth}
`;
}

function tlsClientYaml(eastPort: number, auth: string): string {
  return serviceYaml(
    "slim-west",
    freePort(),
    `      clients:
        - endpoint: "https://127.0.0.1:${eastPort}"
          connection_type: peer
          tls:
            ca_source: {type: file, path: "${FIXTURES}server.crt"}
          backoff: {type: fixed_interval, interval: 50ms}
          auth:
${auth}
`,
  );
}

const BASIC_SERVER =
  "            type: basic\n            username: west\n            password: s3cret";

Deno.test("node client - TLS with the configured CA and HTTP Basic credentials; a wrong password is refused and retried", async () => {
  const port = freePort();
  const east = await nodeFromYaml(tlsServerYaml("slim-east", port, BASIC_SERVER));
  const nodes: TestNode[] = [east];
  try {
    const good = await nodeFromYaml(tlsClientYaml(
      port,
      "            type: basic\n            username: west\n            password: s3cret",
    ));
    nodes.push(good);
    await established(good.node.clients[0]);
    assertEquals(routerOf(good.node).links()[0].category, "peer");
    assert(east.node.addresses[0].tls);

    const bad = await nodeFromYaml(
      tlsClientYaml(
        port,
        "            type: basic\n            username: west\n            password: wrong",
      ),
      "debug",
    );
    nodes.push(bad);
    await waitUntil(() => bad.log.has("cannot connect to node", "attempt=2", "HTTP 401"));
    assertEquals(bad.node.clients[0].state, "connecting", "a refusal is retried");
    assertEquals(routerOf(east.node).links().length, 1, "only the good client got in");
  } finally {
    for (const n of nodes.reverse()) await n.node.stop();
  }
});

Deno.test("node client - a bearer JWT signed with the configured key is accepted by a JWT node", async () => {
  const keys = await generateJwtKeyPair();
  const indent = (pem: string) =>
    pem.trim().split("\n").map((l) => `                  ${l}`).join("\n");
  const port = freePort();
  const east = await nodeFromYaml(tlsServerYaml(
    "slim-east",
    port,
    `            type: jwt
            claims: {audience: [slim-east], issuer: slim-west}
            key:
              type: decoding
              algorithm: ES256
              format: pem
              key:
                data: |
${indent(keys.verifyKey)}`,
  ));
  let west: TestNode | undefined;
  try {
    west = await nodeFromYaml(tlsClientYaml(
      port,
      `            type: jwt
            claims: {audience: [slim-east], issuer: slim-west, subject: west}
            key:
              type: encoding
              algorithm: ES256
              format: pem
              key:
                data: |
${indent(keys.signKey)}`,
    ));
    await established(west.node.clients[0]);
    assertEquals(routerOf(east.node).links()[0].remoteNodeId, "slim-west");
  } finally {
    await west?.node.stop();
    await east.node.stop();
  }
});

/**
 * Shared pieces of the multi-node tests: nodes built from YAML the way `slim --config` builds
 * them, waiting for a node client's link, and reading routes by name.
 */
import { parseConfig } from "../../lib/config/load.ts";
import { createLogger } from "../../lib/log.ts";
import { nodeOptionsFromService } from "../../lib/node/from_config.ts";
import { routerOf, SlimNode } from "../../lib/node/node.ts";
import type { NodeClient, NodeClientEvent } from "../../lib/node/node_client.ts";
import { logCapture } from "../helpers/raw_client.ts";

/** A node started from a YAML configuration, with its log captured. */
export interface TestNode {
  node: SlimNode;
  url: string;
  port: number;
  log: ReturnType<typeof logCapture>;
}

/** Starts the first service of `yaml` (a full SLIM configuration) in this process. */
export async function nodeFromYaml(
  yaml: string,
  level: "info" | "debug" = "info",
): Promise<TestNode> {
  const log = logCapture();
  const logger = createLogger("slim", { level, sink: log.sink });
  const loaded = parseConfig(yaml);
  const options = await nodeOptionsFromService(loaded.config.services[0], loaded.config, logger);
  const node = await SlimNode.start(options);
  const port = node.addresses[0]?.port ?? 0;
  return { node, url: `http://127.0.0.1:${port}`, port, log };
}

/** A single-service configuration; `extra` is indented under `slim/0`. */
export function serviceYaml(nodeId: string, port: number, extra = ""): string {
  return `
runtime:
  drain_timeout: 1s
services:
  slim/0:
    node_id: ${nodeId}
    dataplane:
      servers:
        - endpoint: "127.0.0.1:${port}"
          tls: {insecure: true}
${extra}`;
}

/** Resolves with the next event of `client` of type `type` (or at once if already in that state). */
export function nextClientEvent(
  client: NodeClient,
  type: NodeClientEvent["type"],
  timeoutMs = 10_000,
): Promise<NodeClientEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event from ${client.endpoint} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on((e) => {
      if (e.type !== type) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Waits until `client` is established (now or later). */
export async function established(client: NodeClient, timeoutMs = 10_000): Promise<void> {
  if (client.state === "established") return;
  await nextClientEvent(client, "established", timeoutMs);
}

/** `name category` pairs of the routes of `node` (e.g. `org/ns/alice peer`), sorted. */
export function routes(node: SlimNode): string[] {
  return routerOf(node).table.list().flatMap((r) =>
    r.connections.map((c) => `${r.name} ${c.category}`)
  ).sort();
}

/** Polls `predicate` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

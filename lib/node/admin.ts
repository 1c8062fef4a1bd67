/**
 * The node's HTTP admin API (hono): health, connections, routes and Prometheus metrics.
 *
 * SLIM itself has no health endpoint (its Helm chart probes the data port) and exports metrics
 * only through OpenTelemetry; operators of a slim-ts node get both over plain HTTP:
 *
 * - `GET /healthz`: `ok` while the node serves;
 * - `GET /connections`: every link with its peer, link id, type, role, state, MAC state and
 *   counters;
 * - `GET /routes`: the subscription table (name, id, connections);
 * - `GET /metrics`: Prometheus text format.
 *
 * Served with `node:http` so it runs on Deno and Bun alike. Enabled with `slim --admin HOST:PORT`.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Hono } from "hono";
import { TransportError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { formatId } from "../names/name.ts";
import type { SlimNode } from "./node.ts";
import { routerOf } from "./node.ts";

/** The admin routes for `nodes` (one per configured service). */
export function adminApp(nodes: SlimNode[]): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/connections", (c) =>
    c.json(nodes.flatMap((node) =>
      routerOf(node).links().map((l) => {
        const s = routerOf(node).stats(l);
        return {
          node: node.nodeId,
          connection: l.index,
          peer: l.remote,
          link_id: l.linkId,
          type: l.category,
          role: l.role,
          // `closed` while a dialled link waits to be redialled (it keeps its routes).
          state: l.state,
          remote_node: l.remoteNodeId,
          remote_version: l.remoteVersion,
          header_mac: l.mac !== undefined,
          received: s?.received ?? 0,
          forwarded: s?.forwarded ?? 0,
          dropped: Object.fromEntries(s?.dropped ?? []),
        };
      })
    )));
  app.get("/routes", (c) =>
    c.json(nodes.flatMap((node) =>
      routerOf(node).table.list().map((r) => ({
        node: node.nodeId,
        name: r.name,
        id: formatId(r.id),
        connections: r.connections,
      }))
    )));
  app.get("/metrics", (c) => {
    const lines = [
      "# HELP slim_connections Live links of the node.",
      "# TYPE slim_connections gauge",
      "# HELP slim_routes Subscribed (name, id) routes.",
      "# TYPE slim_routes gauge",
      "# HELP slim_messages_received_total Messages received on links.",
      "# TYPE slim_messages_received_total counter",
      "# HELP slim_messages_forwarded_total Message copies sent on to other links.",
      "# TYPE slim_messages_forwarded_total counter",
      "# HELP slim_messages_dropped_total Messages dropped, by reason.",
      "# TYPE slim_messages_dropped_total counter",
    ];
    for (const node of nodes) {
      const id = `node="${node.nodeId}"`;
      const { received, forwarded, dropped } = routerOf(node).totals();
      lines.push(`slim_connections{${id}} ${routerOf(node).links().length}`);
      lines.push(`slim_routes{${id}} ${routerOf(node).table.size}`);
      lines.push(`slim_messages_received_total{${id}} ${received}`);
      lines.push(`slim_messages_forwarded_total{${id}} ${forwarded}`);
      for (const [reason, n] of dropped) {
        lines.push(`slim_messages_dropped_total{${id},reason=${JSON.stringify(reason)}} ${n}`);
      }
    }
    return c.text(lines.join("\n") + "\n", 200, {
      "content-type": "text/plain; version=0.0.4",
    });
  });
  return app;
}

/** A listening admin server. */
export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `app` on `host:port` with node:http. */
export async function serveAdmin(
  app: Hono,
  host: string,
  port: number,
  logger: Logger,
): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    handle(app, req, res).catch((e) => {
      logger.warn("admin request failed", { error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once(
      "error",
      (e) => reject(new TransportError(`cannot listen on ${host}:${port} (admin): ${e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === "object" && addr ? addr.port : port;
  logger.info("admin API listening", { endpoint: `${host}:${bound}` });
  return {
    port: bound,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function handle(app: Hono, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  const response = await app.fetch(new Request(url, { method: req.method }));
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(new Uint8Array(await response.arrayBuffer()));
}

/**
 * A SLIM node: data-plane servers and outgoing connections feeding one router.
 *
 * Every accepted channel is negotiated as a link, registered in the router and served until it
 * ends; whatever happens on one connection (bad negotiation, malformed frames, a peer vanishing)
 * is logged with the peer address and link id and costs only that connection. Outgoing
 * connections (`dataplane.clients`, static peers) are dialled in the background and redialled
 * when they drop (`node_client.ts`); the node serves whether or not they are up.
 * @module
 */
import {
  ConfigError,
  LinkError,
  ProtocolError,
  SlimError,
  TimeoutError,
  TransportError,
} from "../errors.ts";
import type { Clock } from "../clock.ts";
import { Link } from "../link/link.ts";
import { createLogger, type Logger } from "../log.ts";
import { type AuthDecision, GrpcServer, type ServerTls } from "../transport/grpc_server.ts";
import { GrpcStatus, type Transport } from "../transport/transport.ts";
import { checkNodeOptions } from "./check_options.ts";
import type { CongestionLimits } from "./congestion.ts";
import type { ForwardToLimits } from "./forward_to.ts";
import { NodeClient, type NodeClientOptions } from "./node_client.ts";
import { FULL_MESH, STANDALONE } from "./peer_sync.ts";
import { Router } from "./router.ts";

/** One data-plane listener. */
export interface NodeServerOptions {
  /** `host:port`, `[ipv6]:port` or `unix:///path` (SLIM YAML `servers[].endpoint`). */
  endpoint: string;
  /** TLS material; absent for `tls.insecure: true`. */
  tls?: ServerTls;
  /**
   * Largest frame, and so largest message, accepted.
   * @default 4 MiB (SLIM YAML `max_frame_size`, MiB)
   */
  maxMessageSize?: number;
  /** At least 1. @default 100 (SLIM YAML `max_concurrent_streams`) */
  maxConcurrentStreams?: number;
  /** At least 4096. @default 16 KiB (SLIM YAML `max_header_list_size`) */
  maxHeaderListSize?: number;
  /** Idle time before an HTTP/2 keepalive ping. @default 120 s (SLIM YAML `keepalive.time`) */
  keepaliveTimeMs?: number;
  /** How long a ping may go unanswered. @default 20 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
  /**
   * Connections older than this are asked to go away.
   * @default 2 h (SLIM YAML `keepalive.max_connection_age`)
   */
  maxConnectionAgeMs?: number;
  /** Refuse messages without a valid link MAC. @default true (SLIM YAML `require_header_mac`) */
  requireHeaderMac?: boolean;
  /** At least 1. @default 5000 (SLIM YAML `negotiation_timeout_secs`) */
  negotiationTimeoutMs?: number;
  /** Transport authentication of incoming calls (SLIM YAML `auth`). */
  authorize?: (
    headers: Record<string, string | string[] | undefined>,
  ) => AuthDecision | Promise<AuthDecision>;
}

/** A replica of the same deployment, from static discovery. */
export interface StaticPeerOptions {
  /** The replica's `node_id` (SLIM YAML `peers.discovery.peers[].node_id`). */
  nodeId: string;
  /**
   * How to reach it (the other keys of the entry). `connectionType` and `linkId` are ignored:
   * replicas always link as peers, with link id `<dialler node_id>:<acceptor node_id>`.
   */
  client: NodeClientOptions;
}

/**
 * Options of {@link SlimNode.start}. The router's bounds ({@link CongestionLimits},
 * {@link ForwardToLimits}) are slim-ts specific and have no SLIM YAML key.
 */
export interface NodeOptions extends CongestionLimits, ForwardToLimits {
  /**
   * This node's id in links and logs.
   * @default `node-<uuid>` (SLIM YAML `services.<id>.node_id`)
   */
  nodeId?: string;
  /** Data-plane listeners (SLIM YAML `dataplane.servers`). */
  servers: NodeServerOptions[];
  /** Nodes to dial (SLIM YAML `dataplane.clients`). @default [] */
  clients?: NodeClientOptions[];
  /**
   * Replica group: announced on every link, required of every peer when set (SLIM YAML
   * `peers.deployment_name`). @default ""
   */
  deploymentName?: string;
  /**
   * Replicas to form a full mesh with (SLIM YAML `peers.discovery` of type `static`). Setting
   * it (even empty) switches the node to full-mesh peering: subscriptions sent to peers with
   * TTL 2 and never relayed, publishes from a peer never sent to another peer. Each pair is
   * dialled by the replica with the smaller node id.
   */
  peers?: StaticPeerOptions[];
  /** Where the node logs. @default a logger at `info` on standard error */
  logger?: Logger;
  /**
   * How long {@link SlimNode.stop} lets streams end.
   * @default 10 s (SLIM YAML `runtime.drain_timeout`)
   */
  drainTimeoutMs?: number;
  /** Timers of redials, acknowledgement and congestion waits. @default the system clock */
  clock?: Clock;
}

/** A bound listener. */
export interface NodeAddress {
  /** The configured endpoint. */
  endpoint: string;
  /** Bound host ("" for Unix sockets). */
  host: string;
  /** Bound port (0 for Unix sockets). */
  port: number;
  /** Socket path for `unix://` endpoints. */
  path?: string;
  /** Whether the listener serves TLS. */
  tls: boolean;
}

/** Where a server listens: TCP host and port, or a Unix socket path. */
export interface ListenAddress {
  /** Host or IP literal ("" for Unix sockets). */
  host: string;
  /** TCP port (0: any free port, or a Unix socket). */
  port: number;
  /** Socket path of a `unix://` endpoint. */
  path?: string;
}

/** Parses `host:port`, `[v6]:port` or `unix:///path`. Throws {@link ConfigError}. */
export function parseListenAddress(endpoint: string): ListenAddress {
  if (endpoint.startsWith("unix://")) {
    const path = endpoint.slice("unix://".length);
    if (path === "") throw new ConfigError(`invalid server endpoint ${JSON.stringify(endpoint)}`);
    return { host: "", port: 0, path };
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(endpoint) ?? /^([^:]+):(\d+)$/.exec(endpoint);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(
      `invalid server endpoint ${JSON.stringify(endpoint)}: expected host:port or unix:///path`,
    );
  }
  return { host: m[1], port };
}

/** Reads a node's private router; set once by {@link SlimNode}'s static block. */
let readRouter: (node: SlimNode) => Router;

/**
 * The router of `node`: links, subscriptions and counters. Internal to slim-ts: the router's
 * types are not part of `lib/mod.ts`; the admin API and the tests reach it through here.
 */
export function routerOf(node: SlimNode): Router {
  return readRouter(node);
}

/** A running node. */
export class SlimNode {
  /** This node's id (configured, or generated). */
  readonly nodeId: string;
  /** Replica group ("" when none). */
  readonly deploymentName: string;
  readonly #router: Router;
  static {
    readRouter = (node) => node.#router;
  }
  /** Bound listeners, in configuration order. */
  readonly addresses: NodeAddress[] = [];
  /** Outgoing connections: configured clients, then the static peers this node dials. */
  readonly clients: NodeClient[] = [];
  readonly #log: Logger;
  readonly #servers: GrpcServer[] = [];
  readonly #drainTimeoutMs: number;
  readonly #active = new Set<Promise<void>>();
  readonly #transports = new Set<Transport>();
  #stopping: Promise<void> | undefined;

  private constructor(options: NodeOptions) {
    this.nodeId = options.nodeId ?? `node-${crypto.randomUUID()}`;
    this.deploymentName = options.deploymentName ?? "";
    this.#log = options.logger ?? createLogger("slim");
    const mesh = options.peers !== undefined;
    this.#router = new Router({
      logger: this.#log.child("router"),
      peerTopology: mesh ? FULL_MESH : STANDALONE,
      relayPeerPublishes: !mesh,
      clock: options.clock,
      congestionWaitMs: options.congestionWaitMs,
      congestionCloseMs: options.congestionCloseMs,
      maxPendingForwards: options.maxPendingForwards,
      maxForwardedSubscriptions: options.maxForwardedSubscriptions,
    });
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
    const ctx = {
      router: this.#router,
      nodeId: this.nodeId,
      deploymentName: this.deploymentName,
      logger: this.#log.child("client"),
      clock: options.clock,
    };
    for (const c of options.clients ?? []) this.clients.push(new NodeClient(c, ctx));
    for (const p of options.peers ?? []) {
      // One link per pair: the smaller node id dials, the other accepts.
      if (p.nodeId === this.nodeId || !(this.nodeId < p.nodeId)) continue;
      const client = { ...p.client, connectionType: "peer" as const };
      client.linkId = `${this.nodeId}:${p.nodeId}`;
      this.clients.push(new NodeClient(client, ctx));
    }
  }

  /**
   * Starts every listener, then starts dialling the outgoing connections (without waiting for
   * them). Throws {@link ConfigError} naming the option when an option would make the node
   * refuse every client or fail every TLS handshake (unparsable certificate or key, a key that
   * is not the certificate's). If a listener fails to bind, the others are closed and the error
   * thrown.
   */
  static async start(options: NodeOptions): Promise<SlimNode> {
    checkNodeOptions(options);
    const node = new SlimNode(options);
    try {
      for (const s of options.servers) await node.#listen(s);
    } catch (e) {
      await node.stop();
      throw e;
    }
    for (const c of node.clients) {
      node.#log.info("dialling node", {
        endpoint: c.endpoint,
        link_id: c.linkId,
        type: c.connectionType,
      });
      c.start();
    }
    return node;
  }

  async #listen(s: NodeServerOptions): Promise<void> {
    const { host, port, path } = parseListenAddress(s.endpoint);
    const server = await GrpcServer.listen({
      host,
      port,
      path,
      tls: s.tls,
      maxMessageSize: s.maxMessageSize,
      maxFrameSize: s.maxMessageSize,
      maxConcurrentStreams: s.maxConcurrentStreams,
      maxHeaderListSize: s.maxHeaderListSize,
      keepaliveTimeMs: s.keepaliveTimeMs,
      keepaliveTimeoutMs: s.keepaliveTimeoutMs,
      maxConnectionAgeMs: s.maxConnectionAgeMs,
      authorize: s.authorize,
      logger: this.#log.child("server"),
      onChannel: (transport) => this.serve(transport, s),
    });
    this.#servers.push(server);
    const address = {
      endpoint: s.endpoint,
      host,
      port: path === undefined ? server.port : 0,
      path,
      tls: s.tls !== undefined,
    };
    this.addresses.push(address);
    this.#log.info("dataplane server listening", {
      endpoint: path === undefined ? `${host}:${server.port}` : `unix://${path}`,
      tls: address.tls,
      require_header_mac: s.requireHeaderMac ?? true,
    });
  }

  /**
   * Serves one accepted channel (from a listener, or an in-process transport in tests and
   * benchmarks) until it ends.
   */
  serve(transport: Transport, options: Partial<NodeServerOptions> = {}): Promise<void> {
    if (this.#stopping) {
      transport.close(GrpcStatus.UNAVAILABLE, "node is shutting down");
      return Promise.resolve();
    }
    const task = this.#serve(transport, options).finally(() => {
      this.#active.delete(task);
      this.#transports.delete(transport);
    });
    this.#active.add(task);
    this.#transports.add(transport);
    return task;
  }

  async #serve(transport: Transport, options: Partial<NodeServerOptions>): Promise<void> {
    const log = this.#log;
    let link: Link;
    try {
      link = await Link.accept(transport, {
        nodeId: this.nodeId,
        deploymentName: this.deploymentName,
        requireHeaderMac: options.requireHeaderMac ?? true,
        negotiationTimeoutMs: options.negotiationTimeoutMs ?? 5000,
      });
    } catch (e) {
      const err = SlimError.from(e, "link");
      log.warn("link negotiation failed", { peer: transport.remote, reason: err.message });
      const status = e instanceof TimeoutError
        ? GrpcStatus.DEADLINE_EXCEEDED
        : GrpcStatus.INVALID_ARGUMENT;
      await closeQuietly(transport, status, err.message);
      return;
    }
    const refusal = this.#peerRefusal(link);
    if (refusal) {
      // As SLIM: the reply is out; the stream then ends with PERMISSION_DENIED, which tells a
      // dialler not to come back.
      log.warn("peer link rejected", {
        peer: link.remote,
        link_id: link.linkId,
        remote_node: link.remoteNodeId,
        reason: refusal,
      });
      await closeQuietly(transport, GrpcStatus.PERMISSION_DENIED, refusal);
      return;
    }
    const index = this.#router.attach(link);
    log.info("connection established", {
      peer: link.remote,
      link_id: link.linkId,
      conn: index,
      type: link.category,
      remote_node: link.remoteNodeId || undefined,
      version: link.remoteVersion,
      header_mac: link.mac !== undefined,
    });
    let status: number = GrpcStatus.OK, message = "";
    try {
      await this.#router.run(link);
      log.info("connection closed by peer", {
        peer: link.remote,
        link_id: link.linkId,
        conn: index,
      });
    } catch (e) {
      const err = SlimError.from(e);
      if (e instanceof TransportError) {
        // The peer vanished (process exit, reset): routine, not a protocol problem.
        log.info("connection lost", {
          peer: link.remote,
          link_id: link.linkId,
          conn: index,
          reason: err.message,
        });
        this.#router.detach(link);
        transport.abort();
        return;
      }
      status = e instanceof ProtocolError && /exceeds the maximum/.test(err.message)
        ? GrpcStatus.RESOURCE_EXHAUSTED
        : e instanceof ProtocolError || e instanceof LinkError
        ? GrpcStatus.INVALID_ARGUMENT
        : GrpcStatus.UNAVAILABLE;
      message = err.message;
      log.warn("connection closed on error", {
        peer: link.remote,
        link_id: link.linkId,
        conn: index,
        reason: err.message,
      });
    } finally {
      const removed = this.#router.detach(link);
      if (removed > 0) log.debug("removed subscriptions", { conn: index, count: removed });
    }
    await closeQuietly(transport, status, message);
  }

  /** Why an accepted peer link must be refused, with SLIM's wording; undefined when fine. */
  #peerRefusal(link: Link): string | undefined {
    if (link.category !== "peer") return undefined;
    if (link.remoteNodeId === this.nodeId) return "self-connection rejected: same node_id";
    if (this.deploymentName !== "" && link.remoteDeploymentName !== this.deploymentName) {
      return "deployment_name mismatch";
    }
    return undefined;
  }

  /**
   * Drains: withdraws our names from the peers, stops the outgoing connections and accepting,
   * ends every stream with `grpc-status: 0`, waits up to the drain timeout for peers to finish,
   * then tears down what is left. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  async #drain(): Promise<void> {
    this.#router.peers.withdrawAll();
    for (const s of this.#servers) s.stopAccepting();
    await Promise.all(this.clients.map((c) => c.stop()));
    for (const t of this.#transports) t.close(GrpcStatus.OK).catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      Promise.allSettled([...this.#active]).then(() => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(true), this.#drainTimeoutMs)),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.#log.warn("drain timeout reached; closing remaining connections", {
        remaining: this.#active.size,
      });
      for (const t of this.#transports) t.abort();
    }
    for (const s of this.#servers) s.destroySessions();
    this.#log.info("node stopped");
  }
}

async function closeQuietly(transport: Transport, status: number, message: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  try {
    // Bound the wait: a peer that never half-closes must not hold the task forever.
    await Promise.race([
      transport.close(status, message).then(() => closed = true),
      new Promise((r) => timer = setTimeout(r, 2000)),
    ]);
  } catch {
    closed = true;
  } finally {
    clearTimeout(timer);
  }
  if (!closed) transport.abort();
}

/**
 * One outgoing connection of a node (SLIM YAML `dataplane.clients[]`, or a static peer): dial,
 * negotiate as dialler, route what the link carries, and redial when it drops.
 *
 * States:
 * - `connecting`: first dial. Failures are retried with the backoff and logged with the endpoint
 *   (on the 1st, 10th, 100th... failure), while the node keeps serving.
 * - `established`: the link is registered in the router; a peer link was sent the table.
 * - `reconnecting`: the link dropped; redialling with backoff and the same link id. The
 *   connection index and the routes learned on it are kept meanwhile, as SLIM does, and are
 *   reused by the new link, which is then synced (peer) or replayed what was forwarded to it
 *   (edge, remote).
 * - `closed`: stopped (drain), rejected for good (`PERMISSION_DENIED`, self-connection,
 *   deployment mismatch), a `remote` link that dropped (SLIM never redials those), or attempts
 *   exhausted. Terminal; the link's routes are gone.
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { BackoffConfig } from "../config/schema.ts";
import { backoffDelay, DEFAULT_BACKOFF } from "../app/backoff.ts";
import { type DialedLink, dialLink, LinkRejectedError } from "../link/dial.ts";
import type { Link } from "../link/link.ts";
import type { Logger } from "../log.ts";
import type { ClientTls, DialedChannel } from "../transport/grpc_client.ts";
import { redactEndpoint } from "../transport/redact.ts";
import { GrpcStatus } from "../transport/transport.ts";
import type { Router } from "./router.ts";

/** Options of one outgoing connection. */
export interface NodeClientOptions {
  /** `http://host:port`, `https://host:port` or `unix:///path` (SLIM YAML `endpoint`). */
  endpoint: string;
  /** TLS settings for `https://` (SLIM YAML `tls`, `server_name`). */
  tls?: ClientTls;
  /** Request headers sent on every dial (SLIM YAML `headers`, `auth` of type `basic`). */
  headers?: Record<string, string>;
  /**
   * Headers computed before each dial and merged over {@link headers}: bearer tokens that
   * expire (SLIM YAML `auth` of type `jwt` or `static_jwt`).
   */
  credentials?: () => Promise<Record<string, string>>;
  /** Time allowed for one dial and negotiation. @default 10 s (SLIM YAML `connect_timeout`) */
  connectTimeoutMs?: number;
  /** Redial delays. @default exponential 1 ms, 100 ms, then 1 s, unlimited (SLIM YAML `backoff`) */
  backoff?: BackoffConfig;
  /** Link id, reused on every redial. @default a random UUID (SLIM YAML `link_id`) */
  linkId?: string;
  /** Refuse messages without a valid link MAC. @default true (SLIM YAML `require_header_mac`) */
  requireHeaderMac?: boolean;
  /**
   * What the link is to the other node: `edge` (it treats us like an app), `peer` (replica or
   * east-west neighbour: subscriptions synced both ways) or `remote` (control-plane managed,
   * never redialled).
   * @default "edge" (SLIM YAML `connection_type`)
   */
  connectionType?: "edge" | "peer" | "remote";
  /** HTTP/2 keepalive ping interval; 0 disables. @default 0 (SLIM YAML `keepalive.http2_keepalive`) */
  keepaliveMs?: number;
  /** How long a ping may go unanswered. @default 10 s (SLIM YAML `keepalive.timeout`) */
  keepaliveTimeoutMs?: number;
  /** Largest message accepted. @default 4 MiB */
  maxMessageSize?: number;
}

/** Lifecycle states of a {@link NodeClient}. */
export type NodeClientState = "connecting" | "established" | "reconnecting" | "closed";

/** State changes of a {@link NodeClient}. */
export type NodeClientEvent =
  | { type: "established"; connection: number; attempts: number }
  | { type: "disconnected"; reason: string }
  | { type: "closed"; reason: string };

/** What a {@link NodeClient} needs from its node. */
export interface NodeClientContext {
  router: Router;
  nodeId: string;
  /** Replica group announced in negotiation and required of peers when non-empty. */
  deploymentName: string;
  logger: Logger;
  clock?: Clock;
}

/** An outgoing connection of a node. */
export class NodeClient {
  /** The endpoint, without credentials (for messages and logs). */
  readonly endpoint: string;
  /** The link id, the same on every redial. */
  readonly linkId: string;
  /** What the link is to the other node (see {@link NodeClientOptions.connectionType}). */
  readonly connectionType: "edge" | "peer" | "remote";
  readonly #options: NodeClientOptions;
  readonly #ctx: NodeClientContext;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #listeners = new Set<(e: NodeClientEvent) => void>();
  #state: NodeClientState = "connecting";
  #link: Link | undefined;
  #channel: DialedChannel | undefined;
  #timer: TimerHandle | undefined;
  /** Dials since the last established link (for logs). */
  #attempt = 0;
  /** Redials scheduled since the last established link (drives the backoff). */
  #retries = 0;
  #stopping: Promise<void> | undefined;

  /** Created by the node for each `dataplane.clients` entry and dialled peer. */
  constructor(options: NodeClientOptions, ctx: NodeClientContext) {
    this.#options = options;
    this.#ctx = ctx;
    this.endpoint = redactEndpoint(options.endpoint);
    this.linkId = options.linkId ?? crypto.randomUUID();
    this.connectionType = options.connectionType ?? "edge";
    this.#log = ctx.logger;
    this.#clock = ctx.clock ?? systemClock;
  }

  /** Current state. */
  get state(): NodeClientState {
    return this.#state;
  }

  /**
   * The router's connection index of the current (or suspended) link, the number that
   * `incoming_conn` and `forward_to` carry; undefined while no link is attached.
   */
  get connection(): number | undefined {
    const index = this.#link?.index ?? -1;
    return index >= 0 ? index : undefined;
  }

  /** Subscribes to state changes; returns the function that unsubscribes. */
  on(listener: (e: NodeClientEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts dialling. Never throws: failures are logged and retried. */
  start(): void {
    this.#connect();
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed()) return;
    const o = this.#options;
    const attempt = ++this.#attempt;
    let dialed: DialedLink;
    try {
      const headers = o.credentials ? { ...o.headers, ...await o.credentials() } : o.headers;
      dialed = await dialLink({
        endpoint: o.endpoint,
        tls: o.tls,
        headers,
        connectTimeoutMs: o.connectTimeoutMs,
        maxMessageSize: o.maxMessageSize,
        keepaliveMs: o.keepaliveMs,
        keepaliveTimeoutMs: o.keepaliveTimeoutMs,
        linkId: this.linkId,
        nodeId: this.#ctx.nodeId,
        deploymentName: this.#ctx.deploymentName,
        category: this.connectionType,
        requireHeaderMac: o.requireHeaderMac ?? true,
      });
    } catch (e) {
      if (this.#closed()) return;
      if (e instanceof LinkRejectedError) return this.#giveUp(e.message);
      // 1st, 10th, 100th...: an unreachable node is visible without flooding the log.
      const log = Number.isInteger(Math.log10(attempt)) ? "warn" : "debug";
      this.#log[log]("cannot connect to node", {
        endpoint: this.endpoint,
        link_id: this.linkId,
        type: this.connectionType,
        attempt,
        reason: errorMessage(e),
      });
      this.#schedule();
      return;
    }
    const { link, channel } = dialed;
    if (this.#closed()) {
      channel.destroy();
      return;
    }
    const refusal = this.#refusal(link);
    if (refusal) {
      await closeBounded(channel);
      return this.#giveUp(refusal);
    }
    const router = this.#ctx.router;
    const previous = this.#link;
    if (previous && previous.index >= 0 && router.link(previous.index) === previous) {
      router.reattach(previous.index, link);
    } else {
      router.attach(link);
    }
    this.#link = link;
    this.#channel = channel;
    this.#state = "established";
    this.#attempt = 0;
    this.#retries = 0;
    this.#log.info("connected to node", {
      endpoint: this.endpoint,
      link_id: this.linkId,
      conn: link.index,
      type: link.category,
      remote_node: link.remoteNodeId || undefined,
      header_mac: link.mac !== undefined,
      attempts: attempt,
    });
    this.#emit({ type: "established", connection: link.index, attempts: attempt });
    await this.#run(link, channel);
  }

  /** Why a negotiated peer link must not be used (SLIM checks the reply too). */
  #refusal(link: Link): string | undefined {
    if (link.category !== "peer") return undefined;
    if (link.remoteNodeId === this.#ctx.nodeId) {
      return `self-connection rejected: ${this.endpoint} is this node (${this.#ctx.nodeId})`;
    }
    const ours = this.#ctx.deploymentName;
    if (ours !== "" && link.remoteDeploymentName !== ours) {
      return `deployment_name mismatch: ${this.endpoint} is in ${
        JSON.stringify(link.remoteDeploymentName)
      }, this node in ${JSON.stringify(ours)}`;
    }
    return undefined;
  }

  async #run(link: Link, channel: DialedChannel): Promise<void> {
    const router = this.#ctx.router;
    let reason = "stream ended";
    try {
      await router.run(link);
    } catch (e) {
      reason = errorMessage(e);
    }
    channel.destroy();
    if (this.#closed() || this.#link !== link) return;
    const status = channel.transport.remoteStatus;
    if (status?.code === GrpcStatus.PERMISSION_DENIED) {
      return this.#giveUp(`${this.endpoint} rejected the link: ${status.message}`);
    }
    if (status && status.code !== GrpcStatus.OK) reason = `${reason} (grpc-status ${status.code})`;
    if (link.category === "remote") {
      return this.#giveUp(`remote link lost (${reason}); remote links are not redialled`);
    }
    router.suspend(link);
    this.#channel = undefined;
    this.#state = "reconnecting";
    this.#log.info("link to node lost; reconnecting", {
      endpoint: this.endpoint,
      link_id: this.linkId,
      conn: link.index,
      reason,
    });
    this.#emit({ type: "disconnected", reason });
    this.#schedule();
  }

  #schedule(): void {
    const delay = backoffDelay(this.#options.backoff ?? DEFAULT_BACKOFF, this.#retries++);
    if (delay === undefined) {
      return this.#giveUp(`reconnection attempts exhausted after ${this.#attempt} tries`);
    }
    this.#timer = this.#clock.setTimeout(() => this.#connect(), delay);
  }

  #giveUp(reason: string): void {
    if (this.#closed()) return;
    this.#state = "closed";
    this.#release();
    this.#log.error("node client stopped", {
      endpoint: this.endpoint,
      link_id: this.linkId,
      reason,
    });
    this.#emit({ type: "closed", reason });
  }

  /** Forgets the link and its routes. */
  #release(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const link = this.#link;
    if (link) this.#ctx.router.detach(link);
  }

  /** Stops for good: no redial, the stream is half-closed, routes are removed. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const wasClosed = this.#closed();
      this.#state = "closed";
      this.#release();
      const channel = this.#channel;
      this.#channel = undefined;
      if (channel) await closeBounded(channel);
      if (!wasClosed) this.#emit({ type: "closed", reason: "stopped" });
    })();
    return this.#stopping;
  }

  /** A method, not a field test: the state changes across awaits. */
  #closed(): boolean {
    return this.#state === "closed";
  }

  #emit(e: NodeClientEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.error("node client listener failed", { error: errorMessage(err) });
      }
    }
  }
}

/** Half-closes, waiting at most 1 s for the other side, then tears down. */
async function closeBounded(channel: DialedChannel): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    channel.close().catch(() => {}),
    new Promise((r) => timer = setTimeout(r, 1000)),
  ]);
  clearTimeout(timer);
  channel.destroy();
}

/**
 * A link: one transport after negotiation, with its id, category and MAC key.
 *
 * States (one way only):
 * - `negotiating`: the transport is open; only the negotiation exchange may happen. An acceptor
 *   waits for the request (bounded by the negotiation timeout), a dialler for the reply.
 * - `established`: keys agreed; messages flow and are MAC'd in both directions.
 * - `closing`: our side was ended (drain, protocol error); waiting for the transport to finish.
 * - `closed`: the transport is over; the owner has released everything tied to the link.
 * @module
 */
import { LinkError, ProtocolError, SlimError, TimeoutError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { decodeMessage, encodeMessage } from "../wire/codec.ts";
import {
  KIND_PUBLISH,
  KIND_SUBSCRIBE,
  KIND_UNSUBSCRIBE,
  MessageView,
} from "../wire/message_view.ts";
import {
  agreeLinkKey,
  categoryOf,
  checkReply,
  checkRequest,
  type ConnectionCategory,
  ephemeralKey,
  type LinkMac,
  negotiationMessage,
  negotiationOf,
} from "./negotiation.ts";

/** Lifecycle states of a {@link Link}. */
export type LinkState = "negotiating" | "established" | "closing" | "closed";

/** Settings shared by both roles. */
export interface LinkOptions {
  /** Our node id, sent in negotiation. */
  nodeId: string;
  /**
   * Refuse peers that do not agree a MAC key.
   * @default true (SLIM YAML `require_header_mac`)
   */
  requireHeaderMac?: boolean;
  /**
   * How long to wait for the negotiation message.
   * @default 5000 (SLIM YAML `negotiation_timeout_secs`)
   */
  negotiationTimeoutMs?: number;
  /**
   * Our replica group, announced on every link; peers compare it (SLIM YAML
   * `peers.deployment_name`).
   * @default ""
   */
  deploymentName?: string;
}

/** Settings of a dialled link. */
export interface DialLinkOptions extends LinkOptions {
  /** Link id; reuse it when reconnecting. */
  linkId: string;
  /** @default "edge" (SLIM YAML client `connection_type`) */
  category?: ConnectionCategory;
}

/** An established link over a transport. */
export class Link {
  readonly transport: Transport;
  readonly role: "acceptor" | "dialler";
  readonly linkId: string;
  readonly category: ConnectionCategory;
  /** Node id the peer announced (may be empty). */
  readonly remoteNodeId: string;
  /** Version the peer announced. */
  readonly remoteVersion: string;
  /** Replica group the peer announced (empty when it has none). */
  readonly remoteDeploymentName: string;
  /** MAC key, absent only on links where MACs are off (non-strict and keyless, or peer links). */
  readonly mac: LinkMac | undefined;
  /** Index in the owner's connection table (-1 until registered). */
  index = -1;
  state: LinkState = "established";

  readonly #iterator: AsyncIterator<Uint8Array[]>;
  #leftover: Uint8Array[] | undefined;
  readonly #view = new MessageView();

  private constructor(init: {
    transport: Transport;
    role: "acceptor" | "dialler";
    linkId: string;
    category: ConnectionCategory;
    remoteNodeId: string;
    remoteVersion: string;
    remoteDeploymentName: string;
    mac: LinkMac | undefined;
    iterator: AsyncIterator<Uint8Array[]>;
    leftover: Uint8Array[] | undefined;
  }) {
    this.transport = init.transport;
    this.role = init.role;
    this.linkId = init.linkId;
    this.category = init.category;
    this.remoteNodeId = init.remoteNodeId;
    this.remoteVersion = init.remoteVersion;
    this.remoteDeploymentName = init.remoteDeploymentName;
    this.mac = init.mac;
    this.#iterator = init.iterator;
    this.#leftover = init.leftover;
  }

  /** Peer description for logs. */
  get remote(): string {
    return this.transport.remote;
  }

  /**
   * Runs the acceptor side of negotiation on a fresh transport. Throws {@link LinkError},
   * {@link ProtocolError} or {@link TimeoutError}; the caller closes the transport.
   */
  static async accept(transport: Transport, options: LinkOptions): Promise<Link> {
    const iterator = transport[Symbol.asyncIterator]();
    const first = await nextBatch(iterator, options.negotiationTimeoutMs ?? 5000, "request");
    const request = negotiationOf(decodeFirst(first[0]));
    if (!request) throw new LinkError("first message is not a link negotiation request");
    checkRequest(request);
    const category = categoryOf(request.connectionType);
    const own = ephemeralKey();
    // Peer (replica) links carry no MACs; everything else follows the strictness setting.
    const required = category !== "peer" && (options.requireHeaderMac ?? true);
    const mac = category === "peer"
      ? undefined
      : agreeLinkKey(own, request.linkEcdhPublicKey, request.linkId, required);
    transport.send(encodeMessage(negotiationMessage({
      linkId: request.linkId,
      isReply: true,
      publicKey: mac || category === "peer" ? own.publicKey : new Uint8Array(0),
      category,
      nodeId: options.nodeId,
      deploymentName: options.deploymentName,
    })));
    return new Link({
      transport,
      role: "acceptor",
      linkId: request.linkId,
      category,
      remoteNodeId: request.nodeId,
      remoteVersion: request.slimVersion,
      remoteDeploymentName: request.deploymentName,
      mac,
      iterator,
      leftover: first.length > 1 ? first.slice(1) : undefined,
    });
  }

  /** Runs the dialler side of negotiation. */
  static async dial(transport: Transport, options: DialLinkOptions): Promise<Link> {
    const iterator = transport[Symbol.asyncIterator]();
    const own = ephemeralKey();
    const category = options.category ?? "edge";
    transport.send(encodeMessage(negotiationMessage({
      linkId: options.linkId,
      isReply: false,
      publicKey: own.publicKey,
      category,
      nodeId: options.nodeId,
      deploymentName: options.deploymentName,
    })));
    const first = await nextBatch(iterator, options.negotiationTimeoutMs ?? 5000, "reply");
    const reply = negotiationOf(decodeFirst(first[0]));
    if (!reply) throw new LinkError("first message from the node is not a link negotiation reply");
    checkReply(reply, options.linkId);
    const echoed = categoryOf(reply.connectionType);
    const mac = echoed === "peer" ? undefined : agreeLinkKey(
      own,
      reply.linkEcdhPublicKey,
      options.linkId,
      options.requireHeaderMac ?? true,
    );
    return new Link({
      transport,
      role: "dialler",
      linkId: options.linkId,
      category: echoed,
      remoteNodeId: reply.nodeId,
      remoteVersion: reply.slimVersion,
      remoteDeploymentName: reply.deploymentName,
      mac,
      iterator,
      leftover: first.length > 1 ? first.slice(1) : undefined,
    });
  }

  /** Received batches after negotiation. Iterate once. */
  async *batches(): AsyncGenerator<Uint8Array[]> {
    if (this.#leftover) {
      const l = this.#leftover;
      this.#leftover = undefined;
      yield l;
    }
    while (true) {
      const r = await this.#iterator.next();
      if (r.done) return;
      yield r.value;
    }
  }

  /**
   * Sends a message we originate (an app's, or a node's own): Subscribe, Unsubscribe and Publish
   * get this link's header MAC; recv_from, forward_to and incoming_conn are left off the wire.
   */
  send(message: Uint8Array): void {
    const v = this.#view.parse(message);
    if (v.kind !== KIND_PUBLISH && v.kind !== KIND_SUBSCRIBE && v.kind !== KIND_UNSUBSCRIBE) {
      this.transport.send(message);
      return;
    }
    if (!v.hasHeader) throw new ProtocolError("cannot send a routed message without a header");
    const mac = this.mac;
    const buf = this.transport.reserve(v.forwardSize(v.ttl, -1, mac !== undefined));
    const macAt = v.writeForward(buf, 0, v.ttl, -1, mac !== undefined);
    if (mac) v.signForward(mac.linkId, mac.outgoing, v.ttl, buf, macAt);
  }

  /**
   * Checks the header MAC of a received message. Returns a reason when it must be dropped, or
   * undefined when it is acceptable (valid MAC, or a message kind that carries none).
   */
  checkReceived(message: Uint8Array): string | undefined {
    const v = this.#view.parse(message);
    if (v.kind !== KIND_PUBLISH && v.kind !== KIND_SUBSCRIBE && v.kind !== KIND_UNSUBSCRIBE) {
      return undefined;
    }
    const mac = this.mac;
    if (!mac) return undefined;
    if (!v.hasMac) return "missing SLIM header integrity tag";
    return v.verifyMac(mac.linkId, mac.incoming, mac.tag)
      ? undefined
      : "SLIM header integrity tag mismatch";
  }

  /** Ends our side with a gRPC status (acceptor) or a half-close (dialler). */
  close(status = 0, message = ""): Promise<void> {
    if (this.state === "established") this.state = "closing";
    return this.transport.close(status, message);
  }
}

function decodeFirst(bytes: Uint8Array) {
  try {
    return decodeMessage(bytes);
  } catch (e) {
    throw new ProtocolError("undecodable first message", { cause: e });
  }
}

async function nextBatch(
  iterator: AsyncIterator<Uint8Array[]>,
  timeoutMs: number,
  what: string,
): Promise<Uint8Array[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const r = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`no link negotiation ${what} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    if (r.done) throw new LinkError(`stream ended before the link negotiation ${what}`);
    return r.value;
  } catch (e) {
    if (e instanceof SlimError) throw e;
    throw new LinkError(`link negotiation failed: ${(e as Error).message}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

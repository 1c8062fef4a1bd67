/**
 * Dialling a link: open the gRPC channel to a node and run the dialler side of link negotiation.
 *
 * Shared by apps (`lib/app/client_link.ts`) and by a node's outgoing connections
 * (`lib/node/node_client.ts`), so both report failures the same way: the endpoint is named in
 * every error, a refusal at the HTTP level reads as a transport failure, and a refusal with gRPC
 * `PERMISSION_DENIED` (a peer that will never accept this link) is told apart so that callers
 * stop retrying.
 * @module
 */
import { LinkError, SlimError, TransportError } from "../errors.ts";
import { type DialedChannel, dialGrpc, type DialOptions } from "../transport/grpc_client.ts";
import { redactEndpoint } from "../transport/redact.ts";
import { GrpcStatus } from "../transport/transport.ts";
import { type DialLinkOptions, Link } from "./link.ts";

/** Options of {@link dialLink}: where to connect, and how to negotiate. */
export interface DialLinkConfig extends DialOptions, Omit<DialLinkOptions, "negotiationTimeoutMs"> {
  /**
   * How long to wait for the negotiation reply.
   * @default the connect timeout, else 10 s (SLIM YAML `connect_timeout`)
   */
  negotiationTimeoutMs?: number;
}

/** A negotiated link and the channel carrying it. */
export interface DialedLink {
  link: Link;
  channel: DialedChannel;
}

/** The node refused the link for good (gRPC `PERMISSION_DENIED`): do not redial. */
export class LinkRejectedError extends LinkError {
  /** The gRPC status the node ended the stream with. */
  readonly grpcStatus: number;

  constructor(message: string, grpcStatus: number, options?: ErrorOptions) {
    super(message, options);
    this.grpcStatus = grpcStatus;
  }
}

/**
 * Connects to `config.endpoint` and negotiates a link as dialler. Rejects with
 * {@link TransportError} when the node cannot be reached (or refuses at the HTTP level), with
 * {@link LinkRejectedError} when it refuses with `PERMISSION_DENIED`, or with the negotiation
 * error otherwise; every message names the endpoint (without credentials).
 */
export async function dialLink(config: DialLinkConfig): Promise<DialedLink> {
  const endpoint = redactEndpoint(config.endpoint);
  let channel: DialedChannel;
  try {
    channel = await dialGrpc(config);
  } catch (e) {
    throw SlimError.from(e, "transport");
  }
  try {
    const link = await Link.dial(channel.transport, {
      linkId: config.linkId,
      nodeId: config.nodeId,
      category: config.category,
      deploymentName: config.deploymentName,
      requireHeaderMac: config.requireHeaderMac ?? true,
      negotiationTimeoutMs: config.negotiationTimeoutMs ?? config.connectTimeoutMs ?? 10_000,
    });
    return { link, channel };
  } catch (e) {
    channel.destroy();
    const status = channel.transport.remoteStatus;
    if (status && status.code < 0) {
      throw new TransportError(`${endpoint} refused the connection: ${status.message}`, {
        cause: e,
      });
    }
    if (status?.code === GrpcStatus.PERMISSION_DENIED) {
      throw new LinkRejectedError(
        `${endpoint} rejected the link: ${status.message}`,
        status.code,
        { cause: e },
      );
    }
    const err = SlimError.from(e, "link");
    throw new SlimError(err.code, `${endpoint}: ${err.message}`, { cause: e });
  }
}

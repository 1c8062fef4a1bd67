/**
 * A raw-protocol test client: dials a node, negotiates a link, and sends/receives protobuf
 * messages without any session layer. Used by node integration tests and benchmarks' checks.
 */
import { type DialedChannel, dialGrpc } from "../../lib/transport/grpc_client.ts";
import { Link } from "../../lib/link/link.ts";
import {
  BROADCAST_FANOUT,
  decodeMessage,
  DEFAULT_TTL,
  encodeMessage,
  makeMessage,
  type Message,
  nameToProto,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";
import type { Name } from "../../lib/names/name.ts";
import { MessageView } from "../../lib/wire/message_view.ts";

/** A connected raw client. */
export class RawClient {
  readonly link: Link;
  readonly channel: DialedChannel;
  readonly received: Message[] = [];
  readonly rejected: string[] = [];
  readonly done: Promise<void>;
  #waiters: (() => void)[] = [];

  private constructor(link: Link, channel: DialedChannel) {
    this.link = link;
    this.channel = channel;
    this.done = this.#pump();
  }

  static async connect(
    endpoint: string,
    options: { linkId?: string; requireHeaderMac?: boolean } = {},
  ): Promise<RawClient> {
    const channel = await dialGrpc({ endpoint });
    const link = await Link.dial(channel.transport, {
      linkId: options.linkId ?? crypto.randomUUID(),
      nodeId: "raw-test-client",
      requireHeaderMac: options.requireHeaderMac ?? true,
    });
    return new RawClient(link, channel);
  }

  async #pump(): Promise<void> {
    try {
      for await (const batch of this.link.batches()) {
        for (const bytes of batch) {
          const reason = this.link.checkReceived(bytes);
          if (reason) this.rejected.push(reason);
          else this.received.push(decodeMessage(bytes));
        }
        const w = this.#waiters;
        this.#waiters = [];
        for (const f of w) f();
      }
    } catch {
      // Stream torn down; tests assert on what arrived.
    }
    // Like a real client, end our side once the node ended the stream.
    this.channel.transport.close().catch(() => {});
    for (const f of this.#waiters) f();
  }

  /** Waits until `predicate` holds over received messages, or throws after `timeoutMs`. */
  async waitFor(predicate: (ms: Message[]) => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, Math.min(left, 100))),
        this.done,
      ]);
      clearTimeout(timer);
    }
  }

  send(message: Message): void {
    this.link.send(encodeMessage(message));
  }

  /**
   * Sends a routed message exactly as given (recv_from/forward_to kept), with a MAC computed
   * over the header as sent. Apps never do this; tests use it to exercise the node's handling.
   */
  sendVerbatim(message: Message): void {
    const mac = this.link.mac!;
    const body = message.messageType.value as { header?: { headerMac?: Uint8Array } };
    body.header!.headerMac = new Uint8Array(32);
    const tag = new Uint8Array(32);
    new MessageView().parse(encodeMessage(message)).macOf(mac.linkId, mac.outgoing, tag, 0);
    body.header!.headerMac = tag;
    this.channel.transport.send(encodeMessage(message));
  }

  async subscribe(name: Name, subscriptionId: bigint, options: { strName?: boolean } = {}) {
    const proto = nameToProto(name);
    if (options.strName === false) proto.strName = undefined;
    this.send(makeMessage({
      messageType: {
        case: "subscribe",
        value: {
          header: {
            source: nameToProto(name),
            destination: proto,
            identity: "test",
            fanout: 1,
            ttl: DEFAULT_TTL,
          },
          subscriptionId,
        },
      },
    }));
    await this.waitFor((ms) => ms.some((m) => ackOf(m)?.subscriptionId === subscriptionId));
    return ackOf(
      this.received.find((m) => ackOf(m)?.subscriptionId === subscriptionId)!,
    )!;
  }

  async unsubscribe(name: Name, subscriptionId: bigint) {
    this.received.length = 0;
    this.send(makeMessage({
      messageType: {
        case: "unsubscribe",
        value: {
          header: {
            source: nameToProto(name),
            destination: nameToProto(name),
            identity: "test",
            fanout: 1,
            ttl: DEFAULT_TTL,
          },
          subscriptionId,
        },
      },
    }));
    await this.waitFor((ms) => ms.some((m) => ackOf(m)?.subscriptionId === subscriptionId));
    return ackOf(this.received.find((m) => ackOf(m)?.subscriptionId === subscriptionId)!)!;
  }

  publish(
    source: Name,
    destination: Name,
    text: string,
    options: { fanout?: number; ttl?: number; forwardTo?: bigint; messageId?: number } = {},
  ): void {
    this.send(publishMessage(source, destination, text, options));
  }

  /** Texts of received publishes. */
  texts(): string[] {
    return this.received.flatMap((m) => {
      if (m.messageType.case !== "publish") return [];
      const c = m.messageType.value.msg?.contentType;
      return c?.case === "appPayload" ? [new TextDecoder().decode(c.value.blob)] : [];
    });
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => {});
    this.channel.destroy();
    await this.done;
  }
}

/** A data publish as an app would send it (minus identity and session semantics). */
export function publishMessage(
  source: Name,
  destination: Name,
  text: string,
  options: { fanout?: number; ttl?: number; forwardTo?: bigint; messageId?: number } = {},
): Message {
  return makeMessage({
    messageType: {
      case: "publish",
      value: {
        header: {
          source: nameToProto(source),
          destination: nameToProto(destination),
          identity: "test",
          fanout: options.fanout ?? (destination.hasId ? 1 : BROADCAST_FANOUT),
          ttl: options.ttl ?? DEFAULT_TTL,
          forwardTo: options.forwardTo,
          version: "2.0.0-alpha.8",
        },
        session: {
          sessionType: SessionType.POINT_TO_POINT,
          sessionMessageType: SessionMessageType.MSG,
          sessionId: 1,
          messageId: options.messageId ?? 1,
        },
        msg: {
          contentType: {
            case: "appPayload",
            value: { payloadType: "text/plain", blob: new TextEncoder().encode(text) },
          },
        },
      },
    },
  });
}

/** The SubscriptionAck of a message, if it is one. */
export function ackOf(m: Message) {
  return m.messageType.case === "subscriptionAck" ? m.messageType.value : undefined;
}

/** Captures log lines for assertions. */
export function logCapture() {
  const lines: string[] = [];
  return {
    lines,
    sink: (line: string) => {
      lines.push(line);
    },
    has: (...parts: string[]) => lines.some((l) => parts.every((p) => l.includes(p))),
  };
}

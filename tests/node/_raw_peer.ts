/**
 * A hand-driven peer node for protocol tests: it dials a node with a PEER link negotiation and
 * then sends and records raw messages, like the research `mini-peer` did against the real node.
 */
import { dialLink } from "../../lib/link/dial.ts";
import type { Link } from "../../lib/link/link.ts";
import type { Name } from "../../lib/names/name.ts";
import type { DialedChannel } from "../../lib/transport/grpc_client.ts";
import {
  decodeMessage,
  encodeMessage,
  makeMessage,
  type Message,
  nameToProto,
} from "../../lib/wire/codec.ts";
import { publishMessage } from "../helpers/raw_client.ts";

/** A (un)subscription as a peer sent it. */
export interface SeenSubscription {
  kind: "subscribe" | "unsubscribe";
  name: string;
  subscriptionId: bigint;
  ttl: number;
  identity: string;
  hasMac: boolean;
  hasStrName: boolean;
}

/** A raw peer connected to a node. */
export class RawPeer {
  readonly link: Link;
  readonly channel: DialedChannel;
  readonly received: Message[] = [];
  readonly done: Promise<void>;
  /** Acknowledge every Subscribe/Unsubscribe with a non-zero id, as SLIM does. */
  autoAck = true;
  #waiters: (() => void)[] = [];

  private constructor(link: Link, channel: DialedChannel) {
    this.link = link;
    this.channel = channel;
    this.done = this.#pump();
  }

  static async connect(
    endpoint: string,
    options: { nodeId?: string; linkId?: string; deploymentName?: string } = {},
  ): Promise<RawPeer> {
    const { link, channel } = await dialLink({
      endpoint,
      linkId: options.linkId ?? crypto.randomUUID(),
      nodeId: options.nodeId ?? "raw-peer",
      deploymentName: options.deploymentName,
      category: "peer",
    });
    return new RawPeer(link, channel);
  }

  async #pump(): Promise<void> {
    try {
      for await (const batch of this.link.batches()) {
        for (const bytes of batch) {
          const m = decodeMessage(bytes);
          this.received.push(m);
          const c = m.messageType.case;
          if ((c === "subscribe" || c === "unsubscribe") && this.autoAck) {
            const id = m.messageType.value.subscriptionId;
            if (id !== 0n) this.ack(id, true);
          }
        }
        this.#wake();
      }
    } catch {
      // Torn down: tests assert on what arrived.
    }
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Subscriptions received so far, decoded for assertions. */
  subscriptions(): SeenSubscription[] {
    return this.received.flatMap((m) => {
      const c = m.messageType.case;
      if (c !== "subscribe" && c !== "unsubscribe") return [];
      const v = m.messageType.value;
      const h = v.header!;
      const s = h.destination?.strName;
      return [{
        kind: c,
        name: s ? `${s.strComponent0}/${s.strComponent1}/${s.strComponent2}` : "?",
        subscriptionId: v.subscriptionId,
        ttl: h.ttl,
        identity: h.identity,
        hasMac: h.headerMac !== undefined,
        hasStrName: s !== undefined,
      }];
    });
  }

  /** Texts of the publishes received. */
  texts(): string[] {
    return this.received.flatMap((m) => {
      if (m.messageType.case !== "publish") return [];
      const c = m.messageType.value.msg?.contentType;
      return c?.case === "appPayload" ? [new TextDecoder().decode(c.value.blob)] : [];
    });
  }

  /** Waits until `predicate` holds over what was received. */
  async waitFor(predicate: (p: RawPeer) => boolean, timeoutMs = 3000, what = "condition") {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} not met within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => timer = setTimeout(r, Math.min(left, 100))),
        this.done,
      ]);
      clearTimeout(timer);
    }
  }

  /** Sends a peer-style (un)subscription: no identity, no MAC, the given TTL and id. */
  subscription(kind: "subscribe" | "unsubscribe", name: Name, id: bigint, ttl = 8): void {
    const wire = nameToProto(name);
    const header = { source: wire, destination: wire, fanout: 1, ttl };
    this.link.send(encodeMessage(makeMessage({
      messageType: kind === "subscribe"
        ? { case: "subscribe", value: { header, subscriptionId: id } }
        : { case: "unsubscribe", value: { header, subscriptionId: id } },
    })));
  }

  ack(id: bigint, success: boolean): void {
    this.link.send(encodeMessage(makeMessage({
      messageType: { case: "subscriptionAck", value: { subscriptionId: id, success } },
    })));
  }

  /** Acks received for `id`. */
  acks(id: bigint): { success: boolean; error: string }[] {
    return this.received.flatMap((m) =>
      m.messageType.case === "subscriptionAck" && m.messageType.value.subscriptionId === id
        ? [m.messageType.value]
        : []
    );
  }

  publish(source: Name, destination: Name, text: string, options: { ttl?: number } = {}): void {
    this.link.send(encodeMessage(publishMessage(source, destination, text, options)));
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => {});
    this.channel.destroy();
    await this.done;
  }
}

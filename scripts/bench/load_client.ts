/**
 * The benchmarks' load generator connection: a raw app-like link that subscribes, signs one
 * publish template and then stamps copies of it, so the generator measures the node rather than
 * itself. Shared by `bench_node.ts` and `bench_multinode.ts`.
 * @module
 */
import { dialLink } from "../../lib/link/dial.ts";
import type { Link } from "../../lib/link/link.ts";
import type { Name } from "../../lib/names/name.ts";
import type { DialedChannel } from "../../lib/transport/grpc_client.ts";
import {
  decodeMessage,
  encodeMessage,
  makeMessage,
  nameToProto,
  SessionMessageType,
  SessionType,
} from "../../lib/wire/codec.ts";

/**
 * An identity token shaped like a shared-secret app's (`id:ts:nonce:claims:mac`, 200-300 bytes).
 * Real apps mint one per message, so `nonce` varies; a JWT app sends the same token every time.
 */
function identity(nonce: number): string {
  return `org/ns/bench_AbCdEfGh:1795239484:${String(nonce).padStart(16, "0")}:` +
    "x".repeat(120) + ":UZCcu23olSLFzi_jKxOSPaalMqXmBM4GUvFQy62Frxw";
}
const IDENTITY = identity(0);

/**
 * Signed publishes that differ only in their identity token's nonce. The generator rotates through
 * them so that consecutive headers differ as a shared-secret app's do, without signing per message.
 */
export type Template = Uint8Array[];

/** One app-like connection of the generator. */
export class LoadClient {
  received = 0;
  latencies: number[] | undefined;
  onBatch: (() => void) | undefined;
  readonly link: Link;
  readonly channel: DialedChannel;
  readonly #acks = new Map<bigint, () => void>();
  readonly done: Promise<void>;

  private constructor(link: Link, channel: DialedChannel) {
    this.link = link;
    this.channel = channel;
    this.done = this.#pump();
  }

  /** Dials `url` as an app does: one OpenChannel stream, link negotiation, header MACs. */
  static async connect(url: string): Promise<LoadClient> {
    const { link, channel } = await dialLink({
      endpoint: url,
      linkId: crypto.randomUUID(),
      nodeId: "bench",
    });
    return new LoadClient(link, channel);
  }

  async #pump(): Promise<void> {
    try {
      for await (const batch of this.link.batches()) {
        for (const m of batch) {
          if (m.length < 64) {
            // Small frames are subscription acks; data frames carry the payload.
            const ack = decodeMessage(m);
            if (ack.messageType.case === "subscriptionAck") {
              this.#acks.get(ack.messageType.value.subscriptionId)?.();
            }
            continue;
          }
          this.received++;
          if (this.latencies) {
            const dv = new DataView(m.buffer, m.byteOffset + m.length - 8, 8);
            this.latencies.push(performance.now() - dv.getFloat64(0, true));
          }
        }
        this.onBatch?.();
      }
    } catch {
      // Torn down at the end of a scenario.
    }
  }

  /** Subscribes `name` and waits for the node's acknowledgement. */
  async subscribe(name: Name): Promise<void> {
    const id = BigInt(Math.floor(Math.random() * 2 ** 48)) + 1n;
    const acked = new Promise<void>((r) => this.#acks.set(id, r));
    this.link.send(encodeMessage(makeMessage({
      messageType: {
        case: "subscribe",
        value: {
          header: {
            source: nameToProto(name),
            destination: nameToProto(name),
            identity: IDENTITY,
            fanout: 1,
            ttl: 8,
          },
          subscriptionId: id,
        },
      },
    })));
    await acked;
  }

  /**
   * `variants` signed publishes of `payload` bytes, each with its own identity token (1: the same
   * token every time, as a JWT app sends). {@link send} patches their tail (sequence number, send
   * time) in place: the link's MAC does not cover the payload.
   */
  template(
    source: Name,
    destination: Name,
    fanout: number,
    payload: number,
    variants: number,
  ): Template {
    const out: Template = [];
    for (let v = 0; v < variants; v++) {
      out.push(this.#signedPublish(source, destination, fanout, payload, identity(v)));
    }
    return out;
  }

  #signedPublish(
    source: Name,
    destination: Name,
    fanout: number,
    payload: number,
    token: string,
  ): Uint8Array {
    const message = encodeMessage(makeMessage({
      messageType: {
        case: "publish",
        value: {
          header: {
            source: nameToProto(source),
            destination: nameToProto(destination),
            identity: token,
            fanout,
            ttl: 8,
            version: "2.0.0-alpha.8",
          },
          session: {
            sessionType: SessionType.POINT_TO_POINT,
            sessionMessageType: SessionMessageType.MSG,
            sessionId: 1,
            messageId: 1,
          },
          msg: {
            contentType: {
              case: "appPayload",
              value: { payloadType: "bench", blob: new Uint8Array(payload).fill(0x61) },
            },
          },
        },
      },
    }));
    // Sign once through the link (its output is the framed message); strip the gRPC prefix.
    let signed: Uint8Array | undefined;
    const t = this.link.transport;
    const reserve = t.reserve.bind(t);
    t.reserve = (len: number) => {
      signed = new Uint8Array(len);
      return signed;
    };
    this.link.send(message);
    t.reserve = reserve;
    return signed!;
  }

  /** Sends `count` publishes from `template` with sequence numbers from `seq`. */
  send(template: Template, seq: number, count: number): void {
    const t = this.link.transport;
    const len = template[0].length;
    for (let i = 0; i < count; i++) {
      const buf = t.reserve(len);
      // seq may be fractional (fan-out windows count deliveries / subscribers).
      buf.set(template[Math.floor(seq + i) % template.length]);
      const dv = new DataView(buf.buffer, buf.byteOffset + len - 16, 16);
      dv.setUint32(0, seq + i, true);
      dv.setFloat64(8, performance.now(), true);
    }
  }

  /** Ends the stream (or drops the connection after 500 ms). */
  async close(): Promise<void> {
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.channel.close(), new Promise((r) => t = setTimeout(r, 500))]);
    clearTimeout(t);
    this.channel.destroy();
  }
}

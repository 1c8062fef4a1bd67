/**
 * A client that subscribes and then never reads again: its HTTP/2 stream stops crediting flow
 * control, so the node's output to it piles up, as with a hung or overloaded subscriber.
 */
import { type DialedChannel, dialGrpc } from "../../lib/transport/grpc_client.ts";
import { Link } from "../../lib/link/link.ts";
import type { Name } from "../../lib/names/name.ts";
import {
  decodeMessage,
  DEFAULT_TTL,
  encodeMessage,
  makeMessage,
  nameToProto,
} from "../../lib/wire/codec.ts";

/** A subscriber that stopped reading. */
export interface StalledClient {
  link: Link;
  channel: DialedChannel;
  /** Starts reading again; resolves with the number of publishes once the stream ends. */
  resume(onPublish?: (count: number) => void): Promise<number>;
}

/** Connects, subscribes `name` (waiting for the acknowledgement), then stops reading. */
export async function stalledSubscriber(endpoint: string, name: Name): Promise<StalledClient> {
  const channel = await dialGrpc({ endpoint });
  const link = await Link.dial(channel.transport, {
    linkId: crypto.randomUUID(),
    nodeId: "stalled-test-client",
  });
  const id = 4242n;
  link.send(encodeMessage(makeMessage({
    messageType: {
      case: "subscribe",
      value: {
        header: {
          source: nameToProto(name),
          destination: nameToProto(name),
          identity: "test",
          fanout: 1,
          ttl: DEFAULT_TTL,
        },
        subscriptionId: id,
      },
    },
  })));
  // Read just until the acknowledgement, then never again.
  const batches = link.batches();
  while (true) {
    const r = await batches.next();
    if (r.done) throw new Error("stream ended before the subscription was acknowledged");
    const acked = r.value.some((bytes) => {
      const m = decodeMessage(bytes);
      return m.messageType.case === "subscriptionAck" && m.messageType.value.subscriptionId === id;
    });
    if (acked) break;
  }
  const resume = async (onPublish?: (count: number) => void) => {
    let count = 0;
    try {
      for await (const batch of { [Symbol.asyncIterator]: () => batches }) {
        for (const bytes of batch) {
          if (decodeMessage(bytes).messageType.case === "publish") count++;
        }
        onPublish?.(count);
      }
    } catch {
      // Torn down: the count so far is the answer.
    }
    return count;
  };
  return { link, channel, resume };
}

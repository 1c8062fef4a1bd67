/**
 * The transport seam: one bidirectional stream of SLIM messages.
 *
 * A transport yields received messages in batches (one batch per chunk the network delivered),
 * so the consumer awaits once per batch, never per message. Sending is synchronous: messages are
 * framed straight into an output buffer that is flushed once per turn of the event loop, which
 * coalesces everything produced while handling one batch into a single write.
 *
 * Implementations: gRPC over HTTP/2 (`grpc_server.ts`, `grpc_client.ts`) and an in-process pair
 * for tests and benchmarks (`memory.ts`).
 * @module
 */

/** Why a transport ended. */
export interface CloseInfo {
  /** True when the peer ended the stream cleanly (or we closed it). */
  clean: boolean;
  /** Error that ended it, if any. */
  error?: Error;
}

/** One bidirectional message stream. */
export interface Transport extends AsyncIterable<Uint8Array[]> {
  /** Peer description for logs, e.g. `127.0.0.1:53412`. */
  readonly remote: string;
  /** Frames one encoded `Message` for sending. */
  send(message: Uint8Array): void;
  /**
   * Reserves room for one message of exactly `length` bytes and returns a view to fill in before
   * control returns to the event loop (the prefix is already written).
   */
  reserve(length: number): Uint8Array;
  /** True while the peer is not keeping up; producers should wait for {@link drained}. */
  readonly congested: boolean;
  /** Resolves when the output buffer has drained below the high-water mark. */
  drained(): Promise<void>;
  /**
   * Ends our side of the stream (after flushing). An acceptor ends with gRPC `status` (0 = OK)
   * and `message` in the trailers; a dialler half-closes. Idempotent.
   */
  close(status?: number, message?: string): Promise<void>;
  /** Tears the stream down at once without flushing. */
  abort(reason?: Error): void;
  /** Resolves when the stream is over in both directions. */
  readonly closed: Promise<CloseInfo>;
  /** True once the stream is over (what {@link closed} resolves for), read synchronously. */
  readonly isClosed: boolean;
}

/** gRPC status codes used by slim-ts. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * A small HTTP/2 (RFC 9113) implementation for gRPC over `node:net` / `node:tls` sockets, both
 * roles, portable to Deno, Bun and Node.
 *
 * slim-ts carries its own HTTP/2 rather than `node:http2` because a remote client must never be
 * able to take the node down: Deno's `node:http2` (an nghttp2 binding) aborts the whole process
 * on some connection teardown orders. Owning the protocol also removes the polyfill from the hot
 * path: DATA payloads reach the gRPC deframer as views of the socket's chunks, and outgoing
 * messages framed by `FrameWriter` leave as one socket write per event-loop turn with the frame
 * header written in place.
 * @module
 */
export * from "./constants.ts";
export { H2Connection } from "./connection.ts";
export type { ConnectionState, H2ConnectionOptions, H2LocalSettings } from "./connection.ts";
export { H2Stream } from "./stream.ts";
export type { StreamHost, StreamState } from "./stream.ts";
export { type HeaderField, HpackDecoder, HpackEncoder, STATIC_TABLE } from "./hpack.ts";
export type { HpackEncoderOptions } from "./hpack.ts";
export {
  encodeFrame,
  type FrameHandler,
  FrameReader,
  goawayFrame,
  headersFrames,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frame.ts";

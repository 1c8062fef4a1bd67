/**
 * HTTP/2 (RFC 9113) protocol numbers: frame types, flags, settings, error codes, and the limits
 * slim-ts applies.
 * @module
 */
import { ProtocolError } from "../../errors.ts";

/** The client connection preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/** Size of a frame header. */
export const FRAME_HEADER_SIZE = 9;

/**
 * Smallest SETTINGS_MAX_HEADER_LIST_SIZE a server may announce and still let clients in: a gRPC
 * request's headers take a few hundred octets, 1-2 KiB with a bearer token (sizes counted as
 * RFC 9113 §6.5.2 does).
 */
export const MIN_HEADER_LIST_SIZE = 4096;

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6). */
export const Flag = {
  /** DATA, HEADERS. */
  END_STREAM: 0x1,
  /** SETTINGS, PING. */
  ACK: 0x1,
  /** HEADERS, PUSH_PROMISE, CONTINUATION. */
  END_HEADERS: 0x4,
  /** DATA, HEADERS, PUSH_PROMISE. */
  PADDED: 0x8,
  /** HEADERS. */
  PRIORITY: 0x20,
} as const;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const ERROR_NAMES = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name]),
) as Record<number, string>;

/** `PROTOCOL_ERROR`, `CANCEL`, ... or `0x1f` for codes RFC 9113 does not define. */
export function errorCodeName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Protocol defaults (RFC 9113 §6.5.2): what a peer assumes before our SETTINGS arrive. */
export const DEFAULT_WINDOW_SIZE = 65_535;
/** Smallest (and default) SETTINGS_MAX_FRAME_SIZE. */
export const MIN_MAX_FRAME_SIZE = 16_384;
/** Largest legal SETTINGS_MAX_FRAME_SIZE. */
export const MAX_MAX_FRAME_SIZE = 16_777_215;
/** Largest flow-control window. */
export const MAX_WINDOW_SIZE = 2_147_483_647;
/** Default HPACK dynamic table size. */
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;

/**
 * An HTTP/2 error with its RFC 9113 code. `streamId` 0 means a connection error (the connection
 * ends with GOAWAY); otherwise a stream error (that stream is reset with RST_STREAM).
 */
export class Http2Error extends ProtocolError {
  /** RFC 9113 error code, see {@link ErrorCode}. */
  readonly errorCode: number;
  /** Stream the error is confined to, or 0 for the whole connection. */
  readonly streamId: number;

  /** An error of `errorCode` on `streamId` (0: the connection). */
  constructor(errorCode: number, message: string, streamId = 0, options?: ErrorOptions) {
    super(message, options);
    this.errorCode = errorCode;
    this.streamId = streamId;
  }
}

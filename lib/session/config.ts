/**
 * Session options, defaults and the constants the real SLIM uses.
 * @module
 */
import type { Name } from "../names/name.ts";

/** Control-message retransmission interval when none is configured, ms. */
export const DEFAULT_INTERVAL_MS = 1000;
/** Control-message retransmissions when none are configured. */
export const DEFAULT_MAX_RETRIES = 10;
/** Heartbeat period, ms. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Heartbeat periods without any message before a member is marked offline. */
export const HEARTBEAT_MISSES = 3;
/** Sent messages kept for retransmission requests. */
export const PRODUCER_BUFFER_SIZE = 512;
/** Largest sequential message id; the next is 0. */
export const MAX_PUBLISH_ID = 0x7fffffff;
/** Session ids are drawn below this bound. */
export const MAX_SESSION_ID = 0xffffffff - 1000;
/** How long a closing session waits for its goodbye to be acknowledged, ms. */
export const DRAIN_TIMEOUT_MS = 60_000;
/** Control message ids remembered per sender (duplicate detection). */
export const SEEN_CONTROL_IDS = 1000;
/** Heartbeat epoch of sessions without MLS (u64::MAX). */
export const NO_EPOCH = 0xffffffffffffffffn;

/** Reliability settings (SLIM `maxRetries` / `interval`). */
export interface ReliableOptions {
  /** Retransmissions of an unacknowledged message. @default 10 */
  maxRetries?: number;
  /** Time between retransmissions, ms. @default 1000 */
  intervalMs?: number;
}

/** MLS settings (SLIM `mlsSettings`). */
export interface MlsOptions {
  /**
   * Share of received messages whose header is checked against the MLS authenticated data.
   * @default 100
   */
  headerIntegrityValidationPercent?: number;
}

/** Options of `App.createSession`. */
export type SessionOptions =
  & {
    /**
     * End-to-end encryption with MLS (RFC 9420, ciphersuite 2).
     * @default false
     */
    mls?: boolean | MlsOptions;
    /**
     * Per-message acknowledgements, retransmission and in-order delivery. Omit (or `false`)
     * for best effort. Group sessions are always reliable (real SLIM participants refuse a
     * group without timer settings); they default to 10 retries every 1000 ms.
     */
    reliable?: ReliableOptions | false;
    /** Sent to participants with the join request; becomes their `session.metadata`. */
    metadata?: Record<string, string>;
  }
  & (
    | {
      kind: "point-to-point";
      /** `org/ns/app` (any instance) or `org/ns/app/<id>` (that instance). */
      peer: string | Name;
    }
    | {
      kind: "group";
      /** The channel's base name, `org/ns/chat`. */
      channel: string | Name;
    }
  );

/** Settings a session runs with (initiator's choice, or the join request's). */
export interface SessionSettings {
  kind: "point-to-point" | "group";
  /** Reliable data (both timer values present on the wire). */
  reliable: boolean;
  intervalMs: number;
  maxRetries: number;
  /** MLS on, with the header-integrity share. */
  mls: { headerIntegrityValidationPercent: number } | undefined;
  metadata: Record<string, string>;
}

/** Resolves options into settings. */
export function settingsFrom(options: SessionOptions): SessionSettings {
  const reliable = options.kind === "group" || !!options.reliable;
  const r = options.reliable || {};
  const mls = options.mls
    ? {
      headerIntegrityValidationPercent: Math.max(
        0,
        Math.min(
          100,
          (typeof options.mls === "object" ? options.mls.headerIntegrityValidationPercent : 100) ??
            100,
        ),
      ),
    }
    : undefined;
  return {
    kind: options.kind,
    reliable,
    intervalMs: r.intervalMs ?? DEFAULT_INTERVAL_MS,
    maxRetries: r.maxRetries ?? DEFAULT_MAX_RETRIES,
    mls,
    metadata: { ...options.metadata },
  };
}

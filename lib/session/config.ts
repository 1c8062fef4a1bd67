/**
 * Session options, defaults and the constants the real SLIM uses.
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Name } from "../names/name.ts";

/** Control-message retransmission interval when none is configured, ms. */
export const DEFAULT_INTERVAL_MS = 1000;
/** Control-message retransmissions when none are configured. */
export const DEFAULT_MAX_RETRIES = 10;
/**
 * Bounds of the retransmission interval, ms. Below the floor one lost acknowledgement becomes a
 * flood; above the ceiling JavaScript timers overflow (and fire at once).
 */
export const MIN_INTERVAL_MS = 10;
export const MAX_INTERVAL_MS = 0x7fffffff;
/** Most retransmissions of one message. */
export const MAX_RETRIES_LIMIT = 1000;
/** Longest a participant waits for the welcome after a join request, ms. */
export const MAX_WELCOME_WAIT_MS = 10 * 60_000;
/** Incoming sessions an app holds before they are welcomed; more join requests are refused. */
export const MAX_PENDING_JOINS = 256;
/** Established incoming sessions not yet taken by `listen()`; more join requests are refused. */
export const MAX_UNCLAIMED_SESSIONS = 1024;
/** Session events kept while the application does not read them (the oldest go first). */
export const SESSION_EVENTS_KEPT = 1000;
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
  /** Retransmissions of an unacknowledged message, 0 to {@link MAX_RETRIES_LIMIT}. @default 10 */
  maxRetries?: number;
  /**
   * Time between retransmissions, ms, {@link MIN_INTERVAL_MS} to {@link MAX_INTERVAL_MS}.
   * @default 1000
   */
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

/** Resolves options into settings; throws {@link UsageError} naming a bad option. */
export function settingsFrom(options: SessionOptions): SessionSettings {
  const kind = (options as { kind?: unknown } | undefined)?.kind;
  if (kind !== "point-to-point" && kind !== "group") {
    throw new UsageError(
      `createSession: kind must be "point-to-point" or "group", got ${describe(kind)}`,
    );
  }
  const reliable = options.kind === "group" || !!options.reliable;
  const r = options.reliable || {};
  const intervalMs = r.intervalMs ?? DEFAULT_INTERVAL_MS;
  const maxRetries = r.maxRetries ?? DEFAULT_MAX_RETRIES;
  checkInteger("reliable.intervalMs", intervalMs, MIN_INTERVAL_MS, MAX_INTERVAL_MS);
  checkInteger("reliable.maxRetries", maxRetries, 0, MAX_RETRIES_LIMIT);
  let mls: SessionSettings["mls"];
  if (options.mls) {
    const percent = typeof options.mls === "object"
      ? options.mls.headerIntegrityValidationPercent ?? 100
      : 100;
    checkInteger("mls.headerIntegrityValidationPercent", percent, 0, 100);
    mls = { headerIntegrityValidationPercent: percent };
  }
  return {
    kind: options.kind,
    reliable,
    intervalMs,
    maxRetries,
    mls,
    metadata: checkMetadata("metadata", options.metadata),
  };
}

/**
 * Timer settings a peer asked for in its join request, brought within the bounds our own
 * options have: a peer must not make us retransmit every millisecond or for ever.
 */
export function peerTimers(
  timeoutMs: number | undefined,
  maxRetries: number | undefined,
): { intervalMs: number; maxRetries: number } {
  return {
    intervalMs: Math.min(
      MAX_INTERVAL_MS,
      Math.max(MIN_INTERVAL_MS, timeoutMs || DEFAULT_INTERVAL_MS),
    ),
    maxRetries: Math.min(MAX_RETRIES_LIMIT, maxRetries ?? DEFAULT_MAX_RETRIES),
  };
}

/** A string-to-string record (a copy); throws {@link UsageError} naming `what`. */
export function checkMetadata(
  what: string,
  metadata: Record<string, string> | undefined,
): Record<string, string> {
  if (metadata === undefined) return {};
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new UsageError(`${what} must be an object of strings, got ${describe(metadata)}`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new UsageError(`${what}.${k} must be a string, got ${describe(v)}`);
    }
  }
  return { ...metadata };
}

function checkInteger(what: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${what} must be an integer from ${min} to ${max}, got ${describe(value)}`,
    );
  }
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

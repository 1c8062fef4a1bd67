/**
 * The one error family of slim-ts.
 *
 * Every error thrown by the library is a {@link SlimError} whose `code` is stable across releases,
 * so callers can branch on `err.code` (or `instanceof`) instead of parsing messages. Underlying
 * failures are chained through the standard `cause` option.
 * @module
 */

/** Stable machine-readable error codes. */
export type SlimErrorCode =
  | "config"
  | "usage"
  | "name"
  | "protocol"
  | "transport"
  | "link"
  | "auth"
  | "session"
  | "timeout"
  | "mls"
  | "closed";

/** Base class of every error raised by slim-ts. */
export class SlimError extends Error {
  /** Stable code; see {@link SlimErrorCode}. */
  readonly code: SlimErrorCode;

  /** `options.cause` chains the underlying error. */
  constructor(code: SlimErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** Wraps anything thrown into a SlimError, keeping SlimErrors as they are. */
  static from(reason: unknown, code: SlimErrorCode = "transport"): SlimError {
    if (reason instanceof SlimError) return reason;
    return new SlimError(code, errorMessage(reason), { cause: reason });
  }
}

/** The message of anything thrown, for error and log text. */
export function errorMessage(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** A configuration file, section or option is invalid. `path` names the offending key. */
export class ConfigError extends SlimError {
  /** Dotted path of the offending key (e.g. `services.slim/0.dataplane.servers[0].tls`). */
  readonly path: string | undefined;
  /** File the configuration came from, if any. */
  readonly file: string | undefined;

  /** The message is prefixed with `file: path: ` when they are given. */
  constructor(message: string, options?: ErrorOptions & { path?: string; file?: string }) {
    const where = [options?.file, options?.path].filter(Boolean).join(": ");
    super("config", where ? `${where}: ${message}` : message, options);
    this.path = options?.path;
    this.file = options?.file;
  }
}

/** The API or the command line was used wrongly (a bad option value, an unknown flag). */
export class UsageError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("usage", message, options);
  }
}

/** A SLIM name (`org/ns/app[/id]`) could not be parsed. */
export class NameError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("name", message, options);
  }
}

/** A peer sent bytes that do not follow the wire protocol (framing, protobuf, sequence). */
export class ProtocolError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("protocol", message, options);
  }
}

/** The underlying connection failed (refused, reset, TLS, HTTP/2). */
export class TransportError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("transport", message, options);
  }
}

/** Link negotiation or header integrity failed. */
export class LinkError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("link", message, options);
  }
}

/** An identity token, signature or credential was rejected. Never carries secret material. */
export class AuthError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("auth", message, options);
  }
}

/** A session operation failed (unknown peer, not a moderator, closed by the peer...). */
export class SessionError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("session", message, options);
  }
}

/** An operation did not complete in time. */
export class TimeoutError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("timeout", message, options);
  }
}

/** An MLS operation failed (bad welcome, commit out of order, decryption failure). */
export class MlsError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("mls", message, options);
  }
}

/** The object was already closed or is shutting down. */
export class ClosedError extends SlimError {
  /** `options.cause` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super("closed", message, options);
  }
}

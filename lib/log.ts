/**
 * Leveled, line-oriented logging.
 *
 * One line per event: `<time> <LEVEL> <scope> <message> key=value ...`. Loggers are plain objects
 * passed down explicitly (no global logger), so tests can capture lines and several nodes can run
 * in one process with their own levels. Level checks happen before any formatting; callers on hot
 * paths should guard with {@link Logger.enabled}.
 * @module
 */

/** Log levels, most severe first (the `tracing.log_level` values of the SLIM config). */
export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

/** Parses a `tracing.log_level` value; also accepts `off` and upper case. */
export function parseLogLevel(value: string): LogLevel | "off" | undefined {
  const v = value.trim().toLowerCase();
  if (v === "off") return "off";
  return v in RANK ? v as LogLevel : undefined;
}

/** Values that may appear in a log line. */
export type LogFields = Record<string, string | number | bigint | boolean | undefined | null>;

/** Where formatted lines go. */
export type LogSink = (line: string, level: LogLevel) => void;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /**
   * Most verbose level written; `off` writes nothing.
   * @default "info" (SLIM YAML `tracing.log_level`)
   */
  level?: LogLevel | "off";
  /**
   * Receives each formatted line.
   * @default writes to standard error
   */
  sink?: LogSink;
  /**
   * Prefix lines with an ISO timestamp.
   * @default true
   */
  timestamps?: boolean;
}

/** A scoped logger. */
export interface Logger {
  /** The component this logger speaks for, printed on each line. */
  readonly scope: string;
  /** True when lines of `level` are written (check before building costly fields). */
  enabled(level: LogLevel): boolean;
  /** Something failed and was not recovered. */
  error(message: string, fields?: LogFields): void;
  /** Something was refused or recovered (bad input, a retry). */
  warn(message: string, fields?: LogFields): void;
  /** Life-cycle events: listening, connections, sessions. */
  info(message: string, fields?: LogFields): void;
  /** Per-request detail. */
  debug(message: string, fields?: LogFields): void;
  /** Per-message detail. */
  trace(message: string, fields?: LogFields): void;
  /** A logger for a sub-component, sharing level and sink. */
  child(scope: string): Logger;
}

const encoder = new TextEncoder();

function stderrSink(line: string): void {
  // Synchronous so lines are not lost on exit and interleave correctly.
  try {
    writeStderr(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible left to do.
  }
}

function writeStderr(bytes: Uint8Array): void {
  const deno = (globalThis as { Deno?: { stderr: { writeSync(b: Uint8Array): number } } }).Deno;
  if (deno) {
    let off = 0;
    while (off < bytes.length) off += deno.stderr.writeSync(bytes.subarray(off));
    return;
  }
  const proc = (globalThis as {
    process?: { stderr: { write(b: Uint8Array): boolean } };
  }).process;
  proc?.stderr.write(bytes);
}

function formatValue(v: string | number | bigint | boolean): string {
  const s = String(v);
  return s === "" || /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

function format(
  timestamps: boolean,
  level: LogLevel,
  scope: string,
  message: string,
  fields?: LogFields,
): string {
  let line = timestamps ? `${new Date().toISOString()} ` : "";
  line += `${level.toUpperCase().padEnd(5)} ${scope} ${message}`;
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      if (v === undefined || v === null) continue;
      line += ` ${k}=${formatValue(v)}`;
    }
  }
  return line;
}

/** Creates a logger writing lines at or above `level` to `sink`. */
export function createLogger(scope: string, options: LoggerOptions = {}): Logger {
  const max = options.level === "off" ? -1 : RANK[options.level ?? "info"];
  const sink = options.sink ?? stderrSink;
  const timestamps = options.timestamps ?? true;
  const make = (s: string): Logger => {
    const emit = (level: LogLevel, message: string, fields?: LogFields) => {
      if (RANK[level] <= max) sink(format(timestamps, level, s, message, fields), level);
    };
    return {
      scope: s,
      enabled: (level) => RANK[level] <= max,
      error: (m, f) => emit("error", m, f),
      warn: (m, f) => emit("warn", m, f),
      info: (m, f) => emit("info", m, f),
      debug: (m, f) => emit("debug", m, f),
      trace: (m, f) => emit("trace", m, f),
      child: (sub) => make(`${s}::${sub}`),
    };
  };
  return make(scope);
}

/** A logger that discards everything. */
export const silentLogger: Logger = createLogger("silent", { level: "off" });

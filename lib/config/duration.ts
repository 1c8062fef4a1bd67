/**
 * Durations as written in a SLIM configuration file.
 *
 * SLIM deserializes its duration options (`drain_timeout`, `keepalive.time`, `connect_timeout`,
 * backoff delays...) with the Rust `duration-string` crate, not `humantime`. Its grammar is small:
 * all whitespace is dropped, then the text must be one or more `<digits><unit>` groups, summed.
 * Units are `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w` and `y` (a year is 31,556,926 s). So
 * `"10s"`, `"1m30s"`, `"1h 30m"` and `"1h2m3s4ms"` are valid, while `"1.5s"` (no fractions),
 * `"10"` (no unit), `"-5s"`, `"10 sec"` and a YAML number such as `10` are all rejected, exactly as
 * SLIM rejects them. We follow the same grammar so that a file accepted here is accepted there.
 * @module
 */
import { ConfigError } from "../errors.ts";

/** Length of one unit in milliseconds. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_556_926_000,
};

/**
 * Parses a SLIM duration string (for example `"10s"`, `"1m30s"`, `"250ms"`) into milliseconds.
 *
 * Sub-millisecond units (`us`, `ns`) give fractional results.
 * @param text the duration text
 * @param path the configuration key it came from, used in the error message
 * @throws {ConfigError} if `text` does not follow the grammar described in the module docs
 */
export function parseDuration(text: string, path?: string): number {
  const result = tryParseDuration(text);
  if (typeof result === "number") return result;
  throw new ConfigError(`invalid duration ${JSON.stringify(text)}: ${result}`, { path });
}

/**
 * Like {@link parseDuration} but returns the reason instead of throwing, and never includes the
 * text itself in that reason (callers decide whether the value may be shown, since it may come
 * from a `${env:...}` substitution).
 * @returns milliseconds, or a string explaining why `text` is not a duration
 */
export function tryParseDuration(text: string): number | string {
  const hint = ` (expected e.g. "10s", "1m30s", "250ms")`;
  const compact = text.replace(/\s+/g, "");
  if (compact === "") return "empty" + hint;
  const group = /(\d+)([a-z]+)/y;
  let total = 0;
  let at = 0;
  while (at < compact.length) {
    group.lastIndex = at;
    const m = group.exec(compact);
    if (!m) {
      const why = /^\d+$/.test(compact.slice(at))
        ? "missing unit"
        : "expected <digits><unit> groups";
      return why + hint;
    }
    const [whole, digits, unit] = m;
    const scale = Object.hasOwn(UNIT_MS, unit) ? UNIT_MS[unit] : undefined;
    if (scale === undefined) return `unknown unit "${unit}" (use ns, us, ms, s, m, h, d, w or y)`;
    total += Number(digits) * scale;
    // SLIM counts in u64; anything beyond 2^53 ms is far past any sane timeout and would lose
    // precision here, so treat it as an overflow.
    if (!Number.isSafeInteger(Math.floor(total))) return "too large";
    at += whole.length;
  }
  return total;
}

/**
 * Formats milliseconds as the shortest SLIM duration string that parses back to the same value
 * (e.g. `10000` → `"10s"`, `90000` → `"90s"`, `1500` → `"1500ms"`).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`not a duration: ${ms}`);
  for (const unit of ["h", "m", "s", "ms"] as const) {
    const n = ms / UNIT_MS[unit];
    if (Number.isInteger(n) && (n !== 0 || unit === "ms")) return `${n}${unit}`;
  }
  const us = ms * 1_000;
  if (Number.isInteger(us)) return `${us}us`;
  return `${Math.round(ms * 1e6)}ns`;
}

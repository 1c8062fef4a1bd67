/**
 * The hand-written validator toolkit: typed accessors over the {@link Node} tree that raise
 * {@link ConfigError}s naming the full key path, the file and the line.
 *
 * A {@link MapReader} wraps one mapping. Each accessor consumes a key; {@link MapReader.finish}
 * then rejects every key nobody asked for, so unknown keys can never slip through silently.
 * @module
 */
import type { ConfigError } from "../errors.ts";
import { tryParseDuration } from "./duration.ts";
import { join, type MapEntry, type MapNode, type Node, type ParseContext } from "./tree.ts";

/** Options shared by the scalar accessors. */
export interface ScalarOptions {
  /** Never show the value in an error (passwords, keys, header values). */
  secret?: boolean;
}

/** Bounds of integer accessors. */
export interface IntOptions extends ScalarOptions {
  /** Smallest accepted value. @default 0 */
  min?: number;
  /** Largest accepted value. @default Number.MAX_SAFE_INTEGER */
  max?: number;
}

/** Keys that are not options any more but still turn up in older files. */
export interface RetiredKeys {
  /** Keys that are an error, with the hint shown. */
  errors?: Readonly<Record<string, string>>;
  /** Keys that SLIM ignores; accepted with the warning shown. */
  ignored?: Readonly<Record<string, string>>;
}

const nullScalar: Node = { kind: "scalar", value: null };

/** The largest value of Rust's `u32`. */
export const U32_MAX = 0xffff_ffff;
/** The largest value of Rust's `u16`. */
export const U16_MAX = 0xffff;

/** Describes a node for an error message without revealing secrets. */
export function describe(node: Node, secret = false): string {
  switch (node.kind) {
    case "map":
      return "a mapping";
    case "seq":
      return "a list";
    case "scalar": {
      const v = node.value;
      if (v === null) return "null";
      const type = typeof v === "string" ? "string" : typeof v;
      if (node.ref !== undefined) return `${type} from ${node.ref}`;
      if (secret) return type;
      if (typeof v === "string") {
        const shown = v.length > 60 ? v.slice(0, 57) + "..." : v;
        return `string ${JSON.stringify(shown)}`;
      }
      return `${type} ${String(v)}`;
    }
  }
}

/** True for an explicit YAML `null` / `~` / empty value. */
export function isNull(node: Node | undefined): boolean {
  return node === undefined || (node.kind === "scalar" && node.value === null);
}

/** Raises a type error for `node` at `path`. */
export function typeError(
  ctx: ParseContext,
  node: Node,
  path: string,
  expected: string,
  options: ScalarOptions = {},
): ConfigError {
  let message = `expected ${expected}, got ${describe(node, options.secret)}`;
  if (expected === "string" && node.kind === "scalar" && node.ref === undefined) {
    if (typeof node.value === "number" || typeof node.value === "boolean") {
      message += " (quote it in YAML)";
    }
  }
  return ctx.error(message, path, node.line);
}

/** Reads a string. */
export function asString(
  ctx: ParseContext,
  node: Node,
  path: string,
  options: ScalarOptions = {},
): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  throw typeError(ctx, node, path, "string", options);
}

/** Reads a boolean (YAML `true`/`false` only; `yes`/`on` are strings in YAML 1.2, as in SLIM). */
export function asBool(ctx: ParseContext, node: Node, path: string): boolean {
  if (node.kind === "scalar" && typeof node.value === "boolean") return node.value;
  throw typeError(ctx, node, path, "boolean");
}

/** Reads a non-negative integer within bounds. */
export function asInt(
  ctx: ParseContext,
  node: Node,
  path: string,
  options: IntOptions = {},
): number {
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (node.kind !== "scalar" || typeof node.value !== "number" || !Number.isInteger(node.value)) {
    throw typeError(ctx, node, path, min < 0 ? "integer" : "non-negative integer", options);
  }
  if (node.value < min || node.value > max) {
    throw ctx.error(`${node.value} is out of range (${min}..${max})`, path, node.line);
  }
  return node.value;
}

/** Reads a SLIM duration string and returns milliseconds. */
export function asDuration(ctx: ParseContext, node: Node, path: string): number {
  if (node.kind !== "scalar" || typeof node.value !== "string") {
    const hint = node.kind === "scalar" && typeof node.value === "number"
      ? ` (SLIM needs a unit: write "${node.value}s" or "${node.value}ms")`
      : "";
    throw ctx.error(
      `expected a duration string such as "10s", got ${describe(node)}${hint}`,
      path,
      node.line,
    );
  }
  const result = tryParseDuration(node.value);
  if (typeof result === "number") return result;
  const shown = node.ref === undefined ? ` ${JSON.stringify(node.value)}` : ` from ${node.ref}`;
  throw ctx.error(`invalid duration${shown}: ${result}`, path, node.line);
}

/** Reads one of a fixed set of strings. */
export function asEnum<T extends string>(
  ctx: ParseContext,
  node: Node,
  path: string,
  allowed: readonly T[],
): T {
  const value = asString(ctx, node, path);
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const shown = node.kind === "scalar" && node.ref !== undefined
    ? `value from ${node.ref}`
    : JSON.stringify(value);
  throw ctx.error(
    `invalid value ${shown} (expected ${allowed.map((a) => JSON.stringify(a)).join(", ")})`,
    path,
    node.line,
  );
}

/** Reads a list, converting each item. `null` is an empty list. */
export function asList<T>(
  ctx: ParseContext,
  node: Node,
  path: string,
  item: (node: Node, path: string) => T,
): T[] {
  if (isNull(node)) return [];
  if (node.kind !== "seq") throw typeError(ctx, node, path, "a list");
  return node.items.map((n, i) => item(n, `${path}[${i}]`));
}

/** Reads a list of strings. */
export function asStringList(ctx: ParseContext, node: Node, path: string): string[] {
  return asList(ctx, node, path, (n, p) => asString(ctx, n, p));
}

/** Reads a mapping of string to string (e.g. HTTP headers). `null` is an empty mapping. */
export function asStringMap(
  ctx: ParseContext,
  node: Node,
  path: string,
  options: ScalarOptions = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  if (isNull(node)) return out;
  if (node.kind !== "map") throw typeError(ctx, node, path, "a mapping");
  for (const entry of node.entries) {
    setOwn(out, entry.key, asString(ctx, entry.value, join(path, entry.key), options));
  }
  return out;
}

/**
 * Sets an own, enumerable property, even for keys such as `__proto__` that plain assignment
 * would treat specially.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function lookup(
  table: Readonly<Record<string, string>> | undefined,
  key: string,
): string | undefined {
  return table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Finds the closest candidate to `key` (edit distance ≤ 2), for "did you mean" hints. */
export function closest(key: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(key, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * Typed access to one mapping. Accessors return the default when the key is absent or `null`
 * (an explicit `null` means "not set" throughout), and remember which keys were read.
 */
export class MapReader {
  /** The parse context. */
  readonly ctx: ParseContext;
  /** Dotted path of this mapping. */
  readonly path: string;
  /** Line of this mapping, if known. */
  readonly line: number | undefined;
  readonly #entries: Map<string, MapEntry>;
  readonly #known = new Set<string>();

  private constructor(ctx: ParseContext, node: MapNode, path: string) {
    this.ctx = ctx;
    this.path = path;
    this.line = node.line;
    this.#entries = new Map(node.entries.map((e) => [e.key, e]));
  }

  /**
   * Wraps `node`, which must be a mapping (or `null`, read as an empty mapping: a section whose
   * children are all commented out is still a valid section).
   */
  static of(ctx: ParseContext, node: Node, path: string): MapReader {
    if (isNull(node)) {
      return new MapReader(ctx, { kind: "map", entries: [], line: node.line }, path);
    }
    if (node.kind !== "map") throw typeError(ctx, node, path, "a mapping");
    return new MapReader(ctx, node, path);
  }

  /** Path of a child key. */
  at(key: string): string {
    return join(this.path, key);
  }

  /** Whether `key` is present with a non-null value. */
  has(key: string): boolean {
    return !isNull(this.#entries.get(key)?.value);
  }

  /** Line of `key`, or of this mapping. */
  lineOf(key: string): number | undefined {
    return this.#entries.get(key)?.line ?? this.line;
  }

  /**
   * How to show the value of `key` in a message: quoted, or `value from ${env:X}` when it was
   * substituted (substituted values are never shown).
   */
  shown(key: string): string {
    const value = this.#entries.get(key)?.value;
    if (value?.kind === "scalar" && value.ref !== undefined) return `value from ${value.ref}`;
    return value?.kind === "scalar" ? JSON.stringify(value.value) : describe(value ?? nullScalar);
  }

  /** The reference text if `key`'s value was substituted. */
  refOf(key: string): string | undefined {
    const value = this.#entries.get(key)?.value;
    return value?.kind === "scalar" ? value.ref : undefined;
  }

  /** Declares `key` as known and returns its node, or `undefined` when absent or `null`. */
  node(key: string): Node | undefined {
    this.#known.add(key);
    const value = this.#entries.get(key)?.value;
    return isNull(value) ? undefined : value;
  }

  /**
   * Declares a key with an alias (SLIM's `#[serde(alias)]`) and returns the one present.
   * @returns the node and the spelling used
   */
  aliased(key: string, ...aliases: string[]): { node: Node; key: string } | undefined {
    let found: { node: Node; key: string } | undefined;
    for (const k of [key, ...aliases]) {
      const n = this.node(k);
      if (n === undefined) continue;
      if (found) {
        throw this.ctx.error(
          `both "${found.key}" and "${k}" are set; they are the same option`,
          this.path,
          this.lineOf(k),
        );
      }
      found = { node: n, key: k };
    }
    return found;
  }

  /** Reads a string (`undefined` when absent). */
  optString(key: string, options?: ScalarOptions): string | undefined {
    const n = this.node(key);
    return n === undefined ? undefined : asString(this.ctx, n, this.at(key), options);
  }

  /** Reads a string, with a default. */
  string(key: string, fallback: string, options?: ScalarOptions): string {
    return this.optString(key, options) ?? fallback;
  }

  /** Reads a mandatory string. */
  requiredString(key: string, options?: ScalarOptions): string {
    const value = this.optString(key, options);
    if (value === undefined) throw this.missing(key);
    return value;
  }

  /** Reads a boolean, with a default. */
  bool(key: string, fallback: boolean): boolean {
    const n = this.node(key);
    return n === undefined ? fallback : asBool(this.ctx, n, this.at(key));
  }

  /** Reads an integer (`undefined` when absent). */
  optInt(key: string, options?: IntOptions): number | undefined {
    const n = this.node(key);
    return n === undefined ? undefined : asInt(this.ctx, n, this.at(key), options);
  }

  /** Reads an integer, with a default. */
  int(key: string, fallback: number, options?: IntOptions): number {
    return this.optInt(key, options) ?? fallback;
  }

  /** Reads a duration in milliseconds (`undefined` when absent). */
  optDuration(key: string): number | undefined {
    const n = this.node(key);
    return n === undefined ? undefined : asDuration(this.ctx, n, this.at(key));
  }

  /** Reads a duration in milliseconds, with a default. */
  duration(key: string, fallbackMs: number): number {
    return this.optDuration(key) ?? fallbackMs;
  }

  /** Reads an enumerated string, with a default. */
  enum<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const n = this.node(key);
    return n === undefined ? fallback : asEnum(this.ctx, n, this.at(key), allowed);
  }

  /** Reads a list of strings, with a default. */
  stringList(key: string, fallback: string[]): string[] {
    const n = this.node(key);
    return n === undefined ? fallback : asStringList(this.ctx, n, this.at(key));
  }

  /** Reads a list (absent or `null` → empty). */
  list<T>(key: string, item: (node: Node, path: string) => T): T[] {
    const n = this.node(key);
    return n === undefined ? [] : asList(this.ctx, n, this.at(key), item);
  }

  /** Reads a string-to-string mapping (absent → empty). */
  stringMap(key: string, options?: ScalarOptions): Record<string, string> {
    const n = this.node(key);
    return n === undefined ? {} : asStringMap(this.ctx, n, this.at(key), options);
  }

  /** Reads a nested mapping through `read` (`undefined` when absent). */
  optMap<T>(key: string, read: (reader: MapReader) => T): T | undefined {
    const n = this.node(key);
    if (n === undefined) return undefined;
    return read(MapReader.of(this.ctx, n, this.at(key)));
  }

  /** Reads a nested mapping through `read`; an absent key reads as an empty mapping. */
  map<T>(key: string, read: (reader: MapReader) => T): T {
    const n = this.node(key) ?? { kind: "map", entries: [], line: this.lineOf(key) };
    return read(MapReader.of(this.ctx, n, this.at(key)));
  }

  /** Error for a missing mandatory key. */
  missing(key: string, why = ""): ConfigError {
    return this.ctx.error(`missing required key${why ? ` (${why})` : ""}`, this.at(key), this.line);
  }

  /** Error about `key`'s value (not its type), e.g. a semantic constraint. */
  invalid(key: string, message: string): ConfigError {
    return this.ctx.error(message, this.at(key), this.lineOf(key));
  }

  /**
   * Rejects every key that was not read. Retired keys get a specific hint or, when SLIM simply
   * ignores them, a warning instead of an error.
   */
  finish(retired: RetiredKeys = {}): void {
    for (const [key, entry] of this.#entries) {
      if (this.#known.has(key)) continue;
      const ignored = lookup(retired.ignored, key);
      if (ignored !== undefined) {
        this.ctx.warn(this.at(key), ignored);
        continue;
      }
      const hint = lookup(retired.errors, key);
      if (hint !== undefined) {
        throw this.ctx.error(`unknown key: ${hint}`, this.at(key), entry.line);
      }
      const guess = closest(key, this.#known);
      const help = guess !== undefined
        ? `did you mean "${guess}"?`
        : this.#known.size > 0
        ? `expected one of: ${[...this.#known].join(", ")}`
        : "no keys are allowed here";
      throw this.ctx.error(`unknown key; ${help}`, this.at(key), entry.line);
    }
  }
}

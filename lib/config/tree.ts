/**
 * A small, position-carrying value tree that the validator walks.
 *
 * YAML documents (via the `yaml` package) and plain JSON values are both converted into this tree
 * first, so the validator has one input shape, every value knows its line, and `${env:...}` /
 * `${file:...}` references are resolved in one place (before validation, on every string value,
 * like SLIM does).
 * @module
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseDocument,
} from "yaml";
import { ConfigError } from "../errors.ts";
import { matchReference, type ReferenceSources, resolveReference } from "./substitute.ts";

/** A mapping; entries keep their source order. */
export interface MapNode {
  kind: "map";
  entries: MapEntry[];
  line?: number;
}

/** One `key: value` pair of a {@link MapNode}. */
export interface MapEntry {
  key: string;
  value: Node;
  /** Line of the key. */
  line?: number;
}

/** A sequence. */
export interface SeqNode {
  kind: "seq";
  items: Node[];
  line?: number;
}

/** A scalar. */
export interface ScalarNode {
  kind: "scalar";
  value: string | number | boolean | null;
  line?: number;
  /**
   * The reference text (`${env:NAME}`) when the value was substituted. Its presence means the
   * value must never be shown.
   */
  ref?: string;
}

/** Any value of the tree. */
export type Node = MapNode | SeqNode | ScalarNode;

/** Shared state of one parse: the file name for messages, and the warnings collected so far. */
export class ParseContext {
  /** The configuration file, for messages. */
  readonly file: string | undefined;
  /** Warnings, in the order found. */
  readonly warnings: string[] = [];

  constructor(file?: string) {
    this.file = file;
  }

  /** Builds a {@link ConfigError} for `path`, mentioning the line when known. */
  error(message: string, path: string | undefined, line?: number, cause?: unknown): ConfigError {
    const where = line === undefined ? "" : ` (line ${line})`;
    return new ConfigError(message + where, {
      path: path || undefined,
      file: this.file,
      cause,
    });
  }

  /** Records a warning about `path`. */
  warn(path: string, message: string): void {
    this.warnings.push(path ? `${path}: ${message}` : message);
  }
}

/** Options of the tree builders. */
export interface TreeOptions {
  /** Where references are resolved from; `false` disables substitution. */
  references: ReferenceSources | false;
}

/**
 * Parses YAML text into a tree, resolving references.
 * @returns the root node, or `undefined` for an empty document
 * @throws {ConfigError} on YAML syntax errors (with line), or when a reference cannot be resolved
 */
export function treeFromYaml(
  text: string,
  ctx: ParseContext,
  options: TreeOptions,
): Node | undefined {
  const lines = new LineCounter();
  // prettyErrors: false keeps source excerpts (which may hold secrets) out of messages.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, version: "1.2" });
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const message = first.message.replace(/ at line \d+, column \d+.*$/s, "");
    throw ctx.error(`invalid YAML: ${lowerFirst(message)}`, undefined, lineOf(first.pos[0]), first);
  }
  if (doc.contents === null) return undefined;
  const builder = new YamlTreeBuilder(doc, ctx, options, lineOf);
  return builder.build(doc.contents, "", 0);
}

/**
 * Converts a plain JSON-like value (e.g. from `JSON.parse`) into a tree, resolving references.
 * @throws {ConfigError} for values JSON cannot express (functions, bigints...) or bad references
 */
export function treeFromValue(
  value: unknown,
  ctx: ParseContext,
  options: TreeOptions,
  path = "",
): Node {
  if (value === null || value === undefined) return { kind: "scalar", value: null };
  if (Array.isArray(value)) {
    return {
      kind: "seq",
      items: value.map((v, i) => treeFromValue(v, ctx, options, `${path}[${i}]`)),
    };
  }
  switch (typeof value) {
    case "string":
      return scalarString(value, ctx, options, path, undefined);
    case "number":
    case "boolean":
      return { kind: "scalar", value };
    case "object": {
      const entries: MapEntry[] = [];
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        entries.push({ key, value: treeFromValue(v, ctx, options, join(path, key)) });
      }
      return { kind: "map", entries };
    }
    default:
      throw ctx.error(`unsupported value of type ${typeof value}`, path);
  }
}

class YamlTreeBuilder {
  readonly #doc: Document;
  readonly #ctx: ParseContext;
  readonly #options: TreeOptions;
  readonly #lineOf: (offset: number | undefined) => number | undefined;

  constructor(
    doc: Document,
    ctx: ParseContext,
    options: TreeOptions,
    lineOf: (offset: number | undefined) => number | undefined,
  ) {
    this.#doc = doc;
    this.#ctx = ctx;
    this.#options = options;
    this.#lineOf = lineOf;
  }

  build(node: unknown, path: string, depth: number): Node {
    // Aliases can point at an ancestor; a depth bound turns that into an error, not a hang.
    if (depth > 64) throw this.#ctx.error("YAML nesting too deep (recursive alias?)", path);
    const line = this.#lineOf((node as YamlNode | undefined)?.range?.[0]);
    if (isAlias(node)) {
      const target = node.resolve(this.#doc);
      if (target === undefined) throw this.#ctx.error("unresolved YAML alias", path, line);
      return this.build(target, path, depth + 1);
    }
    if (isMap(node)) {
      const entries: MapEntry[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyLine = this.#lineOf((pair.key as YamlNode | null)?.range?.[0]) ?? line;
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        if (typeof key !== "string") {
          const shown = isScalar(pair.key) ? ` ${JSON.stringify(pair.key.value)}` : "";
          throw this.#ctx.error(`mapping keys must be strings, got${shown}`, path, keyLine);
        }
        const value: Node = pair.value === null || pair.value === undefined
          ? { kind: "scalar", value: null, line: keyLine }
          : this.build(pair.value, join(path, key), depth + 1);
        entries.push({ key, value, line: keyLine });
      }
      return { kind: "map", entries, line };
    }
    if (isSeq(node)) {
      const items = node.items.map((item, i) => {
        if (item === null || item === undefined) {
          return { kind: "scalar", value: null, line } satisfies ScalarNode;
        }
        return this.build(item, `${path}[${i}]`, depth + 1);
      });
      return { kind: "seq", items, line };
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "string") return scalarString(v, this.#ctx, this.#options, path, line);
      if (typeof v === "number" || typeof v === "boolean" || v === null) {
        return { kind: "scalar", value: v, line };
      }
      throw this.#ctx.error(`unsupported YAML value (${typeof v})`, path, line);
    }
    throw this.#ctx.error("unsupported YAML node", path, line);
  }
}

function scalarString(
  value: string,
  ctx: ParseContext,
  options: TreeOptions,
  path: string,
  line: number | undefined,
): ScalarNode {
  if (options.references === false) return { kind: "scalar", value, line };
  const match = matchReference(value);
  switch (match.kind) {
    case "none":
      return { kind: "scalar", value, line };
    case "embedded":
      ctx.warn(
        path,
        "contains ${env:...} or ${file:...} inside a longer string; SLIM substitutes only " +
          "whole values, so it is kept literally",
      );
      return { kind: "scalar", value, line };
    case "malformed":
      throw ctx.error(`invalid reference: ${match.reason}`, path, line);
    case "reference":
      try {
        return {
          kind: "scalar",
          value: resolveReference(match.reference, options.references),
          line,
          ref: value,
        };
      } catch (err) {
        throw ctx.error((err as Error).message, path, line, err);
      }
  }
}

/** Appends a key to a dotted path. */
export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text[0].toLowerCase() + text.slice(1) : text;
}

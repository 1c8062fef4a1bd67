/**
 * Entry points: parse configuration text, load a file, the embedded default, and single client
 * configurations (for the `--slim` command-line flag).
 * @module
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.ts";
import { DEFAULT_CONFIG_YAML } from "./default.ts";
import { type ParseNotes, readClientConfig, readSlimConfig } from "./parse.ts";
import type { ClientConfig, SlimConfig } from "./schema.ts";
import type { ReferenceSources } from "./substitute.ts";
import { ParseContext, treeFromValue, treeFromYaml } from "./tree.ts";
import { clientWarnings, unimplementedWarnings } from "./unimplemented.ts";

/** A validated configuration and what was noticed while reading it. */
export interface LoadedConfig {
  /** The configuration, all defaults applied. */
  config: SlimConfig;
  /**
   * Human-readable `path: message` lines about options that were accepted but have no effect
   * (unimplemented features, keys SLIM ignores, suspicious values). Callers should log them.
   */
  warnings: string[];
  /** The file it came from, if any. */
  file?: string;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions extends ReferenceSources {
  /** File name used in messages (and returned in {@link LoadedConfig.file}). */
  file?: string;
}

/**
 * Parses and validates SLIM YAML configuration text.
 *
 * `${env:NAME}` and `${file:PATH}` values are resolved through `options.env` / `options.readFile`
 * (by default the process environment and the file system, relative to the current directory).
 * @throws {ConfigError} naming the file, the key path and the line of the first problem
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  const ctx = new ParseContext(options.file);
  const root = treeFromYaml(text, ctx, { references: options });
  const notes: ParseNotes = { dataplaneKey: new Map() };
  const config = readSlimConfig(ctx, root, notes);
  const warnings = [
    ...ctx.warnings,
    ...unimplementedWarnings(config, {
      dataplaneKey: (s) => notes.dataplaneKey.get(s) ?? "dataplane",
    }),
  ];
  return { config, warnings, ...(options.file !== undefined ? { file: options.file } : {}) };
}

/**
 * Reads and parses a configuration file, as `slim --config FILE` does. References to files
 * (`${file:...}`) resolve against the current directory, like SLIM, not against the file.
 * @throws {ConfigError} when the file cannot be read or is invalid
 */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const why = (err as { code?: string }).code === "ENOENT"
      ? "file not found"
      : `cannot read file (${err instanceof Error ? err.name : "error"})`;
    throw new ConfigError(why, { file: path, cause: err });
  }
  return parseConfig(text, { file: path });
}

/**
 * The embedded default configuration ({@link DEFAULT_CONFIG_YAML}): one cleartext data-plane
 * server on `0.0.0.0:46357`. Each call generates a fresh node id.
 */
export function defaultConfig(): LoadedConfig {
  // The default has no references, so no environment or file access happens here.
  return parseConfig(DEFAULT_CONFIG_YAML, { env: () => undefined, readFile: noFiles });
}

function noFiles(path: string): never {
  throw new Error(`no file access for ${path}`);
}

/** Options of {@link parseClientConfig}. */
export interface ParseClientOptions extends ReferenceSources {
  /** Receives warnings (as `path: message`); without it warnings are dropped. */
  warnings?: string[];
}

/**
 * Validates one client configuration object: the schema of a `dataplane.clients[]` entry, with
 * the same defaults, e.g. `{"endpoint": "http://localhost:46357", "tls": {"insecure": true}}`.
 *
 * String values may be `${env:NAME}` / `${file:PATH}` references, which keeps secrets such as
 * passwords out of command lines.
 * @param json the parsed JSON value (an object)
 * @param path prefix for key paths in messages (e.g. `--slim`)
 * @throws {ConfigError} naming the offending key
 */
export function parseClientConfig(
  json: unknown,
  path = "",
  options: ParseClientOptions = {},
): ClientConfig {
  const ctx = new ParseContext();
  const node = treeFromValue(json, ctx, { references: options }, path);
  const client = readClientConfig(ctx, node, path);
  options.warnings?.push(...ctx.warnings, ...clientWarnings(client, path));
  return client;
}

/**
 * `${env:NAME}` and `${file:PATH}` references in configuration values.
 *
 * Semantics follow SLIM's config resolver:
 * - Only a string value that is *entirely* a reference is substituted: it must start with `${`
 *   and end with `}`, and the part between is `<provider>:<argument>` split at the first `:`.
 *   A reference embedded in a longer string (`"http://${env:HOST}:46357"`) is not substituted;
 *   SLIM keeps such text literally, and so do we (with a warning, since it is rarely intended).
 * - Providers: `env` (the variable must be set; an empty value is fine) and `file` (the whole file
 *   content, verbatim, trailing newline included; relative paths are relative to the current
 *   working directory of the process, not to the configuration file).
 * - Mapping keys are never substituted, and neither are numbers or booleans. The result is always
 *   a string, so `port: ${env:PORT}` does not become a number (SLIM rejects it too).
 *
 * Substituted values may be secrets: nothing here (or in the validator) ever puts them into an
 * error message or a warning. Errors name the reference and the configuration path instead.
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";

/** Where `${env:...}` and `${file:...}` values come from; injectable for tests and embedders. */
export interface ReferenceSources {
  /**
   * Looks up an environment variable.
   * @default `Deno.env.get`
   */
  env?: (name: string) => string | undefined;
  /**
   * Reads a whole text file.
   * @default `Deno.readTextFileSync` (relative paths resolve against the current directory)
   */
  readFile?: (path: string) => string;
}

/** A reference found in a string value. */
export interface Reference {
  /** The provider before the first `:`. */
  provider: "env" | "file";
  /** The variable name or file path after the first `:`. */
  target: string;
}

/** How a string value relates to the reference syntax. */
export type ReferenceMatch =
  | { kind: "none" }
  | { kind: "reference"; reference: Reference }
  | { kind: "embedded" }
  | { kind: "malformed"; reason: string };

/** Classifies a string value: a whole-value reference, an embedded one, a malformed one, or none. */
export function matchReference(value: string): ReferenceMatch {
  if (value.startsWith("${") && value.endsWith("}") && value.length >= 3) {
    const inner = value.slice(2, -1);
    const colon = inner.indexOf(":");
    if (colon < 0) {
      return { kind: "malformed", reason: "expected ${env:NAME} or ${file:PATH}" };
    }
    const provider = inner.slice(0, colon);
    const target = inner.slice(colon + 1);
    if (provider !== "env" && provider !== "file") {
      return {
        kind: "malformed",
        reason: `unknown reference provider "${provider}" (expected env or file)`,
      };
    }
    if (target.includes("${") || target.includes("}")) {
      // SLIM would look up a variable literally named `A}${env:B` and fail; say why instead.
      return {
        kind: "malformed",
        reason: "only a whole value can be a reference; several references cannot be combined",
      };
    }
    if (target === "") return { kind: "malformed", reason: `empty ${provider} reference` };
    return { kind: "reference", reference: { provider, target } };
  }
  return /\$\{(env|file):[^}]*\}/.test(value) ? { kind: "embedded" } : { kind: "none" };
}

/**
 * Resolves a reference. Throws a plain `Error` whose message names the reference but never the
 * resolved value; the caller adds the configuration path and file position.
 */
export function resolveReference(reference: Reference, sources: ReferenceSources): string {
  if (reference.provider === "env") {
    let value: string | undefined;
    try {
      value = (sources.env ?? defaultEnv)(reference.target);
    } catch (err) {
      throw new Error(
        `cannot read environment variable "${reference.target}" (${errorName(err)})`,
        { cause: err },
      );
    }
    if (value === undefined) {
      throw new Error(`environment variable "${reference.target}" is not set`);
    }
    return value;
  }
  try {
    return (sources.readFile ?? defaultReadFile)(reference.target);
  } catch (err) {
    throw new Error(`cannot read file "${reference.target}" (${errorName(err)})`, { cause: err });
  }
}

// node:process and node:fs rather than Deno APIs: the same code runs compiled by Bun.
function defaultEnv(name: string): string | undefined {
  return process.env[name];
}

function defaultReadFile(path: string): string {
  return readFileSync(path, "utf8");
}

/** A short, value-free description of why a lookup failed (e.g. `NotFound`, `NotCapable`). */
function errorName(err: unknown): string {
  if (err instanceof Error) return err.name === "Error" ? "error" : err.name;
  return "error";
}

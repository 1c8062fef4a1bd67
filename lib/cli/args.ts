/**
 * A small, strict command-line flag parser: `--name value`, `--name=value`, boolean flags,
 * repeatable flags, short aliases. Unknown flags and missing values are usage errors naming the
 * flag, never ignored.
 * @module
 */
import { UsageError } from "../errors.ts";

/** Declaration of one flag. */
export interface FlagSpec {
  /** Takes a value (`--x v`) or is a switch (`--x`). */
  kind: "string" | "boolean";
  /** Single-letter alias (`-c`). */
  short?: string;
  /** May be given several times; values collected in order. */
  repeat?: boolean;
}

/** Parsed flags: strings, string arrays (repeatable) or booleans. */
export type ParsedFlags = Record<string, string | string[] | boolean | undefined>;

/** Parses `args` against `specs`. Throws {@link UsageError}. */
export function parseFlags(
  args: readonly string[],
  specs: Record<string, FlagSpec>,
): { flags: ParsedFlags; positional: string[] } {
  const flags: ParsedFlags = {};
  const positional: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    let name: string | undefined, inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (/^-[A-Za-z]$/.test(arg)) {
      name = byShort.get(arg[1]);
      if (!name) throw new UsageError(`unknown flag ${arg}`);
    } else {
      positional.push(arg);
      continue;
    }
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    let value: string | boolean;
    if (spec.kind === "boolean") {
      if (inline !== undefined && inline !== "true" && inline !== "false") {
        throw new UsageError(`flag --${name} takes no value (got ${JSON.stringify(inline)})`);
      }
      value = inline !== "false";
    } else if (inline !== undefined) {
      value = inline;
    } else {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("-") && next.length > 1)) {
        throw new UsageError(`flag --${name} needs a value`);
      }
      value = next;
      i++;
    }
    if (spec.repeat) {
      const list = (flags[name] as string[] | undefined) ?? [];
      list.push(value as string);
      flags[name] = list;
    } else {
      if (flags[name] !== undefined) throw new UsageError(`flag --${name} given twice`);
      flags[name] = value;
    }
  }
  return { flags, positional };
}

/**
 * Version information printed by `slim --version` and announced on links.
 * @module
 */
import { SLIM_WIRE_VERSION } from "./wire/codec.ts";

/** slim-ts release (kept equal to `version` in deno.json; a test checks it). */
export const VERSION = "0.1.0";

/** The SLIM release slim-ts is wire-compatible with. */
export const COMPATIBLE_SLIM = "2.0.0-alpha.10";

/** Name and version of the JavaScript runtime running us. */
export function runtimeVersion(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string };
    process?: { version: string };
  };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno} (v8 ${g.Deno.version.v8})`;
  return `node ${g.process?.version ?? "unknown"}`;
}

/** The `--version` text. */
export function versionText(): string {
  return [
    `slim-ts ${VERSION}`,
    `protocol: SLIM ${COMPATIBLE_SLIM} (announces slim_version ${SLIM_WIRE_VERSION})`,
    `runtime: ${runtimeVersion()}`,
  ].join("\n");
}

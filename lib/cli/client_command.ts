/**
 * `slim client`: run a SLIM app from the command line.
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Console } from "./console.ts";

/** Help text of the client command. */
export const CLIENT_HELP = `Run a SLIM app.

Usage:
  slim client --local org/ns/name [options]`;

/** Runs the client command. */
export function runClient(_args: readonly string[], _out: Console): Promise<number> {
  return Promise.reject(new UsageError("slim client is not available in this build yet"));
}

/**
 * Entry point of the `slim` executable: a node by default, an app with `slim client`.
 *
 * Exit status: 0 on success, 2 on a usage or configuration error, 1 on a runtime failure; each
 * failure prints one line naming what is wrong.
 * @module
 */
import { ConfigError, SlimError, UsageError } from "../errors.ts";
import { versionText } from "../version.ts";
import { type Console, stdConsole } from "./console.ts";
import { NODE_HELP, runNode } from "./node_command.ts";

const MAIN_HELP = `slim: a SLIM node or a SLIM app, in one executable.

Usage:
  slim [--config FILE]       run a node (embedded default config without --config)
  slim client [options]      run an app; see \`slim client --help\`
  slim --version
  slim --help

${NODE_HELP.split("\n").slice(3).join("\n")}`;

/** Runs the CLI with `args` (without the program name); resolves with the exit status. */
export async function main(args: readonly string[], out: Console = stdConsole): Promise<number> {
  try {
    if (args.includes("--help") || args.includes("-h")) {
      out.print(args[0] === "client" ? await clientHelp() : MAIN_HELP);
      return 0;
    }
    if (args.includes("--version") || args.includes("-v")) {
      out.print(versionText());
      return 0;
    }
    if (args[0] === "client") {
      const { runClient } = await import("./client_command.ts");
      return await runClient(args.slice(1), out);
    }
    return await runNode(args, out);
  } catch (e) {
    return report(e, out);
  }
}

async function clientHelp(): Promise<string> {
  const { CLIENT_HELP } = await import("./client_command.ts");
  return CLIENT_HELP;
}

/** Prints one line for `e` and returns the exit status. */
export function report(e: unknown, out: Console): number {
  if (e instanceof UsageError) {
    out.log(`slim: ${e.message} (see slim --help)`);
    return 2;
  }
  if (e instanceof ConfigError) {
    out.log(`slim: configuration error: ${e.message}`);
    return 2;
  }
  const err = SlimError.from(e);
  out.log(`slim: ${err.message}`);
  return 1;
}

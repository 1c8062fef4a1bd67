/**
 * Output channels of the CLI, injectable so tests can capture them.
 * @module
 */
import process from "node:process";

/** Where the CLI writes. */
export interface Console {
  /** Program output (received messages, help, version). */
  print(line: string): void;
  /** Log lines and diagnostics. */
  log(line: string): void;
}

/** Standard output and standard error. */
export const stdConsole: Console = {
  print: (line) => process.stdout.write(line + "\n"),
  log: (line) => process.stderr.write(line + "\n"),
};

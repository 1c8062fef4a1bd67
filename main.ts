/**
 * The `slim` executable: `slim [--config FILE]` runs a node, `slim client ...` an app.
 * @module
 */
import process from "node:process";
import { main } from "./lib/cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
// Stop timers and sockets left by a finished command (a node drains before main resolves).
process.exit(process.exitCode);

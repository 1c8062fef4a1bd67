/**
 * `slim [--config FILE]`: run a SLIM node until SIGINT/SIGTERM, then drain.
 * @module
 */
import process from "node:process";
import { defaultConfig, loadConfig } from "../config/mod.ts";
import { ConfigError, UsageError } from "../errors.ts";
import { createLogger, type LogLevel, parseLogLevel } from "../log.ts";
import { nodeOptionsFromService } from "../node/from_config.ts";
import { parseListenAddress, SlimNode } from "../node/node.ts";
import { adminApp, type AdminServer, serveAdmin } from "../node/admin.ts";
import { parseFlags } from "./args.ts";
import type { Console } from "./console.ts";

/** Help text of the node command. */
export const NODE_HELP = `Run a SLIM node (message router).

Usage:
  slim [--config FILE] [--log-level LEVEL]

Options:
  -c, --config FILE      node configuration (SLIM YAML schema; env CONFIG). Without it, the
                         embedded default: one insecure data-plane server on 0.0.0.0:46357
      --log-level LEVEL  override tracing.log_level (error, warn, info, debug, trace, off)
      --admin HOST:PORT  serve the admin API (health, connections, routes, Prometheus metrics)
  -v, --version          print version information
  -h, --help             print this help

Stops on SIGINT/SIGTERM: streams end with grpc-status 0 within runtime.drain_timeout.`;

/** Runs the node; resolves with the exit status once it has stopped. */
export async function runNode(args: readonly string[], out: Console): Promise<number> {
  const { flags, positional } = parseFlags(args, {
    config: { kind: "string", short: "c" },
    "log-level": { kind: "string" },
    admin: { kind: "string" },
  });
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
  const file = (flags.config as string | undefined) ?? process.env.CONFIG;
  const loaded = file ? await loadConfig(file) : defaultConfig();
  let level: LogLevel | "off" = loaded.config.tracing.logLevel;
  if (flags["log-level"] !== undefined) {
    const parsed = parseLogLevel(flags["log-level"] as string);
    if (!parsed) throw new UsageError(`invalid --log-level ${flags["log-level"]}`);
    level = parsed;
  }
  // Checked before anything binds: a bad --admin must not leave the data plane half started.
  let adminAddress: { host: string; port: number } | undefined;
  if (flags.admin !== undefined) {
    let parsed;
    try {
      parsed = parseListenAddress(String(flags.admin));
    } catch {
      // Reported below.
    }
    if (!parsed || parsed.path !== undefined) {
      throw new UsageError(`--admin expects HOST:PORT, got ${JSON.stringify(flags.admin)}`);
    }
    adminAddress = parsed;
  }
  const log = createLogger("slim", { level, sink: out.log });
  log.info("starting slim-ts node", { config: file ?? "<embedded default>" });
  for (const w of loaded.warnings) log.warn(`config: ${w}`);
  if (loaded.config.services.length === 0) {
    throw new ConfigError("no service configured", { path: "services", file });
  }
  const nodes: SlimNode[] = [];
  try {
    for (const service of loaded.config.services) {
      const options = await nodeOptionsFromService(service, loaded.config, log);
      nodes.push(await SlimNode.start(options));
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    if (e instanceof ConfigError && file && !e.file) {
      throw new ConfigError(e.message, { file, cause: e });
    }
    throw e;
  }
  let admin: AdminServer | undefined;
  if (adminAddress) {
    admin = await serveAdmin(
      adminApp(nodes),
      adminAddress.host,
      adminAddress.port,
      log.child("admin"),
    );
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn("second signal: exiting without waiting for the drain", { signal });
        process.exit(1);
      }
      stopping = true;
      log.info("shutting down", { signal });
      Promise.all([...nodes.map((n) => n.stop()), admin?.close()]).then(() => resolve());
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
  return 0;
}

/**
 * The SLIM node configuration (`slim --config FILE`): YAML parsing, validation, defaults.
 *
 * ```ts
 * import { loadConfig } from "./lib/config/mod.ts";
 * const { config, warnings } = await loadConfig("config.yaml");
 * for (const w of warnings) console.warn(w);
 * console.log(config.services[0].dataplane.servers[0].address);
 * ```
 *
 * The schema is SLIM 2.0.0-alpha.10's; see {@link SlimConfig} for every option, its YAML key and
 * its default. Differences from SLIM are deliberate and small: unknown keys are errors in every
 * section, an explicit `null` always means "use the default", the pre-0.5 `pubsub` key is
 * accepted as `dataplane`, and problems SLIM only reports when a service starts (missing
 * certificate, TLS on a Unix socket, a host name as a listening address) are reported at load.
 * @module
 */
export {
  defaultConfig,
  loadConfig,
  type LoadedConfig,
  parseClientConfig,
  type ParseClientOptions,
  parseConfig,
  type ParseConfigOptions,
} from "./load.ts";
export { DEFAULT_CONFIG_YAML } from "./default.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { parseClientEndpoint, parseServerEndpoint } from "./endpoint.ts";
export type { ReferenceSources } from "./substitute.ts";
export { unimplementedWarnings, type WarningPaths } from "./unimplemented.ts";
export type { LogLevel } from "../log.ts";
export * from "./schema.ts";

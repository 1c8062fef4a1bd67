/**
 * Checks the options of {@link SlimNode.start} before anything listens or dials, so a value that
 * would make the node refuse every client, or TLS material that would fail every handshake, is an
 * error at start-up naming the option, not a node that runs and serves nobody.
 *
 * Configurations read from SLIM YAML were checked already, with YAML key paths
 * (`config/parse.ts`, `node/from_config.ts`); this covers options built in code.
 * @module
 */
import { checkClientTlsOptions, checkServerTlsOptions } from "../config/tls_material.ts";
import { ConfigError } from "../errors.ts";
import { MIN_HEADER_LIST_SIZE } from "../transport/grpc_server.ts";
import type { NodeOptions } from "./node.ts";

/** Throws {@link ConfigError} naming the first invalid option (`servers[0].tls.cert`, ...). */
export function checkNodeOptions(options: NodeOptions): void {
  options.servers.forEach((s, i) => {
    const at = `servers[${i}]`;
    atLeast(s.negotiationTimeoutMs, 1, `${at}.negotiationTimeoutMs`, "every link negotiation");
    atLeast(s.maxConcurrentStreams, 1, `${at}.maxConcurrentStreams`, "every stream");
    atLeast(s.maxHeaderListSize, MIN_HEADER_LIST_SIZE, `${at}.maxHeaderListSize`, "every request");
    if (s.tls) checkServerTlsOptions(s.tls, `${at}.tls`);
  });
  options.clients?.forEach((c, i) => checkClientTlsOptions(c.tls, `clients[${i}].tls`));
  options.peers?.forEach((p, i) => checkClientTlsOptions(p.client.tls, `peers[${i}].client.tls`));
  for (
    const key of [
      "congestionWaitMs",
      "congestionCloseMs",
      "maxPendingForwards",
      "maxForwardedSubscriptions",
      "drainTimeoutMs",
    ] as const
  ) {
    const v = options[key];
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) {
      throw new ConfigError(`expected a non-negative number, got ${v}`, { path: key });
    }
  }
}

function atLeast(value: number | undefined, min: number, path: string, what: string): void {
  if (value === undefined) return;
  if (!(Number.isFinite(value) && value >= min)) {
    throw new ConfigError(`must be at least ${min} (got ${value}): it would refuse ${what}`, {
      path,
    });
  }
}

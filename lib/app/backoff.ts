/**
 * Reconnection delays (SLIM YAML client `backoff`).
 * @module
 */
import type { BackoffConfig } from "../config/schema.ts";

/**
 * SLIM's default: exponential with base 100 and factor 1 (delays of 1 ms, 100 ms, then 1 s),
 * capped at 1 s, with jitter, unlimited attempts.
 */
export const DEFAULT_BACKOFF: BackoffConfig = {
  type: "exponential",
  base: 100,
  factor: 1,
  maxDelayMs: 1000,
  jitter: true,
};

/**
 * Delay before reconnection attempt `attempt` (0-based), or undefined when attempts are
 * exhausted. `random` is injectable for tests.
 */
export function backoffDelay(
  config: BackoffConfig,
  attempt: number,
  random: () => number = Math.random,
): number | undefined {
  if (config.maxAttempts !== undefined && attempt >= config.maxAttempts) return undefined;
  if (config.type === "fixed_interval") return config.intervalMs;
  const raw = Math.min(config.maxDelayMs, Math.pow(config.base, attempt) * config.factor);
  return config.jitter ? raw * (0.5 + random() / 2) : raw;
}

/**
 * slim-ts: a TypeScript implementation of SLIM (Secure Low-latency Interactive Messaging),
 * wire-compatible with SLIM 2.0.0-alpha.10.
 *
 * ```ts
 * import { App, SlimNode } from "./lib/mod.ts";
 * const node = await SlimNode.start({ servers: [{ endpoint: "127.0.0.1:46357" }] });
 * const app = await App.connect({
 *   name: "org/ns/alice",
 *   endpoint: "http://127.0.0.1:46357",
 *   identity: { sharedSecret: "a-shared-secret-of-at-least-32-bytes!" },
 * });
 * await app.close();
 * await node.stop();
 * ```
 * @module
 */
export * from "./errors.ts";
export { createLogger, type Logger, type LoggerOptions, type LogLevel } from "./log.ts";
export { formatId, idFromIdentity, Name, NULL_ID, parseId } from "./names/name.ts";
export {
  type ListenAddress,
  type NodeAddress,
  type NodeOptions,
  type NodeServerOptions,
  parseListenAddress,
  SlimNode,
} from "./node/node.ts";
export { nodeOptionsFromService } from "./node/from_config.ts";
export { defaultConfig, loadConfig, parseConfig, type SlimConfig } from "./config/mod.ts";
export type { CloseInfo, Transport } from "./transport/transport.ts";
export { memoryPair } from "./transport/memory.ts";
export { COMPATIBLE_SLIM, VERSION } from "./version.ts";
export { App, type AppEvent, type AppOptions } from "./app/app.ts";
export {
  type ParticipantInfo,
  type PublishOptions,
  type ReceivedMessage,
  Session,
  type SessionEvent,
  type SessionState,
} from "./session/session.ts";
export type { MlsOptions, ReliableOptions, SessionOptions } from "./session/config.ts";
export type { IdentityOptions } from "./identity/identity.ts";
export { MlsMember } from "./mls/mod.ts";
export { type Clock, FakeClock, systemClock } from "./clock.ts";

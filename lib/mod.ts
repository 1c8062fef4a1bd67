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
export {
  createLogger,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
} from "./log.ts";
export { formatId, idFromIdentity, Name, NULL_ID, parseId } from "./names/name.ts";
export {
  type ListenAddress,
  type NodeAddress,
  type NodeOptions,
  type NodeServerOptions,
  parseListenAddress,
  SlimNode,
  type StaticPeerOptions,
} from "./node/node.ts";
export type { CongestionLimits } from "./node/congestion.ts";
export type { ForwardToLimits } from "./node/forward_to.ts";
export type {
  NodeClient,
  NodeClientEvent,
  NodeClientOptions,
  NodeClientState,
} from "./node/node_client.ts";
export { nodeOptionsFromService } from "./node/from_config.ts";
export { defaultConfig, loadConfig, parseConfig, type SlimConfig } from "./config/mod.ts";
export type { LoadedConfig, ParseConfigOptions } from "./config/load.ts";
// Every section of the SLIM YAML schema, as parsed.
export type * from "./config/schema.ts";
export type { ReferenceSources } from "./config/substitute.ts";
export type { AuthDecision, ServerTls } from "./transport/grpc_server.ts";
export type { ClientTls } from "./transport/grpc_client.ts";
export type { CloseInfo, Transport } from "./transport/transport.ts";
export { memoryPair, type MemoryPairOptions } from "./transport/memory.ts";
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
export type {
  IdentityOptions,
  IdentityProvider,
  IdentityVerifier,
  JwtIdentityConfig,
  SharedSecretIdentityConfig,
  StaticJwtIdentityConfig,
  VerifiedIdentity,
} from "./identity/identity.ts";
export type {
  JwtIdentityOptions,
  JwtVerifierOptions,
  StaticJwtIdentityOptions,
} from "./identity/jwt.ts";
export type { Claims } from "./identity/claims.ts";
export type { JsonWebKeySet, Jwk, JwtKeyConfig, KeyData } from "./identity/jwt_keys.ts";
export { parseSpireBundle, type SpireTrustBundle } from "./identity/spire_bundle.ts";
export { SigningKey, VerifyKeyCache } from "./identity/signing_key.ts";
export { P256Verifier, type P256VerifierOptions } from "./identity/p256_verifier.ts";
export type { MlsFactory, SessionMls } from "./session/mls_port.ts";
export type { MessageCipher } from "./session/host.ts";
export {
  type AddMemberResult,
  type DecryptedMessage,
  MlsMember,
  type MlsMemberOptions,
  type RemoveMemberResult,
} from "./mls/mod.ts";
export { type Clock, FakeClock, systemClock, type TimerHandle } from "./clock.ts";

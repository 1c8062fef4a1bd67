/**
 * The default MLS state for sessions (lib/mls on ts-mls).
 * @module
 */
import { SessionError } from "../errors.ts";
import type { IdentityProvider, IdentityVerifier } from "../identity/identity.ts";
import type { Logger } from "../log.ts";
import type { MlsFactory } from "../session/mls_port.ts";

/** Creates MLS members bound to the app's identity. */
export function defaultMlsFactory(
  _app: { provider: IdentityProvider; verifier: IdentityVerifier; logger: Logger },
): MlsFactory {
  return () => Promise.reject(new SessionError("MLS is not wired in yet"));
}

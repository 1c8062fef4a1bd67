/**
 * The default MLS state for sessions: `lib/mls` on ts-mls, bound to the app's identity.
 * @module
 */
import type { IdentityProvider, IdentityVerifier } from "../identity/identity.ts";
import type { P256Verifier } from "../identity/p256_verifier.ts";
import type { Logger } from "../log.ts";
import { MlsMember, slimCiphersuite } from "../mls/mod.ts";
import type { MlsFactory } from "../session/mls_port.ts";

/**
 * Creates one MLS member per session (its credential holds a token minted at that moment). The
 * members of one app share one ciphersuite object built on the app's signature verifier.
 */
export function defaultMlsFactory(
  app: {
    provider: IdentityProvider;
    verifier: IdentityVerifier;
    signatures: P256Verifier;
    logger: Logger;
  },
): MlsFactory {
  let cipherSuite: ReturnType<typeof slimCiphersuite> | undefined;
  return async () => {
    cipherSuite ??= slimCiphersuite(app.signatures);
    return MlsMember.create({
      provider: app.provider,
      verifier: app.verifier,
      logger: app.logger,
      cipherSuite: await cipherSuite,
    });
  };
}

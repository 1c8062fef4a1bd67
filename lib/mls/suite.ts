/**
 * The fixed MLS parameters of SLIM: the ciphersuite, the leaf capabilities and lifetime, and the
 * key-retention policy.
 *
 * The real SLIM (mls-rs 0.54 with AWS-LC) always uses ciphersuite 2,
 * `MLS_128_DHKEMP256_AES128GCM_SHA256_P256`. Everything else here is chosen so that a ts-mls
 * member is indistinguishable in behaviour from an mls-rs one and produces deterministic bytes:
 * ts-mls's `defaultCapabilities()` sprinkles random GREASE values into every key package, which
 * the real peer tolerated in the research runs but which makes key packages differ run to run for
 * no benefit, so the capabilities are spelled out instead.
 * @module
 */
import {
  type Capabilities,
  type CiphersuiteName,
  defaultKeyRetentionConfig,
  type KeyRetentionConfig,
  type Lifetime,
} from "ts-mls";

/** The ciphersuite of every SLIM group (mls-rs `CipherSuite::P256_AES128`). */
export const MLS_CIPHERSUITE: CiphersuiteName = "MLS_128_DHKEMP256_AES128GCM_SHA256_P256";

/** Numeric id of {@link MLS_CIPHERSUITE} as it appears on the wire. */
export const MLS_CIPHERSUITE_ID = 2;

/**
 * Leaf capabilities advertised in our key packages: MLS 1.0, ciphersuite 2, basic credentials,
 * no extensions or proposals beyond the defaults. No GREASE, so key packages are deterministic
 * apart from their keys and signatures.
 *
 * mls-rs lists `basic` as its only credential type as well; every leaf must support every
 * credential type present in the tree, so advertising `x509` (the ts-mls default) buys nothing.
 */
export function slimCapabilities(): Capabilities {
  return {
    versions: ["mls10"],
    ciphersuites: [MLS_CIPHERSUITE],
    extensions: [],
    proposals: [],
    credentials: ["basic"],
  };
}

/**
 * Lifetime of our key-package leaves: unbounded, as ts-mls's default and as proven against the
 * real peer. Time-bounding is the identity token's job (see `credential_validator.ts`); a leaf
 * lifetime would add a second clock that mls-rs checks against its own time on add.
 */
export const LEAF_LIFETIME: Lifetime = { notBefore: 0n, notAfter: 0x7fff_ffff_ffff_ffffn };

/**
 * How much old key material a member keeps. Past epochs: ts-mls's default of 4 (mls-rs keeps 3);
 * messages from an older epoch fail to decrypt and SLIM's sender retransmits them re-encrypted in
 * the current epoch. Generations: far more than ts-mls's defaults (10 skipped keys, 200 steps
 * forward), because every retransmission and RTX reply is encrypted afresh and so consumes a
 * generation: a busy sender retransmitting to a slow member easily runs hundreds of generations
 * ahead of it, and reliable delivery delivers out of order.
 */
export const KEY_RETENTION: KeyRetentionConfig = {
  ...defaultKeyRetentionConfig,
  retainKeysForGenerations: 2_000,
  maximumForwardRatchetSteps: 20_000,
};

/**
 * What a session needs from its app, and the shape of the messages it sends.
 *
 * Sessions describe messages ({@link OutMessage}); the app stamps them (one fresh identity token
 * per batch, as SLIM does), signs command messages (`e2e_header_sig` over the header AAD),
 * encrypts data with the session's MLS group, and sends them over its link.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { IdentityProvider, IdentityVerifier } from "../identity/identity.ts";
import type { P256Verifier } from "../identity/p256_verifier.ts";
import type { Logger } from "../log.ts";
import type { Name } from "../names/name.ts";
import type { CommandPayload, SessionMessageType, SessionType } from "../wire/codec.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CommandPayloadSchema } from "../wire/codec.ts";

/** A session message before stamping. */
export interface OutMessage {
  type: SessionMessageType;
  destination: Name;
  /** @default 1 */
  fanout?: number;
  messageId: number;
  /** Command payload (command types). */
  command?: MessageInitShape<typeof CommandPayloadSchema>["commandPayloadType"];
  /** Application payload (data types); with MLS the blob is encrypted before sending. */
  app?: { payloadType: string; blob: Uint8Array };
  /** `Message.metadata`. */
  metadata?: Record<string, string>;
  /** `SLIMHeader.error` (an RTX_REPLY for a message that is gone). */
  error?: boolean;
  /** Source other than the app's own name (discovery replies for subscribed names). */
  source?: Name;
}

/** Encrypts and decrypts application data (an MLS group). */
export interface MessageCipher {
  /** The current MLS epoch (heartbeats carry it). */
  readonly epoch: bigint;
  /** An MLS private message of `plaintext`, authenticated with `aad` (the header AAD). */
  encrypt(plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Plaintext, authenticated data and, when known, the sender's SLIM app id. */
  decrypt(
    message: Uint8Array,
  ): Promise<{ plaintext: Uint8Array; aad: Uint8Array; senderAppId?: bigint }>;
}

/** Services of the app a session runs in. */
export interface SessionHost {
  /** The app's own name, with its id. */
  readonly name: Name;
  readonly identity: IdentityProvider;
  readonly verifier: IdentityVerifier;
  /** The app's signature verifier (header signatures; shared with its MLS groups). */
  readonly signatures: P256Verifier;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Stamps, signs, encrypts (when `cipher` is given) and sends a batch. */
  send(
    sessionId: number,
    sessionType: SessionType,
    batch: OutMessage[],
    cipher?: MessageCipher,
  ): Promise<void>;
  /** Subscribes a channel name at the node (waits for the acknowledgement). */
  subscribe(name: Name): Promise<void>;
  /** Unsubscribes a channel name. */
  unsubscribe(name: Name): Promise<void>;
  /** The session has ended and can be forgotten. */
  ended(sessionId: number): void;
}

export type { CommandPayload };

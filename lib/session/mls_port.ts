/**
 * The MLS operations a session needs (implemented by `lib/mls`), kept as an interface so session
 * logic does not depend on the MLS library.
 * @module
 */
import type { MessageCipher } from "./host.ts";

/** One member's MLS state for one session. */
export interface SessionMls extends MessageCipher {
  /** True once in a group (created, or joined from a welcome). */
  readonly joined: boolean;
  /** Participant: a fresh serialized KeyPackage for a join reply. */
  generateKeyPackage(): Promise<Uint8Array>;
  /** Participant: joins from a serialized Welcome (ratchet tree in an extension). */
  joinFromWelcome(welcome: Uint8Array): Promise<void>;
  /** Participant: applies the moderator's serialized commit. */
  processCommit(commit: Uint8Array): Promise<void>;
  /** Moderator: creates the group (epoch 0). */
  createGroup(): Promise<void>;
  /** Moderator: adds a member; the commit is applied locally. */
  addMember(keyPackage: Uint8Array): Promise<{ commit: Uint8Array; welcome: Uint8Array }>;
  /** Moderator: removes the member with this app id; the commit is applied locally. */
  removeMember(appId: bigint): Promise<{ commit: Uint8Array }>;
}

/** Creates the MLS state of a new session. */
export type MlsFactory = () => Promise<SessionMls>;

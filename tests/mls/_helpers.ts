/**
 * Shared helpers of the MLS tests: apps with shared-secret identities on an adjustable clock,
 * and a three-party group builder.
 * @module
 */
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { MlsMember, type MlsMemberOptions } from "../../lib/mls/mod.ts";

/** The shared secret of the reference session captures (also used by the synthetic tests). */
export const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";

/** A settable Unix-seconds clock shared by every app of a test. */
export class TestClock {
  seconds: number;
  constructor(seconds = Math.floor(Date.now() / 1000)) {
    this.seconds = seconds;
  }
  readonly now = (): number => this.seconds;
  advance(seconds: number): void {
    this.seconds += seconds;
  }
}

/** An app identity (provider + verifier) on `clock`, with `secret`. */
export function app(
  name: string,
  clock: TestClock,
  secret = SECRET,
): { provider: SharedSecretIdentity; verifier: SharedSecretVerifier } {
  return {
    provider: new SharedSecretIdentity(`org/ns/${name}`, secret, { now: clock.now }),
    verifier: new SharedSecretVerifier(secret, { now: clock.now }),
  };
}

/** An MLS member for a new app called `name`. */
export function member(
  name: string,
  clock: TestClock,
  extra: Partial<MlsMemberOptions> & { secret?: string } = {},
): Promise<MlsMember> {
  const { secret, ...options } = extra;
  return MlsMember.create({ ...app(name, clock, secret), clock: clock.now, ...options });
}

/** Adds `joiner` to `moderator`'s group, delivering the commit to `others`. */
export async function invite(
  moderator: MlsMember,
  joiner: MlsMember,
  others: MlsMember[] = [],
): Promise<{ commit: Uint8Array; welcome: Uint8Array }> {
  const result = await moderator.addMember(await joiner.generateKeyPackage());
  for (const other of others) await other.processCommit(result.commit);
  await joiner.joinFromWelcome(result.welcome);
  return result;
}

/** A moderator with two participants, everyone at epoch 2. */
export async function threeParty(clock = new TestClock()): Promise<{
  clock: TestClock;
  moderator: MlsMember;
  alice: MlsMember;
  bob: MlsMember;
}> {
  const moderator = await member("moderator", clock);
  const alice = await member("alice", clock);
  const bob = await member("bob", clock);
  await moderator.createGroup();
  await invite(moderator, alice);
  await invite(moderator, bob, [alice]);
  return { clock, moderator, alice, bob };
}

/** UTF-8 bytes. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** UTF-8 text. */
export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

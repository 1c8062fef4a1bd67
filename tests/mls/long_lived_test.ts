/**
 * The long-lived-group rule: a credential's validity window is checked when the credential is
 * new, not again while its owner stays in the group (unlike the real SLIM, whose moderator
 * wedges once any member's token is older than 3600 s).
 * @module
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { JwtIdentity, JwtVerifier } from "../../lib/identity/mod.ts";
import { claimedIssueTime, MlsMember } from "../../lib/mls/mod.ts";
import { app, bytes, invite, member, SECRET, TestClock, text } from "./_helpers.ts";

const TWO_HOURS = 7200;

Deno.test("two hours later the moderator still adds members, and they join", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  const alice = await member("alice", clock);
  await moderator.createGroup();
  await invite(moderator, alice);

  clock.advance(TWO_HOURS); // every credential in the group is now far outside its window
  const bob = await member("bob", clock); // fresh credential
  const { commit, welcome } = await moderator.addMember(await bob.generateKeyPackage());
  await alice.processCommit(commit);
  await bob.joinFromWelcome(welcome); // the tree holds two expired credentials
  for (const m of [moderator, alice, bob]) assertEquals(m.epoch, 2n);

  const message = await alice.encrypt(bytes("still here"), bytes("aad"));
  assertEquals(text((await bob.decrypt(message)).plaintext), "still here");
  assertEquals((await moderator.decrypt(message)).senderAppId, alice.appId);

  // A remove commit carries the moderator's (old) credential in its UpdatePath leaf.
  clock.advance(TWO_HOURS);
  const removal = await moderator.removeMember(alice.appId);
  await bob.processCommit(removal.commit);
  await alice.processCommit(removal.commit);
  assert(!alice.joined);

  // Alice rejoins with a fresh key package holding her original, four-hour-old credential:
  // seen before, so accepted (the real SLIM would refuse it).
  const rejoin = await moderator.addMember(await alice.generateKeyPackage());
  await bob.processCommit(rejoin.commit);
  await alice.joinFromWelcome(rejoin.welcome);
  assertEquals(new Set(bob.members()), new Set([moderator.appId, alice.appId, bob.appId]));
  const reply = await bob.encrypt(bytes("welcome back"), bytes(""));
  assertEquals(text((await alice.decrypt(reply)).plaintext), "welcome back");
});

Deno.test("a credential never seen before is still checked against its window", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  await moderator.createGroup();
  const carol = await member("carol", clock); // credential minted now...
  const keyPackage = await carol.generateKeyPackage();
  clock.advance(TWO_HOURS); // ...but first shown to the moderator two hours later
  await assertRejects(() => moderator.addMember(keyPackage), MlsError, "identity token expired");
  assertEquals(moderator.epoch, 0n);
});

Deno.test("a key package from an app already in the group replaces its old leaf", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  const aliceIdentity = app("alice", clock);
  const alice = await MlsMember.create({ ...aliceIdentity, clock: clock.now });
  const bob = await member("bob", clock);
  await moderator.createGroup();
  await invite(moderator, alice);
  await invite(moderator, bob, [alice]);
  // Alice's app lost its session state (SLIM rejoin): same app key, a new MLS context.
  const restarted = await MlsMember.create({ ...aliceIdentity, clock: clock.now });
  const { commit, welcome } = await moderator.addMember(await restarted.generateKeyPackage());
  await bob.processCommit(commit);
  await restarted.joinFromWelcome(welcome);
  assertEquals(moderator.members().filter((id) => id === alice.appId).length, 1);
  assertEquals(new Set(bob.members()), new Set([moderator.appId, alice.appId, bob.appId]));
  const hello = await restarted.encrypt(bytes("back"), bytes(""));
  assertEquals((await bob.decrypt(hello)).senderAppId, alice.appId);
  // The stale context learns that its leaf was removed.
  await alice.processCommit(commit);
  assert(!alice.joined);
  await assertRejects(() => alice.decrypt(hello), MlsError, "removed from the group");
});

Deno.test("JWT credentials: members' expired JWTs are accepted, evaluated at their iat", async () => {
  const clock = new TestClock();
  const jwtApp = async (subject: string) =>
    MlsMember.create({
      provider: await JwtIdentity.create({
        key: { algorithm: "HS256", key: { data: SECRET } },
        subject,
        now: clock.now,
      }),
      verifier: await JwtVerifier.create({
        key: { algorithm: "HS256", key: { data: SECRET } },
        now: clock.now,
      }),
      clock: clock.now,
    });
  const moderator = await jwtApp("org/ns/moderator");
  const alice = await jwtApp("org/ns/alice");
  await moderator.createGroup();
  await invite(moderator, alice);
  clock.advance(TWO_HOURS);
  const bob = await jwtApp("org/ns/bob");
  await invite(moderator, bob, [alice]);
  const message = await bob.encrypt(bytes("jwt"), bytes(""));
  assertEquals(text((await alice.decrypt(message)).plaintext), "jwt");
});

Deno.test("claimedIssueTime reads shared-secret and JWT tokens", () => {
  assertEquals(claimedIssueTime("org/ns/a_x:1795239946:nonce:claims:mac"), 1795239946);
  const payload = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  assertEquals(claimedIssueTime(`h.${payload({ iat: 100, nbf: 90 })}.s`), 100);
  assertEquals(claimedIssueTime(`h.${payload({ exp: 100 })}.s`), 99);
  assertEquals(claimedIssueTime(`h.${payload({ sub: "x" })}.s`), undefined);
  assertEquals(claimedIssueTime("garbage"), undefined);
  assertEquals(claimedIssueTime("a:b:c:d:e"), undefined);
});

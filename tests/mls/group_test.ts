/**
 * Group life cycle: create, add, join, encrypt/decrypt in every direction, AAD round trip,
 * epochs, removal, commit ordering.
 * @module
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { bytes, invite, member, TestClock, text, threeParty } from "./_helpers.ts";

Deno.test("three-party group: everyone decrypts everyone, with the exact AAD", async () => {
  const { moderator, alice, bob } = await threeParty();
  const all = [moderator, alice, bob];
  for (const m of all) {
    assert(m.joined);
    assertEquals(m.epoch, 2n);
    assertEquals(new Set(m.members()), new Set([moderator.appId, alice.appId, bob.appId]));
  }
  for (const sender of all) {
    for (const receiver of all) {
      if (sender === receiver) continue;
      const aad = crypto.getRandomValues(new Uint8Array(400));
      const message = await sender.encrypt(bytes(`from ${sender.appId}`), aad);
      const out = await receiver.decrypt(message);
      assertEquals(text(out.plaintext), `from ${sender.appId}`);
      assertEquals(out.aad, aad);
      assertEquals(out.senderAppId, sender.appId);
      assertEquals(out.epoch, 2n);
    }
  }
});

Deno.test("empty AAD and empty plaintext round-trip", async () => {
  const { moderator, alice } = await threeParty();
  const out = await alice.decrypt(await moderator.encrypt(new Uint8Array(), new Uint8Array()));
  assertEquals(out.plaintext.length, 0);
  assertEquals(out.aad.length, 0);
});

Deno.test("epochs advance by one per commit, on every member", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  await moderator.createGroup();
  assertEquals(moderator.epoch, 0n);
  assertEquals(moderator.members(), [moderator.appId]);
  const alice = await member("alice", clock);
  await invite(moderator, alice);
  assertEquals([moderator.epoch, alice.epoch], [1n, 1n]);
  const bob = await member("bob", clock);
  await invite(moderator, bob, [alice]);
  assertEquals([moderator.epoch, alice.epoch, bob.epoch], [2n, 2n, 2n]);
  const { commit } = await moderator.removeMember(alice.appId);
  await bob.processCommit(commit);
  assertEquals([moderator.epoch, bob.epoch], [3n, 3n]);
  assertEquals(new Set(bob.members()), new Set([moderator.appId, bob.appId]));
});

Deno.test("a removed member cannot decrypt what is sent after its removal", async () => {
  const { moderator, alice, bob } = await threeParty();
  const before = await moderator.encrypt(bytes("before"), new Uint8Array());
  const { commit } = await moderator.removeMember(bob.appId);
  await alice.processCommit(commit);
  await bob.processCommit(commit);
  assert(!bob.joined);
  assertEquals(bob.members(), []);
  const after = await moderator.encrypt(bytes("after"), new Uint8Array());
  assertEquals(text((await alice.decrypt(after)).plaintext), "after");
  assertEquals(text((await alice.decrypt(before)).plaintext), "before"); // retained epoch
  await assertRejects(() => bob.decrypt(after), MlsError, "removed from the group");
  await assertRejects(() => bob.encrypt(bytes("x"), new Uint8Array()), MlsError, "removed");
});

Deno.test("a removed member that missed the commit still cannot decrypt", async () => {
  const { moderator, alice, bob } = await threeParty();
  const { commit } = await moderator.removeMember(bob.appId);
  await alice.processCommit(commit);
  const after = await alice.encrypt(bytes("secret"), new Uint8Array());
  await assertRejects(() => bob.decrypt(after), MlsError, "ahead of ours");
});

Deno.test("commits apply strictly in order", async () => {
  const clock = new TestClock();
  const moderator = await member("moderator", clock);
  const alice = await member("alice", clock);
  await moderator.createGroup();
  await invite(moderator, alice);
  const bob = await member("bob", clock);
  const carol = await member("carol", clock);
  const first = await moderator.addMember(await bob.generateKeyPackage()); // epoch 1 -> 2
  const second = await moderator.addMember(await carol.generateKeyPackage()); // 2 -> 3
  await assertRejects(
    () => alice.processCommit(second.commit),
    MlsError,
    "commit is for epoch 2 but the group is at epoch 1: an earlier commit is missing",
  );
  assertEquals(alice.epoch, 1n);
  await alice.processCommit(first.commit);
  await assertRejects(() => alice.processCommit(first.commit), MlsError, "already at epoch 2");
  await alice.processCommit(second.commit);
  assertEquals(alice.epoch, 3n);
  await bob.joinFromWelcome(first.welcome);
  await bob.processCommit(second.commit);
  await carol.joinFromWelcome(second.welcome);
  const message = await carol.encrypt(bytes("hi"), bytes("aad"));
  for (const m of [moderator, alice, bob]) {
    assertEquals(text((await m.decrypt(message)).plaintext), "hi");
  }
});

Deno.test("messages of a retained earlier epoch still decrypt after a commit", async () => {
  const { moderator, alice, bob } = await threeParty();
  const old = await bob.encrypt(bytes("old"), bytes("a"));
  const carol = await member("carol", new TestClock());
  await invite(moderator, carol, [alice, bob]);
  const out = await alice.decrypt(old);
  assertEquals([text(out.plaintext), out.epoch, out.senderAppId], ["old", 2n, bob.appId]);
});

Deno.test("operations before joining fail with MlsError", async () => {
  const alice = await member("alice", new TestClock());
  assert(!alice.joined);
  assertEquals(alice.epoch, 0n);
  await assertRejects(() => alice.encrypt(bytes("x"), bytes("")), MlsError, "not a member");
  await assertRejects(() => alice.removeMember(1n), MlsError, "not a member");
  await assertRejects(() => alice.addMember(new Uint8Array([0, 1])), MlsError);
});

Deno.test("removeMember of an unknown app id or of ourselves fails", async () => {
  const { moderator } = await threeParty();
  await assertRejects(() => moderator.removeMember(12345n), MlsError, "no member with app id");
  await assertRejects(() => moderator.removeMember(moderator.appId), MlsError, "ourselves");
});

Deno.test("operations on one member are serialised", async () => {
  const { moderator, alice } = await threeParty();
  const sent = await Promise.all(
    Array.from({ length: 20 }, (_, i) => moderator.encrypt(bytes(`m${i}`), bytes(""))),
  );
  const got = await Promise.all(sent.map((m) => alice.decrypt(m)));
  assertEquals(got.map((g) => text(g.plaintext)), sent.map((_, i) => `m${i}`));
});

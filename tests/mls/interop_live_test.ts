/**
 * MLS interop with the real SLIM (npm bindings, mls-rs 0.54) end to end: slim-ts apps whose
 * sessions use {@link MlsMember} talk to real apps through a real node, as participant of a real
 * moderator's group and as moderator of real participants. Needs the real peer
 * (`npm ci --prefix tests/peer`).
 * @module
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { App } from "../../lib/app/app.ts";
import { SharedSecretIdentity, SharedSecretVerifier, SigningKey } from "../../lib/identity/mod.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { MlsMember } from "../../lib/mls/mod.ts";
import type { MlsFactory } from "../../lib/session/mls_port.ts";
import { ensurePeerInstalled, startRealApp, startRealNode } from "../peer/real_peer.ts";
import { SECRET } from "./_helpers.ts";

const quiet = createLogger("test", { level: "warn" });

/** One of our apps whose sessions get lib/mls members bound to the app's own identity. */
async function ourApp(name: string, url: string, logger: Logger): Promise<App> {
  // The app builds its identity from options; a provider with the same id, key and secret
  // mints equivalent tokens, so the MLS credential is the app's.
  const signingKey = SigningKey.generate();
  const provider = new SharedSecretIdentity(name, SECRET, { signingKey });
  const verifier = new SharedSecretVerifier(SECRET);
  const mls: MlsFactory = () => MlsMember.create({ provider, verifier, logger });
  return await App.connect({
    name,
    endpoint: url,
    identity: { sharedSecret: SECRET, id: provider.id, signingKey },
    mls,
    logger,
  });
}

Deno.test("interop mls - our participant in a real moderator's group (add, remove, data)", async () => {
  ensurePeerInstalled();
  const node = await startRealNode({ strict: true });
  try {
    await using moderator = await startRealApp({
      name: "org/ns/realmod",
      endpoint: node.url,
      secret: SECRET,
    });
    await using bob = await startRealApp({
      name: "org/ns/realbob",
      endpoint: node.url,
      secret: SECRET,
    });
    const alice = await ourApp("org/ns/tsalice", node.url, quiet.child("tsalice"));
    try {
      const group = await moderator.createSession({
        kind: "group",
        channel: "org/ns/chat",
        mls: true,
      });
      await moderator.invite(group.sid, "org/ns/tsalice");
      const ours = await alice.listen({ timeoutMs: 10_000 });
      assert(ours.mls);
      await moderator.invite(group.sid, "org/ns/realbob"); // alice applies a real Add commit
      const bobs = await bob.listen({ timeoutMs: 10_000 });

      await moderator.publish(group.sid, "hello from the real moderator");
      assertEquals(
        (await ours.nextMessage({ timeoutMs: 10_000 })).text(),
        "hello from the real moderator",
      );
      await bob.nextMessage({ sid: bobs.sid, timeoutMs: 10_000 });

      await ours.publish("hello from slim-ts");
      assertEquals(
        (await moderator.nextMessage({ sid: group.sid, timeoutMs: 10_000 })).text,
        "hello from slim-ts",
      );
      assertEquals(
        (await bob.nextMessage({ sid: bobs.sid, timeoutMs: 10_000 })).text,
        "hello from slim-ts",
      );

      await bob.publish(bobs.sid, "hello from real bob");
      assertEquals((await ours.nextMessage({ timeoutMs: 10_000 })).text(), "hello from real bob");
      await moderator.nextMessage({ sid: group.sid, timeoutMs: 10_000 });

      // A real Remove commit (with an UpdatePath) applied by our participant.
      await moderator.remove(group.sid, "org/ns/realbob");
      await moderator.publish(group.sid, "after the remove");
      assertEquals((await ours.nextMessage({ timeoutMs: 10_000 })).text(), "after the remove");
      await ours.publish("still in");
      assertEquals(
        (await moderator.nextMessage({ sid: group.sid, timeoutMs: 10_000 })).text,
        "still in",
      );
    } finally {
      await alice.close();
    }
  } finally {
    await node.stop();
  }
});

Deno.test("interop mls - our moderator with real participants (add, remove, data)", async () => {
  ensurePeerInstalled();
  const node = await startRealNode({ strict: true });
  try {
    await using bob = await startRealApp({
      name: "org/ns/realbob",
      endpoint: node.url,
      secret: SECRET,
    });
    await using carol = await startRealApp({
      name: "org/ns/realcarol",
      endpoint: node.url,
      secret: SECRET,
    });
    const mod = await ourApp("org/ns/tsmod", node.url, quiet.child("tsmod"));
    try {
      const group = await mod.createSession({ kind: "group", channel: "org/ns/chat", mls: true });
      await group.invite("org/ns/realbob");
      const bobs = await bob.listen({ timeoutMs: 10_000 });
      await group.invite("org/ns/realcarol"); // bob applies our Add commit
      const carols = await carol.listen({ timeoutMs: 10_000 });

      await group.publish("hello from the slim-ts moderator");
      assertEquals(
        (await bob.nextMessage({ sid: bobs.sid, timeoutMs: 10_000 })).text,
        "hello from the slim-ts moderator",
      );
      assertEquals(
        (await carol.nextMessage({ sid: carols.sid, timeoutMs: 10_000 })).text,
        "hello from the slim-ts moderator",
      );

      await carol.publish(carols.sid, "hello from real carol");
      assertEquals(
        (await group.nextMessage({ timeoutMs: 10_000 })).text(),
        "hello from real carol",
      );
      assertEquals(
        (await bob.nextMessage({ sid: bobs.sid, timeoutMs: 10_000 })).text,
        "hello from real carol",
      );

      // Our Remove commit (with an UpdatePath) applied by a real participant.
      await group.remove("org/ns/realcarol");
      await group.publish("after the remove");
      assertEquals(
        (await bob.nextMessage({ sid: bobs.sid, timeoutMs: 10_000 })).text,
        "after the remove",
      );
      await bob.publish(bobs.sid, "bob still in");
      assertEquals((await group.nextMessage({ timeoutMs: 10_000 })).text(), "bob still in");
      await group.close();
    } finally {
      await mod.close();
    }
  } finally {
    await node.stop();
  }
});

Deno.test("interop mls - point-to-point with MLS, each side initiating", async () => {
  ensurePeerInstalled();
  const node = await startRealNode({ strict: true });
  try {
    await using real = await startRealApp({
      name: "org/ns/realp2p",
      endpoint: node.url,
      secret: SECRET,
    });
    const ours = await ourApp("org/ns/tsp2p", node.url, quiet.child("tsp2p"));
    try {
      // Real initiator (moderator of the hidden two-member group), our responder.
      const out = await real.createSession({ kind: "p2p", peer: "org/ns/tsp2p", mls: true });
      const inc = await ours.listen({ timeoutMs: 10_000 });
      assert(inc.mls);
      await real.publish(out.sid, "real to ts");
      assertEquals((await inc.nextMessage({ timeoutMs: 10_000 })).text(), "real to ts");
      await inc.publish("ts to real");
      assertEquals(
        (await real.nextMessage({ sid: out.sid, timeoutMs: 10_000 })).text,
        "ts to real",
      );

      // Our initiator, real responder.
      const s = await ours.createSession({
        kind: "point-to-point",
        peer: "org/ns/realp2p",
        mls: true,
        reliable: { maxRetries: 5, intervalMs: 500 },
      });
      const theirs = await real.listen({ timeoutMs: 10_000 });
      await s.publish("ts initiator");
      assertEquals(
        (await real.nextMessage({ sid: theirs.sid, timeoutMs: 10_000 })).text,
        "ts initiator",
      );
      await real.publish(theirs.sid, "real responder");
      assertEquals((await s.nextMessage({ timeoutMs: 10_000 })).text(), "real responder");
      await s.close();
    } finally {
      await ours.close();
    }
  } finally {
    await node.stop();
  }
});

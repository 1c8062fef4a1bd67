/**
 * Nodes never see MLS plaintext: every byte between the apps and a slim-ts node is recorded by
 * TCP taps, parsed back (HTTP/2 frames → gRPC messages → SLIM messages) and searched for a
 * marker carried in every application payload. The same run without MLS is the positive
 * control (the marker is then visible, so the search works). A member removed from the group
 * cannot decrypt what the group sends afterwards, even with the keys it held before its removal.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { MlsError } from "../../lib/errors.ts";
import { decodeMls, encodeMls } from "../../lib/mls/mod.ts";
import type { Session } from "../../lib/session/session.ts";
import { type Message, nameFromProto, SessionMessageType } from "../../lib/wire/codec.ts";
import {
  appBlob,
  capture,
  connectApp,
  decoder,
  encoder,
  indexOf,
  publishOf,
  startNode,
  Tap,
  type TestApp,
} from "./_helpers.ts";

/** Messages each member broadcasts. */
const PER_MEMBER = 10;

interface Recorded {
  /** Every gRPC message seen by the tap, both directions, all connections. */
  messages: { conn: number; direction: "to-node" | "to-app"; raw: Uint8Array; m: Message }[];
  /** Every recorded byte. */
  bytes: Uint8Array;
  /** Texts the apps received (what the marker was carried in). */
  delivered: string[];
  nodeLog: string[];
}

async function collect(s: Session, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await s.nextMessage({ timeoutMs: 10_000 })).text());
  return out;
}

/** A moderator and two members, all through a tap, each broadcasting and sending one reply. */
async function recordedRun(mls: boolean, marker: string): Promise<Recorded> {
  const nodeLog = capture("node");
  const { node, port } = await startNode(nodeLog.logger);
  const tap = await Tap.start(port);
  let delivered: string[] = [];
  const apps: TestApp[] = [];
  try {
    const mod = await connectApp("org/ns/privmod", tap.url);
    apps.push(mod);
    const a = await connectApp("org/ns/priva", tap.url);
    apps.push(a);
    const b = await connectApp("org/ns/privb", tap.url);
    apps.push(b);
    const g = await mod.app.createSession({ kind: "group", channel: "org/ns/private", mls });
    await g.invite("org/ns/priva");
    await g.invite("org/ns/privb");
    const sa = await a.app.listen({ timeoutMs: 10_000 });
    const sb = await b.app.listen({ timeoutMs: 10_000 });
    assertEquals([g.mls, sa.mls, sb.mls], [mls, mls, mls]);
    const sessions = [g, sa, sb];
    const readers = Promise.all(
      sessions.map((s, i) => collect(s, 2 * PER_MEMBER + (i === 0 ? 1 : 0))),
    );
    readers.catch(() => {}); // awaited below; a failure must not surface before that
    for (let k = 0; k < PER_MEMBER; k++) {
      await Promise.all(sessions.map((s, i) => s.publish(`${marker} #${k} from member ${i}`)));
    }
    await sa.publishTo(mod.app.name, `${marker} direct to the moderator`);
    delivered = (await readers).flat();
    await g.close();
    await Promise.all([sa.closed, sb.closed]);
  } finally {
    await Promise.allSettled(apps.map((t) => t.app.close()));
    await tap.close();
    await node.stop();
  }
  return { messages: tap.messages(), bytes: tap.allBytes(), delivered, nodeLog: nodeLog.lines };
}

/** Data publishes (MSG, RTX_REPLY) with a non-empty payload. */
function dataPublishes(r: Recorded) {
  return r.messages.flatMap((x) => {
    const p = publishOf(x.m);
    const t = p?.session?.sessionMessageType;
    if (!p || (t !== SessionMessageType.MSG && t !== SessionMessageType.RTX_REPLY)) return [];
    const blob = appBlob(p);
    return blob && blob.length > 0 ? [{ ...x, p, blob }] : [];
  });
}

/** Broadcasts: 3 × PER_MEMBER sent, each seen going in and going out to 2 members. */
const MIN_DATA = 3 * PER_MEMBER * 3;

Deno.test("privacy - the node and the wire carry only MLS ciphertext in an MLS group", async () => {
  const marker = `MARKER-${crypto.randomUUID()}`;
  const needle = encoder.encode(marker);
  const r = await recordedRun(true, marker);
  // The marker really was in every payload the apps exchanged.
  assertEquals(r.delivered.length, 3 * 2 * PER_MEMBER + 1);
  assert(r.delivered.every((t) => t.startsWith(marker)), "the apps got the marker");

  const publishes = r.messages.filter((x) => publishOf(x.m));
  const data = dataPublishes(r);
  assert(r.messages.length > 0 && publishes.length >= MIN_DATA, `${publishes.length} publishes`);
  assert(data.length >= MIN_DATA, `only ${data.length} data publishes recorded`);
  // Both directions of all three connections were parsed.
  assertEquals(new Set(data.map((x) => `${x.conn}/${x.direction}`)).size, 6);

  // Not in any SLIM message, not anywhere in the recorded bytes.
  for (const x of r.messages) {
    assertEquals(indexOf(x.raw, needle), -1, `marker in a ${x.m.messageType.case} message`);
  }
  assertEquals(indexOf(r.bytes, needle), -1, "marker somewhere in the recorded TCP bytes");
  assert(!r.nodeLog.some((l) => l.includes(marker)), "marker in the node's log");

  // Every data payload is one MLS PrivateMessage (application content) of the same group.
  const groups = new Set<string>();
  for (const x of data) {
    const m = decodeMls(x.blob);
    assertEquals(m.wireformat, "mls_private_message", "data payload is a PrivateMessage");
    if (m.wireformat !== "mls_private_message") continue;
    assertEquals(m.privateMessage.contentType, "application");
    groups.add(m.privateMessage.groupId.join(","));
    // The plaintext would be longer than the marker: the ciphertext is not it in clear.
    assert(!decoder.decode(x.blob).includes(marker));
  }
  assertEquals(groups.size, 1, "one MLS group");
});

Deno.test("privacy - positive control: without MLS the tap does see the marker", async () => {
  const marker = `MARKER-${crypto.randomUUID()}`;
  const needle = encoder.encode(marker);
  const r = await recordedRun(false, marker);
  assertEquals(r.delivered.length, 3 * 2 * PER_MEMBER + 1);
  const data = dataPublishes(r);
  assert(data.length >= MIN_DATA, `only ${data.length} data publishes recorded`);
  assert(indexOf(r.bytes, needle) >= 0, "marker visible in the recorded bytes");
  const clear = data.filter((x) => indexOf(x.raw, needle) >= 0);
  assertEquals(clear.length, data.length, "every data message carries the marker in clear");
  assert(data.every((x) => decoder.decode(x.blob).startsWith(marker)));
});

Deno.test("privacy - a removed member's MLS state cannot decrypt the group's later messages", async () => {
  const marker = `MARKER-${crypto.randomUUID()}`;
  const { node, port } = await startNode();
  const tap = await Tap.start(port);
  const apps: TestApp[] = [];
  try {
    const mod = await connectApp("org/ns/remmod", tap.url);
    apps.push(mod);
    const a = await connectApp("org/ns/rema", tap.url);
    apps.push(a);
    const b = await connectApp("org/ns/remb", tap.url);
    apps.push(b);
    const g = await mod.app.createSession({ kind: "group", channel: "org/ns/removal", mls: true });
    await g.invite("org/ns/rema");
    await g.invite("org/ns/remb");
    const sa = await a.app.listen({ timeoutMs: 10_000 });
    const sb = await b.app.listen({ timeoutMs: 10_000 });
    await g.publish("before removal");
    await sa.publish("before removal from a");
    assertEquals((await collect(sb, 2)).sort(), ["before removal", "before removal from a"]);
    assertEquals((await g.nextMessage({ timeoutMs: 10_000 })).text(), "before removal from a");
    assertEquals((await sa.nextMessage({ timeoutMs: 10_000 })).text(), "before removal");
    // Control: a reply to the moderator alone, which B never receives, in B's last epoch.
    await sa.publishTo(mod.app.name, `${marker} only for the moderator`);
    assertEquals((await g.nextMessage({ timeoutMs: 10_000 })).text().startsWith(marker), true);

    // B keeps its keys: its MLS state ignores the commit removing it (a member that cheats).
    const frozen = b.wrappers[0];
    const epoch = frozen.epoch;
    frozen.frozen = true;
    await g.remove(b.app.name);
    assertEquals(await sb.closed, "removed by the moderator");
    assertEquals(frozen.held.length, 1, "B was sent the commit removing it");
    assert(frozen.inner.joined && frozen.inner.epoch === epoch, "B's state is still at its epoch");

    await g.publish(`${marker} after removal from the moderator`);
    await sa.publish(`${marker} after removal from a`);
    await sa.publishTo(mod.app.name, `${marker} after removal, direct`);
    assertEquals((await sa.nextMessage({ timeoutMs: 10_000 })).text().startsWith(marker), true);
    assertEquals((await collect(g, 2)).every((t) => t.startsWith(marker)), true);
    await g.close();
    await sa.closed;

    // What the tap recorded: distinct ciphertexts the group sent, by MLS epoch.
    const seen = new Set<string>();
    const before: Uint8Array[] = [];
    const after: Uint8Array[] = [];
    for (const x of tap.messages()) {
      const p = publishOf(x.m);
      if (p?.session?.sessionMessageType !== SessionMessageType.MSG) continue;
      const blob = appBlob(p);
      if (!blob?.length || x.direction !== "to-node") continue;
      const key = blob.join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      const m = decodeMls(blob);
      if (m.wireformat !== "mls_private_message") throw new Error("not a PrivateMessage");
      const source = nameFromProto(p.header!.source);
      if (m.privateMessage.epoch > epoch) after.push(blob);
      else if (
        m.privateMessage.epoch === epoch && source.equals(a.app.name) &&
        x.m.metadata.PUBLISH_TO === "TRUE"
      ) before.push(blob);
    }
    assertEquals(before.length, 1, "the control message was recorded");
    assert(after.length >= 3, `${after.length} ciphertexts recorded after the removal`);

    // The stale state works: it opens the control message it never received.
    const control = await frozen.inner.decrypt(before[0]);
    assert(decoder.decode(control.plaintext).startsWith(marker), "control decrypts");
    // It cannot open anything sent after the removal…
    for (const blob of after) {
      await assertRejects(() => frozen.inner.decrypt(blob), MlsError, "a commit is missing");
      // …not even relabelled with the epoch whose keys it holds.
      const relabelled = decodeMls(blob);
      if (relabelled.wireformat !== "mls_private_message") throw new Error("unreachable");
      relabelled.privateMessage.epoch = epoch;
      await assertRejects(
        () => frozen.inner.decrypt(encodeMls(relabelled)),
        MlsError,
        `cannot decrypt message of epoch ${epoch}`,
      );
    }
    // And once it applies the commit it got, it knows it was removed.
    await frozen.inner.processCommit(frozen.held[0]);
    assert(!frozen.inner.joined, "B's state says removed");
    for (const blob of after) {
      await assertRejects(() => frozen.inner.decrypt(blob), MlsError, "removed from the group");
    }
  } finally {
    await Promise.allSettled(apps.map((t) => t.app.close()));
    await tap.close();
    await node.stop();
  }
});

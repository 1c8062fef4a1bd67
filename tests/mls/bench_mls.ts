/**
 * MLS cost of slim-ts: ts-mls's stock ciphersuite-2 provider against ours (`slimCiphersuite`),
 * through the `MlsMember` API the session layer uses (serialized messages, credential checks, the
 * per-member queue).
 *
 * Prints, per provider:
 * - encrypt/s, decrypt/s and serial round trips/s (one encrypt plus one decrypt) between two
 *   members, for 100-byte payloads with a 400-byte AAD (the size of a SLIM header AAD);
 * - decrypt/s for 7 receivers in one process each decrypting every message, messages handed to
 *   all of them as they come (the layout of `scripts/bench_group.ts`'s members process);
 * - key package generation time and create + add + join time of a 2-member group;
 * - in a group of 32: the moderator's add of a 33rd member, the time each existing member takes
 *   to process that commit (serially, all in this process), and the joiner's join.
 *
 * Every payload is different (a counter in its first bytes), as in real traffic: signing is
 * deterministic (RFC 6979) and the signed content does not include the generation, so identical
 * payloads would produce identical signatures, which a verifier may legitimately remember.
 *
 * Run: `deno run -A tests/mls/bench_mls.ts [messages=2000]`
 * @module
 */
import type { CiphersuiteImpl } from "ts-mls";
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { MlsMember, referenceCiphersuite, slimCiphersuite } from "../../lib/mls/mod.ts";

const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";
const MESSAGES = Number(Deno.args[0] ?? 2000);
const AAD = new Uint8Array(400).fill(1);
const RECEIVERS = 7;
const GROUP = 32;
const verifier = new SharedSecretVerifier(SECRET);
let sequence = 0;
let names = 0;

/** A 100-byte payload unlike every other. */
function payload(): Uint8Array {
  const p = new Uint8Array(100).fill(7);
  new DataView(p.buffer).setUint32(0, ++sequence);
  return p;
}

function newMember(name: string, cipherSuite: CiphersuiteImpl): Promise<MlsMember> {
  return MlsMember.create({
    provider: new SharedSecretIdentity(`org/ns/${name}-${++names}`, SECRET),
    verifier,
    cipherSuite,
  });
}

/** A moderator and `size − 1` members, everyone at the last epoch. */
async function group(cs: CiphersuiteImpl, size: number): Promise<MlsMember[]> {
  const moderator = await newMember("moderator", cs);
  await moderator.createGroup();
  const all = [moderator];
  for (let i = 1; i < size; i++) {
    const joiner = await newMember("member", cs);
    const { commit, welcome } = await moderator.addMember(await joiner.generateKeyPackage());
    for (const m of all.slice(1)) await m.processCommit(commit);
    await joiner.joinFromWelcome(welcome);
    all.push(joiner);
  }
  return all;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Result {
  encrypt: number;
  decrypt: number;
  roundTrip: number;
  sharedDecrypt: number;
  keyPackageMs: number;
  createAddJoinMs: number;
  addMs: number;
  processMs: number;
  joinMs: number;
}

async function bench(cs: CiphersuiteImpl): Promise<Result> {
  const [a, b] = await group(cs, 2);
  for (let i = 0; i < 200; i++) await b.decrypt(await a.encrypt(payload(), AAD)); // warm-up
  const sent: Uint8Array[] = [];
  const enc = await time(async () => {
    for (let i = 0; i < MESSAGES; i++) sent.push(await a.encrypt(payload(), AAD));
  });
  const dec = await time(async () => {
    for (const m of sent) await b.decrypt(m);
  });
  const rt = await time(async () => {
    for (let i = 0; i < MESSAGES; i++) await b.decrypt(await a.encrypt(payload(), AAD));
  });

  const [sender, ...receivers] = await group(cs, RECEIVERS + 1);
  const shared: Uint8Array[] = [];
  for (let i = 0; i < MESSAGES; i++) shared.push(await sender.encrypt(payload(), AAD));
  const sharedDec = await time(async () => {
    const window: Promise<unknown>[] = [];
    for (const m of shared) {
      window.push(Promise.all(receivers.map((r) => r.decrypt(m))));
      if (window.length >= 32) await window.shift();
    }
    await Promise.all(window);
  });

  const kpRounds = 50;
  const kp = await time(async () => {
    for (let i = 0; i < kpRounds; i++) await b.generateKeyPackage();
  });
  const groupRounds = 20;
  const pairs = await time(async () => {
    for (let i = 0; i < groupRounds; i++) await group(cs, 2);
  });

  const [moderator, ...members] = await group(cs, GROUP);
  const rounds = 5;
  let addMs = 0, processMs = 0, joinMs = 0;
  for (let i = 0; i < rounds; i++) {
    const joiner = await newMember("joiner", cs);
    const keyPackage = await joiner.generateKeyPackage();
    let result!: { commit: Uint8Array; welcome: Uint8Array };
    addMs += await time(async () => result = await moderator.addMember(keyPackage));
    processMs += await time(async () => {
      for (const m of members) await m.processCommit(result.commit);
    }) / members.length;
    joinMs += await time(() => joiner.joinFromWelcome(result.welcome));
    const { commit } = await moderator.removeMember(joiner.appId);
    for (const m of members) await m.processCommit(commit);
  }
  return {
    encrypt: MESSAGES / enc * 1000,
    decrypt: MESSAGES / dec * 1000,
    roundTrip: MESSAGES / rt * 1000,
    sharedDecrypt: MESSAGES * RECEIVERS / sharedDec * 1000,
    keyPackageMs: kp / kpRounds,
    createAddJoinMs: pairs / groupRounds,
    addMs: addMs / rounds,
    processMs: processMs / rounds,
    joinMs: joinMs / rounds,
  };
}

const providers: [string, CiphersuiteImpl][] = [
  ["ts-mls default", await referenceCiphersuite()],
  ["slim-ts (ours)", await slimCiphersuite()],
];
// One untimed pass each so that JIT warm-up does not favour the provider measured second.
for (const [, cs] of providers) await group(cs, 3);

console.log(
  `MLS ciphersuite 2, ${MESSAGES} messages of 100 B + ${AAD.length} B AAD, ` +
    `Deno ${Deno.version.deno}`,
);
const row = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, i) => String(c)[i === 0 ? "padEnd" : "padStart"](widths[i])).join(" ");
const messageWidths = [16, 10, 10, 14, 17, 12, 16];
const commitWidths = [16, 22, 24, 20];
const results: [string, Result][] = [];
for (const [name, cs] of providers) results.push([name, await bench(cs)]);
console.log(
  row(
    [
      "provider",
      "encrypt/s",
      "decrypt/s",
      "round trips/s",
      `${RECEIVERS} rx decrypt/s`,
      "key package",
      "create+add+join",
    ],
    messageWidths,
  ),
);
for (const [name, r] of results) {
  console.log(row([
    name,
    r.encrypt.toFixed(0),
    r.decrypt.toFixed(0),
    r.roundTrip.toFixed(0),
    r.sharedDecrypt.toFixed(0),
    `${r.keyPackageMs.toFixed(2)} ms`,
    `${r.createAddJoinMs.toFixed(2)} ms`,
  ], messageWidths));
}
console.log(
  row(
    ["group of 32", "add 33rd (moderator)", "commit, per member (31)", "join of the 33rd"],
    commitWidths,
  ),
);
for (const [name, r] of results) {
  console.log(row([
    name,
    `${r.addMs.toFixed(2)} ms`,
    `${r.processMs.toFixed(2)} ms`,
    `${r.joinMs.toFixed(2)} ms`,
  ], commitWidths));
}

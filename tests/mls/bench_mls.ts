/**
 * MLS throughput of slim-ts: ts-mls's stock ciphersuite-2 provider against ours
 * (`slimCiphersuite`), through the `MlsMember` API the session layer uses (serialized messages,
 * credential checks, the per-member queue).
 *
 * Prints, per provider: encrypt/s, decrypt/s and serial round trips/s (one encrypt plus one
 * decrypt) for 100-byte payloads with a 400-byte AAD (the size of a SLIM header AAD), key
 * package generation time and create + add + join time.
 *
 * Run: `deno run -A tests/mls/bench_mls.ts [messages=2000]`
 * @module
 */
import type { CiphersuiteImpl } from "ts-mls";
import { SharedSecretIdentity, SharedSecretVerifier } from "../../lib/identity/mod.ts";
import { MlsMember, referenceCiphersuite, slimCiphersuite } from "../../lib/mls/mod.ts";

const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";
const MESSAGES = Number(Deno.args[0] ?? 2000);
const PAYLOAD = new Uint8Array(100).fill(7);
const AAD = new Uint8Array(400).fill(1);
const verifier = new SharedSecretVerifier(SECRET);

function newMember(name: string, cipherSuite: CiphersuiteImpl): Promise<MlsMember> {
  return MlsMember.create({
    provider: new SharedSecretIdentity(`org/ns/${name}`, SECRET),
    verifier,
    cipherSuite,
  });
}

async function pair(cs: CiphersuiteImpl): Promise<[MlsMember, MlsMember]> {
  const a = await newMember("alice", cs);
  const b = await newMember("bob", cs);
  await a.createGroup();
  const { welcome } = await a.addMember(await b.generateKeyPackage());
  await b.joinFromWelcome(welcome);
  return [a, b];
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
  keyPackageMs: number;
  createAddJoinMs: number;
}

async function bench(cs: CiphersuiteImpl): Promise<Result> {
  const [a, b] = await pair(cs);
  for (let i = 0; i < 200; i++) await b.decrypt(await a.encrypt(PAYLOAD, AAD)); // warm-up
  const sent: Uint8Array[] = [];
  const enc = await time(async () => {
    for (let i = 0; i < MESSAGES; i++) sent.push(await a.encrypt(PAYLOAD, AAD));
  });
  const dec = await time(async () => {
    for (const m of sent) await b.decrypt(m);
  });
  const rt = await time(async () => {
    for (let i = 0; i < MESSAGES; i++) await b.decrypt(await a.encrypt(PAYLOAD, AAD));
  });
  const kpRounds = 50;
  const kp = await time(async () => {
    for (let i = 0; i < kpRounds; i++) await b.generateKeyPackage();
  });
  const groupRounds = 20;
  const group = await time(async () => {
    for (let i = 0; i < groupRounds; i++) await pair(cs);
  });
  return {
    encrypt: MESSAGES / enc * 1000,
    decrypt: MESSAGES / dec * 1000,
    roundTrip: MESSAGES / rt * 1000,
    keyPackageMs: kp / kpRounds,
    createAddJoinMs: group / groupRounds,
  };
}

const providers: [string, CiphersuiteImpl][] = [
  ["ts-mls default", await referenceCiphersuite()],
  ["slim-ts (ours)", await slimCiphersuite()],
];
// One untimed pass each so that JIT warm-up does not favour the provider measured second.
for (const [, cs] of providers) await pair(cs);

console.log(
  `MLS ciphersuite 2, ${MESSAGES} messages of ${PAYLOAD.length} B + ${AAD.length} B AAD, ` +
    `Deno ${Deno.version.deno}`,
);
console.log("provider          encrypt/s  decrypt/s  round trips/s  key package  create+add+join");
for (const [name, cs] of providers) {
  const r = await bench(cs);
  console.log(
    `${name.padEnd(16)} ${r.encrypt.toFixed(0).padStart(10)} ${r.decrypt.toFixed(0).padStart(10)} ${
      r.roundTrip.toFixed(0).padStart(14)
    } ${r.keyPackageMs.toFixed(2).padStart(9)} ms ${r.createAddJoinMs.toFixed(2).padStart(12)} ms`,
  );
}

/**
 * Identity micro-benchmarks (not a test): signatures (noble vs WebCrypto), HMAC variants,
 * shared-secret and JWT minting and verification. Prints operations per second.
 *
 *   deno run -A tests/identity/bench_sig.ts [milliseconds per case, default 400]
 *
 * The numbers decided the backends in `lib/identity/signing_key.ts` and `shared_secret.ts`.
 * @module
 */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  type JwtAlgorithm,
  JwtIdentity,
  type JwtKeyConfig,
  JwtVerifier,
  SharedSecretIdentity,
  SharedSecretVerifier,
  SigningKey,
  VerifyKeyCache,
  verifySignature,
  verifySignatureSync,
} from "../../lib/identity/mod.ts";
import { derToP1363 } from "../../lib/crypto/ecdsa_der.ts";

const BUDGET_MS = Number(Deno.args[0] ?? 400);
const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";

/** Runs `fn` serially for the time budget; returns ops/s. */
async function serial(name: string, fn: () => unknown): Promise<void> {
  for (let i = 0; i < 20; i++) await fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - start) < BUDGET_MS) {
    for (let i = 0; i < 10; i++) await fn();
    n += 10;
  }
  report(name, n, elapsed);
}

/** Runs `fn` with `width` calls in flight; returns ops/s. */
async function concurrent(name: string, fn: () => Promise<unknown>, width = 64): Promise<void> {
  await Promise.all(Array.from({ length: width }, fn));
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - start) < BUDGET_MS) {
    await Promise.all(Array.from({ length: width }, fn));
    n += width;
  }
  report(name, n, elapsed);
}

function report(name: string, n: number, ms: number): void {
  const ops = Math.round(n / ms * 1000);
  console.log(`${name.padEnd(58)} ${String(ops).padStart(9)} ops/s`);
}

const data = crypto.getRandomValues(new Uint8Array(400)); // about the size of a header AAD
const key = SigningKey.generate();
const der = key.signSync(data);
const raw = derToP1363(der)!;
const b64u = (b: Uint8Array) => b.toBase64({ alphabet: "base64url", omitPadding: true });
const jwk = {
  kty: "EC",
  crv: "P-256",
  x: b64u(key.publicKey.subarray(1, 33)),
  y: b64u(key.publicKey.subarray(33)),
};
const ecdsa = { name: "ECDSA", namedCurve: "P-256" };
const sha = { name: "ECDSA", hash: "SHA-256" };
const wcPrivate = await crypto.subtle.importKey(
  "jwk",
  { ...jwk, d: b64u(key.privateKey) },
  ecdsa,
  false,
  ["sign"],
);
const wcPublic = await crypto.subtle.importKey(
  "raw",
  key.publicKey as Uint8Array<ArrayBuffer>,
  ecdsa,
  false,
  ["verify"],
);

console.log(`# ${Deno.version.deno}, V8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} cpus`);
console.log("# P-256 ECDSA/SHA-256 over 400 bytes");
await serial("sign    noble (SigningKey.signSync)", () => key.signSync(data));
await serial(
  "sign    webcrypto, serial (+P1363->DER not included)",
  () => crypto.subtle.sign(sha, wcPrivate, data),
);
await concurrent("sign    webcrypto, 64 in flight", () => crypto.subtle.sign(sha, wcPrivate, data));
await serial("sign    SigningKey.sign (async API)", () => key.sign(data));
await serial(
  "verify  noble lowS:false",
  () => p256.verify(raw, data, key.publicKey, { lowS: false }),
);
await serial(
  "verify  webcrypto, imported key, serial",
  () => crypto.subtle.verify(sha, wcPublic, raw, data),
);
await concurrent(
  "verify  webcrypto, imported key, 64 in flight",
  () => crypto.subtle.verify(sha, wcPublic, raw, data),
);
await serial("verify  webcrypto, import per call, serial", async () => {
  const k = await crypto.subtle.importKey(
    "raw",
    key.publicKey as Uint8Array<ArrayBuffer>,
    ecdsa,
    false,
    ["verify"],
  );
  return crypto.subtle.verify(sha, k, raw, data);
});
const cache = new VerifyKeyCache();
await serial(
  "verify  verifySignature + VerifyKeyCache (DER), serial",
  () => verifySignature(key.publicKey, data, der, cache),
);
await concurrent(
  "verify  verifySignature + VerifyKeyCache, 64 in flight",
  () => verifySignature(key.publicKey, data, der, cache),
);
await serial("verify  verifySignature, no cache", () => verifySignature(key.publicKey, data, der));
await serial(
  "verify  verifySignatureSync (noble)",
  () => verifySignatureSync(key.publicKey, data, der),
);

console.log("# HMAC-SHA256 over a 230-byte token prefix");
const secret = new TextEncoder().encode(SECRET);
const msg = crypto.getRandomValues(new Uint8Array(230));
const keyed = hmac.create(sha256, secret);
const scratch = keyed.clone();
const out = new Uint8Array(32);
const wcHmac = await crypto.subtle.importKey(
  "raw",
  secret,
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign"],
);
await serial("hmac    noble one-shot", () => hmac(sha256, secret, msg));
await serial("hmac    noble keyed clone()", () => keyed.clone().update(msg).digest());
await serial("hmac    noble keyed _cloneInto (used)", () => {
  keyed._cloneInto(scratch);
  scratch.update(msg);
  scratch.digestInto(out);
});
await serial("hmac    webcrypto", () => crypto.subtle.sign("HMAC", wcHmac, msg));
await serial(
  "hmac    node:crypto createHmac",
  () => createHmac("sha256", secret).update(msg).digest(),
);

console.log("# shared-secret tokens");
const provider = new SharedSecretIdentity("org/ns/alice", SECRET);
const verifier = new SharedSecretVerifier(SECRET);
const token = provider.mint();
await serial("mint    SharedSecretIdentity.mint (sync)", () => provider.mint());
await serial("mint    SharedSecretIdentity.token (await)", () => provider.token());
await serial("verify  SharedSecretVerifier.verifySync", () => verifier.verifySync(token));
await serial("verify  SharedSecretVerifier.verify (await)", () => verifier.verify(token));

console.log("# JWT (mint() signs every time; token() reuses until half-life; verify uncached)");
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");
const pem = (k: { export(o: object): string | Uint8Array }, type: string) =>
  k.export({ format: "pem", type }) as string;
const jwtKeys: Record<string, { sign: JwtKeyConfig; verify: JwtKeyConfig }> = {};
for (
  const [alg, pair] of [["ES256", ec], ["RS256", rsa], ["EdDSA", ed]] as const
) {
  jwtKeys[alg] = {
    sign: { algorithm: alg, key: { data: pem(pair.privateKey, "pkcs8") } },
    verify: { algorithm: alg, key: { data: pem(pair.publicKey, "spki") } },
  };
}
jwtKeys.HS256 = {
  sign: { algorithm: "HS256", key: { data: SECRET } },
  verify: { algorithm: "HS256", key: { data: SECRET } },
};
for (const alg of ["HS256", "ES256", "RS256", "EdDSA"] as JwtAlgorithm[]) {
  const p = await JwtIdentity.create({ key: jwtKeys[alg].sign, subject: "org/ns/alice" });
  const v = await JwtVerifier.create({ key: jwtKeys[alg].verify, cacheSize: 0 });
  const t = await p.mint();
  await serial(`mint    ${alg} JwtIdentity.mint`, () => p.mint());
  await serial(`verify  ${alg} JwtVerifier.verify (cache off)`, () => v.verify(t));
}
const cachedP = await JwtIdentity.create({ key: jwtKeys.RS256.sign, subject: "org/ns/alice" });
const cachedV = await JwtVerifier.create({ key: jwtKeys.RS256.verify });
const cachedT = await cachedP.token();
await serial("token   RS256 JwtIdentity.token (cached)", () => cachedP.token());
await serial("verify  RS256 JwtVerifier.verify (cached token)", () => cachedV.verify(cachedT));

import assert from "node:assert/strict";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AuthError } from "../../lib/errors.ts";
import { SharedSecretIdentity, SharedSecretVerifier, SigningKey } from "../../lib/identity/mod.ts";
import { errorOf, fromB64, secretOf, tokenTime, VECTORS } from "./_helpers.ts";

const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";
const NOW = 1_800_000_000;

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

Deno.test("every captured token verifies with its capture's secret", () => {
  assert.ok(VECTORS.tokens.length > 100);
  for (const v of VECTORS.tokens) {
    const verifier = new SharedSecretVerifier(secretOf(v.capture));
    const ts = tokenTime(v.token);
    const id = verifier.verifySync(v.token, ts + 30);
    assert.equal(id.subject, v.token.split(":")[0], v.source);
    assert.equal(id.issuedAt, ts);
    assert.equal(id.expiresAt, ts + 3600);
    assert.equal(id.publicKey?.length, 65, v.source);
    assert.equal(id.publicKey?.[0], 4);
    assert.deepEqual(Object.keys(id.claims), ["sub", "iat", "exp", "custom_claims"]);
  }
});

Deno.test("captured tokens are rejected with the wrong secret", async () => {
  for (const v of VECTORS.tokens.slice(0, 20)) {
    const other = v.capture === "p2p-basic.jsonl"
      ? SECRET
      : "my-shared-secret-value-0123456789abcdef";
    const verifier = new SharedSecretVerifier(other);
    const e = await errorOf(() => verifier.verify(v.token, tokenTime(v.token)));
    assert.ok(e instanceof AuthError);
    assert.equal(e.message, "identity token mac mismatch");
  }
});

Deno.test("validity window: 3600 s in the past, 5 s in the future, both configurable", async () => {
  const v = VECTORS.tokens[0];
  const ts = tokenTime(v.token);
  const verifier = new SharedSecretVerifier(secretOf(v.capture));
  verifier.verifySync(v.token, ts + 3600);
  verifier.verifySync(v.token, ts - 5);
  assert.equal(
    (await errorOf(() => verifier.verify(v.token, ts + 3601))).message,
    "identity token expired",
  );
  assert.equal(
    (await errorOf(() => verifier.verify(v.token, ts - 6))).message,
    "identity token is from the future",
  );
  const tight = new SharedSecretVerifier(secretOf(v.capture), {
    validitySeconds: 10,
    clockSkewSeconds: 0,
  });
  tight.verifySync(v.token, ts + 10);
  assert.throws(() => tight.verifySync(v.token, ts + 11), /expired/);
  assert.throws(() => tight.verifySync(v.token, ts - 1), /future/);
  // The injected clock is used when no time is passed.
  const clocked = new SharedSecretVerifier(secretOf(v.capture), { now: () => ts + 4000 });
  assert.throws(() => clocked.verifySync(v.token), /expired/);
});

Deno.test("any flipped byte of a captured token is rejected", () => {
  const v = VECTORS.tokens[3];
  const verifier = new SharedSecretVerifier(secretOf(v.capture));
  const ts = tokenTime(v.token);
  for (let i = 0; i < v.token.length; i++) {
    const c = v.token.charCodeAt(i);
    // Flip a low bit, staying in printable ASCII.
    const flipped = v.token.slice(0, i) + String.fromCharCode(c ^ 1) + v.token.slice(i + 1);
    assert.throws(() => verifier.verifySync(flipped, ts), AuthError, `position ${i}`);
  }
});

Deno.test("malformed tokens are rejected with AuthError", () => {
  const verifier = new SharedSecretVerifier(SECRET);
  const good = new SharedSecretIdentity("org/ns/app", SECRET).mint(NOW);
  const [id, ts, nonce, claims, mac] = good.split(":");
  const cases = [
    "",
    "no-colons",
    `${id}:${ts}:${nonce}:${claims}`,
    `${id}:${ts}:${nonce}:${claims}:${mac}:extra`,
    `:${ts}:${nonce}:${claims}:${mac}`,
    `${id}:-1:${nonce}:${claims}:${mac}`,
    `${id}:12x:${nonce}:${claims}:${mac}`,
    `${id}:${ts}:${nonce}:${claims}:${mac}A`,
    `${id}:${ts}:${nonce}:${claims}:${mac.slice(1)}`,
    `${id}:${ts}:${nonce}:${claims}:${mac.slice(0, 42)}=`,
    "x".repeat(10_000),
  ];
  for (const token of cases) assert.throws(() => verifier.verifySync(token, NOW), AuthError);
});

Deno.test("claims that are not a json object are rejected even with a valid mac", () => {
  const key = new TextEncoder().encode(SECRET);
  const sign = (claims: string) => {
    const msg = `org/ns/app_abcdefgh:${NOW}:AAAAAAAAAAAAAAAA:${claims}`;
    return `${msg}:${b64url(hmac(sha256, key, new TextEncoder().encode(msg)))}`;
  };
  const verifier = new SharedSecretVerifier(SECRET);
  const enc = (s: string) => b64url(new TextEncoder().encode(s));
  assert.throws(() => verifier.verifySync(sign(enc("[1]")), NOW), /not a json object/);
  assert.throws(() => verifier.verifySync(sign(enc("{nope")), NOW), /not json/);
  assert.throws(() => verifier.verifySync(sign("***"), NOW), /not base64url/);
  assert.throws(() => verifier.verifySync(sign(enc('{"pubkey":"%%%"}')), NOW), /pubkey/);
  // Empty claims are allowed: no public key.
  const bare = verifier.verifySync(sign(""), NOW);
  assert.equal(bare.publicKey, undefined);
  assert.deepEqual(bare.claims.custom_claims, {});
  // pubkey under custom_claims is found too (the lookup the real SLIM does).
  const nested = verifier.verifySync(sign(enc('{"custom_claims":{"pubkey":"BAE="}}')), NOW);
  assert.deepEqual(nested.publicKey, new Uint8Array([4, 1]));
});

Deno.test("minted tokens have the exact format and round-trip", () => {
  const key = SigningKey.generate();
  const provider = new SharedSecretIdentity("org/ns/alice", SECRET, { signingKey: key });
  assert.match(provider.id, /^org\/ns\/alice_[A-Za-z0-9]{8}$/);
  const token = provider.mint(NOW);
  const fields = token.split(":");
  assert.equal(fields.length, 5);
  const [id, ts, nonce, claims, mac] = fields;
  assert.equal(id, provider.id);
  assert.equal(ts, String(NOW));
  assert.match(nonce, /^[A-Za-z0-9_-]{16}$/);
  assert.match(mac, /^[A-Za-z0-9_-]{43}$/);
  // Claims: base64url (no padding) of the compact JSON with the standard-base64 public key.
  const json = new TextDecoder().decode(fromB64(
    claims.replaceAll("-", "+").replaceAll("_", "/") +
      "=".repeat((4 - claims.length % 4) % 4),
  ));
  assert.equal(json, `{"pubkey":"${btoa(String.fromCharCode(...key.publicKey))}"}`);
  assert.ok(!claims.includes("="));
  // MAC: HMAC-SHA256(secret, everything before the last ':'), computed independently.
  const expected = hmac(
    sha256,
    new TextEncoder().encode(SECRET),
    new TextEncoder().encode(
      token.slice(0, token.lastIndexOf(":")),
    ),
  );
  assert.equal(mac, b64url(expected));

  const verified = new SharedSecretVerifier(SECRET).verifySync(token, NOW);
  assert.equal(verified.subject, provider.id);
  assert.deepEqual(verified.publicKey, key.publicKey);
  assert.deepEqual(verified.claims, {
    sub: provider.id,
    iat: NOW,
    exp: NOW + 3600,
    custom_claims: { pubkey: key.publicKeyBase64 },
  });
});

Deno.test("every token is fresh: new nonce per call, clock injected", async () => {
  let now = NOW;
  const provider = new SharedSecretIdentity("org/ns/app", SECRET, { now: () => now });
  const a = await provider.token();
  const b = await provider.token();
  assert.notEqual(a, b);
  assert.notEqual(a.split(":")[2], b.split(":")[2]);
  assert.equal(tokenTime(a), NOW);
  now += 7;
  assert.equal(tokenTime(await provider.token()), NOW + 7);
  const nonces = new Set(Array.from({ length: 1000 }, () => provider.mint(NOW).split(":")[2]));
  assert.equal(nonces.size, 1000);
});

Deno.test("ids: random suffix, explicit id, invalid names", () => {
  const ids = new Set(
    Array.from({ length: 50 }, () => new SharedSecretIdentity("org/ns/app", SECRET).id),
  );
  assert.equal(ids.size, 50);
  const fixed = new SharedSecretIdentity("org/ns/app", SECRET, { id: "org/ns/app_Fixed123" });
  assert.equal(fixed.id, "org/ns/app_Fixed123");
  assert.ok(fixed.mint(NOW).startsWith("org/ns/app_Fixed123:"));
  for (const bad of ["", "org/ns:app", "org/ns/a pp", "org/ns/app\t"]) {
    assert.throws(() => new SharedSecretIdentity(bad, SECRET), AuthError);
  }
  assert.throws(() => new SharedSecretIdentity("org/ns/app", SECRET, { id: "a:b" }), AuthError);
});

Deno.test("short secrets need allowShortSecret; errors never contain the secret", async () => {
  const short = "hunter2";
  const weak = "w".repeat(31);
  for (
    const make of [
      () => new SharedSecretIdentity("org/ns/app", short),
      () => new SharedSecretVerifier(short),
      () => new SharedSecretIdentity("org/ns/app", weak),
    ]
  ) {
    const e = await errorOf(make);
    assert.ok(e instanceof AuthError);
    assert.equal(e.code, "auth");
    assert.match(e.message, /shorter than 32 bytes/);
    assert.ok(!e.message.includes(short) && !e.message.includes(weak), e.message);
  }
  // 32 bytes, counted in UTF-8, is enough.
  new SharedSecretIdentity("org/ns/app", "é".repeat(16));
  const provider = new SharedSecretIdentity("org/ns/app", short, { allowShortSecret: true });
  const verifier = new SharedSecretVerifier(short, { allowShortSecret: true });
  assert.equal(verifier.verifySync(provider.mint(NOW), NOW).subject, provider.id);
  assert.throws(() => new SharedSecretVerifier("", { allowShortSecret: true }), /empty/);
});

Deno.test("no error message or inspection output carries the secret or a token", async () => {
  const provider = new SharedSecretIdentity("org/ns/app", SECRET);
  const verifier = new SharedSecretVerifier(SECRET, { replayCacheSize: 4 });
  const token = provider.mint(NOW);
  const [id, ts, nonce, claims, mac] = token.split(":");
  const messages: string[] = [];
  const bad = [
    token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"),
    `${id}:${ts}:${nonce}:${claims}:${mac.slice(1)}`,
    `${id}:${Number(ts) - 4000}:${nonce}:${claims}:${mac}`,
  ];
  for (const t of bad) messages.push((await errorOf(() => verifier.verify(t, NOW))).message);
  messages.push((await errorOf(() => verifier.verify(token, NOW + 4000))).message);
  verifier.verifySync(token, NOW);
  messages.push((await errorOf(() => verifier.verify(token, NOW))).message);
  messages.push((await errorOf(() => new SharedSecretIdentity("org/ns/app", "hunter2"))).message);
  messages.push(Deno.inspect(provider), Deno.inspect(verifier), String(provider));
  for (const m of messages) {
    assert.ok(!m.includes(SECRET), m);
    assert.ok(!m.includes("hunter2"), m);
    assert.ok(!m.includes(mac) && !m.includes(nonce) && !m.includes(claims), m);
  }
});

Deno.test("replay cache: off by default, on request rejects a second use", () => {
  const provider = new SharedSecretIdentity("org/ns/app", SECRET);
  const token = provider.mint(NOW);
  const open = new SharedSecretVerifier(SECRET);
  open.verifySync(token, NOW);
  open.verifySync(token, NOW);
  const strict = new SharedSecretVerifier(SECRET, { replayCacheSize: 2 });
  strict.verifySync(token, NOW);
  assert.throws(() => strict.verifySync(token, NOW), /replayed/);
  // Capacity bound: the oldest entry is evicted.
  strict.verifySync(provider.mint(NOW), NOW);
  strict.verifySync(provider.mint(NOW), NOW);
  strict.verifySync(token, NOW);
  // Expired entries are purged (the token itself is then rejected as expired, not replayed).
  const t2 = provider.mint(NOW);
  strict.verifySync(t2, NOW);
  assert.throws(() => strict.verifySync(t2, NOW + 3601), /expired/);
});

Deno.test("a failed check does not record the nonce", () => {
  const provider = new SharedSecretIdentity("org/ns/app", SECRET);
  const verifier = new SharedSecretVerifier(SECRET, { replayCacheSize: 8 });
  const token = provider.mint(NOW);
  assert.throws(() => verifier.verifySync(token, NOW + 3601), /expired/);
  verifier.verifySync(token, NOW);
});

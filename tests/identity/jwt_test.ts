import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, SignJWT } from "jose";
import { AuthError } from "../../lib/errors.ts";
import {
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  JwtIdentity,
  type JwtKeyConfig,
  JwtVerifier,
  parseSpireBundle,
  SigningKey,
  spiffeTrustDomain,
  StaticJwtIdentity,
} from "../../lib/identity/mod.ts";
import { errorOf } from "./_helpers.ts";

const NOW = 1_800_000_000;
const HMAC_SECRET = "jwt-hmac-secret-do-not-print-0123456789";

interface TestKey {
  privatePem: string;
  publicPem: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

function pems(pair: { privateKey: KeyObject; publicKey: KeyObject }, privateType: string) {
  return {
    privatePem: pair.privateKey.export({ format: "pem", type: privateType } as never) as string,
    publicPem: pair.publicKey.export({ format: "pem", type: "spki" }) as string,
    privateJwk: pair.privateKey.export({ format: "jwk" }) as JWK,
    publicJwk: pair.publicKey.export({ format: "jwk" }) as JWK,
  };
}

// Keys in the encodings people have lying around: SEC1 for EC, PKCS#1 for RSA, PKCS#8 otherwise.
const EC256: TestKey = pems(generateKeyPairSync("ec", { namedCurve: "P-256" }), "sec1");
const EC256_OTHER: TestKey = pems(generateKeyPairSync("ec", { namedCurve: "P-256" }), "pkcs8");
const EC384: TestKey = pems(generateKeyPairSync("ec", { namedCurve: "P-384" }), "pkcs8");
const RSA: TestKey = pems(generateKeyPairSync("rsa", { modulusLength: 2048 }), "pkcs1");
const ED: TestKey = pems(generateKeyPairSync("ed25519"), "pkcs8");

function keysFor(alg: JwtAlgorithm): { sign: JwtKeyConfig; verify: JwtKeyConfig } {
  if (alg.startsWith("HS")) {
    return {
      sign: { algorithm: alg, key: { data: HMAC_SECRET } },
      verify: { algorithm: alg, key: { data: HMAC_SECRET } },
    };
  }
  const k = alg === "ES256" ? EC256 : alg === "ES384" ? EC384 : alg === "EdDSA" ? ED : RSA;
  return {
    sign: { algorithm: alg, format: "pem", key: { data: k.privatePem } },
    verify: { algorithm: alg, format: "pem", key: { data: k.publicPem } },
  };
}

function identity(
  alg: JwtAlgorithm,
  extra: Partial<Parameters<typeof JwtIdentity.create>[0]> = {},
) {
  return JwtIdentity.create({
    key: keysFor(alg).sign,
    subject: "org/ns/alice",
    issuer: "slim-test",
    audience: ["slim-peers"],
    now: () => NOW,
    ...extra,
  });
}

Deno.test("mint + verify for every supported algorithm", async () => {
  for (const alg of JWT_ALGORITHMS) {
    const signingKey = SigningKey.generate();
    const provider = await identity(alg, { signingKey, customClaims: { team: "red" } });
    const token = await provider.token();
    const header = decodeProtectedHeader(token);
    assert.deepEqual(header, { alg, typ: "JWT", kid: "org/ns/alice" }, alg);
    const payload = decodeJwt(token);
    assert.deepEqual(payload, {
      team: "red",
      iss: "slim-test",
      sub: "org/ns/alice",
      aud: ["slim-peers"],
      pubkey: signingKey.publicKeyBase64,
      exp: NOW + 3600,
      iat: NOW,
      nbf: NOW,
    });
    const verifier = await JwtVerifier.create({
      key: keysFor(alg).verify,
      audience: "slim-peers",
      issuer: "slim-test",
      subject: "org/ns/alice",
      now: () => NOW + 10,
    });
    const verified = await verifier.verify(token);
    assert.equal(verified.subject, "org/ns/alice", alg);
    assert.equal(provider.id, "org/ns/alice");
    assert.equal(verified.issuedAt, NOW);
    assert.equal(verified.expiresAt, NOW + 3600);
    assert.deepEqual(verified.publicKey, signingKey.publicKey);
    assert.equal(verified.claims.team, "red");
  }
});

Deno.test("keys from JWK, JWKS and files; signing key from a JWKS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/private.pem`, EC256.privatePem);
    await Deno.writeTextFile(`${dir}/public.jwk`, JSON.stringify(EC256.publicJwk));
    await Deno.writeTextFile(
      `${dir}/set.jwks`,
      JSON.stringify({
        keys: [{ ...RSA.publicJwk, kid: "r1" }, { ...EC256.publicJwk, kid: "e1" }],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/private.jwks`,
      JSON.stringify({ keys: [{ ...RSA.privateJwk }, { ...EC256.privateJwk, kid: "e1" }] }),
    );
    const fromFile = await JwtIdentity.create({
      key: { algorithm: "ES256", key: { file: `${dir}/private.pem` } },
      subject: "org/ns/a",
      now: () => NOW,
    });
    const fromJwk = await JwtIdentity.create({
      key: { algorithm: "ES256", format: "jwk", key: { data: JSON.stringify(EC256.privateJwk) } },
      subject: "org/ns/b",
      now: () => NOW,
    });
    const fromJwks = await JwtIdentity.create({
      key: { algorithm: "ES256", format: "jwks", key: { file: `${dir}/private.jwks` } },
      subject: "org/ns/c",
      now: () => NOW,
    });
    for (
      const config of [
        { algorithm: "ES256", format: "jwk", key: { file: `${dir}/public.jwk` } },
        { algorithm: "RS256", format: "jwks", key: { file: `${dir}/set.jwks` } },
      ] as JwtKeyConfig[]
    ) {
      const verifier = await JwtVerifier.create({ key: config, now: () => NOW });
      for (const p of [fromFile, fromJwk, fromJwks]) {
        assert.equal((await verifier.verify(await p.token())).subject, p.id);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a JWKS selects the key by kid, and falls back to every fitting key", async () => {
  const kidToken = async (jwk: JWK, kid: string | undefined) =>
    await new SignJWT({ sub: "spiffe://example.org/app", exp: NOW + 60 })
      .setProtectedHeader({ alg: "ES256", ...(kid ? { kid } : {}) })
      .sign(await importJWK(jwk, "ES256"));
  const verifier = await JwtVerifier.create({
    jwks: {
      keys: [
        { ...EC256_OTHER.publicJwk, kid: "k-other" },
        { ...EC256.publicJwk, kid: "k-main" },
        { ...RSA.publicJwk, kid: "k-rsa" },
      ],
    },
    now: () => NOW,
  });
  assert.equal(
    (await verifier.verify(await kidToken(EC256.privateJwk, "k-main"))).subject,
    "spiffe://example.org/app",
  );
  // The kid names another key: no fallback once a kid matches.
  const misnamed = await kidToken(EC256.privateJwk, "k-other");
  assert.match((await errorOf(() => verifier.verify(misnamed))).message, /signature mismatch/);
  // Unknown kid and no kid: every ES256 key is tried.
  await verifier.verify(await kidToken(EC256.privateJwk, "org/ns/alice"));
  await verifier.verify(await kidToken(EC256_OTHER.privateJwk, undefined));
  // No key of the set fits EdDSA.
  const ed = await new SignJWT({ sub: "x", exp: NOW + 60 }).setProtectedHeader({ alg: "EdDSA" })
    .sign(await importJWK(ED.privateJwk, "EdDSA"));
  assert.match((await errorOf(() => verifier.verify(ed))).message, /no jwt key for algorithm/);
});

Deno.test("SPIRE trust bundle: per-domain base64 JWKS; a SPIFFE ID is checked by its own domain", async () => {
  const b64 = (v: unknown) => btoa(JSON.stringify(v));
  const bundle = parseSpireBundle(JSON.stringify({
    "example.org": b64({ keys: [{ ...EC256.publicJwk, kid: "spire-1", use: "jwt-svid" }] }),
    "Other.org": b64({ keys: [{ ...RSA.publicJwk, kid: "spire-2" }] }),
  }));
  assert.deepEqual([...bundle.domains.keys()], ["example.org", "other.org"]);
  assert.deepEqual(bundle.domains.get("example.org")!.keys.map((k) => k.kid), ["spire-1"]);
  const verifier = await JwtVerifier.create({
    spireBundle: bundle,
    audience: "slim",
    now: () => NOW,
  });
  const svid = async (sub: string, key: { privateJwk: JWK }, alg: string, kid: string) => {
    const signingKey = SigningKey.generate();
    const token = await new SignJWT({
      sub,
      aud: ["slim"],
      exp: NOW + 300,
      custom_claims: { pubkey: signingKey.publicKeyBase64 },
    }).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(await importJWK(key.privateJwk, alg));
    return { token, signingKey };
  };
  // A JWT-SVID of example.org signed by example.org's key: kid names the bundle key, pubkey
  // under custom_claims.
  const good = await svid("spiffe://example.org/ns/default/sa/app", EC256, "ES256", "spire-1");
  const id = await verifier.verify(good.token);
  assert.equal(id.subject, "spiffe://example.org/ns/default/sa/app");
  assert.deepEqual(id.publicKey, good.signingKey.publicKey);
  // other.org's key cannot vouch for an example.org identity, even naming its own kid...
  const cross = await svid("spiffe://example.org/payments", RSA, "RS256", "spire-2");
  await assert.rejects(() => verifier.verify(cross.token), AuthError);
  // ...nor example.org's key for other.org, and an unknown trust domain has no keys at all.
  const cross2 = await svid("spiffe://OTHER.org/x", EC256, "ES256", "spire-1");
  await assert.rejects(() => verifier.verify(cross2.token), AuthError);
  const unknown = await svid("spiffe://b.org/x", EC256, "ES256", "spire-1");
  assert.match(
    (await errorOf(() => verifier.verify(unknown.token))).message,
    /no trust bundle for spiffe trust domain b\.org/,
  );
  // A subject that is not a SPIFFE ID (SLIM-minted tokens: kid = sub = the app name) is checked
  // against every key of the bundle, as a plain key set.
  const provider = await identity("ES256", { audience: "slim" });
  const verified = await verifier.verify(await provider.token());
  assert.deepEqual(verified.publicKey, provider.signingKey.publicKey);

  for (
    const bad of [
      "not json",
      "[]",
      JSON.stringify({ "a.org": "%%%" }),
      JSON.stringify({ "a.org": btoa("not json") }),
      JSON.stringify({ "a.org": b64({ nokeys: [] }) }),
      JSON.stringify({ "a/org": b64({ keys: [ED.publicJwk] }) }),
      JSON.stringify({}),
      JSON.stringify({ "a.org": b64({ keys: [] }) }),
    ]
  ) {
    assert.throws(() => parseSpireBundle(bad), AuthError, bad);
  }
  // Values that are plain JWKS objects are accepted as well.
  assert.equal(
    parseSpireBundle(JSON.stringify({ "a.org": { keys: [ED.publicJwk] } })).domains.size,
    1,
  );
  assert.equal(spiffeTrustDomain("spiffe://A.org/x/y"), "a.org");
  assert.equal(spiffeTrustDomain("spiffe://a.org"), "a.org");
  for (
    const s of ["org/ns/app", "spiffe:/a.org/x", "spiffe://", "https://a.org/x", "spiffe://a org/x"]
  ) {
    assert.equal(spiffeTrustDomain(s), undefined, s);
  }
});

Deno.test("rejections: wrong key, expired, not yet valid, audience, issuer, subject", async () => {
  const provider = await identity("ES256");
  const token = await provider.token();
  const verifierWith = (o: Partial<Parameters<typeof JwtVerifier.create>[0]> = {}) =>
    JwtVerifier.create({ key: keysFor("ES256").verify, now: () => NOW, ...o });
  const reason = async (o: Partial<Parameters<typeof JwtVerifier.create>[0]>, t = token) => {
    const e = await errorOf(async () => (await verifierWith(o)).verify(t));
    assert.ok(e instanceof AuthError);
    assert.equal(e.code, "auth");
    return e.message;
  };
  assert.equal(
    await reason({ key: { algorithm: "ES256", key: { data: EC256_OTHER.publicPem } } }),
    "jwt signature mismatch",
  );
  assert.equal(
    await reason({ key: { algorithm: "HS256", key: { data: HMAC_SECRET } } }),
    "no jwt key for algorithm ES256",
  );
  // 60 s of leeway after exp, as jsonwebtoken's default.
  await (await verifierWith({ now: () => NOW + 3600 + 59 })).verify(token);
  assert.equal(await reason({ now: () => NOW + 3600 + 61 }), "jwt expired");
  assert.equal(await reason({ now: () => NOW - 61 }), "jwt not yet valid");
  assert.equal(await reason({ clockToleranceSeconds: 0, now: () => NOW + 3601 }), "jwt expired");
  assert.equal(await reason({ audience: "someone-else" }), "jwt audience not accepted");
  assert.equal(await reason({ issuer: "evil" }), "jwt issuer not accepted");
  assert.equal(await reason({ subject: "org/ns/bob" }), "jwt subject not accepted");
  await (await verifierWith({ audience: ["x", "slim-peers"], issuer: ["a", "slim-test"] })).verify(
    token,
  );
  // Tampered payload.
  const [h, p, s] = token.split(".");
  const forged = `${h}.${
    btoa(JSON.stringify({ ...decodeJwt(token), sub: "org/ns/eve" }))
      .replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_")
  }.${s}`;
  assert.equal(await reason({}, forged), "jwt signature mismatch");
  assert.equal(await reason({}, `${h}.${p}`), "malformed jwt");
  assert.equal(await reason({}, "garbage"), "malformed jwt");
  // Unsigned tokens never pass.
  const none = `${btoa('{"alg":"none"}').replaceAll("=", "")}.${p}.`;
  assert.match(await reason({}, none), /algorithm none not accepted/);
  // A token without exp or sub.
  const noExp = await new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "ES256" })
    .sign(await importJWK(EC256.privateJwk, "ES256"));
  assert.equal(await reason({}, noExp), "jwt has no valid exp claim");
  const noSub = await new SignJWT({ exp: NOW + 5 }).setProtectedHeader({ alg: "ES256" })
    .sign(await importJWK(EC256.privateJwk, "ES256"));
  assert.equal(await reason({}, noSub), "jwt has no sub claim");
});

Deno.test("the minted token is reused until half its lifetime is left", async () => {
  let now = NOW;
  const provider = await identity("RS256", { durationSeconds: 100, now: () => now });
  const first = await provider.token();
  assert.equal(await provider.token(), first);
  now += 49;
  assert.equal(await provider.token(), first);
  now += 1;
  const second = await provider.token();
  assert.notEqual(second, first);
  assert.equal(decodeJwt(second).iat, NOW + 50);
  assert.equal(decodeJwt(second).exp, NOW + 150);
  // Concurrent callers share one minting.
  now += 60;
  const [a, b] = await Promise.all([provider.token(), provider.token()]);
  assert.equal(a, b);
  assert.notEqual(a, second);
  // mint() always signs anew.
  assert.notEqual(await provider.mint(NOW + 1), await provider.mint(NOW + 2));
});

Deno.test("the verifier remembers verified tokens until they expire", async () => {
  let now = NOW;
  const provider = await identity("ES256", { durationSeconds: 100 });
  const token = await provider.token();
  const verifier = await JwtVerifier.create({ key: keysFor("ES256").verify, now: () => now });
  const first = await verifier.verify(token);
  assert.equal(await verifier.verify(token), first);
  now += 100 + 61;
  assert.match((await errorOf(() => verifier.verify(token))).message, /expired/);
  const uncached = await JwtVerifier.create({
    key: keysFor("ES256").verify,
    cacheSize: 0,
    now: () => NOW,
  });
  assert.notEqual(await uncached.verify(token), await uncached.verify(token));
});

Deno.test("static JWT from a file: id from sub, re-read on change", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/token.jwt`;
    const signingKey = SigningKey.generate();
    const minter = await identity("ES256", { signingKey });
    const t1 = await minter.mint(NOW);
    await Deno.writeTextFile(file, t1 + "\n");
    let now = NOW;
    const provider = await StaticJwtIdentity.create({ file, signingKey, now: () => now });
    assert.equal(provider.id, "org/ns/alice");
    assert.equal(await provider.token(), t1);
    const t2 = await minter.mint(NOW + 10);
    await Deno.writeTextFile(file, t2);
    await Deno.utime(file, NOW + 10, NOW + 10);
    // Within the recheck interval the cached token is served.
    assert.equal(await provider.token(), t1);
    now += 1;
    assert.equal(await provider.token(), t2);
    // A broken file keeps the last good token.
    await Deno.writeTextFile(file, "not a jwt");
    await Deno.utime(file, NOW + 20, NOW + 20);
    now += 1;
    assert.equal(await provider.token(), t2);

    await Deno.writeTextFile(file, t1);
    await assert.rejects(
      () => StaticJwtIdentity.create({ file, signingKey: SigningKey.generate() }),
      /does not match the signing key/,
    );
    const noSub = await new SignJWT({ exp: NOW }).setProtectedHeader({ alg: "ES256" })
      .sign(await importJWK(EC256.privateJwk, "ES256"));
    await Deno.writeTextFile(file, noSub);
    await assert.rejects(() => StaticJwtIdentity.create({ file }), /no sub claim/);
    await assert.rejects(() => StaticJwtIdentity.create({ file: `${dir}/missing` }), AuthError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("remote JWKS: fetched once and cached", async () => {
  let fetches = 0;
  const jwks = { keys: [{ ...EC256.publicJwk, kid: "remote-1" }] };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
    fetches++;
    return Response.json(jwks);
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/.well-known/jwks.json`;
    const verifier = await JwtVerifier.create({ jwksUrl: url, now: () => NOW });
    const provider = await identity("ES256");
    for (let i = 0; i < 3; i++) await verifier.verify(await provider.mint(NOW + i));
    assert.equal(fetches, 1);
    const other = await JwtIdentity.create({
      key: { algorithm: "ES256", key: { data: EC256_OTHER.privatePem } },
      subject: "x",
      now: () => NOW,
    });
    // A token from a key the set does not hold is rejected (after one refetch attempt).
    const e = await errorOf(async () => verifier.verify(await other.mint(NOW)));
    assert.ok(e instanceof AuthError);
  } finally {
    await server.shutdown();
  }
});

Deno.test("configuration errors are AuthErrors without key material", async () => {
  const secretPem = EC256.privatePem;
  const messages: string[] = [];
  const collect = async (fn: () => unknown) => {
    const e = await errorOf(fn);
    assert.ok(e instanceof AuthError, String(e));
    messages.push(e.message, String(e.cause ?? ""));
  };
  await collect(() => JwtVerifier.create({}));
  await collect(() =>
    JwtVerifier.create({ jwks: { keys: [] }, jwksUrl: "https://example.org/jwks" })
  );
  await collect(() => JwtVerifier.create({ jwksUrl: "not a url" }));
  await collect(() =>
    JwtIdentity.create({ key: { algorithm: "ES256", key: { data: "x" } }, subject: "" })
  );
  await collect(() =>
    JwtIdentity.create({
      key: { algorithm: "ES256", key: { data: secretPem.replace("MHc", "XXX") } },
      subject: "s",
    })
  );
  await collect(() =>
    JwtIdentity.create({ key: { algorithm: "RS256", key: { data: secretPem } }, subject: "s" })
  );
  await collect(() =>
    JwtIdentity.create({
      key: { algorithm: "ES256", format: "jwk", key: { data: `{"d":"${HMAC_SECRET}"` } },
      subject: "s",
    })
  );
  await collect(() =>
    JwtIdentity.create({
      key: { algorithm: "ES256", format: "jwk", key: { data: JSON.stringify(EC256.publicJwk) } },
      subject: "s",
    })
  );
  await collect(() =>
    JwtIdentity.create({
      key: { algorithm: "none" as JwtAlgorithm, key: { data: "" } },
      subject: "s",
    })
  );
  await collect(() =>
    JwtVerifier.create({ key: { algorithm: "ES256", key: { file: "/nonexistent/key.pem" } } })
  );
  // jose refuses RSA keys under 2048 bits when signing.
  const weakRsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const weak = await JwtIdentity.create({
    key: {
      algorithm: "RS256",
      key: { data: weakRsa.privateKey.export({ format: "pem", type: "pkcs8" }) as string },
    },
    subject: "s",
  });
  await collect(() => weak.token());
  // A verifier with the wrong HMAC secret must not echo either secret.
  const hs = await identity("HS256");
  const wrong = await JwtVerifier.create({
    key: { algorithm: "HS256", key: { data: "another-secret-value-abcdefghijkl" } },
    now: () => NOW,
  });
  await collect(async () => wrong.verify(await hs.token()));
  const body = secretPem.split("\n")[1];
  for (const m of messages) {
    assert.ok(!m.includes(HMAC_SECRET), m);
    assert.ok(!m.includes("another-secret-value"), m);
    assert.ok(!m.includes(body.slice(0, 20)), m);
  }
  assert.ok(!Deno.inspect(hs).includes(HMAC_SECRET));
});

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { AuthError } from "../../lib/errors.ts";
import {
  createIdentity,
  JwtIdentity,
  JwtVerifier,
  publicKeyFromClaims,
  SharedSecretIdentity,
  SharedSecretVerifier,
  SigningKey,
  StaticJwtIdentity,
} from "../../lib/identity/mod.ts";
import { idFromIdentity, Name } from "../../lib/names/name.ts";
import { nameFromProto } from "../../lib/wire/codec.ts";
import { errorOf, publishOf, VECTORS } from "./_helpers.ts";

const SECRET = "a-very-long-shared-secret-0123456789-abcdefghijklmnop";
const NOW = 1_800_000_000;

Deno.test("app id of a captured identity id", () => {
  for (const v of VECTORS.appIds) assert.equal(idFromIdentity(v.id), BigInt(v.expected));
  assert.equal(idFromIdentity("org/ns/alice_OzBvxp1y"), 0x514ee475d0a5553e5ac7df7233d30afan);
});

Deno.test("every captured sender's name id is derived from its token id", () => {
  for (const f of VECTORS.signedFrames) {
    const publish = publishOf(f.raw_b64);
    const source = nameFromProto(publish.header!.source);
    const tokenId = publish.header!.identity.split(":")[0];
    assert.ok(tokenId.startsWith(source.base + "_"), f.source);
    assert.equal(source.id, idFromIdentity(tokenId), f.source);
  }
});

Deno.test("createIdentity: shared secret", async () => {
  const signingKey = SigningKey.generate();
  const { provider, verifier } = await createIdentity(Name.parse("org/ns/alice"), {
    sharedSecret: SECRET,
    signingKey,
    now: () => NOW,
  });
  assert.ok(provider instanceof SharedSecretIdentity);
  assert.ok(verifier instanceof SharedSecretVerifier);
  assert.match(provider.id, /^org\/ns\/alice_[A-Za-z0-9]{8}$/);
  assert.equal(provider.signingKey, signingKey);
  const id = await verifier.verify(await provider.token());
  assert.equal(id.subject, provider.id);
  assert.deepEqual(id.publicKey, signingKey.publicKey);

  const short = await createIdentity("org/ns/a", {
    sharedSecret: "secret",
    allowShortSecret: true,
    id: "org/ns/a_fixedid1",
    validitySeconds: 10,
    replayCacheSize: 4,
    now: () => NOW,
  });
  assert.equal(short.provider.id, "org/ns/a_fixedid1");
  const token = await short.provider.token();
  await short.verifier.verify(token);
  await assert.rejects(() => short.verifier.verify(token), /replayed/);
  await assert.rejects(() => createIdentity("org/ns/a", { sharedSecret: "secret" }), AuthError);
});

Deno.test("createIdentity: jwt, subject defaulting to the app name", async () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privatePem = pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const publicPem = pair.publicKey.export({ format: "pem", type: "spki" }) as string;
  const { provider, verifier } = await createIdentity("org/ns/bob", {
    jwt: {
      key: { algorithm: "ES256", key: { data: privatePem } },
      audience: "slim",
      verifier: { key: { algorithm: "ES256", key: { data: publicPem } }, audience: "slim" },
    },
    now: () => NOW,
  });
  assert.ok(provider instanceof JwtIdentity);
  assert.ok(verifier instanceof JwtVerifier);
  assert.equal(provider.id, "org/ns/bob");
  const id = await verifier.verify(await provider.token());
  assert.equal(id.subject, "org/ns/bob");
  assert.deepEqual(id.publicKey, provider.signingKey.publicKey);
});

Deno.test("createIdentity: static jwt", async () => {
  const secret = "static-jwt-hmac-secret-0123456789abcdef";
  const signingKey = SigningKey.generate();
  const minter = await JwtIdentity.create({
    key: { algorithm: "HS256", key: { data: secret } },
    subject: "org/ns/carol",
    signingKey,
    now: () => NOW,
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/t.jwt`, await minter.token());
    const { provider, verifier } = await createIdentity("org/ns/ignored", {
      staticJwt: {
        file: `${dir}/t.jwt`,
        verifier: { key: { algorithm: "HS256", key: { data: secret } } },
      },
      signingKey,
      now: () => NOW,
    });
    assert.ok(provider instanceof StaticJwtIdentity);
    assert.equal(provider.id, "org/ns/carol");
    assert.equal((await verifier.verify(await provider.token())).subject, "org/ns/carol");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createIdentity rejects options without a form", async () => {
  const e = await errorOf(() => createIdentity("org/ns/a", {} as never));
  assert.ok(e instanceof AuthError);
});

Deno.test("publicKeyFromClaims: top level first, then custom_claims", () => {
  assert.deepEqual(publicKeyFromClaims({ pubkey: "AQI=" }), new Uint8Array([1, 2]));
  assert.deepEqual(
    publicKeyFromClaims({ custom_claims: { pubkey: "AwQ=" } }),
    new Uint8Array([3, 4]),
  );
  assert.deepEqual(
    publicKeyFromClaims({ pubkey: "AQI=", custom_claims: { pubkey: "AwQ=" } }),
    new Uint8Array([1, 2]),
  );
  assert.equal(publicKeyFromClaims({ sub: "x" }), undefined);
  assert.equal(publicKeyFromClaims({ pubkey: 5, custom_claims: [] }), undefined);
  assert.throws(() => publicKeyFromClaims({ pubkey: "not base64!" }), AuthError);
});

/**
 * `lib/crypto/sha256.ts`: SHA-256, HMAC-SHA256 and HKDF-SHA256 against the FIPS 180-4, RFC 4231 and
 * RFC 5869 vectors, and against noble (and `node:crypto`) for every length up to 300 bytes.
 * @module
 */
import { createHash, createHmac } from "node:crypto";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  digestSha256,
  equalConstantTime,
  hkdfExpand,
  hkdfExtract,
  hmacSha256,
  HmacSha256Key,
  sha256,
} from "../../lib/crypto/sha256.ts";
import { fromHex, prng, randomBytes, toHex } from "../fixtures/captures.ts";

const text = (s: string) => new TextEncoder().encode(s);
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

Deno.test("sha256 - FIPS 180-4 examples", () => {
  assertEquals(
    toHex(sha256(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assertEquals(
    toHex(sha256(text("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assertEquals(
    toHex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assertEquals(
    toHex(sha256(fill(1_000_000, 0x61))),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
});

Deno.test("sha256 - every length up to 300 bytes, views and the native path agree", () => {
  const rand = prng(1);
  for (let n = 0; n <= 300; n++) {
    const data = randomBytes(rand, n);
    const expected = toHex(nobleSha256(data));
    assertEquals(toHex(sha256(data)), expected, `length ${n}`);
    // A view into a larger buffer hashes only its own bytes.
    const padded = new Uint8Array(n + 7).fill(0xee);
    padded.set(data, 3);
    assertEquals(toHex(sha256(padded.subarray(3, 3 + n))), expected, `view, length ${n}`);
  }
  for (const n of [511, 512, 513, 4096, 100_000]) {
    const data = randomBytes(rand, n);
    const expected = toHex(createHash("sha256").update(data).digest());
    assertEquals(toHex(digestSha256(data)), expected, `digestSha256, length ${n}`);
    assertEquals(toHex(sha256(data)), expected, `sha256, length ${n}`);
  }
});

Deno.test("hmac-sha256 - RFC 4231 test cases 1-4, 6, 7", () => {
  const cases: [Uint8Array, Uint8Array, string][] = [
    [
      fill(20, 0x0b),
      text("Hi There"),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ],
    [
      text("Jefe"),
      text("what do ya want for nothing?"),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    [
      fill(20, 0xaa),
      fill(50, 0xdd),
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ],
    [
      fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
      fill(50, 0xcd),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    [
      fill(131, 0xaa),
      text("Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      fill(131, 0xaa),
      text(
        "This is a test using a larger than block-size key and a larger than block-size data. " +
          "The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ];
  for (const [key, data, mac] of cases) {
    assertEquals(toHex(hmacSha256(key, data)), mac);
    assertEquals(toHex(new HmacSha256Key(key).mac(data)), mac);
  }
});

Deno.test("hmac-sha256 - key and message lengths against node:crypto and noble", () => {
  const rand = prng(2);
  for (let k = 0; k <= 140; k += 7) {
    const key = randomBytes(rand, k);
    const keyed = new HmacSha256Key(key);
    for (let n = 0; n <= 300; n += 13) {
      const data = randomBytes(rand, n);
      const expected = toHex(createHmac("sha256", key).update(data).digest());
      assertEquals(toHex(hmacSha256(key, data)), expected, `key ${k}, data ${n}`);
      assertEquals(toHex(keyed.mac(data)), expected, `keyed: key ${k}, data ${n}`);
      assertEquals(toHex(hmac(nobleSha256, key, data)), expected);
    }
  }
});

Deno.test("hkdf-sha256 - RFC 5869 test cases 1 and 3", () => {
  const prk1 = hkdfExtract(fromHex("000102030405060708090a0b0c"), fill(22, 0x0b));
  assertEquals(toHex(prk1), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  assertEquals(
    toHex(hkdfExpand(prk1, fromHex("f0f1f2f3f4f5f6f7f8f9"), 42)),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
  const prk3 = hkdfExtract(new Uint8Array(0), fill(22, 0x0b));
  assertEquals(toHex(prk3), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  assertEquals(
    toHex(hkdfExpand(prk3, new Uint8Array(0), 42)),
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  );
});

Deno.test("hkdf-sha256 - expansion lengths and info sizes against noble", () => {
  const rand = prng(3);
  for (let i = 0; i < 60; i++) {
    const salt = randomBytes(rand, i % 3 === 0 ? 0 : 32);
    const ikm = randomBytes(rand, 1 + (i * 7) % 80);
    const prk = hkdfExtract(salt, ikm);
    assertEquals(toHex(prk), toHex(extract(nobleSha256, ikm, salt)));
    const info = randomBytes(rand, (i * 11) % 200);
    for (const length of [0, 1, 12, 16, 31, 32, 33, 64, 65, 100]) {
      const expected = toHex(expand(nobleSha256, prk, info, length));
      assertEquals(
        toHex(hkdfExpand(prk, info, length)),
        expected,
        `info ${info.length}, L ${length}`,
      );
      assertEquals(toHex(new HmacSha256Key(prk).expand(info, length)), expected);
    }
  }
  assertThrows(() => hkdfExpand(new Uint8Array(32), new Uint8Array(0), 255 * 32 + 1), RangeError);
  assertEquals(hkdfExpand(new Uint8Array(32), new Uint8Array(0), 255 * 32).length, 255 * 32);
});

Deno.test("equalConstantTime compares lengths and bytes", () => {
  assert(equalConstantTime(text("abc"), text("abc")));
  assert(!equalConstantTime(text("abc"), text("abd")));
  assert(!equalConstantTime(text("abc"), text("ab")));
  assert(equalConstantTime(new Uint8Array(0), new Uint8Array(0)));
});

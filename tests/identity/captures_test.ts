/**
 * The identity checks over every frame of the reference captures, when they are present beside
 * the repository (`../shared/reference/captures`); the fixture covers a sample otherwise.
 * @module
 */
import assert from "node:assert/strict";
import {
  headerAadFromPublish,
  SharedSecretVerifier,
  verifyHeader,
} from "../../lib/identity/mod.ts";
import { idFromIdentity } from "../../lib/names/name.ts";
import { nameFromProto } from "../../lib/wire/codec.ts";
import { publishOf, secretOf, tokenTime, VECTORS } from "./_helpers.ts";
import { P256Verifier } from "../../lib/identity/p256_verifier.ts";

const DIR = new URL("../../../shared/reference/captures/", import.meta.url);

async function readCapture(name: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(new URL(name, DIR));
  } catch {
    return undefined;
  }
}

const available = (await readCapture("p2p-basic.jsonl")) !== undefined;

Deno.test({
  name: "all captured tokens and header signatures verify",
  ignore: !available,
  fn: async () => {
    // Each key: WebCrypto first, then its table (from the second signature on).
    const cache = new P256Verifier({ precomputeAfter: 2 });
    let signed = 0;
    for (const capture of Object.keys(VECTORS.secrets)) {
      const text = await readCapture(capture);
      assert.ok(text, capture);
      const verifier = new SharedSecretVerifier(secretOf(capture));
      for (const line of text.trim().split("\n")) {
        const frame = JSON.parse(line) as {
          frame: number;
          raw_b64?: string;
          message_type?: string;
        };
        if (frame.message_type !== "publish" || !frame.raw_b64) continue;
        const where = `${capture} frame ${frame.frame}`;
        const publish = publishOf(frame.raw_b64);
        const header = publish.header!;
        const id = verifier.verifySync(header.identity, tokenTime(header.identity) + 1);
        assert.equal(nameFromProto(header.source).id, idFromIdentity(id.subject), where);
        if (header.e2eHeaderSig) {
          signed++;
          const aad = headerAadFromPublish(publish);
          assert.ok(await verifyHeader(id.publicKey!, aad, header.e2eHeaderSig, cache), where);
        }
      }
    }
    assert.ok(signed > 100);
  },
});

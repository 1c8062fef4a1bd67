import { assertEquals } from "./helpers/assert.ts";
import { VERSION } from "../lib/version.ts";

Deno.test("version - lib/version.ts matches deno.json", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assertEquals(VERSION, manifest.version);
});

/**
 * Installs the real SLIM peer (npm `@agntcy/slim-bindings`, pinned in tests/peer/package.json)
 * when it is missing, so `deno task test` works on a machine that has only Node and npm.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../tests/peer/", import.meta.url));
const wanted = JSON.parse(readFileSync(`${dir}package.json`, "utf8")).dependencies[
  "@agntcy/slim-bindings"
];
const installed = `${dir}node_modules/@agntcy/slim-bindings/package.json`;
const have = existsSync(installed)
  ? JSON.parse(readFileSync(installed, "utf8")).version
  : undefined;
if (have !== wanted) {
  console.error(`installing the real SLIM peer @agntcy/slim-bindings@${wanted} (npm ci)`);
  const npm = Deno.build.os === "windows" ? "npm.cmd" : "npm";
  const { code } = await new Deno.Command(npm, {
    args: ["ci", "--no-audit", "--no-fund", "--prefix", dir],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.error("npm ci failed: the interop tests need the real SLIM peer");
    Deno.exit(code);
  }
}

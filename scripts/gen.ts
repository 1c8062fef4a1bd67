/**
 * `deno task gen`: regenerates `lib/gen/` from `proto/` with buf and protoc-gen-es (both from npm).
 *
 * The output is committed so that builds and tests never need the generators.
 * @module
 */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}`);
}

// Materialise both npm packages (and their bin shims) in node_modules/.
await run(Deno.execPath(), [
  "cache",
  "--node-modules-dir=auto",
  "npm:@bufbuild/buf@1.74.0",
  "npm:@bufbuild/protoc-gen-es@2.17.0",
], root);
await Deno.remove(`${root}/lib/gen`, { recursive: true }).catch(() => {});
await run(`${root}/node_modules/.bin/buf`, ["generate"], `${root}/proto`);
console.log("generated lib/gen from proto/");

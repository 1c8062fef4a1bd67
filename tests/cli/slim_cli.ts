/**
 * Runs the `slim` executable under test: the compiled binary named by `SLIM_BIN` (CI sets it to
 * the Bun build), otherwise `deno run -A main.ts`.
 */
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Command and leading arguments that start `slim`. */
export function slimCommand(): [string, string[]] {
  const bin = Deno.env.get("SLIM_BIN");
  return bin ? [bin, []] : [Deno.execPath(), ["run", "-A", MAIN]];
}

/** A running `slim` process with line-oriented access to its output. */
export class SlimProcess {
  readonly child: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #done: Promise<Deno.CommandStatus>;
  #waiters: (() => void)[] = [];

  constructor(args: string[], env: Record<string, string> = {}) {
    const [cmd, pre] = slimCommand();
    this.child = new Deno.Command(cmd, {
      args: [...pre, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env,
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#pipe(this.child.stdout, this.stdout);
    this.#pipe(this.child.stderr, this.stderr);
    this.#done = this.child.status;
  }

  async #pipe(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      for (const w of this.#waiters.splice(0)) w();
    }
    if (buf) lines.push(buf);
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Writes one line to stdin. */
  async write(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes stdin (EOF). */
  async endInput(): Promise<void> {
    await this.#writer.close().catch(() => {});
  }

  /** Waits until a line of stdout (or stderr) satisfies `match`. */
  async waitFor(
    match: (line: string) => boolean,
    options: { timeoutMs?: number; stream?: "stdout" | "stderr" } = {},
  ): Promise<string> {
    const lines = options.stream === "stderr" ? this.stderr : this.stdout;
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    while (true) {
      const hit = lines.find(match);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching line within ${options.timeoutMs ?? 15_000} ms\nstdout:\n${
            this.stdout.join("\n")
          }\nstderr:\n${this.stderr.slice(-20).join("\n")}`,
        );
      }
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => t = setTimeout(r, Math.min(left, 200))),
      ]);
      clearTimeout(t);
    }
  }

  /** Exit status, once the process ended. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#done;
  }

  /** Ends the process (SIGTERM, then SIGKILL) and waits for it. */
  async stop(): Promise<Deno.CommandStatus> {
    await this.endInput();
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    let t: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((r) =>
      t = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
        r();
      }, 5000)
    );
    const s = await Promise.race([this.#done, killed.then(() => this.#done)]);
    clearTimeout(t);
    return s;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Runs `slim` to completion. */
export async function runSlim(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, pre] = slimCommand();
  const out = await new Deno.Command(cmd, { args: [...pre, ...args], stdin: "null", env })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * `slim client`: a SLIM app on the command line, with the reference examples' flags.
 *
 * Roles, chosen by flags:
 * - group moderator (`--remote CHANNEL --invites NAME...`): creates the group, invites, publishes
 *   each line read from standard input, closes the group on `exit`/`quit`/EOF;
 * - group participant (no `--remote`, no `--p2p`): waits for an invitation, prints what the
 *   group says, publishes each line read, leaves on `exit`/`quit`/EOF;
 * - point-to-point sender (`--p2p --remote NAME --message TEXT [--iterations N]`): sends and
 *   prints each reply;
 * - point-to-point receiver (`--p2p`, no `--remote`): answers every message it receives.
 *
 * Received messages print as `<local> -> Received message from <source>: <text>`.
 * @module
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { createInterface } from "node:readline";
import { App, type AppOptions } from "../app/app.ts";
import { connectionFromClientConfig } from "../app/from_config.ts";
import { parseClientConfig } from "../config/mod.ts";
import { ConfigError, errorMessage, SlimError, UsageError } from "../errors.ts";
import { createIdentity, type IdentityOptions } from "../identity/identity.ts";
import { isJwtAlgorithm, JWT_ALGORITHMS } from "../identity/jwt_keys.ts";
import { parseSpireBundle, type SpireTrustBundle } from "../identity/spire_bundle.ts";
import { MIN_SECRET_BYTES } from "../identity/shared_secret.ts";
import { createLogger, type LogLevel, parseLogLevel } from "../log.ts";
import { Name } from "../names/name.ts";
import type { Session } from "../session/session.ts";
import type { ReceivedMessage } from "../session/session_core.ts";
import { parseFlags } from "./args.ts";
import type { Console } from "./console.ts";

/** Help text of the client command. */
export const CLIENT_HELP = `Run a SLIM app.

Usage:
  slim client --local ORG/NS/NAME [connection] [identity] [role options]

Connection (one of):
  --slim JSON              client config as JSON, e.g. '{"endpoint":"http://localhost:46357","tls":{"insecure":true}}'
  --slim-config FILE       the same, from a file
  --endpoint URL           short form: http://host:port (default http://localhost:46357)

Identity (one of):
  --shared-secret SECRET   shared secret (real SLIM apps require at least 32 bytes)
  --shared-secret-file F   the same, read from a file (keeps it out of the process list);
                           or set SLIM_SHARED_SECRET in the environment
  --jwt FILE               PEM key minting this app's JWTs (RS256 unless --jwt-algorithm)
    --spire-trust-bundle FILE  JSON map of trust domain -> base64 JWKS, to verify peers' JWTs
    --jwks FILE                a plain JWKS file instead of the bundle
    --audience A               audience (repeatable or comma-separated)
    --jwt-algorithm ALG        RS256, ES256, EdDSA, HS256, ...

Roles:
  --remote ORG/NS/NAME     group channel (with --invites) or p2p peer (with --p2p)
  --invites ORG/NS/NAME    invite a participant (repeatable or comma-separated): moderator
  --p2p                    point-to-point session instead of a group
  --message TEXT           p2p: message to send (sender mode)
  --iterations N           p2p: request/reply cycles (default 10)
  --enable-mls             end-to-end encryption with MLS
  --log-level LEVEL        error, warn, info, debug, trace (default warn)

Without --remote the app waits for an invitation (group) or a session (--p2p). Lines read from
standard input are published (a 'message>' prompt when it is a terminal); 'exit', 'quit' or end
of input leaves cleanly.`;

interface ClientArgs {
  local: Name;
  remote?: Name;
  invites: Name[];
  p2p: boolean;
  message?: string;
  iterations: number;
  mls: boolean;
  logLevel: LogLevel | "off";
}

function names(values: string[] | undefined, flag: string): Name[] {
  const out: Name[] = [];
  for (const v of values ?? []) {
    for (const part of v.split(",").map((s) => s.trim()).filter(Boolean)) {
      out.push(parseName(part, flag));
    }
  }
  return out;
}

function parseName(text: string, flag: string): Name {
  try {
    return Name.parse(text);
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as Error).message}`);
  }
}

/** Runs the client command; resolves with the exit status. */
export async function runClient(args: readonly string[], out: Console): Promise<number> {
  const { flags, positional } = parseFlags(args, {
    local: { kind: "string" },
    remote: { kind: "string" },
    slim: { kind: "string" },
    "slim-config": { kind: "string" },
    endpoint: { kind: "string" },
    "shared-secret": { kind: "string" },
    "shared-secret-file": { kind: "string" },
    jwt: { kind: "string" },
    "jwt-algorithm": { kind: "string" },
    "spire-trust-bundle": { kind: "string" },
    jwks: { kind: "string" },
    audience: { kind: "string", repeat: true },
    invites: { kind: "string", repeat: true },
    p2p: { kind: "boolean" },
    message: { kind: "string" },
    iterations: { kind: "string" },
    "enable-mls": { kind: "boolean" },
    "log-level": { kind: "string" },
  });
  if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
  if (!flags.local) throw new UsageError("missing --local ORG/NS/NAME");
  const iterations = flags.iterations === undefined ? 10 : Number(flags.iterations);
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new UsageError(`--iterations must be a positive integer, got ${flags.iterations}`);
  }
  const level = parseLogLevel(String(flags["log-level"] ?? "warn"));
  if (!level) throw new UsageError(`invalid --log-level ${flags["log-level"]}`);
  const a: ClientArgs = {
    local: parseName(String(flags.local), "local"),
    remote: flags.remote ? parseName(String(flags.remote), "remote") : undefined,
    invites: names(flags.invites as string[] | undefined, "invites"),
    p2p: flags.p2p === true,
    message: flags.message as string | undefined,
    iterations,
    mls: flags["enable-mls"] === true,
    logLevel: level,
  };
  if (a.invites.length > 0 && !a.remote) throw new UsageError("--invites needs --remote CHANNEL");
  if (a.p2p && a.invites.length > 0) {
    throw new UsageError("--invites is for group sessions, not --p2p");
  }
  if (a.message !== undefined && !(a.p2p && a.remote)) {
    throw new UsageError("--message needs --p2p and --remote");
  }
  if (a.p2p && a.remote && a.message === undefined) {
    throw new UsageError("--p2p --remote needs --message TEXT to send");
  }
  const connection = await connection_(flags);
  const identity = await identity_(flags, out);
  await checkIdentity(a.local, identity, flags);
  const logger = createLogger("slim", { level: a.logLevel, sink: out.log });
  let app: App;
  try {
    app = await App.connect({ name: a.local, ...connection, identity, logger });
  } catch (e) {
    throw SlimError.from(e);
  }
  return await run(app, a, out);
}

async function connection_(
  flags: Record<string, unknown>,
): Promise<Omit<AppOptions, "name" | "identity">> {
  const given = ["slim", "slim-config", "endpoint"].filter((f) => flags[f] !== undefined);
  if (given.length > 1) throw new UsageError(`use only one of --${given.join(", --")}`);
  let json: unknown;
  let source = "--slim";
  if (flags.slim !== undefined) {
    try {
      json = JSON.parse(String(flags.slim));
    } catch (e) {
      throw new UsageError(`--slim is not valid JSON${jsonErrorWhere(e)}`);
    }
  } else if (flags["slim-config"] !== undefined) {
    source = String(flags["slim-config"]);
    let text: string;
    try {
      text = await readFile(source, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read ${source}: ${(e as Error).message}`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${source} is not valid JSON${jsonErrorWhere(e)}`);
    }
  } else {
    json = {
      endpoint: String(flags.endpoint ?? "http://localhost:46357"),
      tls: { insecure: true },
    };
    source = "--endpoint";
  }
  const config = parseClientConfig(json, source);
  return await connectionFromClientConfig(config, source);
}

/** Flags that only mean something for a JWT identity. */
const JWT_ONLY = ["spire-trust-bundle", "jwks", "audience", "jwt-algorithm"];

async function identity_(flags: Record<string, unknown>, out: Console): Promise<IdentityOptions> {
  const secrets = ["shared-secret", "shared-secret-file"].filter((f) => flags[f] !== undefined);
  if (secrets.length > 1) {
    throw new UsageError("use either --shared-secret or --shared-secret-file");
  }
  if (secrets.length > 0 && flags.jwt !== undefined) {
    throw new UsageError(`use either --${secrets[0]} or --jwt`);
  }
  if (flags.jwt !== undefined) {
    const keyFile = String(flags.jwt);
    const audience = (flags.audience as string[] | undefined)?.flatMap((a) => a.split(","))
      .map((s) => s.trim()).filter(Boolean);
    const algorithm = String(flags["jwt-algorithm"] ?? "RS256");
    if (!isJwtAlgorithm(algorithm)) {
      throw new UsageError(
        `--jwt-algorithm ${JSON.stringify(algorithm)} is not one of ${JWT_ALGORITHMS.join(", ")}`,
      );
    }
    let jwks;
    let spireBundle: SpireTrustBundle | undefined;
    if (flags["spire-trust-bundle"] !== undefined && flags.jwks !== undefined) {
      throw new UsageError("use either --spire-trust-bundle or --jwks");
    }
    if (flags["spire-trust-bundle"] !== undefined) {
      const file = String(flags["spire-trust-bundle"]);
      try {
        spireBundle = parseSpireBundle(await read(file, "--spire-trust-bundle"));
      } catch (e) {
        if (e instanceof ConfigError) throw e;
        throw new ConfigError(`--spire-trust-bundle ${file}: ${errorMessage(e)}`, { cause: e });
      }
    } else if (flags.jwks !== undefined) {
      try {
        jwks = JSON.parse(await read(String(flags.jwks), "--jwks"));
      } catch (e) {
        if (e instanceof SlimError) throw e;
        throw new ConfigError(`--jwks ${flags.jwks} is not valid JSON${jsonErrorWhere(e)}`);
      }
    } else {
      throw new UsageError("--jwt needs --spire-trust-bundle FILE or --jwks FILE to verify peers");
    }
    return {
      jwt: {
        key: { algorithm, format: "pem", key: { file: keyFile } },
        issuer: "default-issuer",
        audience: audience && audience.length > 0 ? audience : ["default-audience"],
        verifier: {
          ...(spireBundle ? { spireBundle } : { jwks }),
          audience: audience && audience.length > 0 ? audience : ["default-audience"],
          issuer: "default-issuer",
        },
      },
    };
  }
  const ignored = JWT_ONLY.filter((f) => flags[f] !== undefined);
  if (ignored.length > 0) throw new UsageError(`--${ignored[0]} applies to --jwt identities only`);
  let secret: string | undefined;
  if (flags["shared-secret"] !== undefined) secret = String(flags["shared-secret"]);
  else if (flags["shared-secret-file"] !== undefined) {
    const file = String(flags["shared-secret-file"]);
    // One trailing newline is an artifact of how files are written, not part of the secret.
    secret = (await read(file, "--shared-secret-file")).replace(/\r?\n$/, "");
    if (secret === "") throw new ConfigError(`--shared-secret-file ${file} is empty`);
  } else if (process.env.SLIM_SHARED_SECRET) secret = process.env.SLIM_SHARED_SECRET;
  if (secret === undefined) {
    throw new UsageError(
      "missing identity: --shared-secret SECRET, --shared-secret-file FILE, " +
        "SLIM_SHARED_SECRET or --jwt FILE",
    );
  }
  const bytes = new TextEncoder().encode(secret).length;
  if (bytes < MIN_SECRET_BYTES) {
    out.log(
      `slim: WARNING: the shared secret is ${bytes} bytes. This is NOT secure, and real SLIM apps ` +
        `(which require at least ${MIN_SECRET_BYTES} bytes) will not accept this app. Use it for ` +
        "local tutorials with other slim-ts apps only.",
    );
  }
  return { sharedSecret: secret, allowShortSecret: bytes < MIN_SECRET_BYTES };
}

/**
 * Builds the identity once before connecting, so that a key that cannot be read or does not fit
 * its algorithm is a configuration error naming the flag (exit 2), not a connection failure.
 */
async function checkIdentity(
  local: Name,
  identity: IdentityOptions,
  flags: Record<string, unknown>,
): Promise<void> {
  try {
    await createIdentity(local.withoutId(), identity);
  } catch (e) {
    const what = flags.jwt !== undefined
      ? `--jwt ${flags.jwt} (--jwt-algorithm ${flags["jwt-algorithm"] ?? "RS256"})`
      : "shared secret";
    throw new ConfigError(`${what}: ${errorMessage(e)}`, { cause: e });
  }
}

/**
 * Where JSON parsing failed, without the parser's excerpt of the input: it may quote a
 * password or a token.
 */
function jsonErrorWhere(e: unknown): string {
  const m = /position (\d+)|line (\d+) column (\d+)/.exec(errorMessage(e));
  if (!m) return "";
  return m[1] !== undefined ? ` (at character ${m[1]})` : ` (line ${m[2]}, column ${m[3]})`;
}

async function read(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function run(app: App, a: ClientArgs, out: Console): Promise<number> {
  const local = a.local.base;
  const print = (m: ReceivedMessage) =>
    out.print(`${local} -> Received message from ${m.source.base}: ${printable(m.text())}`);
  let stopping = false;
  const stop = new AbortController();
  const onSignal = () => {
    if (stopping) process.exit(1);
    stopping = true;
    stop.abort(new SlimError("closed", "interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    if (a.p2p && a.remote) return await p2pSender(app, a, out, print, stop.signal);
    if (a.p2p) return await p2pReceiver(app, a, out, print, stop.signal);
    return await group(app, a, out, print, stop.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await app.close();
  }
}

async function p2pSender(
  app: App,
  a: ClientArgs,
  out: Console,
  print: (m: ReceivedMessage) => void,
  signal: AbortSignal,
): Promise<number> {
  const session = await app.createSession({
    kind: "point-to-point",
    peer: a.remote!,
    mls: a.mls,
    reliable: { maxRetries: 10, intervalMs: 1000 },
  });
  out.log(`slim: session ${session.id} established with ${session.destination}`);
  for (let i = 0; i < a.iterations && !signal.aborted; i++) {
    await session.publish(a.message!, { payloadType: "text/plain" });
    const reply = await session.nextMessage({ timeoutMs: 30_000, signal });
    print(reply);
  }
  await session.close();
  return 0;
}

async function p2pReceiver(
  app: App,
  a: ClientArgs,
  out: Console,
  print: (m: ReceivedMessage) => void,
  signal: AbortSignal,
): Promise<number> {
  out.log(`slim: ${a.local} waiting for sessions`);
  const serving: Promise<void>[] = [];
  while (!signal.aborted) {
    let session: Session;
    try {
      session = await app.listen({ signal });
    } catch {
      break;
    }
    out.log(`slim: new session ${session.id} from ${session.destination}`);
    serving.push((async () => {
      for await (const m of session.messages({ signal })) {
        print(m);
        await session.reply(m, `${m.text()} from ${app.name}`).catch(() => {});
      }
    })());
  }
  await Promise.allSettled(serving);
  return 0;
}

async function group(
  app: App,
  a: ClientArgs,
  out: Console,
  print: (m: ReceivedMessage) => void,
  signal: AbortSignal,
): Promise<number> {
  let session: Session;
  // As in the reference examples, --remote without --invites is a passive participant.
  if (a.remote && a.invites.length > 0) {
    session = await app.createSession({
      kind: "group",
      channel: a.remote,
      mls: a.mls,
      reliable: { maxRetries: 10, intervalMs: 1000 },
    });
    for (const invitee of a.invites) {
      await session.invite(invitee);
      out.log(`${a.local.base} -> add ${invitee} to the group`);
    }
  } else {
    out.log("slim: waiting for an invitation...");
    try {
      session = await app.listen({ signal });
    } catch {
      return 0;
    }
    out.log(`slim: joined session ${session.id} on ${session.destination.base}`);
  }
  const receiving = (async () => {
    for await (const m of session.messages({ signal })) print(m);
  })();
  // Input ends the session (exit, quit, EOF); the session ending (closed by the moderator,
  // removed) ends the input loop.
  const input = new AbortController();
  const onAbort = () => input.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  session.closed.then((reason) => {
    if (!input.signal.aborted) out.log(`slim: session ${session.id} ended: ${reason}`);
    input.abort();
  });
  try {
    for await (const line of readLines(input.signal)) {
      const text = line.trim();
      if (text === "") continue;
      if (text === "exit" || text === "quit") break;
      await session.publish(text, { payloadType: "text/plain" }).catch((e) =>
        out.log(`slim: could not send: ${(e as Error).message}`)
      );
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    input.abort();
    await session.close();
    await receiving.catch(() => {});
  }
  return 0;
}

/** Lines of standard input; a prompt only when it is a terminal. Ends at EOF or abort. */
async function* readLines(signal: AbortSignal): AsyncGenerator<string> {
  const terminal = process.stdin.isTTY === true;
  const rl = createInterface({
    input: process.stdin,
    output: terminal ? process.stdout : undefined,
    terminal,
  });
  if (terminal) rl.setPrompt("message> ");
  const queue: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  rl.on("line", (l) => {
    queue.push(l);
    wake?.();
  });
  rl.on("close", () => {
    ended = true;
    wake?.();
  });
  const onAbort = () => rl.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      if (terminal) rl.prompt();
      while (queue.length === 0 && !ended) await new Promise<void>((r) => wake = r);
      if (queue.length === 0) return;
      yield queue.shift()!;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    rl.close();
  }
}

/**
 * Peer text made safe for a terminal: control characters (escape sequences that retitle the
 * window or rewrite earlier lines, carriage returns and newlines that fake a line) are shown as
 * escapes; tabs stay.
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

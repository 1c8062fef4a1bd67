/**
 * Shared pieces of the in-process session tests: a slim-ts node on 127.0.0.1, apps connected to
 * it, and collectors for session events and messages.
 */
import { App } from "../../lib/app/app.ts";
import type { P256Verifier } from "../../lib/identity/p256_verifier.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { SlimNode } from "../../lib/node/node.ts";
import type { ReceivedMessage, Session, SessionEvent } from "../../lib/session/session.ts";

/** Shared secret of the apps in these tests (>= 32 bytes). */
export const SECRET = "slim-ts-session-tests-shared-secret-0123456789";

/** Loggers that only print problems. */
export const quiet: Logger = createLogger("test", { level: "error" });

/** A node on an ephemeral port. */
export async function startNode(): Promise<{ node: SlimNode; url: string }> {
  const node = await SlimNode.start({
    servers: [{ endpoint: "127.0.0.1:0" }],
    logger: quiet.child("node"),
    drainTimeoutMs: 500,
  });
  return { node, url: `http://127.0.0.1:${node.addresses[0].port}` };
}

/** An app with the shared secret (or another one). */
export function connectApp(
  name: string,
  url: string,
  options: { secret?: string; logger?: Logger; signatures?: P256Verifier } = {},
): Promise<App> {
  return App.connect({
    name,
    endpoint: url,
    identity: { sharedSecret: options.secret ?? SECRET },
    logger: options.logger ?? quiet.child(name),
    connectTimeoutMs: 3000,
    signatures: options.signatures,
  });
}

/** Polls `predicate` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 3000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects a session's events and messages in the background. */
export class Collector {
  readonly events: SessionEvent[] = [];
  readonly messages: ReceivedMessage[] = [];
  readonly session: Session;
  /** Resolves when both iterations ended (the session closed); never rejects. */
  readonly ended: Promise<void>;

  constructor(session: Session) {
    this.session = session;
    const ev = (async () => {
      for await (const e of session.events()) this.events.push(e);
    })().catch(() => {});
    const ms = (async () => {
      for await (const m of session.messages()) this.messages.push(m);
    })().catch(() => {});
    this.ended = Promise.all([ev, ms]).then(() => {});
  }

  texts(): string[] {
    return this.messages.map((m) => m.text());
  }

  /** Event types with names, e.g. `participant-joined org/ns/p1`. */
  eventLines(): string[] {
    return this.events.map((e) =>
      "name" in e ? `${e.type} ${e.name.base}` : e.type === "closed" ? `closed ${e.reason}` : e.type
    );
  }

  waitTexts(n: number, timeoutMs = 3000): Promise<void> {
    return waitUntil(
      () => this.messages.length >= n,
      timeoutMs,
      `${n} messages (have ${this.messages.length}: ${this.texts().slice(-5).join(", ")})`,
    );
  }

  waitEvent(line: string, timeoutMs = 3000): Promise<void> {
    return waitUntil(
      () => this.eventLines().includes(line),
      timeoutMs,
      `event "${line}" (have ${JSON.stringify(this.eventLines())})`,
    );
  }
}

/** Sleeps (only to prove that something does NOT arrive). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

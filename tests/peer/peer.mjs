#!/usr/bin/env node
// One real SLIM process (a node or an app), driven by JSON lines.
//
//   node peer.mjs node --endpoint 127.0.0.1:PORT [--strict]
//   node peer.mjs app --name org/ns/x --endpoint http://127.0.0.1:PORT (--secret S | --jwt JSON)
//
// Requests arrive on stdin as `{"id":N,"cmd":"...",...}` and are answered on stdout with
// `{"id":N,"ok":true,"result":...}` or `{"id":N,"ok":false,"error":"..."}`; unsolicited
// notifications are `{"event":"...",...}`. Logs, ours and the native library's, go to stderr.
//
// App commands (sid = this process's handle of a session; ref = handle of a received message):
//   createSession {kind: "p2p"|"group", peer?, channel?, mls?, maxRetries?, intervalMs?,
//                  metadata?, timeoutMs?}                -> session info + elapsedMs
//   listen {timeoutMs?}                                  -> next incoming session's info
//   invite|remove {sid, name, timeoutMs?}                -> {elapsedMs}
//   publish {sid, text|b64, payloadType?, metadata?, timeoutMs?}            -> {elapsedMs}
//   publishTo {sid, replyTo: ref, text|b64, payloadType?, metadata?, timeoutMs?} -> {elapsedMs}
//   echo {sid, prefix|null}   participants {sid}   deleteSession {sid}   info   ping   quit
// Events: hello, ready, session, message, session-error, session-closed, echoed, echo-error,
// protocol-error. A node answers only info, ping and quit.
//
// The native core writes its tracing output to file descriptor 1 and offers no way to move it.
// So this file runs twice: a small launcher (no SLIM loaded) starts a worker whose fd 1 is the
// launcher's stderr and whose fd 3 is the launcher's stdout; the worker writes the protocol to
// fd 3. The launcher forwards termination signals and exits with the worker's status. The worker
// exits on `quit`, on end of stdin, and when its launcher disappears.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const WORKER_ENV = "SLIM_PEER_WORKER";
const USAGE = `usage:
  node peer.mjs node --endpoint 127.0.0.1:PORT [--strict]
  node peer.mjs app --name org/ns/app --endpoint http://127.0.0.1:PORT (--secret S | --jwt JSON)
                    [--connect-timeout-ms N]`;

// ---------------------------------------------------------------------------------------------
// Launcher

function launch() {
  const args = [fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, {
    // Worker fd 1 (where the native core logs) -> our stderr; worker fd 3 -> our stdout.
    stdio: ["inherit", 2, "inherit", 1],
    env: { ...process.env, [WORKER_ENV]: "1", NO_COLOR: process.env.NO_COLOR ?? "1" },
  });
  let killTimer;
  const forward = (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    // A worker stuck in a blocking native call cannot run its signal handlers.
    killTimer ??= setTimeout(() => child.kill("SIGKILL"), 3000);
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
    process.on(sig, () => forward(sig));
  }
  child.on("error", (err) => {
    process.stderr.write(`peer: cannot start worker: ${err.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    clearTimeout(killTimer);
    process.exit(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
  });
}

function signalNumber(name) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[name];
}

// ---------------------------------------------------------------------------------------------
// Worker

async function worker() {
  const out = openProtocolChannel();
  const args = parseArgs(process.argv.slice(2));
  const role = args._[0];
  const tag = role === "app" ? `app ${args.name ?? "?"}` : `node ${args.endpoint ?? "?"}`;
  const log = (...parts) => process.stderr.write(`[peer ${tag}] ${parts.join(" ")}\n`);
  const fatal = (message) => {
    process.stderr.write(`peer: startup failed: ${message}\n`);
    process.exit(2);
  };

  watchParent(log);
  out({ event: "hello", pid: process.pid, role });

  let slim;
  try {
    slim = (await import("@agntcy/slim-bindings")).default;
  } catch (err) {
    fatal(
      `cannot load @agntcy/slim-bindings (${errText(err)}); run: npm ci --prefix tests/peer`,
    );
  }

  let handler;
  try {
    if (role === "node") handler = await startNode(slim, args, out, log);
    else if (role === "app") handler = await startApp(slim, args, out, log);
    else fatal(`unknown role ${JSON.stringify(role)}\n${USAGE}`);
  } catch (err) {
    fatal(errText(err));
  }

  const quit = (code) => {
    log(`exiting (${code})`);
    process.exit(code);
  };
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on("line", (line) => {
    if (line.trim() === "") return;
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      out({ event: "protocol-error", error: `not JSON: ${line.slice(0, 200)}` });
      return;
    }
    const id = req?.id ?? null;
    if (req?.cmd === "quit") {
      out({ id, ok: true, result: {} });
      quit(0);
    }
    Promise.resolve()
      .then(() => {
        if (req?.cmd === "ping") return { pid: process.pid, role };
        return handler(req);
      })
      .then(
        (result) => out({ id, ok: true, result: result ?? {} }),
        (err) => out({ id, ok: false, error: errText(err) }),
      );
  });
  rl.on("close", () => quit(0));
}

/** Chooses fd 3 when the launcher provided it, else plain stdout (worker started by hand). */
function openProtocolChannel() {
  let fd = 1;
  try {
    fs.fstatSync(3);
    fd = 3;
  } catch {
    // no fd 3: fall back to stdout
  }
  return (obj) => {
    const line = JSON.stringify(obj, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n";
    fs.writeSync(fd, line);
  };
}

function watchParent(log) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      log("launcher is gone; exiting");
      process.exit(3);
    }
  }, 500);
  timer.unref();
}

function parseArgs(argv) {
  const res = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      if (eq > 0) res[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) res[a.slice(2)] = argv[++i];
      else res[a.slice(2)] = true;
    } else {
      res._.push(a);
    }
  }
  return res;
}

function errText(err) {
  if (err == null) return "unknown error";
  if (typeof err === "string") return err;
  const tag = typeof err.tag === "string" ? `${err.tag}: ` : "";
  const msg = err.inner?.message ?? err.message ?? String(err);
  return msg.startsWith(tag) ? msg : tag + msg;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the promise's value, or rejects after `ms` with `what` in the message. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function splitHostPort(endpoint) {
  const m = /^(?:[a-z]+:\/\/)?(\[[^\]]+\]|[^:/]+):(\d+)\/?$/i.exec(endpoint);
  if (!m) throw new Error(`bad endpoint ${JSON.stringify(endpoint)}; expected host:port`);
  const port = Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new Error(`bad port in ${endpoint}`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

function tcpProbe(host, port, ms = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(ms, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

function portIsFree(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// Node role

async function startNode(slim, args, out, log) {
  if (typeof args.endpoint !== "string") throw new Error("node needs --endpoint host:port");
  const { host, port } = splitHostPort(args.endpoint);
  const endpoint = `${host}:${port}`;
  const strict = args.strict === true || args.strict === "true";
  if (!(await portIsFree(host, port))) throw new Error(`${endpoint} is already in use`);

  slim.initializeWithDefaults();
  // Kept in this closure (which lives as long as the command handler) so the service is never
  // garbage-collected: dropping a config-built service shuts its servers down.
  let service;
  let serverDone;
  if (strict) {
    // A service built from a config takes its header-MAC policy from its first server, as the
    // `slim` binary does; the global service would ignore requireHeaderMac on its servers.
    const server = slim.newInsecureServerConfig(endpoint);
    server.requireHeaderMac = true;
    service = slim.createServiceWithConfig(`peer-node-${port}`, {
      nodeId: `peer-node-${port}`,
      domainName: undefined,
      dataplane: { servers: [server], clients: [] },
    });
    // The blocking form: runAsync panics in this build ("no reactor running").
    serverDone = Promise.resolve().then(() => service.run());
  } else {
    service = slim.getGlobalService();
    serverDone = service.runServerAsync(slim.newInsecureServerConfig(endpoint));
  }
  let failure;
  serverDone.then(
    () => log("server start returned"),
    (err) => {
      failure = errText(err);
      log(`server failed: ${failure}`);
    },
  );

  const deadline = Date.now() + 10_000;
  while (!(await tcpProbe(host, port))) {
    if (failure) throw new Error(`cannot listen on ${endpoint}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${endpoint} not accepting connections after 10 s`);
    await sleep(25);
  }
  log(`listening (strict=${strict})`);
  out({
    event: "ready",
    role: "node",
    endpoint,
    port,
    strict,
    pid: process.pid,
    version: slim.getVersion(),
  });

  return (req) => {
    if (req?.cmd === "info") {
      return { endpoint, strict, service: service.getName(), version: slim.getVersion() };
    }
    throw new Error(`unknown command for a node: ${JSON.stringify(req?.cmd)}`);
  };
}

// ---------------------------------------------------------------------------------------------
// App role

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NULL_ID = "NULL_COMPONENT";

/** `org/ns/app` or `org/ns/app/<uuid>` into a bindings Name (validated here: bad ids panic). */
function toName(slim, text) {
  if (typeof text !== "string") throw new Error(`name must be a string, got ${typeof text}`);
  const parts = text.split("/");
  if (parts.length === 3 && parts.every((p) => p.length > 0)) {
    return new slim.Name(parts[0], parts[1], parts[2]);
  }
  if (parts.length === 4 && parts.slice(0, 3).every((p) => p.length > 0)) {
    if (!UUID_RE.test(parts[3])) throw new Error(`name id must be a UUID: ${text}`);
    return slim.Name.newWithId(parts[0], parts[1], parts[2], parts[3]);
  }
  throw new Error(
    `bad name ${JSON.stringify(text)}; expected org/ns/app[/uuid]`,
  );
}

function uuidToDecimal(uuid) {
  return BigInt("0x" + uuid.replaceAll("-", "")).toString();
}

/** Several spellings of one name, so tests can match whichever they have at hand. */
function nameFields(prefix, name) {
  if (!name) return { [prefix]: null };
  const base = name.components().join("/");
  const rawId = name.id();
  const id = UUID_RE.test(rawId) ? rawId.toLowerCase() : null;
  return {
    [prefix]: id ? `${base}/${id}` : base,
    [`${prefix}Base`]: base,
    [`${prefix}String`]: name.toString(),
    [`${prefix}Id`]: id ?? (rawId === NULL_ID ? null : rawId),
  };
}

function toArrayBuffer(req) {
  let bytes;
  if (typeof req.b64 === "string") bytes = Buffer.from(req.b64, "base64");
  else if (typeof req.text === "string") bytes = Buffer.from(req.text, "utf8");
  else throw new Error("need text or b64");
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

function toMetadata(obj) {
  if (obj == null) return undefined;
  if (typeof obj !== "object") throw new Error("metadata must be an object of strings");
  return new Map(Object.entries(obj).map(([k, v]) => [k, String(v)]));
}

function timeoutOf(req, fallback) {
  const t = req.timeoutMs;
  return typeof t === "number" && t > 0 ? t : fallback;
}

function buildIdentity(slim, args, nameText) {
  if (typeof args.secret === "string") {
    if (Buffer.byteLength(args.secret) < 32) throw new Error("--secret must be >= 32 bytes");
    return { kind: "secret", secret: args.secret };
  }
  if (typeof args.jwt !== "string") throw new Error("app needs --secret S or --jwt JSON");
  let cfg;
  try {
    cfg = JSON.parse(args.jwt);
  } catch {
    throw new Error("--jwt must be a JSON object");
  }
  const alg = slim.JwtAlgorithm[jwtAlgName(cfg.alg ?? "ES256")];
  if (alg === undefined) throw new Error(`unsupported JWT algorithm ${cfg.alg}`);
  const format = slim.JwtKeyFormat[cfg.format ?? "Pem"];
  if (format === undefined) throw new Error(`unsupported JWT key format ${cfg.format}`);
  const keyData = (value, file, what) => {
    if (typeof value === "string") return new slim.JwtKeyData.Data({ value });
    if (typeof file === "string") return new slim.JwtKeyData.File({ path: file });
    throw new Error(`--jwt needs ${what} or ${what}File`);
  };
  const durationS = typeof cfg.durationS === "number" ? cfg.durationS : 3600;
  const audience = cfg.audience === undefined ? undefined : [cfg.audience].flat().map(String);
  const provider = new slim.IdentityProviderConfig.Jwt({
    config: {
      key: new slim.JwtKeyType.Encoding({
        key: { algorithm: alg, format, key: keyData(cfg.signKey, cfg.signKeyFile, "signKey") },
      }),
      audience,
      issuer: cfg.issuer,
      subject: cfg.subject ?? nameText,
      duration: durationS * 1000,
    },
  });
  const verifier = new slim.IdentityVerifierConfig.Jwt({
    config: {
      key: new slim.JwtKeyType.Decoding({
        key: {
          algorithm: alg,
          format,
          key: keyData(cfg.verifyKey, cfg.verifyKeyFile, "verifyKey"),
        },
      }),
      audience,
      issuer: cfg.issuer,
      subject: undefined,
      duration: durationS * 1000,
    },
  });
  return { kind: "jwt", provider, verifier };
}

function jwtAlgName(alg) {
  const s = String(alg).toUpperCase();
  return s === "EDDSA" ? "EdDsa" : s[0] + s.slice(1).toLowerCase();
}

async function startApp(slim, args, out, log) {
  if (typeof args.name !== "string") throw new Error("app needs --name org/ns/app");
  if (typeof args.endpoint !== "string") {
    throw new Error("app needs --endpoint http://host:port");
  }
  const endpoint = /^[a-z]+:\/\//i.test(args.endpoint) ? args.endpoint : `http://${args.endpoint}`;
  const { host, port } = splitHostPort(endpoint);
  const connectTimeoutMs = Number(args["connect-timeout-ms"] ?? 10_000);
  const baseName = toName(slim, args.name);
  if (baseName.components().length !== 3 || args.name.split("/").length !== 3) {
    throw new Error("--name takes org/ns/app without an id");
  }
  const identity = buildIdentity(slim, args, args.name);

  // The bindings retry a refused connection forever; find out quickly instead.
  if (!(await tcpProbe(host, port, 2000))) {
    throw new Error(
      `cannot connect to ${endpoint}: nothing accepts TCP connections there`,
    );
  }

  slim.initializeWithDefaults();
  const service = slim.getGlobalService();
  // The blocking constructors: their async twins panic in this build ("no reactor running").
  const app = identity.kind === "secret"
    ? service.createAppWithSecret(baseName, identity.secret)
    : service.createApp(baseName, identity.provider, identity.verifier);
  const connId = await withTimeout(
    service.connectAsync(slim.newInsecureClientConfig(endpoint)),
    connectTimeoutMs,
    `connect to ${endpoint}`,
  );
  await withTimeout(app.subscribeAsync(app.name(), connId), connectTimeoutMs, "subscribe");

  const self = nameFields("name", app.name());
  log(`connected as ${self.name} (conn ${connId})`);

  const sessions = new Map(); // sid -> entry
  const refs = new Map(); // message ref -> MessageContext
  const MAX_REFS = 10_000;
  let nextSid = 1;
  let nextRef = 1;
  const accepted = []; // entries not yet handed out by `listen`
  const listeners = []; // pending `listen` requests

  const describe = (entry) => {
    const s = entry.session;
    return {
      sid: entry.sid,
      sessionId: s.sessionId(),
      kind: s.sessionType() === slim.SessionType.PointToPoint ? "p2p" : "group",
      initiator: s.isInitiator(),
      ...nameFields("source", s.source()),
      ...nameFields("destination", s.destination()),
      metadata: Object.fromEntries(s.metadata()),
    };
  };

  const register = (session) => {
    const entry = { sid: nextSid++, session, echo: null, closed: false };
    sessions.set(entry.sid, entry);
    receiveLoop(entry);
    return entry;
  };

  const receiveLoop = async (entry) => {
    let reason = "session closed";
    let errorsInRow = 0;
    while (!entry.closed) {
      let msg;
      try {
        msg = await entry.session.getMessageAsync(2000);
        errorsInRow = 0;
      } catch (err) {
        const text = errText(err);
        if (/receive timeout/i.test(text)) continue;
        if (/session closed/i.test(text)) {
          reason = text;
          break;
        }
        // Non-fatal notices (a participant left, a message was lost, retries gave up) come
        // through the receive channel too; report them and keep receiving.
        out({ event: "session-error", sid: entry.sid, error: text });
        if (++errorsInRow > 20) await sleep(50);
        continue;
      }
      const ctx = msg.context;
      const ref = nextRef++;
      refs.set(ref, ctx);
      if (refs.size > MAX_REFS) refs.delete(refs.keys().next().value);
      const payload = Buffer.from(msg.payload);
      const text = payload.toString("utf8");
      out({
        event: "message",
        sid: entry.sid,
        ref,
        ...nameFields("source", ctx.sourceName),
        ...nameFields("destination", ctx.destinationName),
        payloadType: ctx.payloadType,
        metadata: Object.fromEntries(ctx.metadata),
        identity: ctx.identity,
        inputConnection: ctx.inputConnection,
        text,
        b64: payload.toString("base64"),
      });
      if (entry.echo !== null) {
        const prefix = entry.echo;
        const started = Date.now();
        entry.session
          .publishToAsync(ctx, toArrayBuffer({ text: prefix + text }), ctx.payloadType, undefined)
          .then((h) => h.waitForAsync(30_000))
          .then(
            () => out({ event: "echoed", sid: entry.sid, ref, elapsedMs: Date.now() - started }),
            (err) => out({ event: "echo-error", sid: entry.sid, ref, error: errText(err) }),
          );
      }
    }
    entry.closed = true;
    out({ event: "session-closed", sid: entry.sid, reason });
  };

  // Incoming sessions are accepted as soon as they arrive, so their messages are captured even
  // before a test asks for the session with `listen`.
  (async () => {
    for (;;) {
      let session;
      try {
        session = await app.listenForSessionAsync(1000);
      } catch (err) {
        const text = errText(err);
        if (!/timeout|timed out/i.test(text)) {
          log(`listen: ${text}`);
          await sleep(100);
        }
        continue;
      }
      const entry = register(session);
      const info = describe(entry);
      out({ event: "session", ...info });
      const waiter = listeners.shift();
      if (waiter) waiter(entry);
      else accepted.push(entry);
    }
  })();

  const sessionOf = (req) => {
    const entry = sessions.get(req.sid);
    if (!entry) throw new Error(`unknown sid ${JSON.stringify(req.sid)}`);
    if (entry.closed) throw new Error(`session ${req.sid} is closed`);
    return entry;
  };

  const waitHandle = async (handlePromise, req, fallbackMs) => {
    const started = Date.now();
    const handle = await handlePromise;
    await handle.waitForAsync(timeoutOf(req, fallbackMs));
    return { elapsedMs: Date.now() - started };
  };

  const commands = {
    info: () => ({ ...self, connId, endpoint }),

    createSession: async (req) => {
      const kind = req.kind;
      if (kind !== "p2p" && kind !== "group") throw new Error('kind must be "p2p" or "group"');
      const destText = kind === "p2p" ? req.peer : req.channel;
      if (typeof destText !== "string") {
        throw new Error(kind === "p2p" ? "p2p needs peer" : "group needs channel");
      }
      const dest = toName(slim, destText);
      // Omitted knobs default to a reliable session; an explicit null leaves them unset.
      const maxRetries = req.maxRetries === undefined ? 5 : req.maxRetries ?? undefined;
      const interval = req.intervalMs === undefined ? 1000 : req.intervalMs ?? undefined;
      const config = {
        sessionType: kind === "p2p" ? slim.SessionType.PointToPoint : slim.SessionType.Group,
        maxRetries,
        interval,
        metadata: toMetadata(req.metadata) ?? new Map(),
        mlsSettings: req.mls
          ? { headerIntegrityValidationPercent: 100, maxSeenControlMessageIdsSize: undefined }
          : undefined,
      };
      if (kind === "p2p") await app.setRouteAsync(dest, connId);
      const started = Date.now();
      const created = await app.createSessionAsync(config, dest);
      try {
        await created.completion.waitForAsync(timeoutOf(req, 30_000));
      } catch (err) {
        app.deleteSessionAsync(created.session).catch(() => {});
        throw err;
      }
      const entry = register(created.session);
      return { ...describe(entry), elapsedMs: Date.now() - started };
    },

    listen: (req) => {
      const ready = accepted.shift();
      if (ready) return describe(ready);
      const ms = timeoutOf(req, 10_000);
      return new Promise((resolve, reject) => {
        const waiter = (entry) => {
          clearTimeout(timer);
          resolve(describe(entry));
        };
        const timer = setTimeout(() => {
          const i = listeners.indexOf(waiter);
          if (i >= 0) listeners.splice(i, 1);
          reject(new Error(`listen: no incoming session within ${ms} ms`));
        }, ms);
        listeners.push(waiter);
      });
    },

    invite: async (req) => {
      const entry = sessionOf(req);
      const who = toName(slim, req.name);
      await app.setRouteAsync(who, connId);
      return waitHandle(entry.session.inviteAsync(who), req, 30_000);
    },

    remove: (req) => {
      const entry = sessionOf(req);
      return waitHandle(entry.session.removeAsync(toName(slim, req.name)), req, 30_000);
    },

    publish: (req) => {
      const entry = sessionOf(req);
      const data = toArrayBuffer(req);
      return waitHandle(
        entry.session.publishAsync(data, req.payloadType, toMetadata(req.metadata)),
        req,
        30_000,
      );
    },

    publishTo: (req) => {
      const entry = sessionOf(req);
      const ctx = refs.get(req.replyTo);
      if (!ctx) throw new Error(`unknown message ref ${JSON.stringify(req.replyTo)}`);
      const data = toArrayBuffer(req);
      return waitHandle(
        entry.session.publishToAsync(ctx, data, req.payloadType, toMetadata(req.metadata)),
        req,
        30_000,
      );
    },

    echo: (req) => {
      const entry = sessionOf(req);
      entry.echo = req.prefix == null ? null : String(req.prefix);
      return { sid: entry.sid, echo: entry.echo };
    },

    participants: async (req) => {
      const entry = sessionOf(req);
      const list = await entry.session.participantsListAsync();
      return {
        participants: list.map((p) => ({
          ...nameFields("name", p.name),
          status: p.status === slim.ParticipantStatus.Online ? "online" : "offline",
        })),
      };
    },

    deleteSession: async (req) => {
      const entry = sessions.get(req.sid);
      if (!entry) throw new Error(`unknown sid ${JSON.stringify(req.sid)}`);
      const res = await waitHandle(app.deleteSessionAsync(entry.session), req, 60_000);
      entry.closed = true;
      return res;
    },
  };

  out({
    event: "ready",
    role: "app",
    ...self,
    id: self.nameId,
    idFormat: "uuid",
    idDecimal: self.nameId ? uuidToDecimal(self.nameId) : null,
    identityKind: identity.kind,
    endpoint,
    pid: process.pid,
    version: slim.getVersion(),
  });

  return (req) => {
    const fn = Object.hasOwn(commands, req?.cmd) ? commands[req.cmd] : undefined;
    if (!fn) throw new Error(`unknown command ${JSON.stringify(req?.cmd)}`);
    return fn(req);
  };
}

// ---------------------------------------------------------------------------------------------
// Entry point (last, so every module-level constant above is initialised)

if (process.env[WORKER_ENV] !== "1") {
  launch();
} else {
  await worker();
}

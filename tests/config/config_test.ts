/**
 * Acceptance tests of the SLIM configuration loader (lib/config).
 *
 * Fixtures under ./fixtures are our own small files exercising the same shapes as SLIM's example
 * configurations (base, tls, mtls, basic/jwt auth, websocket, unix, multi-transport, east-west,
 * full mesh, proxy, backoff, logging, telemetry, spire, pqc) and the group tutorial.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../lib/errors.ts";
import {
  type ClientConfig,
  DEFAULT_CONFIG_YAML,
  defaultConfig,
  formatDuration,
  loadConfig,
  type LoadedConfig,
  parseClientConfig,
  parseConfig,
  type ParseConfigOptions,
  parseDuration,
  type ServerConfig,
  type ServiceConfig,
} from "../../lib/config/mod.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TEST_ENV: Record<string, string> = { SLIM_TEST_PASSWORD: "pw-from-env" };

/** Parses with a fixed environment and no file access unless a test provides it. */
function parse(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  return parseConfig(text, {
    file: "test.yaml",
    env: (name) => TEST_ENV[name],
    readFile: (path) => {
      throw new Deno.errors.NotFound(path);
    },
    ...options,
  });
}

function fixture(name: string): LoadedConfig {
  const text = Deno.readTextFileSync(new URL(name, FIXTURES));
  return parse(text, { file: name });
}

/** Asserts that parsing throws a ConfigError and returns it. */
function parseError(text: string, options: ParseConfigOptions = {}): ConfigError {
  try {
    parse(text, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.code, "config");
    return err;
  }
  assert.fail("expected a ConfigError");
}

function service(loaded: LoadedConfig, index = 0): ServiceConfig {
  const s = loaded.config.services[index];
  assert.ok(s);
  return s;
}

function server(loaded: LoadedConfig, index = 0): ServerConfig {
  const s = service(loaded).dataplane.servers[index];
  assert.ok(s);
  return s;
}

function client(loaded: LoadedConfig, index = 0): ClientConfig {
  const c = service(loaded).dataplane.clients[index];
  assert.ok(c);
  return c;
}

/** A minimal valid file with `serverYaml` as the body of `dataplane.servers[0]`. */
function withServer(serverYaml: string): string {
  const body = serverYaml.trim().split("\n").map((l) => `          ${l}`).join("\n");
  return `services:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: "0.0.0.0:1"\n${body}\n`;
}

/** A minimal valid file with `clientYaml` as `dataplane.clients[0]` (including endpoint). */
function withClient(clientYaml: string): string {
  const lines = clientYaml.trim().split("\n");
  const body = lines.map((l, i) => (i === 0 ? `        - ${l}` : `          ${l}`)).join("\n");
  return `services:\n  slim/0:\n    dataplane:\n      clients:\n${body}\n`;
}

const INSECURE_SERVER = withServer("tls: {insecure: true}");

// -------------------------------------------------------------------------------------------
// 1. keys and types

Deno.test("top level: only tracing, runtime and services are allowed", () => {
  const err = parseError("tracing: {}\nlogging: {}\n" + INSECURE_SERVER);
  assert.equal(err.path, "logging");
  assert.equal(err.file, "test.yaml");
  assert.match(
    err.message,
    /^test\.yaml: logging: unknown key; expected one of: tracing, runtime, services \(line 2\)$/,
  );
});

Deno.test("ill-typed value: full path, file, line and the offending value", () => {
  const err = parseError(withServer('tls:\n  insecure: "yes"'));
  assert.equal(
    err.message,
    'test.yaml: services.slim/0.dataplane.servers[0].tls.insecure: expected boolean, got string "yes" (line 7)',
  );
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].tls.insecure");
});

Deno.test("YAML 1.2: yes/on are strings, not booleans (as in SLIM)", () => {
  const err = parseError(withServer("tls:\n  insecure: yes"));
  assert.match(err.message, /expected boolean, got string "yes"/);
});

Deno.test("unknown key in a nested section, with a did-you-mean hint", () => {
  const err = parseError(withServer("tls:\n  insecur: true"));
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].tls.insecur");
  assert.match(err.message, /unknown key; did you mean "insecure"\? \(line 7\)$/);
});

Deno.test("unknown keys are errors in every section", () => {
  const cases: [string, string][] = [
    ["tracing: {colour: true}\n" + INSECURE_SERVER, "tracing.colour"],
    ["runtime: {cores: 2}\n" + INSECURE_SERVER, "runtime.cores"],
    [
      "tracing: {opentelemetry: {enable: true}}\n" + INSECURE_SERVER,
      "tracing.opentelemetry.enable",
    ],
    [
      withServer("tls: {insecure: true}\nkeepalive: {ping: 1s}"),
      "services.slim/0.dataplane.servers[0].keepalive.ping",
    ],
    [
      withServer("tls: {insecure: true}\nmax_recv_msg_size: 4"),
      "services.slim/0.dataplane.servers[0].max_recv_msg_size",
    ],
    [
      "services:\n  slim/0:\n    nodeid: x\n    dataplane: {servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]}\n",
      "services.slim/0.nodeid",
    ],
    [
      "services:\n  slim/0:\n    dataplane:\n      server: []\n",
      "services.slim/0.dataplane.server",
    ],
    [
      withClient(
        'endpoint: "http://h:1"\ntls: {insecure: true}\nbackoff: {type: fixed_interval, base: 1}',
      ),
      "services.slim/0.dataplane.clients[0].backoff.base",
    ],
    [
      withClient('endpoint: "http://h:1"\nkeepalive: {permit_without_stream: true}'),
      "services.slim/0.dataplane.clients[0].keepalive.permit_without_stream",
    ],
    [
      withClient('endpoint: "http://h:1"\nconnection_timeout: 1s'),
      "services.slim/0.dataplane.clients[0].connection_timeout",
    ],
  ];
  for (const [text, path] of cases) {
    const err = parseError(text);
    assert.equal(err.path, path, err.message);
    assert.match(err.message, /unknown key/);
  }
});

Deno.test("type errors across sections name the path", () => {
  const cases: [string, string, RegExp][] = [
    [
      "tracing: {log_level: 3}\n" + INSECURE_SERVER,
      "tracing.log_level",
      /expected string, got number 3 \(quote it in YAML\)/,
    ],
    [
      "runtime: {n_cores: two}\n" + INSECURE_SERVER,
      "runtime.n_cores",
      /expected non-negative integer, got string "two"/,
    ],
    ["runtime: {n_cores: -1}\n" + INSECURE_SERVER, "runtime.n_cores", /out of range/],
    [
      "runtime: {drain_timeout: 10}\n" + INSECURE_SERVER,
      "runtime.drain_timeout",
      /duration string.*got number 10/,
    ],
    [
      "runtime: {drain_timeout: 1.5s}\n" + INSECURE_SERVER,
      "runtime.drain_timeout",
      /invalid duration "1\.5s"/,
    ],
    [
      withServer("tls: {insecure: true}\nmax_frame_size: 16"),
      "services.slim/0.dataplane.servers[0].max_frame_size",
      /out of range \(1\.\.15\)/,
    ],
    [
      withServer("tls: {insecure: true}\nrequire_header_mac: 1"),
      "services.slim/0.dataplane.servers[0].require_header_mac",
      /expected boolean, got number 1/,
    ],
    [
      withServer("tls: {insecure: true, tls_version: tls1.1}"),
      "services.slim/0.dataplane.servers[0].tls.tls_version",
      /expected "tls1\.2", "tls1\.3"/,
    ],
    [
      withClient('endpoint: "http://h:1"\nconnection_type: mesh'),
      "services.slim/0.dataplane.clients[0].connection_type",
      /"edge", "peer", "remote"/,
    ],
    [
      withClient('endpoint: "http://h:1"\nheaders: [a]'),
      "services.slim/0.dataplane.clients[0].headers",
      /expected a mapping, got a list/,
    ],
    [
      withClient('endpoint: "http://h:1"\nrate_limit: "20 per minute"'),
      "services.slim/0.dataplane.clients[0].rate_limit",
      /<requests>\/<seconds>/,
    ],
    ["services: []\n", "services", /expected a mapping of service id to service, got a list/],
    ["services:\n  slim/0: 5\n", "services.slim/0", /expected a mapping, got number 5/],
  ];
  for (const [text, path, pattern] of cases) {
    const err = parseError(text);
    assert.equal(err.path, path, err.message);
    assert.match(err.message, pattern);
  }
});

Deno.test("YAML syntax errors carry the line", () => {
  const err = parseError("tracing:\n  log_level: info\n  log_level: debug\n");
  assert.match(err.message, /^test\.yaml: invalid YAML: .*unique.* \(line 3\)$/);
  const err2 = parseError("services:\n  slim/0: [\n");
  assert.match(err2.message, /invalid YAML/);
  assert.match(err2.message, /\(line \d+\)$/);
});

Deno.test("empty documents and missing services are errors", () => {
  assert.match(parseError("").message, /configuration is empty/);
  assert.match(parseError("# only a comment\n").message, /configuration is empty/);
  assert.match(parseError("tracing: {log_level: info}\n").message, /services: missing/);
  assert.match(parseError("services: {}\n").message, /at least one service/);
  assert.match(
    parseError("- a\n- b\n").message,
    /expected a mapping with tracing, runtime and services/,
  );
});

Deno.test("a service needs dataplane servers or clients", () => {
  const err = parseError("services:\n  slim/0:\n    node_id: lonely\n");
  assert.equal(err.path, "services.slim/0.dataplane");
  assert.match(err.message, /no servers or clients configured/);
});

Deno.test("service ids follow SLIM's <kind>/<name> rules", () => {
  for (const id of ["slim", "0slim/0", "slim/Zero", "slim/a_b", "/0"]) {
    const err = parseError(
      `services:\n  "${id}":\n    dataplane: {servers: [{endpoint: "0.0.0.0:1", tls: {insecure: true}}]}\n`,
    );
    assert.equal(err.path, `services.${id}`);
    assert.match(err.message, /invalid service id/);
  }
  for (const id of ["slim/0", "slim/a", "slim/node-1", "gateway_2/x", "slim/"]) {
    const loaded = parse(
      `services:\n  "${id}":\n    dataplane: {servers: [{endpoint: "0.0.0.0:1", tls: {insecure: true}}]}\n`,
    );
    assert.equal(service(loaded).id, id);
  }
});

Deno.test("renamed and retired keys get specific messages", () => {
  const group = parseError(
    "services:\n  slim/0:\n    group_name: g\n    dataplane: {servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]}\n",
  );
  assert.equal(group.path, "services.slim/0.group_name");
  assert.match(group.message, /renamed to "domain_name"/);
  const certFile = parseError(withServer("tls:\n  cert_file: a.pem\n  key_file: a.key"));
  assert.equal(certFile.path, "services.slim/0.dataplane.servers[0].tls.cert_file");
  assert.match(certFile.message, /use source: \{type: file, cert: PATH, key: PATH\}/);
  const caFile = parseError(withClient('endpoint: "https://h:1"\ntls: {ca_file: ca.pem}'));
  assert.match(caFile.message, /use ca_source: \{type: file, path: PATH\}/);
});

Deno.test("keys named like Object.prototype members are ordinary keys", () => {
  const err = parseError(withServer("tls: {insecure: true}\nconstructor: 1"));
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].constructor");
  assert.match(
    parseError("runtime: {drain_timeout: 10constructor}\n" + INSECURE_SERVER).message,
    /unknown unit/,
  );
  const loaded = parse(withClient('endpoint: "http://h:1"\nheaders: {__proto__: x}'));
  assert.equal(Object.getOwnPropertyDescriptor(client(loaded).headers, "__proto__")?.value, "x");
});

Deno.test("an explicit null means the default", () => {
  const loaded = parse(
    withServer("tls: {insecure: true}\nmax_frame_size: ~\nkeepalive:\nauth: null"),
  );
  assert.equal(server(loaded).maxFrameSizeMiB, 4);
  assert.equal(server(loaded).keepalive.timeMs, 120_000);
  assert.deepEqual(server(loaded).auth, { type: "none" });
});

Deno.test("aliases: negotiation_timeout_secs / link_hmac_timeout_secs, JWT claim spellings", () => {
  const a = parse(withServer("tls: {insecure: true}\nlink_hmac_timeout_secs: 2"));
  assert.equal(server(a).negotiationTimeoutMs, 2000);
  const both = parseError(
    withServer("tls: {insecure: true}\nlink_hmac_timeout_secs: 2\nnegotiation_timeout_secs: 3"),
  );
  assert.match(
    both.message,
    /both "negotiation_timeout_secs" and "link_hmac_timeout_secs" are set/,
  );
  const claims = parseError(withServer(
    "tls: {insecure: true}\nauth: {type: jwt, claims: {aud: [a], audience: [b]}, key: {type: autoresolve}}",
  ));
  assert.match(claims.message, /both "audience" and "aud"/);
});

// -------------------------------------------------------------------------------------------
// 2. ${env:...} and ${file:...}

Deno.test("env and file references replace whole string values anywhere", () => {
  const files: Record<string, string> = { "secrets/pw.txt": "pw-from-file\n" };
  const loaded = parse(
    `tracing:\n  log_level: \${env:LEVEL}\nruntime:\n  drain_timeout: "\${env:DRAIN}"\n` +
      withServer(
        "tls: {insecure: true}\nauth:\n  type: basic\n  username: ${env:USER_NAME}\n  password: ${file:secrets/pw.txt}\nmetadata:\n  region: ${env:LEVEL}",
      ),
    {
      env: (n) => ({ LEVEL: "debug", DRAIN: "3s", USER_NAME: "" })[n],
      readFile: (p) => {
        const v = files[p];
        if (v === undefined) throw new Deno.errors.NotFound(p);
        return v;
      },
    },
  );
  assert.equal(loaded.config.tracing.logLevel, "debug");
  assert.equal(loaded.config.runtime.drainTimeoutMs, 3000);
  // The file content is used verbatim (trailing newline included), as SLIM does; an empty
  // environment variable is a valid value.
  assert.deepEqual(server(loaded).auth, {
    type: "basic",
    username: "",
    password: "pw-from-file\n",
  });
  assert.deepEqual(server(loaded).metadata, { region: "debug" });
});

Deno.test("file references are passed through unresolved, i.e. relative to the current directory", () => {
  const asked: string[] = [];
  parse(
    withServer(
      "tls: {insecure: true}\nauth: {type: basic, username: u, password: '${file:./rel/pw}'}",
    ),
    {
      file: "/etc/slim/config.yaml",
      readFile: (p) => {
        asked.push(p);
        return "x";
      },
    },
  );
  assert.deepEqual(asked, ["./rel/pw"]);
});

Deno.test("a missing environment variable is an error naming the variable and the path", () => {
  const err = parseError(
    withServer(
      "tls: {insecure: true}\nauth: {type: basic, username: u, password: '${env:NOT_SET_ANYWHERE}'}",
    ),
  );
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].auth.password");
  assert.match(err.message, /environment variable "NOT_SET_ANYWHERE" is not set \(line \d+\)$/);
  const missingFile = parseError(
    withServer(
      "tls: {insecure: true}\nauth: {type: basic, username: u, password: '${file:/nope/pw}'}",
    ),
  );
  assert.match(missingFile.message, /cannot read file "\/nope\/pw" \(NotFound\)/);
});

Deno.test("substituted values are never echoed in errors", () => {
  const secret = "hunter2-very-secret";
  const env = (n: string) => (n === "S" ? secret : undefined);
  const texts = [
    withServer("tls:\n  insecure: ${env:S}"),
    "runtime:\n  drain_timeout: ${env:S}\n" + INSECURE_SERVER,
    "runtime:\n  n_cores: ${env:S}\n" + INSECURE_SERVER,
    withServer("tls: {insecure: true, tls_version: '${env:S}'}"),
    withServer("endpoint2: x\ntls: {insecure: true}").replace('"0.0.0.0:1"', "${env:S}"),
    withClient("endpoint: ${env:S}"),
  ];
  for (const text of texts) {
    const err = parseError(text, { env });
    assert.ok(!err.message.includes(secret), err.message);
    assert.match(err.message, /\$\{env:S\}|endpoint/);
  }
  const typed = parseError(withServer("tls:\n  insecure: ${env:S}"), { env });
  assert.match(typed.message, /expected boolean, got string from \$\{env:S\}/);
});

Deno.test("literal secrets are not echoed in type errors either", () => {
  const err = parseError(
    withServer("tls: {insecure: true}\nauth: {type: basic, username: u, password: 123456}"),
  );
  assert.match(err.message, /password: expected string, got number \(quote it in YAML\)/);
  assert.ok(!err.message.includes("123456"));
});

Deno.test("references embedded in longer strings are kept literally, with a warning", () => {
  const loaded = parse(
    withClient('endpoint: "http://h:1"\norigin: "http://${env:HOST}:80"\ntls: {insecure: true}'),
  );
  assert.equal(client(loaded).origin, "http://${env:HOST}:80");
  assert.ok(
    loaded.warnings.some((w) =>
      w.startsWith("services.slim/0.dataplane.clients[0].origin: ") && /kept literally/.test(w)
    ),
    loaded.warnings.join("\n"),
  );
});

Deno.test("malformed references are errors", () => {
  for (const value of ["${env:A}${env:B}", "${vault:x}", "${env}", "${env:}"]) {
    const err = parseError(withClient(`endpoint: "http://h:1"\norigin: "${value}"`));
    assert.equal(err.path, "services.slim/0.dataplane.clients[0].origin");
    assert.match(err.message, /invalid reference/);
  }
});

Deno.test("keys, numbers and booleans are not substituted", () => {
  const loaded = parse(withServer("tls: {insecure: true}\nmetadata:\n  ${env:X}: 1"), {
    env: () => "boom",
  });
  assert.deepEqual(server(loaded).metadata, { "${env:X}": 1 });
});

// -------------------------------------------------------------------------------------------
// 3. pubsub alias

Deno.test("pubsub is accepted as the old name of dataplane, with a warning", () => {
  const loaded = parse(
    "services:\n  slim/0:\n    pubsub:\n      servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]\n",
  );
  assert.equal(server(loaded).endpoint, "0.0.0.0:1");
  assert.ok(
    loaded.warnings.some((w) => w.startsWith("services.slim/0.pubsub: old name of dataplane")),
  );
});

Deno.test("pubsub and dataplane together are an error", () => {
  const err = parseError(
    "services:\n  slim/0:\n    dataplane:\n      servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]\n    pubsub:\n      clients: []\n",
  );
  assert.equal(err.path, "services.slim/0");
  assert.match(err.message, /both "dataplane" and "pubsub" are set/);
});

Deno.test("pubsub paths are used in later messages", () => {
  const err = parseError(
    "services:\n  slim/0:\n    pubsub:\n      servers: [{endpoint: 'nope'}]\n",
  );
  assert.equal(err.path, "services.slim/0.pubsub.servers[0].endpoint");
  const loaded = parse(
    "services:\n  slim/0:\n    pubsub:\n      clients: [{endpoint: 'http://h:1', proxy: {url: 'http://p:1'}}]\n",
  );
  assert.ok(
    loaded.warnings.some((w) => w.startsWith("services.slim/0.pubsub.clients[0].proxy: HTTP")),
    loaded.warnings.join("\n"),
  );
});

// -------------------------------------------------------------------------------------------
// 4. tutorial and example shapes

Deno.test("the group tutorial configuration loads as-is", () => {
  const loaded = fixture("tutorial_group.yaml");
  const { tracing, runtime } = loaded.config;
  assert.equal(tracing.logLevel, "info");
  assert.equal(tracing.displayThreadNames, true);
  assert.equal(tracing.displayThreadIds, true);
  assert.deepEqual(runtime, { nCores: 0, threadName: "slim-data-plane", drainTimeoutMs: 10_000 });
  assert.equal(loaded.config.services.length, 1);
  assert.equal(service(loaded).id, "slim/0");
  assert.deepEqual(server(loaded).address, { kind: "tcp", host: "0.0.0.0", port: 46357 });
  assert.equal(server(loaded).tls.insecure, true);
  assert.deepEqual(service(loaded).dataplane.clients, []);
  assert.deepEqual(service(loaded).controller.servers, []);
  assert.equal(loaded.file, "tutorial_group.yaml");
  // Only the rename notice; nothing unimplemented is used.
  assert.equal(loaded.warnings.length, 1);
});

Deno.test("every example-shaped fixture loads", () => {
  const names = [...Deno.readDirSync(FIXTURES)].map((e) => e.name).filter((n) =>
    n.endsWith(".yaml")
  );
  assert.ok(names.length >= 20, names.join(","));
  for (const name of names) {
    try {
      fixture(name);
    } catch (err) {
      assert.fail(`${name}: ${(err as Error).message}`);
    }
  }
});

Deno.test("fixture: plain server and client", () => {
  const s = fixture("plain_server.yaml");
  assert.equal(service(s).nodeId, "node-a");
  assert.equal(s.config.tracing.logLevel, "debug");
  assert.equal(s.config.tracing.displayThreadNames, false);
  assert.equal(s.config.runtime.drainTimeoutMs, 5000);
  assert.deepEqual(s.warnings, []);
  const c = fixture("plain_client.yaml");
  assert.equal(service(c).id, "slim/edge");
  assert.deepEqual(client(c).address, {
    kind: "http",
    secure: false,
    host: "127.0.0.1",
    port: 47001,
  });
});

Deno.test("fixture: TLS and mTLS", () => {
  const tls = server(fixture("tls_server.yaml")).tls;
  assert.equal(tls.insecure, false);
  assert.deepEqual(tls.source, { type: "file", cert: "certs/node.pem", key: "certs/node-key.pem" });
  assert.equal(tls.tlsVersion, "tls1.3");
  const tc = client(fixture("tls_client.yaml"));
  assert.deepEqual(tc.address, { kind: "http", secure: true, host: "node.example", port: 47002 });
  assert.deepEqual(tc.tls.caSource, { type: "file", path: "certs/ca.pem" });
  const ms = server(fixture("mtls_server.yaml"));
  assert.deepEqual(ms.address, { kind: "tcp", host: "::", port: 47003 });
  assert.deepEqual(ms.tls.clientCa, { type: "file", path: "certs/clients-ca.pem" });
  assert.equal(ms.tls.tlsVersion, "tls1.2");
  const mc = client(fixture("mtls_client.yaml"));
  assert.deepEqual(mc.address, { kind: "http", secure: true, host: "::1", port: 47003 });
  assert.equal(mc.tls.includeSystemCaCertsPool, false);
  assert.equal(mc.tls.source.type, "file");
});

Deno.test("fixture: basic and JWT auth", () => {
  const basic = fixture("basic_auth.yaml");
  assert.deepEqual(server(basic).auth, {
    type: "basic",
    username: "operator",
    password: "pw-from-env",
  });
  assert.deepEqual(client(basic).auth, {
    type: "basic",
    username: "operator",
    password: "pw-from-env",
  });
  const jwt = fixture("jwt_auth.yaml");
  const s0 = server(jwt).auth;
  assert.equal(s0.type, "jwt");
  if (s0.type === "jwt") {
    assert.deepEqual(s0.claims, { audience: ["slim-ts"], issuer: "tests", subject: "node" });
    assert.equal(s0.durationMs, 30 * 60_000);
    assert.deepEqual(s0.key, {
      type: "decoding",
      algorithm: "HS512",
      format: "pem",
      key: { data: "not-a-real-secret" },
    });
  }
  assert.equal(server(jwt).tls.source.type, "pem");
  const s1 = server(jwt, 1).auth;
  assert.ok(s1.type === "jwt" && s1.key.type === "decoding" && "file" in s1.key.key);
  const c0 = client(jwt).auth;
  assert.ok(c0.type === "jwt");
  if (c0.type === "jwt") {
    assert.equal(c0.key.type, "encoding");
    assert.deepEqual(c0.claims.customClaims, { role: "relay", weight: 3 });
    assert.deepEqual(c0.claims.audience, ["slim-ts"]);
  }
});

Deno.test("fixture: websocket, unix, multi-transport", () => {
  const ws = fixture("websocket.yaml");
  assert.deepEqual(server(ws).address, {
    kind: "websocket",
    secure: false,
    host: "0.0.0.0",
    port: 47007,
    path: "/",
  });
  assert.deepEqual(server(ws, 1).address, {
    kind: "websocket",
    secure: true,
    host: "0.0.0.0",
    port: 47008,
    path: "/slim",
  });
  assert.equal(client(ws, 1).serverName, "node.example");
  assert.ok(ws.warnings.some((w) => w.includes("websocket_auth_query_param: no longer an option")));
  const unix = fixture("unix.yaml");
  assert.deepEqual(server(unix).address, { kind: "unix", path: "/tmp/slim-ts-test.sock" });
  assert.deepEqual(client(unix).address, { kind: "unix", path: "/tmp/slim-ts-other.sock" });
  const multi = fixture("multi_transport.yaml");
  assert.deepEqual(service(multi).dataplane.servers.map((s) => s.address.kind), [
    "websocket",
    "tcp",
  ]);
});

Deno.test("fixture: east-west peer link, full mesh", () => {
  const west = fixture("east_west.yaml");
  assert.equal(client(west).connectionType, "peer");
  assert.equal(client(west).linkId, "west-to-east");
  const mesh = fixture("full_mesh.yaml");
  const peers = service(mesh).peers;
  assert.ok(peers);
  assert.equal(peers.deploymentName, "mesh");
  assert.equal(peers.topology, "full_mesh");
  assert.equal(peers.discovery.type, "static");
  if (peers.discovery.type === "static") {
    assert.deepEqual(peers.discovery.peers.map((p) => [p.nodeId, p.endpoint, p.connectionType]), [
      ["replica-a", "http://127.0.0.1:47021", "peer"],
      ["replica-c", "http://127.0.0.1:47023", "peer"],
    ]);
  }
  assert.equal(service(mesh).domainName, "tests");
  assert.equal(service(mesh).controller.servers[0].endpoint, "0.0.0.0:48022");
});

Deno.test("fixture: proxy, backoff, logging, telemetry, spire, pqc", () => {
  const proxy = fixture("proxy.yaml");
  assert.deepEqual(client(proxy).proxy, {
    url: "http://proxy.internal:3128",
    tls: client(proxy).proxy!.tls,
    headers: {},
  });
  assert.equal(client(proxy).tls.insecureSkipVerify, true);
  assert.equal(client(proxy, 1).proxy?.password, "s3cret");
  assert.equal(client(proxy, 1).proxy?.tls.insecureSkipVerify, true);
  const backoff = fixture("backoff.yaml");
  assert.deepEqual(service(backoff).controller.clients.map((c) => c.backoff), [
    { type: "exponential", base: 250, factor: 2, maxDelayMs: 2000, jitter: true },
    { type: "fixed_interval", intervalMs: 1500, maxAttempts: 7 },
  ]);
  const logging = fixture("logging.yaml");
  assert.equal(logging.config.tracing.logLevel, "warn");
  assert.deepEqual(logging.config.tracing.filters, ["slim_datapath=trace", "slim_session"]);
  const telemetry = fixture("telemetry.yaml").config.tracing.opentelemetry;
  assert.equal(telemetry.enabled, true);
  assert.equal(telemetry.serviceName, "slim-ts-node");
  assert.equal(telemetry.metricsIntervalMs, 15_000);
  assert.equal(telemetry.environment, "development");
  assert.equal(telemetry.grpc.endpoint, "http://collector:4317");
  const spire = server(fixture("spire.yaml")).tls;
  assert.deepEqual(spire.source, {
    type: "spire",
    socketPath: "unix:///run/spire/agent.sock",
    targetSpiffeId: "spiffe://tests.example/node",
    jwtAudiences: ["slim"],
    trustDomains: [],
  });
  assert.equal(service(fixture("pqc.yaml")).dataplane.enforcePqc, true);
});

Deno.test("enforce_pqc requires TLS 1.3 on every endpoint of the section", () => {
  const err = parseError(
    "services:\n  slim/0:\n    dataplane:\n      enforce_pqc: true\n      servers:\n        - endpoint: 0.0.0.0:1\n          tls: {tls_version: tls1.2, source: {type: file, cert: c, key: k}}\n",
  );
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].tls.tls_version");
  assert.match(err.message, /enforce_pqc requires tls_version "tls1\.3"/);
});

// -------------------------------------------------------------------------------------------
// 5. unimplemented features warn, never pass silently

Deno.test("each unimplemented feature produces a warning naming it", () => {
  const text = `
tracing:
  filters: [slim=debug]
  opentelemetry: {enabled: true}
runtime:
  n_cores: 4
services:
  slim/0:
    auth: {type: shared_secret, secret: "0123456789abcdef0123456789abcdef"}
    domain_name: d
    dataplane:
      enforce_pqc: true
      servers:
        - endpoint: "0.0.0.0:1"
          tls: {source: {type: spire}}
          auth: {type: basic, username: u, password: p}
        - endpoint: "unix:///tmp/x.sock"
          tls: {insecure: true}
        - endpoint: "ws://0.0.0.0:2"
          tls: {insecure: true}
      clients:
        - endpoint: "http://a:1"
        - endpoint: "http://b:1"
      outbound_clients:
        - endpoint: "http://c:1"
    controller:
      servers: [{endpoint: "0.0.0.0:3", tls: {insecure: true}}]
      clients: [{endpoint: "http://cp:50051"}]
      outbound_clients: [{endpoint: "http://d:1"}]
    peers:
      deployment_name: x
      discovery: {type: kubernetes, namespace: ns, service_name: svc, port: 46357}
`;
  const { warnings } = parse(text);
  const expected: [string, RegExp][] = [
    ["tracing.opentelemetry.enabled", /OpenTelemetry/],
    ["tracing.filters", /filters/],
    ["runtime.n_cores", /single JavaScript thread; 4 cores/],
    ["services.slim/0.dataplane.servers[0].tls.source.type", /SPIRE/],
    ["services.slim/0.dataplane.servers[2].endpoint", /WebSocket/],
    ["services.slim/0.dataplane.outbound_clients", /not used/],
    ["services.slim/0.dataplane.enforce_pqc", /post-quantum/],
    ["services.slim/0.controller.servers", /controller API/],
    ["services.slim/0.controller.clients", /control plane/],
    ["services.slim/0.controller.outbound_clients", /control-plane managed/],
    ["services.slim/0.peers", /peer/],
    ["services.slim/0.auth", /registration/],
  ];
  for (const [path, pattern] of expected) {
    const hit = warnings.find((w) => w.startsWith(`${path}: `));
    assert.ok(hit, `no warning for ${path}:\n${warnings.join("\n")}`);
    assert.match(hit.slice(path.length + 2), pattern);
  }
  assert.equal(warnings.length, expected.length, warnings.join("\n"));
  // Implemented since: Unix socket servers and basic/JWT transport auth (SPIRE auth refuses to
  // start instead; see lib/node/transport_auth.ts).
  assert.ok(!warnings.some((w) => w.includes("servers[1].endpoint")), warnings.join("\n"));
  assert.ok(!warnings.some((w) => w.includes("servers[0].auth")), warnings.join("\n"));
});

Deno.test("service auth with a controller requires domain_name, as SLIM checks at startup", () => {
  const err = parseError(
    "services:\n  slim/0:\n    auth: {type: shared_secret, secret: s}\n    dataplane: {servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]}\n    controller: {clients: [{endpoint: 'http://cp:1'}]}\n",
  );
  assert.equal(err.path, "services.slim/0.auth");
  assert.match(err.message, /domain_name must be set/);
});

Deno.test("empty unimplemented sections do not warn", () => {
  const loaded = parse(
    "services:\n  slim/0:\n    dataplane:\n      servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]\n      clients: []\n    controller: {servers: [], clients: []}\n",
  );
  assert.deepEqual(loaded.warnings, []);
});

Deno.test("an unknown log level falls back to info with a warning; case is ignored", () => {
  const odd = parse("tracing: {log_level: verbose}\n" + INSECURE_SERVER);
  assert.equal(odd.config.tracing.logLevel, "info");
  assert.ok(odd.warnings.some((w) => w.startsWith('tracing.log_level: unknown level "verbose"')));
  assert.equal(
    parse("tracing: {log_level: DEBUG}\n" + INSECURE_SERVER).config.tracing.logLevel,
    "debug",
  );
  assert.equal(
    parse("tracing: {log_level: 'off'}\n" + INSECURE_SERVER).config.tracing.logLevel,
    "off",
  );
});

// -------------------------------------------------------------------------------------------
// 6. defaults

Deno.test("defaults match SLIM", () => {
  const loaded = parse(
    "services:\n  slim/0:\n    dataplane:\n      servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]\n      clients: [{endpoint: 'http://h:2'}]\n",
  );
  const { tracing, runtime } = loaded.config;
  assert.equal(tracing.logLevel, "info");
  assert.equal(tracing.displayThreadNames, true);
  assert.equal(tracing.displayThreadIds, false);
  assert.equal(tracing.filters.length, 16);
  assert.deepEqual(
    { ...tracing.opentelemetry, grpc: tracing.opentelemetry.grpc.endpoint },
    {
      enabled: false,
      grpc: "http://localhost:4317",
      serviceName: "slim-data-plane",
      serviceVersion: "v0.1.0",
      environment: "development",
      metricsIntervalMs: 30_000,
    },
  );
  assert.deepEqual(runtime, { nCores: 0, threadName: "slim", drainTimeoutMs: 10_000 });

  const svc = service(loaded);
  assert.match(svc.nodeId, /^node-/);
  assert.match(svc.nodeId.slice(5), UUID_V4);
  assert.equal(svc.domainName, undefined);
  assert.equal(svc.peers, undefined);
  assert.equal(svc.dataplane.enforcePqc, false);
  assert.deepEqual(svc.controller, {
    servers: [],
    clients: [],
    outboundClients: [],
    enforcePqc: false,
  });

  const s = server(loaded);
  assert.deepEqual(
    { ...s, endpoint: undefined, address: undefined, tls: undefined },
    {
      endpoint: undefined,
      address: undefined,
      tls: undefined,
      http2Only: true,
      maxFrameSizeMiB: 4,
      maxConcurrentStreams: 100,
      readBufferSize: 1 << 20,
      writeBufferSize: 1 << 20,
      keepalive: {
        maxConnectionIdleMs: 3_600_000,
        maxConnectionAgeMs: 7_200_000,
        maxConnectionAgeGraceMs: 300_000,
        timeMs: 120_000,
        timeoutMs: 20_000,
      },
      auth: { type: "none" },
      requireHeaderMac: true,
      negotiationTimeoutMs: 5_000,
      linkHmacPollIntervalMs: 5,
    },
  );
  assert.deepEqual(s.tls, {
    source: { type: "none" },
    caSource: { type: "none" },
    includeSystemCaCertsPool: true,
    tlsVersion: "tls1.3",
    insecure: true,
    clientCa: { type: "none" },
    reloadClientCaFile: false,
  });

  const c = client(loaded);
  assert.match(c.linkId, UUID_V4);
  assert.deepEqual({ ...c, linkId: undefined, address: undefined }, {
    endpoint: "http://h:2",
    address: undefined,
    tls: {
      source: { type: "none" },
      caSource: { type: "none" },
      includeSystemCaCertsPool: true,
      tlsVersion: "tls1.3",
      insecure: false,
      insecureSkipVerify: false,
    },
    connectTimeoutMs: 0,
    requestTimeoutMs: 0,
    headers: {},
    auth: { type: "none" },
    backoff: { type: "exponential", base: 100, factor: 1, maxDelayMs: 1000, jitter: true },
    linkId: undefined,
    requireHeaderMac: true,
    connectionType: "edge",
  });
});

Deno.test("node ids and link ids are generated per load", () => {
  const text = "services:\n  slim/0:\n    dataplane: {clients: [{endpoint: 'http://h:2'}]}\n";
  const a = parse(text);
  const b = parse(text);
  assert.notEqual(service(a).nodeId, service(b).nodeId);
  assert.notEqual(client(a).linkId, client(b).linkId);
  assert.match(
    parseError(
      "services:\n  slim/0:\n    node_id: ''\n    dataplane: {clients: [{endpoint: 'http://h:2'}]}\n",
    ).message,
    /node_id: must not be empty/,
  );
});

Deno.test("explicit backoff sections default field by field, like SLIM (jitter off)", () => {
  const exp = parse(withClient('endpoint: "http://h:1"\nbackoff: {type: exponential}'));
  assert.deepEqual(client(exp).backoff, {
    type: "exponential",
    base: 100,
    factor: 1,
    maxDelayMs: 1000,
    jitter: false,
  });
  const fixed = parse(withClient('endpoint: "http://h:1"\nbackoff: {type: fixed_interval}'));
  assert.deepEqual(client(fixed).backoff, { type: "fixed_interval", intervalMs: 1000 });
  assert.match(
    parseError(withClient('endpoint: "http://h:1"\nbackoff: {base: 3}')).message,
    /backoff\.type: missing required key/,
  );
});

Deno.test("client keepalive, timeouts, rate limit, compression, headers", () => {
  const loaded = parse(withClient(
    'endpoint: "http://h:1"\nkeepalive: {}\nconnect_timeout: 1m30s\nrequest_timeout: 250ms\nrate_limit: "20/60"\ncompression: Gzip\nbuffer_size: 4096\nheaders: {x-tenant: blue}',
  ));
  const c = client(loaded);
  assert.deepEqual(c.keepalive, {
    tcpKeepaliveMs: 60_000,
    http2KeepaliveMs: 60_000,
    timeoutMs: 10_000,
    keepAliveWhileIdle: false,
  });
  assert.equal(c.connectTimeoutMs, 90_000);
  assert.equal(c.requestTimeoutMs, 250);
  assert.deepEqual(c.rateLimit, { requests: 20, periodMs: 60_000 });
  assert.equal(c.compression, "gzip");
  assert.equal(c.bufferSize, 4096);
  assert.deepEqual(c.headers, { "x-tenant": "blue" });
  const badHeader = parseError(withClient('endpoint: "http://h:1"\nheaders: {"bad header": v}'));
  assert.match(badHeader.message, /invalid HTTP header name/);
  const secretHeader = parseError(
    withClient('endpoint: "http://h:1"\nheaders: {authorization: 42}'),
  );
  assert.ok(!secretHeader.message.includes("42"), secretHeader.message);
});

Deno.test("auth variants are checked against their role", () => {
  const enc = parseError(withServer(
    "tls: {insecure: true}\nauth: {type: jwt, key: {type: encoding, algorithm: HS256, format: pem, key: {data: s}}}",
  ));
  assert.equal(enc.path, "services.slim/0.dataplane.servers[0].auth.key");
  assert.match(enc.message, /"decoding"/);
  const dec = parseError(withClient(
    'endpoint: "http://h:1"\nauth: {type: jwt, key: {type: decoding, algorithm: HS256, format: pem, key: {data: s}}}',
  ));
  assert.match(dec.message, /"encoding"/);
  const staticJwt = parse(
    withClient('endpoint: "http://h:1"\nauth: {type: static_jwt, file: /run/token}'),
  );
  assert.deepEqual(client(staticJwt).auth, {
    type: "static_jwt",
    file: "/run/token",
    durationMs: 3_600_000,
  });
  const noStaticOnServer = parseError(
    withServer("tls: {insecure: true}\nauth: {type: static_jwt, file: x}"),
  );
  assert.match(noStaticOnServer.message, /expected "none", "basic", "jwt", "spire"/);
  const emptyUser = parseError(
    withClient('endpoint: "http://h:1"\nauth: {type: basic, username: "", password: p}'),
  );
  assert.match(emptyUser.message, /username: must not be empty/);
  const badAlg = parseError(withServer(
    "tls: {insecure: true}\nauth: {type: jwt, key: {type: decoding, algorithm: none, format: pem, key: {file: k}}}",
  ));
  assert.equal(badAlg.path, "services.slim/0.dataplane.servers[0].auth.key.algorithm");
  const twoKeys = parseError(withServer(
    "tls: {insecure: true}\nauth: {type: jwt, key: {type: decoding, algorithm: HS256, format: pem, key: {file: k, data: d}}}",
  ));
  assert.match(twoKeys.message, /exactly one of data or file/);
  const audString = parseError(withServer(
    "tls: {insecure: true}\nauth: {type: jwt, claims: {audience: slim}, key: {type: autoresolve}}",
  ));
  assert.match(audString.message, /expected a list/);
});

Deno.test("peer discovery is validated", () => {
  const base =
    "services:\n  slim/0:\n    dataplane: {servers: [{endpoint: '0.0.0.0:1', tls: {insecure: true}}]}\n    peers:\n";
  assert.match(
    parseError(base + "      deployment_name: d\n").message,
    /discovery: missing required key/,
  );
  assert.match(
    parseError(base + "      deployment_name: d\n      discovery: {type: static, peers: []}\n")
      .message,
    /at least one peer/,
  );
  assert.match(
    parseError(
      base +
        "      deployment_name: d\n      topology: star\n      discovery: {type: kubernetes, namespace: n, service_name: s, port: 1}\n",
    ).message,
    /"full_mesh"/,
  );
  assert.match(
    parseError(
      base +
        "      deployment_name: d\n      discovery: {type: kubernetes, namespace: n, service_name: s, port: 70000}\n",
    ).message,
    /out of range/,
  );
  const forced = parse(
    base +
      "      deployment_name: d\n      discovery:\n        type: static\n        peers: [{node_id: p, endpoint: 'http://p:1', connection_type: edge}]\n",
  );
  const d = service(forced).peers?.discovery;
  assert.ok(d?.type === "static" && d.peers[0].connectionType === "peer");
  assert.ok(forced.warnings.some((w) => w.includes('connection_type: SLIM always uses "peer"')));
});

Deno.test("metadata accepts nested values but not null", () => {
  const loaded = parse(
    withServer(
      "tls: {insecure: true}\nmetadata: {role: ingress, replicas: 3, tags: [a, b], nested: {on: true}}",
    ),
  );
  assert.deepEqual(server(loaded).metadata, {
    role: "ingress",
    replicas: 3,
    tags: ["a", "b"],
    nested: { on: true },
  });
  const err = parseError(withServer("tls: {insecure: true}\nmetadata: {a: {b: ~}}"));
  assert.equal(err.path, "services.slim/0.dataplane.servers[0].metadata.a.b");
});

// -------------------------------------------------------------------------------------------
// 7. endpoints

Deno.test("server endpoints: IP:port, [IPv6]:port, unix://, ws://, wss://", () => {
  const ok: [string, unknown, string?][] = [
    ["0.0.0.0:46357", { kind: "tcp", host: "0.0.0.0", port: 46357 }],
    ["127.0.0.1:0", { kind: "tcp", host: "127.0.0.1", port: 0 }],
    ["[::]:46357", { kind: "tcp", host: "::", port: 46357 }],
    ["[fe80::1]:65535", { kind: "tcp", host: "fe80::1", port: 65535 }],
    ["unix:///tmp/s.sock", { kind: "unix", path: "/tmp/s.sock" }],
    ["unix://rel/s.sock", { kind: "unix", path: "rel/s.sock" }],
    ["ws://0.0.0.0:8080", {
      kind: "websocket",
      secure: false,
      host: "0.0.0.0",
      port: 8080,
      path: "/",
    }],
    ["ws://localhost/x?y=1", {
      kind: "websocket",
      secure: false,
      host: "localhost",
      port: 80,
      path: "/x?y=1",
    }],
    [
      "wss://[::1]:8443/p",
      { kind: "websocket", secure: true, host: "::1", port: 8443, path: "/p" },
      "tls: {source: {type: file, cert: c, key: k}}",
    ],
  ];
  for (const [endpoint, address, tls] of ok) {
    const text = withServer(tls ?? "tls: {insecure: true}").replace(
      '"0.0.0.0:1"',
      JSON.stringify(endpoint),
    );
    assert.deepEqual(server(parse(text)).address, address, endpoint);
  }
});

Deno.test("invalid server endpoints are rejected with the path", () => {
  const bad: [string, RegExp][] = [
    ["localhost:46357", /IP address, not a host name/],
    ["0.0.0.0", /missing port/],
    ["0.0.0.0:65536", /out of range/],
    ["0.0.0.0:-1", /invalid port/],
    ["::1:46357", /must be bracketed/],
    ["http://0.0.0.0:46357", /without a scheme/],
    ["ftp://0.0.0.0:21", /unsupported scheme "ftp"/],
    ["unix://", /missing socket path/],
    ["ws://0.0.0.0:99999", /not a valid URL/],
    ["", /empty endpoint/],
    ["256.0.0.1:80", /not a host name/],
  ];
  for (const [endpoint, pattern] of bad) {
    const text = withServer("tls: {insecure: true}").replace(
      '"0.0.0.0:1"',
      JSON.stringify(endpoint),
    );
    const err = parseError(text);
    assert.equal(err.path, "services.slim/0.dataplane.servers[0].endpoint", endpoint);
    assert.match(err.message, pattern, endpoint);
  }
  const missing = parseError(
    "services:\n  slim/0:\n    dataplane:\n      servers:\n        - tls: {insecure: true}\n",
  );
  assert.equal(missing.path, "services.slim/0.dataplane.servers[0].endpoint");
  assert.match(missing.message, /missing required key/);
});

Deno.test("client endpoints need a scheme", () => {
  const ok: [string, unknown][] = [
    ["http://localhost:46357", { kind: "http", secure: false, host: "localhost", port: 46357 }],
    ["https://node.example", { kind: "http", secure: true, host: "node.example", port: 443 }],
    ["http://[::1]:1", { kind: "http", secure: false, host: "::1", port: 1 }],
    ["unix:///run/slim.sock", { kind: "unix", path: "/run/slim.sock" }],
    ["unix://run/slim.sock", { kind: "unix", path: "/run/slim.sock" }],
    ["wss://h:9/ws", { kind: "websocket", secure: true, host: "h", port: 9, path: "/ws" }],
  ];
  for (const [endpoint, address] of ok) {
    const tls = endpoint.startsWith("unix") ? "\ntls: {insecure: true}" : "";
    assert.deepEqual(
      client(parse(withClient(`endpoint: ${JSON.stringify(endpoint)}${tls}`))).address,
      address,
      endpoint,
    );
  }
  const bad: [string, RegExp][] = [
    ["localhost:46357", /a scheme is required, e.g. "http:\/\/localhost:46357"/],
    ["127.0.0.1:46357", /a scheme is required/],
    ["http://h:0", /port 0 cannot be dialed/],
    ["http://h:65536", /not a valid URL/],
    ["grpc://h:1", /unsupported scheme "grpc"/],
  ];
  for (const [endpoint, pattern] of bad) {
    const err = parseError(withClient(`endpoint: ${JSON.stringify(endpoint)}`));
    assert.equal(err.path, "services.slim/0.dataplane.clients[0].endpoint", endpoint);
    assert.match(err.message, pattern, endpoint);
  }
});

// -------------------------------------------------------------------------------------------
// 8. TLS

Deno.test("a TLS server needs a certificate source", () => {
  for (
    const tls of [
      "tls: {}",
      "tls: {insecure: false}",
      "tls: {source: {type: none}}",
      "keepalive: {}",
    ]
  ) {
    const err = parseError(withServer(tls));
    assert.equal(err.path, "services.slim/0.dataplane.servers[0].tls", tls);
    assert.match(err.message, /a server with TLS needs a certificate/);
  }
  for (
    const tls of [
      "tls: {source: {type: file, cert: a.pem, key: a.key}}",
      'tls: {source: {type: pem, cert: "-----BEGIN CERTIFICATE-----", key: "-----BEGIN PRIVATE KEY-----"}}',
      "tls: {source: {type: spire, socket_path: /run/spire.sock}}",
    ]
  ) {
    assert.equal(server(parse(withServer(tls))).tls.insecure, false);
  }
  const empty = parseError(withServer("tls: {source: {type: file, cert: '', key: k}}"));
  assert.equal(empty.path, "services.slim/0.dataplane.servers[0].tls.source.cert");
  const noKey = parseError(withServer("tls: {source: {type: file, cert: c}}"));
  assert.equal(noKey.path, "services.slim/0.dataplane.servers[0].tls.source.key");
  const noType = parseError(withServer("tls: {source: {cert: c, key: k}}"));
  assert.equal(noType.path, "services.slim/0.dataplane.servers[0].tls.source.type");
});

Deno.test("TLS material stays as paths or PEM text; pem keys are never echoed", () => {
  const loaded = parse(
    withServer("tls: {source: {type: file, cert: /does/not/exist.pem, key: /nor/this.key}}"),
  );
  assert.deepEqual(server(loaded).tls.source, {
    type: "file",
    cert: "/does/not/exist.pem",
    key: "/nor/this.key",
  });
  const err = parseError(withServer("tls: {source: {type: pem, cert: c, key: 12345678}}"));
  assert.ok(!err.message.includes("12345678"));
});

Deno.test("transport and TLS combinations SLIM refuses at startup are refused at load", () => {
  const cases: [string, string, RegExp][] = [
    [
      "unix:///tmp/s",
      "tls: {source: {type: file, cert: c, key: k}}",
      /Unix socket servers do not support TLS/,
    ],
    [
      "ws://0.0.0.0:1",
      "tls: {source: {type: file, cert: c, key: k}}",
      /ws:\/\/ endpoints are cleartext/,
    ],
    ["wss://0.0.0.0:1", "tls: {insecure: true}", /wss:\/\/ endpoints need TLS/],
  ];
  for (const [endpoint, tls, pattern] of cases) {
    const err = parseError(withServer(tls).replace('"0.0.0.0:1"', JSON.stringify(endpoint)));
    assert.equal(err.path, "services.slim/0.dataplane.servers[0].tls");
    assert.match(err.message, pattern);
  }
  const unixClient = parseError(withClient('endpoint: "unix:///tmp/s"'));
  assert.match(unixClient.message, /Unix socket connections do not support TLS/);
});

Deno.test("reload_interval accepts SLIM's {secs, nanos} form and duration strings", () => {
  const a = parse(
    withServer("tls: {insecure: true, reload_interval: {secs: 2, nanos: 500000000}}"),
  );
  assert.equal(server(a).tls.reloadIntervalMs, 2500);
  const b = parse(withServer("tls: {insecure: true, reload_interval: 10s}"));
  assert.equal(server(b).tls.reloadIntervalMs, 10_000);
});

// -------------------------------------------------------------------------------------------
// durations

Deno.test("parseDuration follows SLIM's duration-string grammar", () => {
  const ok: [string, number][] = [
    ["100ms", 100],
    ["10s", 10_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1h 30m", 5_400_000],
    ["1m30s", 90_000],
    ["2h3m4s", 7_384_000],
    ["1h2m3s4ms", 3_723_004],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["1y", 31_556_926_000],
    ["500us", 0.5],
    ["0s", 0],
    [" 10 s ", 10_000],
  ];
  for (const [text, ms] of ok) assert.equal(parseDuration(text), ms, text);
  for (const text of ["", "10", "1.5s", "-5s", "10x", "abc", "10sec", "s", "10s5", "10S"]) {
    assert.throws(() => parseDuration(text, "runtime.drain_timeout"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.path, "runtime.drain_timeout");
      return true;
    }, text);
  }
  for (const ms of [0, 1, 1500, 10_000, 90_000, 3_600_000, 0.5]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(10_000), "10s");
  assert.equal(formatDuration(7_200_000), "2h");
});

// -------------------------------------------------------------------------------------------
// defaults and entry points

Deno.test("DEFAULT_CONFIG_YAML is the repository's config.yaml and a minimal insecure node", async () => {
  const onDisk = await Deno.readTextFile(new URL("../../config.yaml", import.meta.url));
  assert.equal(onDisk, DEFAULT_CONFIG_YAML);
  const loaded = defaultConfig();
  assert.deepEqual(loaded.warnings, []);
  assert.equal(loaded.file, undefined);
  assert.equal(loaded.config.tracing.logLevel, "info");
  assert.equal(loaded.config.runtime.drainTimeoutMs, 10_000);
  assert.equal(loaded.config.services.length, 1);
  const s = server(loaded);
  assert.deepEqual(s.address, { kind: "tcp", host: "0.0.0.0", port: 46357 });
  assert.equal(s.tls.insecure, true);
  assert.equal(s.requireHeaderMac, true);
  assert.deepEqual(service(loaded).dataplane.clients, []);
  assert.notEqual(service(defaultConfig()).nodeId, service(loaded).nodeId);
});

Deno.test("loadConfig reads a file, resolving ${file:} paths as given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slim-ts-config-" });
  try {
    await Deno.writeTextFile(`${dir}/pw`, "from-file");
    const path = `${dir}/node.yaml`;
    await Deno.writeTextFile(
      path,
      withServer(
        `tls: {insecure: true}\nauth: {type: basic, username: u, password: "\${file:${dir}/pw}"}`,
      ),
    );
    const loaded = await loadConfig(path);
    assert.equal(loaded.file, path);
    assert.deepEqual(server(loaded).auth, { type: "basic", username: "u", password: "from-file" });
    await assert.rejects(loadConfig(`${dir}/missing.yaml`), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, `${dir}/missing.yaml`);
      assert.match(err.message, /file not found/);
      return true;
    });
    await Deno.writeTextFile(path, withServer('tls:\n  insecure: "no"'));
    await assert.rejects(loadConfig(path), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(
        err.message.startsWith(`${path}: services.slim/0.dataplane.servers[0].tls.insecure:`),
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseClientConfig validates one --slim client object", () => {
  const c = parseClientConfig(
    JSON.parse('{"endpoint":"http://localhost:46357","tls":{"insecure":true}}'),
  );
  assert.deepEqual(c.address, { kind: "http", secure: false, host: "localhost", port: 46357 });
  assert.equal(c.tls.insecure, true);
  assert.equal(c.connectionType, "edge");
  assert.match(c.linkId, UUID_V4);

  assert.throws(
    () => parseClientConfig({ endpoint: "localhost:46357" }, "--slim"),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.path, "--slim.endpoint");
      assert.match(err.message, /a scheme is required/);
      return true;
    },
  );
  assert.throws(
    () => parseClientConfig({ endpoint: "http://h:1", tls: { insecure: "true" } }, "--slim"),
    /--slim\.tls\.insecure: expected boolean, got string "true"/,
  );
  assert.throws(
    () => parseClientConfig({ endpoint: "http://h:1", bogus: 1 }),
    /bogus: unknown key/,
  );
  assert.throws(() => parseClientConfig("http://h:1", "--slim"), /--slim: expected a mapping/);
  assert.throws(() => parseClientConfig({}, "--slim"), /--slim\.endpoint: missing required key/);

  const warnings: string[] = [];
  const withAuth = parseClientConfig(
    {
      endpoint: "https://h:1",
      auth: { type: "basic", username: "u", password: "${env:PW}" },
      tls: { source: { type: "spire" } },
    },
    "--slim",
    { env: (n) => (n === "PW" ? "pw" : undefined), warnings },
  );
  assert.deepEqual(withAuth.auth, { type: "basic", username: "u", password: "pw" });
  assert.ok(
    warnings.some((w) => w.startsWith("--slim.tls.source.type: SPIRE")),
    warnings.join("\n"),
  );
});

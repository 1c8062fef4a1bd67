/**
 * The `slim` executable end to end: a node and clients in separate processes (the compiled
 * binary when `SLIM_BIN` is set, as in CI), the tutorials' group chat with MLS, a real SLIM app in
 * the same group, point-to-point, and command-line errors.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ensurePeerInstalled, freePort, startRealApp } from "../peer/real_peer.ts";
import { runSlim, SlimProcess } from "./slim_cli.ts";

const SECRET = "cli-test-shared-secret-0123456789-abcdefghijkl";

async function startNode(): Promise<{ node: SlimProcess; url: string; slim: string }> {
  const port = freePort();
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `tracing:\n  log_level: info\nservices:\n  slim/0:\n    dataplane:\n      servers:\n        - endpoint: "127.0.0.1:${port}"\n          tls:\n            insecure: true\n`,
  );
  const node = new SlimProcess(["--config", config]);
  await node.waitFor((l) => l.includes("dataplane server listening"), { stream: "stderr" });
  const url = `http://127.0.0.1:${port}`;
  return { node, url, slim: JSON.stringify({ endpoint: url, tls: { insecure: true } }) };
}

function client(slim: string, local: string, ...extra: string[]): SlimProcess {
  return new SlimProcess([
    "client",
    "--local",
    local,
    "--slim",
    slim,
    "--shared-secret",
    SECRET,
    ...extra,
  ]);
}

const received = (local: string, from: string, text: string) => (l: string) =>
  l === `${local} -> Received message from ${from}: ${text}`;

Deno.test("cli - node, two participants and an MLS moderator, all the slim executable", async () => {
  const { node, slim } = await startNode();
  await using _node = node;
  await using c1 = client(slim, "agntcy/ns/client-1");
  await using c2 = client(slim, "agntcy/ns/client-2");
  await c1.waitFor((l) => l.includes("waiting for an invitation"), { stream: "stderr" });
  await c2.waitFor((l) => l.includes("waiting for an invitation"), { stream: "stderr" });
  await using mod = client(
    slim,
    "agntcy/ns/moderator",
    "--remote",
    "agntcy/ns/chat",
    "--invites",
    "agntcy/ns/client-1",
    "--invites",
    "agntcy/ns/client-2",
    "--enable-mls",
  );
  await mod.waitFor((l) => l.includes("add agntcy/ns/client-2 to the group"), {
    stream: "stderr",
  });
  await mod.write("hello from the moderator");
  await c1.waitFor(
    received("agntcy/ns/client-1", "agntcy/ns/moderator", "hello from the moderator"),
  );
  await c2.waitFor(
    received("agntcy/ns/client-2", "agntcy/ns/moderator", "hello from the moderator"),
  );
  await c1.write("hi, client-1 here");
  await mod.waitFor(received("agntcy/ns/moderator", "agntcy/ns/client-1", "hi, client-1 here"));
  await c2.waitFor(received("agntcy/ns/client-2", "agntcy/ns/client-1", "hi, client-1 here"));
  // The moderator leaves cleanly: the group closes and the participants exit by themselves.
  await mod.write("exit");
  assertEquals((await mod.status).code, 0);
  assertEquals((await c1.status).code, 0);
  assertEquals((await c2.status).code, 0);
  assert(c1.stderr.some((l) => l.includes("ended: closed by the moderator")), c1.stderr.join("\n"));
});

Deno.test("cli - a real SLIM app participates in the same MLS group", async () => {
  ensurePeerInstalled();
  const { node, url, slim } = await startNode();
  await using _node = node;
  await using real = await startRealApp({
    name: "agntcy/ns/real-client",
    endpoint: url,
    secret: SECRET,
  });
  await using c1 = client(slim, "agntcy/ns/client-1");
  await c1.waitFor((l) => l.includes("waiting for an invitation"), { stream: "stderr" });
  await using mod = client(
    slim,
    "agntcy/ns/moderator",
    "--remote",
    "agntcy/ns/chat",
    "--invites",
    "agntcy/ns/client-1,agntcy/ns/real-client",
    "--enable-mls",
  );
  await mod.waitFor((l) => l.includes("add agntcy/ns/real-client to the group"), {
    stream: "stderr",
  });
  const session = await real.listen({ timeoutMs: 10_000 });
  assert(session.kind === "group");
  await mod.write("hello everyone");
  assertEquals(
    (await real.nextMessage({ sid: session.sid, timeoutMs: 10_000 })).text,
    "hello everyone",
  );
  await c1.waitFor(received("agntcy/ns/client-1", "agntcy/ns/moderator", "hello everyone"));
  await real.publish(session.sid, "real app speaking");
  await c1.waitFor(received("agntcy/ns/client-1", "agntcy/ns/real-client", "real app speaking"));
  await mod.waitFor(received("agntcy/ns/moderator", "agntcy/ns/real-client", "real app speaking"));
  await mod.endInput();
  assertEquals((await mod.status).code, 0);
  await real.waitFor((e) => e.event === "session-closed" && e.sid === session.sid, 10_000);
});

Deno.test("cli - point-to-point request/reply, with and without MLS", async () => {
  const { node, slim } = await startNode();
  await using _node = node;
  await using receiver = client(slim, "org/ns/b", "--p2p");
  await receiver.waitFor((l) => l.includes("waiting for sessions"), { stream: "stderr" });
  for (const mls of [[], ["--enable-mls"]]) {
    const r = await runSlim([
      "client",
      "--local",
      "org/ns/a",
      "--slim",
      slim,
      "--shared-secret",
      SECRET,
      "--remote",
      "org/ns/b",
      "--p2p",
      ...mls,
      "--message",
      "ping",
      "--iterations",
      "3",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const replies = r.stdout.split("\n").filter((l) =>
      l.startsWith("org/ns/a -> Received message from org/ns/b: ping from org/ns/b/")
    );
    assertEquals(replies.length, 3, r.stdout + r.stderr);
  }
  await receiver.waitFor(received("org/ns/b", "org/ns/a", "ping"));
});

Deno.test("cli - errors give one line and the right exit status", async () => {
  const cases: [string[], number, string][] = [
    [
      ["client", "--slim", '{"endpoint":"http://127.0.0.1:1"}', "--shared-secret", SECRET],
      2,
      "missing --local",
    ],
    [
      ["client", "--local", "a/b/c", "--slim", "{not json", "--shared-secret", SECRET],
      2,
      "--slim is not valid JSON",
    ],
    [["client", "--local", "a/b/c", "--frobnicate"], 2, "unknown flag --frobnicate"],
    [
      ["client", "--local", "a/b/c", "--shared-secret", SECRET, "--jwks", "/x.json"],
      2,
      "--jwks applies to --jwt identities only",
    ],
    [
      ["client", "--local", "a/b/c", "--shared-secret", SECRET, "--p2p", "--remote", "a/b/d"],
      2,
      "--p2p --remote needs --message",
    ],
    [
      ["client", "--local", "a/b/c", "--jwt", "/k.pem", "--jwt-algorithm", "FOO", "--jwks", "/j"],
      2,
      '--jwt-algorithm "FOO" is not one of',
    ],
    [
      ["client", "--local", "a/b/c", "--jwt", "/nonexistent/k.pem", "--jwks", "/dev/null"],
      2,
      "--jwks /dev/null is not valid JSON",
    ],
    [["client", "--local", "a/b/c"], 2, "missing identity"],
    [["--admin", "nonsense"], 2, "--admin expects HOST:PORT"],
    [["--config", "/nonexistent/slim.yaml"], 2, "file not found"],
    [["--nope"], 2, "unknown flag --nope"],
  ];
  for (const [args, code, text] of cases) {
    const r = await runSlim(args);
    assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assert(lines[0].includes(text), `${args.join(" ")}: ${r.stderr}`);
  }
  // A JSON error never echoes the input: it may hold a password.
  const leak = await runSlim([
    "client",
    "--local",
    "a/b/c",
    "--slim",
    '{"endpoint":"http://127.0.0.1:1","auth":{"basic":{"password":hunter2-TOPSECRET}}}',
    "--shared-secret",
    SECRET,
  ]);
  assertEquals(leak.code, 2, leak.stderr);
  assert(leak.stderr.includes("--slim is not valid JSON"), leak.stderr);
  assert(!leak.stderr.includes("hunter2"), leak.stderr);
  // A key that does not fit its algorithm is a configuration error naming --jwt, before any
  // connection is tried.
  const dir = await Deno.makeTempDir();
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", ec.privateKey));
  await Deno.writeTextFile(
    `${dir}/ec.pem`,
    `-----BEGIN PRIVATE KEY-----\n${
      btoa(String.fromCharCode(...der))
    }\n-----END PRIVATE KEY-----\n`,
  );
  await Deno.writeTextFile(`${dir}/jwks.json`, JSON.stringify({ keys: [] }));
  const misfit = await runSlim([
    "client",
    "--local",
    "a/b/c",
    "--endpoint",
    "http://127.0.0.1:1",
    "--jwt",
    `${dir}/ec.pem`,
    "--jwks",
    `${dir}/jwks.json`,
  ]);
  assertEquals(misfit.code, 2, misfit.stderr);
  assert(misfit.stderr.includes(`--jwt ${dir}/ec.pem (--jwt-algorithm RS256)`), misfit.stderr);
  assertEquals(misfit.stderr.trim().split("\n").length, 1, misfit.stderr);
  const port = freePort();
  const r = await runSlim([
    "client",
    "--local",
    "a/b/c",
    "--endpoint",
    `http://127.0.0.1:${port}`,
    "--shared-secret",
    SECRET,
  ]);
  assertEquals(r.code, 1, r.stderr);
  assert(r.stderr.includes(`http://127.0.0.1:${port}`), r.stderr);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  const v = await runSlim(["--version"]);
  assertEquals(v.code, 0);
  assert(v.stdout.includes("slim-ts") && v.stdout.includes("2.0.0-alpha.10"), v.stdout);
});

Deno.test("cli - JWT identities (--jwt key, --spire-trust-bundle) for a p2p exchange", async () => {
  const { node, slim } = await startNode();
  await using _node = node;
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${
    btoa(String.fromCharCode(...der)).match(/.{1,64}/g)!.join("\n")
  }\n-----END PRIVATE KEY-----\n`;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/key.pem`, pem);
  // The bundle format of the reference examples: trust domain -> base64 of a JWKS.
  await Deno.writeTextFile(
    `${dir}/bundle.json`,
    JSON.stringify({ "example.org": btoa(JSON.stringify({ keys: [{ ...jwk, alg: "ES256" }] })) }),
  );
  const jwt = [
    "--jwt",
    `${dir}/key.pem`,
    "--jwt-algorithm",
    "ES256",
    "--spire-trust-bundle",
    `${dir}/bundle.json`,
    "--audience",
    "slim-demo",
  ];
  await using receiver = new SlimProcess([
    "client",
    "--local",
    "org/ns/jwt-b",
    "--slim",
    slim,
    "--p2p",
    ...jwt,
  ]);
  await receiver.waitFor((l) => l.includes("waiting for sessions"), { stream: "stderr" });
  const r = await runSlim([
    "client",
    "--local",
    "org/ns/jwt-a",
    "--slim",
    slim,
    "--remote",
    "org/ns/jwt-b",
    "--p2p",
    "--enable-mls",
    "--message",
    "signed",
    "--iterations",
    "2",
    ...jwt,
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(
    r.stdout.split("\n").filter((l) => l.startsWith("org/ns/jwt-a -> Received message from"))
      .length,
    2,
    r.stdout + r.stderr,
  );
});

Deno.test("cli - Ctrl-C leaves the group and exits 0; the others go on", async () => {
  const { node, slim } = await startNode();
  await using _node = node;
  await using c1 = client(slim, "agntcy/ns/client-1");
  await using c2 = client(slim, "agntcy/ns/client-2");
  await c1.waitFor((l) => l.includes("waiting for an invitation"), { stream: "stderr" });
  await c2.waitFor((l) => l.includes("waiting for an invitation"), { stream: "stderr" });
  await using mod = client(
    slim,
    "agntcy/ns/moderator",
    "--remote",
    "agntcy/ns/chat",
    "--invites",
    "agntcy/ns/client-1,agntcy/ns/client-2",
  );
  await c1.waitFor((l) => l.includes("joined session"), { stream: "stderr" });
  await c2.waitFor((l) => l.includes("joined session"), { stream: "stderr" });
  c1.child.kill("SIGINT");
  assertEquals((await c1.status).code, 0);
  await mod.write("still here?");
  await c2.waitFor(received("agntcy/ns/client-2", "agntcy/ns/moderator", "still here?"));
  await mod.endInput();
  assertEquals((await mod.status).code, 0);
  assertEquals((await c2.status).code, 0);
});

Deno.test("cli - the secret from a file or the environment; peer text printed inertly", async () => {
  const { node, slim } = await startNode();
  await using _node = node;
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/secret`, SECRET + "\n");
  await using receiver = new SlimProcess([
    "client",
    "--local",
    "org/ns/fb",
    "--slim",
    slim,
    "--p2p",
    "--shared-secret-file",
    `${dir}/secret`,
  ]);
  await receiver.waitFor((l) => l.includes("waiting for sessions"), { stream: "stderr" });
  // Escape sequences (retitle the terminal, erase the line) and a forged second line.
  const hostile = "hi\x1b]0;pwned\x07\x1b[2K\rorg/ns/fb -> Received message from org/ns/admin: ok";
  const r = await runSlim([
    "client",
    "--local",
    "org/ns/fa",
    "--slim",
    slim,
    "--remote",
    "org/ns/fb",
    "--p2p",
    "--message",
    hostile,
    "--iterations",
    "1",
  ], { SLIM_SHARED_SECRET: SECRET });
  assertEquals(r.code, 0, r.stderr);
  const shown =
    "hi\\x1b]0;pwned\\x07\\x1b[2K\\rorg/ns/fb -> Received message from org/ns/admin: ok";
  await receiver.waitFor(received("org/ns/fb", "org/ns/fa", shown));
  assert(r.stdout.includes(`Received message from org/ns/fb: ${shown} from org/ns/fb/`), r.stdout);
  assert(!r.stdout.includes("\x1b"), JSON.stringify(r.stdout));
});

/**
 * Requests the server refuses before they become channels (REFUSED_STREAM beyond
 * `max_concurrent_streams`, HTTP 431 beyond `max_header_list_size`) leave a log line naming the
 * peer and the limit, at most on the 1st, 10th, 100th... refusal of a connection.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { concat } from "../fixtures/captures.ts";
import { ErrorCode } from "../../lib/transport/h2/constants.ts";
import { echoServer, openStream, preface, rawConnection, rstCodes } from "./helpers.ts";

async function waitForLog(has: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!has()) {
    if (Date.now() > deadline) throw new Error(`no log line: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("refused streams - beyond max_concurrent_streams: logged with the peer and the limit", async () => {
  const s = await echoServer({ maxConcurrentStreams: 1 });
  const c = await rawConnection(s.port);
  try {
    const peer = `127.0.0.1:${c.socket.localPort}`;
    const parts = [preface()];
    for (let id = 1; id <= 23; id += 2) parts.push(openStream(id));
    c.write(concat(parts));
    await waitForLog(() => s.log.has("refused stream", `peer=${peer}`, "count=10"), "10th");
    assert(s.log.has(
      "WARN",
      "refused stream",
      `peer=${peer}`,
      "REFUSED_STREAM: max_concurrent_streams (1) streams already open",
      "count=1",
    ));
    const refused = s.log.lines.filter((l) => l.includes("refused stream"));
    assertEquals(refused.length, 2, "1st and 10th of 11 refusals");
    assertEquals(rstCodes(c.received()).get(3), ErrorCode.REFUSED_STREAM);
  } finally {
    c.destroy();
    s.close();
  }
});

Deno.test("refused streams - header list beyond max_header_list_size: HTTP 431, logged", async () => {
  const s = await echoServer({ maxHeaderListSize: 4096 });
  const c = await rawConnection(s.port);
  try {
    const peer = `127.0.0.1:${c.socket.localPort}`;
    c.write(concat([preface(), openStream(1, false, [["authorization", "x".repeat(5000)]])]));
    await waitForLog(() => s.log.has("refused stream", `peer=${peer}`), "431");
    assert(s.log.has("HTTP 431", "max_header_list_size (4096 octets)"), s.log.lines.join("\n"));
    assert(!s.log.has("x".repeat(100)), "header values are not logged");
  } finally {
    c.destroy();
    s.close();
  }
});

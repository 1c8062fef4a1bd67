#!/usr/bin/env node
// A real SLIM node built from a full configuration file, as the `slim` binary builds it
// (`initializeFromConfigWithError`: servers, then clients with their `connection_type`, then
// peers). The bindings' other entry points cannot make a node dial as a peer.
//
//   node real_config_node.mjs CONFIG.yaml
//
// The call blocks until every configured client is connected; "started" is then printed on
// stderr. The native core logs to stdout. The process ends on SIGKILL (a blocked native call
// ignores SIGTERM), or on SIGTERM once started.
import slim from "../peer/node_modules/@agntcy/slim-bindings/index.js";

const config = process.argv[2];
if (!config) {
  process.stderr.write("usage: node real_config_node.mjs CONFIG\n");
  process.exit(2);
}
slim.initializeFromConfigWithError(config);
// Dropping the JavaScript wrappers would stop the services.
globalThis.services = slim.getServices();
process.stderr.write(`started ${globalThis.services.map((s) => s.getName()).join(",")}\n`);
const keepAlive = setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  clearInterval(keepAlive);
  process.exit(0);
});

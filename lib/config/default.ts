/**
 * The configuration a node runs with when no file is given; also the repository's `config.yaml`.
 * @module
 */

/**
 * A minimal, commented node configuration: one cleartext data-plane listener on
 * `0.0.0.0:46357`, the port SLIM apps connect to by default. It is valid for both slim-ts and
 * SLIM itself.
 */
export const DEFAULT_CONFIG_YAML: string =
  `# slim-ts node configuration (the same YAML schema as the SLIM node, "slim --config FILE").
#
# Any string value may be written as \${env:NAME} or \${file:PATH}; the whole value is then
# replaced by that environment variable or file content (paths are relative to the current
# directory). Durations take a unit: 500ms, 10s, 2m, 1h30m.

tracing:
  # error, warn, info, debug, trace or off.
  log_level: info

runtime:
  # How long shutdown waits for open links to close before giving up.
  drain_timeout: 10s

services:
  # One node. "slim" is the component kind, "0" its local name.
  slim/0:
    # Identity announced to other nodes; a random "node-<uuid>" is generated when omitted.
    # node_id: my-node
    dataplane:
      servers:
        # Where apps and other nodes connect. Cleartext HTTP/2 (h2c) because TLS is off below;
        # for TLS, drop "insecure" and add:
        #   source: { type: file, cert: server.crt, key: server.key }
        - endpoint: "0.0.0.0:46357"
          tls:
            insecure: true
          # Inter-node messages must carry a valid header MAC (keyed during link negotiation).
          require_header_mac: true

      # Other nodes to dial (none here).
      clients: []
`;

/**
 * Endpoints as they may appear in messages and logs: without credentials.
 *
 * An endpoint URL can carry userinfo (`http://user:password@host:port`). slim-ts never uses it
 * (credentials travel in `auth` or `headers`), but it must never be echoed either: every endpoint
 * goes through {@link redactEndpoint} before it is put into an error message or a log line.
 * @module
 */

/**
 * `endpoint` without its userinfo: `http://user:pw@host:1` → `http://host:1`. Works on text, so
 * malformed URLs (the ones that end up in error messages) are cleaned too. Everything up to the
 * last `@` goes, since a password may hold unencoded `/`, `?` or `#`; data-plane endpoints have no
 * `@` elsewhere. `unix://` paths are left alone; text without `@` comes back unchanged.
 */
export function redactEndpoint(endpoint: string): string {
  if (endpoint.startsWith("unix:")) return endpoint;
  const scheme = endpoint.indexOf("://");
  const start = scheme < 0 ? 0 : scheme + 3;
  const at = endpoint.lastIndexOf("@");
  if (at < start) return endpoint;
  return endpoint.slice(0, start) + endpoint.slice(at + 1);
}

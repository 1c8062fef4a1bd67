/**
 * Checks TLS material (certificate chains, private keys, CA bundles) when it is loaded.
 *
 * `node:tls` under Deno accepts any string as a certificate or key without complaint: a server
 * given garbage starts, reports TLS as enabled, and then fails every handshake. So material is
 * parsed here (`node:crypto`), and the key checked against the certificate, before anything
 * listens or dials; a problem is a {@link ConfigError} naming the configuration key and the file.
 * Messages never quote the material itself (a key is a secret; a certificate may be mistaken for
 * one).
 * @module
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { ConfigError, errorMessage } from "../errors.ts";

/** Where a piece of material came from, for messages. */
export interface MaterialSource {
  /** Configuration key (`services.slim/0.dataplane.servers[0].tls.source.cert`) or option. */
  path: string;
  /** File it was read from, when it came from one. */
  file?: string;
}

/** Material of a server or of a client with a certificate, with where each piece came from. */
export interface TlsMaterial {
  /** Certificate chain (PEM), leaf first. */
  cert?: { pem: string; from: MaterialSource };
  /** Private key (PEM) of the leaf certificate. */
  key?: { pem: string; from: MaterialSource };
  /** CA bundle (PEM): trust roots of a client, or client CAs of an mTLS server. */
  ca?: { pem: string; from: MaterialSource };
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:[A-Z]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/;

function fail(from: MaterialSource, message: string, cause?: unknown): ConfigError {
  const what = from.file !== undefined ? `${JSON.stringify(from.file)}: ` : "";
  return new ConfigError(`${what}${message}`, { path: from.path, cause });
}

/** Parses every certificate of a PEM text. Throws {@link ConfigError} when there is none. */
export function parseCertificates(pem: string, from: MaterialSource): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK);
  if (!blocks) {
    throw fail(from, `not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block found)`);
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      const which = blocks.length > 1 ? ` ${i + 1} of ${blocks.length}` : "";
      throw fail(from, `invalid certificate${which}: ${errorMessage(e)}`, e);
    }
  });
}

/** Parses the private key of a PEM text. Throws {@link ConfigError}. */
export function parsePrivateKey(pem: string, from: MaterialSource): KeyObject {
  const block = KEY_BLOCK.exec(pem);
  if (!block) {
    throw fail(
      from,
      `not a PEM private key (no "-----BEGIN PRIVATE KEY-----", "RSA PRIVATE KEY" or ` +
        `"EC PRIVATE KEY" block found)`,
    );
  }
  // PKCS#8 "ENCRYPTED PRIVATE KEY", or a legacy key with a "Proc-Type: 4,ENCRYPTED" header.
  if (block[1].startsWith("ENCRYPTED") || /^Proc-Type:.*ENCRYPTED/m.test(block[0])) {
    throw fail(from, "encrypted private keys are not supported (store the key unencrypted)");
  }
  try {
    return createPrivateKey(block[0]);
  } catch (e) {
    throw fail(from, `invalid private key: ${errorMessage(e)}`, e);
  }
}

/**
 * Checks a set of material: every certificate and the key parse, the key belongs to the leaf
 * certificate, and a certificate comes with its key.
 * @throws {ConfigError} naming the key of the offending piece and its file
 */
export function checkTlsMaterial(material: TlsMaterial): void {
  const { cert, key, ca } = material;
  if (ca) parseCertificates(ca.pem, ca.from);
  if (!cert && !key) return;
  if (!cert) throw fail(key!.from, "a private key is configured without its certificate");
  if (!key) throw fail(cert.from, "a certificate is configured without its private key");
  const leaf = parseCertificates(cert.pem, cert.from)[0];
  const privateKey = parsePrivateKey(key.pem, key.from);
  if (!leaf.checkPrivateKey(privateKey)) {
    const certFile = cert.from.file !== undefined ? ` (${JSON.stringify(cert.from.file)})` : "";
    throw fail(
      key.from,
      `the private key does not belong to the certificate of ${cert.from.path}${certFile}`,
    );
  }
}

/**
 * Checks the material of server options (`{cert, key, clientCa}`), naming `at.cert`, ... in
 * errors.
 */
export function checkServerTlsOptions(
  tls: { cert: string; key: string; clientCa?: string },
  at: string,
): void {
  checkTlsMaterial({
    cert: { pem: tls.cert, from: { path: `${at}.cert` } },
    key: { pem: tls.key, from: { path: `${at}.key` } },
    ca: tls.clientCa === undefined ? undefined : {
      pem: tls.clientCa,
      from: { path: `${at}.clientCa` },
    },
  });
}

/**
 * Checks the material of client options (`{ca, cert, key}`, all optional), naming `at.ca`, ...
 * in errors.
 */
export function checkClientTlsOptions(
  tls: { ca?: string; cert?: string; key?: string } | undefined,
  at: string,
): void {
  if (!tls) return;
  checkTlsMaterial({
    cert: tls.cert === undefined ? undefined : { pem: tls.cert, from: { path: `${at}.cert` } },
    key: tls.key === undefined ? undefined : { pem: tls.key, from: { path: `${at}.key` } },
    ca: tls.ca === undefined ? undefined : { pem: tls.ca, from: { path: `${at}.ca` } },
  });
}

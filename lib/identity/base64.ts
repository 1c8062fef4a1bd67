/**
 * Base64 helpers for identity tokens (internal).
 *
 * Tokens mix two alphabets: base64url without padding for the token fields and the JWT parts,
 * and standard base64 (with padding) for the `pubkey` claim. The native `Uint8Array` base64
 * methods are used when the runtime has them (Deno, Bun); older runtimes fall back to
 * `btoa`/`atob`, which are slower but give the same bytes.
 * @module
 */

type Alphabet = "base64" | "base64url";

interface NativeBase64 {
  fromBase64(text: string, options: { alphabet: Alphabet }): Uint8Array;
}
interface NativeBytes {
  toBase64(options: { alphabet: Alphabet; omitPadding: boolean }): string;
}

const native = typeof (Uint8Array as unknown as Partial<NativeBase64>).fromBase64 === "function";

const URL_NO_PAD = /^[A-Za-z0-9_-]*$/;
const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

function encode(bytes: Uint8Array, alphabet: Alphabet, omitPadding: boolean): string {
  if (native) return (bytes as unknown as NativeBytes).toBase64({ alphabet, omitPadding });
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  let s = btoa(bin);
  if (alphabet === "base64url") s = s.replaceAll("+", "-").replaceAll("/", "_");
  return omitPadding ? s.replace(/=+$/, "") : s;
}

function decode(text: string, alphabet: Alphabet): Uint8Array {
  if (native) return (Uint8Array as unknown as NativeBase64).fromBase64(text, { alphabet });
  let s = alphabet === "base64url" ? text.replaceAll("-", "+").replaceAll("_", "/") : text;
  while (s.length % 4 !== 0) s += "=";
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** base64url without padding. */
export function b64urlEncode(bytes: Uint8Array): string {
  return encode(bytes, "base64url", true);
}

/**
 * Decodes base64url without padding; `undefined` when `text` has characters outside the
 * alphabet, padding, whitespace, or an impossible length.
 */
export function b64urlDecode(text: string): Uint8Array | undefined {
  if (!URL_NO_PAD.test(text) || text.length % 4 === 1) return undefined;
  try {
    return decode(text, "base64url");
  } catch {
    return undefined;
  }
}

/** Standard base64 with padding. */
export function b64Encode(bytes: Uint8Array): string {
  return encode(bytes, "base64", false);
}

/** Decodes standard base64 (padding optional); `undefined` when malformed. */
export function b64Decode(text: string): Uint8Array | undefined {
  if (!STD.test(text)) return undefined;
  try {
    return decode(text, "base64");
  } catch {
    return undefined;
  }
}

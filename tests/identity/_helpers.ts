/**
 * Shared helpers of the identity tests: the captured vectors and small decoding utilities.
 * @module
 */
import vectors from "./fixtures/captured_vectors.json" with { type: "json" };
import { decodeMessage, type Publish } from "../../lib/wire/codec.ts";

/** The fixture (see fixtures/make_fixtures.ts). */
export const VECTORS = vectors;

/** Secret of the capture a vector came from. */
export function secretOf(capture: string): string {
  const secret = (vectors.secrets as Record<string, string>)[capture];
  if (!secret) throw new Error(`no secret for ${capture}`);
  return secret;
}

/** The timestamp field of a shared-secret token. */
export function tokenTime(token: string): number {
  return Number(token.split(":")[1]);
}

/** Decodes standard base64. */
export function fromB64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The publish of a captured frame. */
export function publishOf(rawB64: string): Publish {
  const message = decodeMessage(fromB64(rawB64));
  if (message.messageType.case !== "publish") throw new Error("frame is not a publish");
  return message.messageType.value;
}

/** Runs `fn` and returns the error it throws or rejects with. */
export async function errorOf(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

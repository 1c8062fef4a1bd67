/**
 * The `MLSMessage` envelopes SLIM carries, decoded strictly.
 *
 * Each SLIM payload holds exactly one serialized `MLSMessage` of a known wire format: a key
 * package (JOIN_REPLY, REJOIN_REQUEST), a Welcome (GROUP_WELCOME, REJOIN_REPLY), a commit as a
 * PublicMessage (GROUP_UPDATE) or an application message as a PrivateMessage (MSG, RTX_REPLY).
 * These helpers decode one, insist on the expected wire format, protocol version and
 * ciphersuite, and reject trailing bytes, turning every failure into an {@link MlsError} that says
 * what was wrong instead of ts-mls's `undefined` or a codec exception.
 * @module
 */
import {
  decodeMlsMessage,
  encodeMlsMessage,
  type KeyPackage,
  type MLSMessage,
  type PrivateMessage,
  type PublicMessage,
  type Welcome,
} from "ts-mls";
import { MlsError } from "../errors.ts";
import { MLS_CIPHERSUITE } from "./suite.ts";

type WireFormat = MLSMessage["wireformat"];

const WHAT: Record<WireFormat, string> = {
  mls_public_message: "PublicMessage",
  mls_private_message: "PrivateMessage",
  mls_welcome: "Welcome",
  mls_group_info: "GroupInfo",
  mls_key_package: "KeyPackage",
};

/** Decodes one whole `MLSMessage`; throws {@link MlsError} when malformed or not MLS 1.0. */
export function decodeMls(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw new MlsError(`malformed MLS message: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
  if (!decoded) throw new MlsError("malformed MLS message");
  const [message, length] = decoded;
  if (length !== bytes.length) {
    throw new MlsError(`malformed MLS message: ${bytes.length - length} trailing bytes`);
  }
  if (message.version !== "mls10") {
    throw new MlsError(`unsupported MLS protocol version ${message.version}`);
  }
  return message;
}

function expect<W extends WireFormat>(
  bytes: Uint8Array,
  wireformat: W,
): Extract<MLSMessage, { wireformat: W }> {
  const message = decodeMls(bytes);
  if (message.wireformat !== wireformat) {
    throw new MlsError(`expected an MLS ${WHAT[wireformat]}, got a ${WHAT[message.wireformat]}`);
  }
  return message as Extract<MLSMessage, { wireformat: W }>;
}

function checkSuite(suite: string, what: string): void {
  if (suite !== MLS_CIPHERSUITE) {
    throw new MlsError(`${what} uses ciphersuite ${suite}, not ${MLS_CIPHERSUITE}`);
  }
}

/** Decodes a serialized `MLSMessage(KeyPackage)` of ciphersuite 2. */
export function decodeKeyPackage(bytes: Uint8Array): KeyPackage {
  const { keyPackage } = expect(bytes, "mls_key_package");
  if (keyPackage.version !== "mls10") {
    throw new MlsError(`key package is for MLS version ${keyPackage.version}`);
  }
  checkSuite(keyPackage.cipherSuite, "key package");
  return keyPackage;
}

/** Decodes a serialized `MLSMessage(Welcome)` of ciphersuite 2. */
export function decodeWelcome(bytes: Uint8Array): Welcome {
  const { welcome } = expect(bytes, "mls_welcome");
  checkSuite(welcome.cipherSuite, "welcome");
  return welcome;
}

/** Decodes a serialized `MLSMessage(PublicMessage)`. */
export function decodePublicMessage(bytes: Uint8Array): PublicMessage {
  return expect(bytes, "mls_public_message").publicMessage;
}

/** Decodes a serialized `MLSMessage(PrivateMessage)`. */
export function decodePrivateMessage(bytes: Uint8Array): PrivateMessage {
  return expect(bytes, "mls_private_message").privateMessage;
}

/** Serializes a key package as an `MLSMessage`. */
export function encodeKeyPackage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage });
}

/** Serializes a Welcome as an `MLSMessage`. */
export function encodeWelcome(welcome: Welcome): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome });
}

/** Serializes a PrivateMessage as an `MLSMessage`. */
export function encodePrivateMessage(privateMessage: PrivateMessage): Uint8Array {
  return encodeMlsMessage({
    version: "mls10",
    wireformat: "mls_private_message",
    privateMessage,
  });
}

/** Serializes any `MLSMessage` (commits come out of ts-mls already wrapped). */
export function encodeMls(message: MLSMessage): Uint8Array {
  return encodeMlsMessage(message);
}

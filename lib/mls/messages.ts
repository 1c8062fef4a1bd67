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
import { errorMessage, MlsError } from "../errors.ts";
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
    throw new MlsError(`malformed MLS message: ${errorMessage(e)}`, {
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

/**
 * Decodes a serialized `MLSMessage(PrivateMessage)`.
 *
 * This runs for every application message received, so a well-formed one is parsed directly
 * (ts-mls's generic decoder costs ~5 µs of closures per message); anything else goes through
 * the generic decoder, which produces the same result or the error to report.
 */
export function decodePrivateMessage(bytes: Uint8Array): PrivateMessage {
  return parsePrivateMessage(bytes) ?? expect(bytes, "mls_private_message").privateMessage;
}

const CONTENT_TYPES = [undefined, "application", "proposal", "commit"] as const;

/** Reads a vector (as ts-mls does: any header length but 8); `undefined` if it does not fit. */
function vector(bytes: Uint8Array, at: number): [Uint8Array, number] | undefined {
  if (at >= bytes.length) return undefined;
  const first = bytes[at];
  let length: number, header: number;
  if (first < 0x40) {
    length = first;
    header = 1;
  } else if (first < 0x80) {
    if (at + 2 > bytes.length) return undefined;
    length = ((first & 0x3f) << 8) | bytes[at + 1];
    header = 2;
  } else if (first < 0xc0) {
    if (at + 4 > bytes.length) return undefined;
    length = (first & 0x3f) * 0x100_0000 + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) +
      bytes[at + 3];
    header = 4;
  } else return undefined;
  const end = at + header + length;
  return end <= bytes.length ? [bytes.subarray(at + header, end), end] : undefined;
}

/** The PrivateMessage in `bytes` if it is exactly one well-formed MLS 1.0 one, else undefined. */
function parsePrivateMessage(bytes: Uint8Array): PrivateMessage | undefined {
  // version mls10 (1), wire format mls_private_message (2)
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 1 || bytes[2] !== 0 || bytes[3] !== 2) {
    return undefined;
  }
  const groupId = vector(bytes, 4);
  if (!groupId || groupId[1] + 9 > bytes.length) return undefined;
  const at = groupId[1];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const epoch = view.getBigUint64(at);
  const contentType = CONTENT_TYPES[bytes[at + 8]];
  if (!contentType) return undefined;
  const authenticatedData = vector(bytes, at + 9);
  if (!authenticatedData) return undefined;
  const encryptedSenderData = vector(bytes, authenticatedData[1]);
  if (!encryptedSenderData) return undefined;
  const ciphertext = vector(bytes, encryptedSenderData[1]);
  if (!ciphertext || ciphertext[1] !== bytes.length) return undefined;
  return {
    groupId: groupId[0],
    epoch,
    contentType,
    authenticatedData: authenticatedData[0],
    encryptedSenderData: encryptedSenderData[0],
    ciphertext: ciphertext[0],
  };
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

/**
 * Link negotiation: the first message in each direction of a link.
 *
 * The dialler sends a `LinkNegotiationPayload` request (link id, version, X25519 public key,
 * connection type, node id); the acceptor answers with the same link id, `is_reply`, its own fresh
 * key and the echoed connection type. Both then derive the link's HMAC key:
 * `HKDF-SHA256(salt = link_id, ikm = X25519(own, peer), info = "SLIM-DP-inter-node-hmac-v1")`.
 * @module
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { LinkError } from "../errors.ts";
import {
  LinkConnectionType,
  type LinkNegotiationPayload,
  makeMessage,
  type Message,
  SLIM_WIRE_VERSION,
} from "../wire/codec.ts";
import { HmacSha256 } from "./hmac_sha256.ts";

const HKDF_INFO = new TextEncoder().encode("SLIM-DP-inter-node-hmac-v1");
const encoder = new TextEncoder();

/** Connection categories, in the routing preference order of the real node. */
export type ConnectionCategory = "local" | "remote" | "peer" | "edge";

/** Maps the negotiated wire type to a category (unknown values count as remote, like SLIM). */
export function categoryOf(type: LinkConnectionType): ConnectionCategory {
  switch (type) {
    case LinkConnectionType.EDGE:
      return "edge";
    case LinkConnectionType.PEER:
      return "peer";
    default:
      return "remote";
  }
}

/** The wire type of a category. */
export function connectionTypeOf(category: ConnectionCategory): LinkConnectionType {
  switch (category) {
    case "edge":
      return LinkConnectionType.EDGE;
    case "peer":
      return LinkConnectionType.PEER;
    default:
      return LinkConnectionType.REMOTE;
  }
}

/**
 * The per-link MAC key, with the link id bytes the preimage starts with. Received and sent headers
 * get one keyed instance each so that each direction's prefix memo follows its own stream of
 * headers.
 */
export class LinkMac {
  readonly linkId: Uint8Array;
  /** Verifies the MACs of headers received on the link. */
  readonly incoming: HmacSha256;
  /** Computes the MACs of headers sent on the link. */
  readonly outgoing: HmacSha256;
  /** Scratch for computed tags. */
  readonly tag: Uint8Array = new Uint8Array(32);

  constructor(linkId: string, key: Uint8Array) {
    this.linkId = encoder.encode(linkId);
    this.incoming = new HmacSha256(key);
    this.outgoing = new HmacSha256(key);
  }
}

/** Derives the 32-byte link key from an X25519 shared secret. */
export function deriveLinkKey(shared: Uint8Array, linkId: string): Uint8Array {
  return hkdf(sha256, shared, encoder.encode(linkId), HKDF_INFO, 32);
}

/** An ephemeral X25519 key pair, one per link attempt. */
export interface EphemeralKey {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Generates a fresh X25519 key pair. */
export function ephemeralKey(): EphemeralKey {
  const privateKey = x25519.utils.randomSecretKey();
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/**
 * Completes the key agreement. Returns undefined when the peer sent no key and MACs are not
 * required; throws {@link LinkError} when a key is required or malformed.
 */
export function agreeLinkKey(
  own: EphemeralKey,
  peerPublic: Uint8Array,
  linkId: string,
  required: boolean,
): LinkMac | undefined {
  if (peerPublic.length === 0 && !required) return undefined;
  if (peerPublic.length !== 32) {
    throw new LinkError(`public key length is invalid (${peerPublic.length} bytes, expected 32)`);
  }
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(own.privateKey, peerPublic);
  } catch (e) {
    throw new LinkError("invalid X25519 public key", { cause: e });
  }
  return new LinkMac(linkId, deriveLinkKey(shared, linkId));
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** True when `version` parses as semver (the real peer aborts otherwise). */
export function isSemver(version: string): boolean {
  return SEMVER.test(version);
}

/** Fields of a negotiation message we send. */
export interface NegotiationInit {
  linkId: string;
  isReply: boolean;
  publicKey: Uint8Array;
  category: ConnectionCategory;
  nodeId: string;
  deploymentName?: string;
  version?: string;
}

/** Builds a negotiation request or reply. */
export function negotiationMessage(init: NegotiationInit): Message {
  return makeMessage({
    messageType: {
      case: "link",
      value: {
        linkType: {
          case: "linkNegotiation",
          value: {
            linkId: init.linkId,
            slimVersion: init.version ?? SLIM_WIRE_VERSION,
            isReply: init.isReply,
            linkEcdhPublicKey: init.publicKey,
            connectionType: connectionTypeOf(init.category),
            nodeId: init.nodeId,
            deploymentName: init.deploymentName ?? "",
          },
        },
      },
    },
  });
}

/** Extracts the negotiation payload of a message, or undefined if it is something else. */
export function negotiationOf(message: Message): LinkNegotiationPayload | undefined {
  if (message.messageType.case !== "link") return undefined;
  const link = message.messageType.value;
  return link.linkType.case === "linkNegotiation" ? link.linkType.value : undefined;
}

/** Checks a received request (acceptor side). Throws {@link LinkError} naming the problem. */
export function checkRequest(p: LinkNegotiationPayload): void {
  if (p.isReply) throw new LinkError("expected a link negotiation request, got a reply");
  if (p.linkId === "") throw new LinkError("link negotiation request with an empty link_id");
  if (!isSemver(p.slimVersion)) {
    throw new LinkError(`unparsable remote SLIM version ${JSON.stringify(p.slimVersion)}`);
  }
}

/** Checks a received reply against our request (dialler side). */
export function checkReply(p: LinkNegotiationPayload, linkId: string): void {
  if (!p.isReply) throw new LinkError("expected a link negotiation reply, got a request");
  if (p.linkId !== linkId) {
    throw new LinkError(
      `link negotiation reply for link ${JSON.stringify(p.linkId)}, expected ${
        JSON.stringify(linkId)
      }`,
    );
  }
  if (!isSemver(p.slimVersion)) {
    throw new LinkError(`unparsable remote SLIM version ${JSON.stringify(p.slimVersion)}`);
  }
}

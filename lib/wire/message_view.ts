/**
 * Zero-copy view of one encoded `Message`, for routing and forwarding.
 *
 * The node must read the routing header, verify its MAC, and send the message on with a new TTL,
 * `incoming_conn` and a MAC for each output link — without decoding or re-encoding the session
 * header, the payload or the metadata, which it neither reads nor may alter. `MessageView.parse`
 * records where every header field lies in the received bytes; `writeForward` lays out the outgoing
 * bytes by copying those ranges around the few fields that change. The same view serves
 * Subscribe and Unsubscribe (whose header is MAC'd too) and, on the app side, signing outgoing
 * messages encoded by the general codec.
 *
 * Output is canonical (fields in number order) whenever the input was, which is what prost emits.
 * @module
 */
import { ProtocolError } from "../errors.ts";
import type { HmacSha256 } from "../link/hmac_sha256.ts";
import { Cursor, varintSize32, writeVarint32, WT_LEN, WT_VARINT } from "./protowire.ts";

/** `Message.message_type` field numbers. */
export const KIND_SUBSCRIBE = 1;
export const KIND_UNSUBSCRIBE = 2;
export const KIND_PUBLISH = 3;
export const KIND_LINK = 5;
export const KIND_SUBSCRIPTION_ACK = 6;

const TAG_METADATA = (4 << 3) | WT_LEN;
const TAG_HEADER = (1 << 3) | WT_LEN;
const TAG_TTL = (6 << 3) | WT_VARINT;
const TAG_INCOMING_CONN = (9 << 3) | WT_VARINT;
const TAG_HEADER_MAC = (11 << 3) | WT_LEN;

/** Length of the header MAC (HMAC-SHA256). */
export const MAC_LENGTH = 32;

const PREIMAGE_DOMAIN = new TextEncoder().encode("SLIM-DP-HDR-v1\0");

/** Where a `Name` lies in the buffer and what it says. */
export class NameView {
  present = false;
  encoded = false;
  /** component_0..2 as (lo, hi) pairs. */
  readonly components = new Uint32Array(6);
  idPresent = false;
  /** id_0 (lo, hi), id_1 (lo, hi). */
  readonly id = new Uint32Array(4);
  strPresent = false;
  /** Start/end offsets of the three strings. */
  readonly str = new Int32Array(6);

  clear(): void {
    this.present =
      this.encoded =
      this.idPresent =
      this.strPresent =
        false;
    this.components.fill(0);
    this.id.fill(0);
    this.str.fill(0);
  }

  /** True when the id is u128::MAX (absent ids read as NULL too). */
  get isNullId(): boolean {
    const id = this.id;
    return !this.idPresent ||
      (id[0] === 0xffffffff && id[1] === 0xffffffff && id[2] === 0xffffffff &&
        id[3] === 0xffffffff);
  }

  /** Map key of the three component hashes. */
  prefixKey(): string {
    const c = this.components;
    return String.fromCharCode(
      c[0] & 0xffff,
      c[0] >>> 16,
      c[1] & 0xffff,
      c[1] >>> 16,
      c[2] & 0xffff,
      c[2] >>> 16,
      c[3] & 0xffff,
      c[3] >>> 16,
      c[4] & 0xffff,
      c[4] >>> 16,
      c[5] & 0xffff,
      c[5] >>> 16,
    );
  }

  /** Map key of the id ({@link NULL_ID_KEY} when absent). */
  idKey(): string {
    if (!this.idPresent) return NULL_ID_KEY;
    const i = this.id;
    return String.fromCharCode(
      i[0] & 0xffff,
      i[0] >>> 16,
      i[1] & 0xffff,
      i[1] >>> 16,
      i[2] & 0xffff,
      i[2] >>> 16,
      i[3] & 0xffff,
      i[3] >>> 16,
    );
  }
}

/** Key of the NULL id (all ones). */
export const NULL_ID_KEY: string = String.fromCharCode(...new Array(8).fill(0xffff));

/** Prefix key from bigint hashes, equal to {@link NameView.prefixKey} for the same name. */
export function prefixKeyOf(h0: bigint, h1: bigint, h2: bigint): string {
  return halvesKey([h0, h1, h2]);
}

/** Id key from a bigint u128, equal to {@link NameView.idKey} for the same id. */
export function idKeyOf(id: bigint): string {
  return halvesKey([id >> 64n, id & 0xffffffffffffffffn]);
}

function halvesKey(values: bigint[]): string {
  const units: number[] = [];
  for (const v of values) {
    const lo = Number(v & 0xffffffffn), hi = Number((v >> 32n) & 0xffffffffn);
    units.push(lo & 0xffff, lo >>> 16, hi & 0xffff, hi >>> 16);
  }
  return String.fromCharCode(...units);
}

/**
 * A reusable parse of one message. Not thread-safe in the sense of re-entrancy: parse, use, then
 * parse the next one.
 */
export class MessageView {
  buf: Uint8Array = new Uint8Array(0);
  /** Field number of the `message_type` oneof (0 when absent). */
  kind = 0;
  bodyStart = 0;
  bodyEnd = 0;
  /** Raw ranges (tag included) of `metadata` entries, as start/end pairs. */
  readonly metadata: number[] = [];

  // Body of Subscribe / Unsubscribe / Publish.
  hasHeader = false;
  headerStart = 0;
  headerEnd = 0;
  /** Raw ranges of the body fields kept after the header (session and msg, or subscription_id). */
  readonly rest: number[] = [];
  /** Publish: whether a SessionHeader was present. */
  hasSession = false;
  /** Subscribe/Unsubscribe: subscription_id halves. */
  subIdLo = 0;
  subIdHi = 0;

  // Header fields.
  readonly source = new NameView();
  readonly destination = new NameView();
  identityStart = 0;
  identityEnd = 0;
  fanout = 0;
  ttl = 0;
  recvFrom = false;
  recvFromLo = 0;
  recvFromHi = 0;
  forwardTo = false;
  forwardToLo = 0;
  forwardToHi = 0;
  error = false;
  errorValue = false;
  macStart = -1;
  macEnd = -1;
  /** Raw ranges (tag included) of header fields copied verbatim: 1–5, 10, 12 in order. */
  readonly keep: number[] = [];

  readonly #cur = new Cursor();

  /** Parses `buf`. Throws {@link ProtocolError} on malformed input. */
  parse(buf: Uint8Array): this {
    this.buf = buf;
    this.kind = 0;
    this.metadata.length = 0;
    this.hasHeader = false;
    const c = this.#cur.reset(buf, 0);
    const end = buf.length;
    while (c.pos < end) {
      const start = c.pos;
      const tag = c.varint(end);
      const field = tag >>> 3, wt = tag & 7;
      if (
        wt === WT_LEN &&
        (field === KIND_SUBSCRIBE || field === KIND_UNSUBSCRIBE || field === KIND_PUBLISH ||
          field === KIND_LINK || field === KIND_SUBSCRIPTION_ACK)
      ) {
        const len = c.length(end);
        this.kind = field;
        this.bodyStart = c.pos;
        this.bodyEnd = c.pos + len;
        c.pos += len;
      } else if (tag === TAG_METADATA) {
        const len = c.length(end);
        c.pos += len;
        this.metadata.push(start, c.pos);
      } else {
        c.skip(wt, end);
      }
    }
    if (
      this.kind === KIND_PUBLISH || this.kind === KIND_SUBSCRIBE ||
      this.kind === KIND_UNSUBSCRIBE
    ) {
      this.#parseBody();
    }
    return this;
  }

  #parseBody(): void {
    const c = this.#cur;
    const end = this.bodyEnd;
    const publish = this.kind === KIND_PUBLISH;
    this.rest.length = 0;
    this.hasSession = false;
    this.subIdLo = this.subIdHi = 0;
    c.pos = this.bodyStart;
    while (c.pos < end) {
      const start = c.pos;
      const tag = c.varint(end);
      const field = tag >>> 3, wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        const len = c.length(end);
        this.hasHeader = true;
        this.headerStart = c.pos;
        this.headerEnd = c.pos + len;
        c.pos += len;
      } else if (publish && (field === 2 || field === 3) && wt === WT_LEN) {
        const len = c.length(end);
        c.pos += len;
        this.rest.push(start, c.pos);
        if (field === 2) this.hasSession = true;
      } else if (!publish && field === 2 && wt === WT_VARINT) {
        c.varint(end);
        this.subIdLo = c.lo;
        this.subIdHi = c.hi;
        this.rest.push(start, c.pos);
      } else {
        c.skip(wt, end);
      }
    }
    if (this.hasHeader) this.#parseHeader();
  }

  #parseHeader(): void {
    const c = this.#cur;
    const end = this.headerEnd;
    this.source.clear();
    this.destination.clear();
    this.identityStart = this.identityEnd = 0;
    this.fanout = this.ttl = 0;
    this.recvFrom =
      this.forwardTo =
      this.error =
      this.errorValue =
        false;
    this.macStart = this.macEnd = -1;
    this.keep.length = 0;
    c.pos = this.headerStart;
    while (c.pos < end) {
      const start = c.pos;
      const tag = c.varint(end);
      const field = tag >>> 3, wt = tag & 7;
      switch (field) {
        case 1:
        case 2: {
          expect(wt, WT_LEN, field === 1 ? "source" : "destination");
          const len = c.length(end);
          const at = c.pos;
          c.pos += len;
          this.#parseName(field === 1 ? this.source : this.destination, at, at + len);
          c.pos = at + len;
          this.keep.push(start, c.pos);
          continue;
        }
        case 3:
          expect(wt, WT_LEN, "identity");
          this.identityEnd = c.length(end);
          this.identityStart = c.pos;
          c.pos += this.identityEnd;
          this.identityEnd += this.identityStart;
          this.keep.push(start, c.pos);
          continue;
        case 4:
          expect(wt, WT_VARINT, "fanout");
          this.fanout = c.varint(end);
          this.keep.push(start, c.pos);
          continue;
        case 5:
          c.skip(wt, end);
          this.keep.push(start, c.pos);
          continue;
        case 6:
          expect(wt, WT_VARINT, "ttl");
          this.ttl = c.varint(end);
          continue;
        case 7:
          expect(wt, WT_VARINT, "recv_from");
          c.varint(end);
          this.recvFrom = true;
          this.recvFromLo = c.lo;
          this.recvFromHi = c.hi;
          continue;
        case 8:
          expect(wt, WT_VARINT, "forward_to");
          c.varint(end);
          this.forwardTo = true;
          this.forwardToLo = c.lo;
          this.forwardToHi = c.hi;
          continue;
        case 9:
          c.skip(wt, end);
          continue;
        case 10:
          expect(wt, WT_VARINT, "error");
          this.error = true;
          this.errorValue = c.varint(end) !== 0 || c.hi !== 0;
          this.keep.push(start, c.pos);
          continue;
        case 11: {
          expect(wt, WT_LEN, "header_mac");
          const len = c.length(end);
          this.macStart = c.pos;
          this.macEnd = c.pos + len;
          c.pos += len;
          continue;
        }
        case 12:
          c.skip(wt, end);
          this.keep.push(start, c.pos);
          continue;
        default:
          c.skip(wt, end);
      }
    }
  }

  #parseName(n: NameView, start: number, end: number): void {
    const c = this.#cur;
    n.present = true;
    c.pos = start;
    while (c.pos < end) {
      const tag = c.varint(end);
      const field = tag >>> 3, wt = tag & 7;
      if (field === 1 && wt === WT_LEN) {
        const len = c.length(end);
        const e = c.pos + len;
        n.encoded = true;
        while (c.pos < e) {
          const t = c.varint(e);
          const f = t >>> 3;
          if (f >= 1 && f <= 3 && (t & 7) === WT_VARINT) {
            c.varint(e);
            n.components[(f - 1) * 2] = c.lo;
            n.components[(f - 1) * 2 + 1] = c.hi;
          } else if (f === 4 && (t & 7) === WT_LEN) {
            const l = c.length(e);
            const ie = c.pos + l;
            n.idPresent = true;
            while (c.pos < ie) {
              const it = c.varint(ie);
              const idf = it >>> 3;
              if ((idf === 1 || idf === 2) && (it & 7) === WT_VARINT) {
                c.varint(ie);
                n.id[(idf - 1) * 2] = c.lo;
                n.id[(idf - 1) * 2 + 1] = c.hi;
              } else c.skip(it & 7, ie);
            }
          } else c.skip(t & 7, e);
        }
      } else if (field === 2 && wt === WT_LEN) {
        const len = c.length(end);
        const e = c.pos + len;
        n.strPresent = true;
        while (c.pos < e) {
          const t = c.varint(e);
          const f = t >>> 3;
          if (f >= 1 && f <= 3 && (t & 7) === WT_LEN) {
            const l = c.length(e);
            n.str[(f - 1) * 2] = c.pos;
            n.str[(f - 1) * 2 + 1] = c.pos + l;
            c.pos += l;
          } else c.skip(t & 7, e);
        }
      } else {
        c.skip(wt, end);
      }
    }
  }

  /** The checks the real node applies before routing; returns a reason, or undefined when valid. */
  invalidReason(): string | undefined {
    if (this.kind === 0) return "message_type not set";
    if (this.kind === KIND_LINK || this.kind === KIND_SUBSCRIPTION_ACK) return undefined;
    if (!this.hasHeader) return "missing SLIM header";
    if (!this.source.encoded) return "header source name missing";
    if (!this.destination.encoded) return "header destination name missing";
    if (this.kind === KIND_PUBLISH && !this.hasSession) return "publish without session header";
    return undefined;
  }

  /** True when the header carries a MAC of the right length. */
  get hasMac(): boolean {
    return this.macEnd - this.macStart === MAC_LENGTH;
  }

  /**
   * Writes the MAC preimage into `mac`'s scratch buffer and returns its length. With `forOutput`
   * the preimage describes the forwarded header: `ttl` replaces the received TTL and
   * recv_from/forward_to are cleared, as the forwarder sends them.
   */
  preimage(linkId: Uint8Array, mac: HmacSha256, ttl: number, forOutput: boolean): Uint8Array {
    const b = this.buf;
    const idLen = this.identityEnd - this.identityStart;
    const size = 15 + 4 + linkId.length + nameSize(this.source) + nameSize(this.destination) +
      4 + idLen + 4 + 9 + 9 + 2 + 4;
    const out = mac.scratch(size);
    out.set(PREIMAGE_DOMAIN, 0);
    let p = writeU32(out, 15, linkId.length);
    out.set(linkId, p);
    p += linkId.length;
    p = this.#writeName(out, p, this.source);
    p = this.#writeName(out, p, this.destination);
    p = writeU32(out, p, idLen);
    out.set(b.subarray(this.identityStart, this.identityEnd), p);
    p += idLen;
    p = writeU32(out, p, this.fanout);
    if (!forOutput && this.recvFrom) {
      out[p++] = 1;
      p = writeU64(out, p, this.recvFromLo, this.recvFromHi);
    } else out[p++] = 0;
    if (!forOutput && this.forwardTo) {
      out[p++] = 1;
      p = writeU64(out, p, this.forwardToLo, this.forwardToHi);
    } else out[p++] = 0;
    if (this.error) {
      out[p++] = 1;
      out[p++] = this.errorValue ? 1 : 0;
    } else out[p++] = 0;
    p = writeU32(out, p, forOutput ? ttl : this.ttl);
    this.#preimageLength = p;
    return out;
  }

  #preimageLength = 0;

  /** Length of the preimage last written by {@link preimage}. */
  get preimageLength(): number {
    return this.#preimageLength;
  }

  /** Computes the MAC of the header as received (recv_from/forward_to/ttl included). */
  macOf(linkId: Uint8Array, mac: HmacSha256, out: Uint8Array, outOff: number): void {
    const pre = this.preimage(linkId, mac, 0, false);
    mac.macInPlace(pre, this.#preimageLength, out, outOff);
  }

  /** Verifies the received MAC with the link's key. */
  verifyMac(linkId: Uint8Array, mac: HmacSha256, tagOut: Uint8Array): boolean {
    if (!this.hasMac) return false;
    this.macOf(linkId, mac, tagOut, 0);
    let diff = 0;
    const b = this.buf, s = this.macStart;
    for (let i = 0; i < MAC_LENGTH; i++) diff |= b[s + i] ^ tagOut[i];
    return diff === 0;
  }

  #writeName(out: Uint8Array, p: number, n: NameView): number {
    if (!n.present) {
      out[p++] = 0;
      return p;
    }
    out[p++] = 1;
    if (n.encoded) {
      out[p++] = 1;
      const c = n.components;
      p = writeU64(out, p, c[0], c[1]);
      p = writeU64(out, p, c[2], c[3]);
      p = writeU64(out, p, c[4], c[5]);
      if (n.idPresent) {
        out[p++] = 1;
        p = writeU64(out, p, n.id[0], n.id[1]);
        p = writeU64(out, p, n.id[2], n.id[3]);
      } else out[p++] = 0;
    } else out[p++] = 0;
    if (n.strPresent) {
      out[p++] = 1;
      const b = this.buf;
      for (let i = 0; i < 6; i += 2) {
        const s = n.str[i], e = n.str[i + 1];
        p = writeU32(out, p, e - s);
        // Name components are short: a loop beats creating a subarray view for set().
        for (let j = s; j < e; j++) out[p++] = b[j];
      }
    } else out[p++] = 0;
    return p;
  }

  /**
   * Size of the forwarded message for the given TTL and `incoming_conn` (-1: omit it), with or
   * without a MAC. The same for every output link, so callers compute it once per message.
   */
  forwardSize(ttl: number, incomingConn: number, withMac: boolean): number {
    const k = this.keep;
    let header = 0;
    for (let i = 0; i < k.length; i += 2) header += k[i + 1] - k[i];
    if (ttl > 0) header += 1 + varintSize32(ttl);
    if (incomingConn >= 0) header += 1 + varintSize32(incomingConn);
    if (withMac) header += 2 + MAC_LENGTH;
    let body = 1 + varintSize32(header) + header;
    const r = this.rest;
    for (let i = 0; i < r.length; i += 2) body += r[i + 1] - r[i];
    let total = 1 + varintSize32(body) + body;
    const m = this.metadata;
    for (let i = 0; i < m.length; i += 2) total += m[i + 1] - m[i];
    return total;
  }

  /**
   * Writes the forwarded message into `out[off, off + forwardSize(...))`: metadata and body
   * copied, header rebuilt with the new TTL and `incoming_conn`, recv_from/forward_to dropped.
   * Returns the offset of the 32-byte MAC slot, or -1 without MAC.
   */
  writeForward(
    out: Uint8Array,
    off: number,
    ttl: number,
    incomingConn: number,
    withMac: boolean,
  ): number {
    const b = this.buf, k = this.keep, m = this.metadata, r = this.rest;
    let p = off;
    let header = 0;
    for (let i = 0; i < k.length; i += 2) header += k[i + 1] - k[i];
    if (ttl > 0) header += 1 + varintSize32(ttl);
    if (incomingConn >= 0) header += 1 + varintSize32(incomingConn);
    if (withMac) header += 2 + MAC_LENGTH;
    let body = 1 + varintSize32(header) + header;
    for (let i = 0; i < r.length; i += 2) body += r[i + 1] - r[i];
    out[p++] = (this.kind << 3) | WT_LEN;
    p = writeVarint32(out, p, body);
    out[p++] = TAG_HEADER;
    p = writeVarint32(out, p, header);
    let macAt = -1;
    // keep[] holds fields 1-5, 10 and 12 in received order; slot ttl(6) and incoming_conn(9)
    // before field 10, and the MAC (11) before field 12.
    let wroteMid = false, wroteMac = false;
    for (let i = 0; i < k.length; i += 2) {
      const field = b[k[i]] >>> 3;
      if (!wroteMid && field >= 10) {
        p = this.#writeMid(out, p, ttl, incomingConn);
        wroteMid = true;
      }
      if (!wroteMac && field >= 12) {
        if (!wroteMid) {
          p = this.#writeMid(out, p, ttl, incomingConn);
          wroteMid = true;
        }
        if (withMac) {
          out[p++] = TAG_HEADER_MAC;
          out[p++] = MAC_LENGTH;
          macAt = p;
          p += MAC_LENGTH;
        }
        wroteMac = true;
      }
      out.set(b.subarray(k[i], k[i + 1]), p);
      p += k[i + 1] - k[i];
    }
    if (!wroteMid) p = this.#writeMid(out, p, ttl, incomingConn);
    if (!wroteMac && withMac) {
      out[p++] = TAG_HEADER_MAC;
      out[p++] = MAC_LENGTH;
      macAt = p;
      p += MAC_LENGTH;
    }
    for (let i = 0; i < r.length; i += 2) {
      out.set(b.subarray(r[i], r[i + 1]), p);
      p += r[i + 1] - r[i];
    }
    // The real node writes the metadata map after the message body.
    for (let i = 0; i < m.length; i += 2) {
      out.set(b.subarray(m[i], m[i + 1]), p);
      p += m[i + 1] - m[i];
    }
    return macAt;
  }

  #writeMid(out: Uint8Array, p: number, ttl: number, incomingConn: number): number {
    if (ttl > 0) {
      out[p++] = TAG_TTL;
      p = writeVarint32(out, p, ttl);
    }
    if (incomingConn >= 0) {
      out[p++] = TAG_INCOMING_CONN;
      p = writeVarint32(out, p, incomingConn);
    }
    return p;
  }

  /** Fills the MAC slot written by {@link writeForward} for an output link. */
  signForward(
    linkId: Uint8Array,
    mac: HmacSha256,
    ttl: number,
    out: Uint8Array,
    macAt: number,
  ): void {
    const pre = this.preimage(linkId, mac, ttl, true);
    mac.macInPlace(pre, this.#preimageLength, out, macAt);
  }

  /** recv_from as a number (connection indexes are small). */
  get recvFromIndex(): number {
    return this.recvFromHi === 0 ? this.recvFromLo : -1;
  }

  /** forward_to as a number (connection indexes are small). */
  get forwardToIndex(): number {
    return this.forwardToHi === 0 ? this.forwardToLo : -1;
  }
}

function expect(actual: number, wanted: number, field: string): void {
  if (actual !== wanted) {
    throw new ProtocolError(`header field ${field} has wire type ${actual}, expected ${wanted}`);
  }
}

function nameSize(n: NameView): number {
  // flag + encoded(flag + 24 + id flag + 16) + str(flag + 3 × (4 + len)).
  let s = 1 + 1 + 24 + 1 + 16 + 1;
  if (n.strPresent) s += 12 + (n.str[1] - n.str[0]) + (n.str[3] - n.str[2]) + (n.str[5] - n.str[4]);
  return s;
}

function writeU32(out: Uint8Array, p: number, v: number): number {
  out[p] = v;
  out[p + 1] = v >>> 8;
  out[p + 2] = v >>> 16;
  out[p + 3] = v >>> 24;
  return p + 4;
}

function writeU64(out: Uint8Array, p: number, lo: number, hi: number): number {
  writeU32(out, p, lo);
  return writeU32(out, p + 4, hi);
}

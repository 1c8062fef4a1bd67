/**
 * HPACK header compression (RFC 7541).
 *
 * The decoder is complete: static and dynamic tables, dynamic table size updates, Huffman strings,
 * every literal representation. Real peers (tonic/hyper, Node's nghttp2) index and Huffman-code
 * freely, so anything less would desynchronise at the first header block that uses them. Every
 * malformed input raises {@link Http2Error} `COMPRESSION_ERROR`, a connection error: once a block
 * fails, the decoding context is lost.
 *
 * The encoder is deliberately simple: exact static-table matches become one-byte indexes,
 * everything else is a literal without indexing (never indexed for credentials), no Huffman. It
 * never touches the dynamic table, so it is correct for any SETTINGS_HEADER_TABLE_SIZE the peer
 * announces, and our header blocks are a handful per connection.
 *
 * Header names and values are octet strings; they are carried as latin1 strings (one char per
 * octet), like Node's http2 does, so no byte is ever lost or rejected by a text decoder.
 * @module
 */
import { DEFAULT_HEADER_TABLE_SIZE, ErrorCode, Http2Error } from "./constants.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength, HuffmanError } from "./huffman.ts";

/** One header field: `[name, value]`. */
export type HeaderField = [name: string, value: string];

/** The static table (RFC 7541 Appendix A); index 0 is unused. */
export const STATIC_TABLE: readonly HeaderField[] = [
  ["", ""],
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

const STATIC_COUNT = STATIC_TABLE.length - 1;
/** Per-entry overhead counted in table and header list sizes (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

function compressionError(message: string, cause?: unknown): Http2Error {
  return new Http2Error(ErrorCode.COMPRESSION_ERROR, `HPACK: ${message}`, 0, { cause });
}

/** Decodes octets `bytes[start, end)` as a latin1 string. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  }
  return s;
}

/** Size of a field as counted by HPACK (octets + 32). */
function fieldSize(name: string, value: string): number {
  return name.length + value.length + ENTRY_OVERHEAD;
}

/** An HPACK decoding context (one per connection and direction). */
export class HpackDecoder {
  /** Newest entry last. */
  readonly #entries: HeaderField[] = [];
  #size = 0;
  /** Current maximum set by the peer's size updates. */
  #max: number;
  /** Upper bound: our SETTINGS_HEADER_TABLE_SIZE. */
  readonly #limit: number;

  /**
   * Creates a decoding context with an empty dynamic table.
   * @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE we announce (the peer's encoder may use
   * up to this much). @default 4096
   */
  constructor(maxTableSize = DEFAULT_HEADER_TABLE_SIZE) {
    this.#limit = maxTableSize;
    this.#max = maxTableSize;
  }

  /** Current dynamic table size (RFC 7541 §4.1), for tests and diagnostics. */
  get tableSize(): number {
    return this.#size;
  }

  /** Dynamic table entries, newest first (index 62 first), for tests and diagnostics. */
  get dynamicEntries(): HeaderField[] {
    return [...this.#entries].reverse();
  }

  /**
   * Decodes one complete header block. Returns the fields, or `undefined` when the decoded list
   * exceeds `maxListSize` (RFC 9113 §6.5.2 sizes); the block is still decoded to the end so the
   * dynamic table stays in sync. Throws {@link Http2Error} COMPRESSION_ERROR on malformed input.
   */
  decode(block: Uint8Array, maxListSize = Infinity): HeaderField[] | undefined {
    const out: HeaderField[] = [];
    let listSize = 0;
    let tooLarge = false;
    let pos = 0;
    let fieldSeen = false;
    const end = block.length;
    // Integer of an `n`-bit prefix at `pos` (RFC 7541 §5.1); bounded to 2^31 - 1.
    const integer = (n: number): number => {
      const mask = (1 << n) - 1;
      let v = block[pos++] & mask;
      if (v < mask) return v;
      let m = 0;
      while (true) {
        if (pos >= end) throw compressionError("truncated integer");
        if (m > 28) throw compressionError("integer overflow");
        const b = block[pos++];
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (v > 0x7fffffff) throw compressionError("integer overflow");
        if ((b & 0x80) === 0) return v;
      }
    };
    const string = (): string => {
      if (pos >= end) throw compressionError("truncated string");
      const huffman = (block[pos] & 0x80) !== 0;
      const len = integer(7);
      if (len > end - pos) throw compressionError("string longer than the header block");
      const start = pos;
      pos += len;
      if (!huffman) return latin1(block, start, pos);
      try {
        return huffmanDecode(block, start, pos);
      } catch (e) {
        if (e instanceof HuffmanError) throw compressionError(e.message, e);
        throw e;
      }
    };
    const emit = (name: string, value: string) => {
      fieldSeen = true;
      if (tooLarge) return;
      listSize += fieldSize(name, value);
      if (listSize > maxListSize) {
        tooLarge = true;
        out.length = 0;
        return;
      }
      out.push([name, value]);
    };
    while (pos < end) {
      const b = block[pos];
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const [name, value] = this.#lookup(integer(7));
        emit(name, value);
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = integer(6);
        const name = index === 0 ? string() : this.#lookup(index)[0];
        const value = string();
        this.#insert(name, value);
        emit(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (fieldSeen) throw compressionError("dynamic table size update after a header field");
        const size = integer(5);
        if (size > this.#limit) {
          throw compressionError(`table size update to ${size} exceeds the limit ${this.#limit}`);
        }
        this.#max = size;
        this.#evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        const index = integer(4);
        const name = index === 0 ? string() : this.#lookup(index)[0];
        emit(name, string());
      }
    }
    return tooLarge ? undefined : out;
  }

  #lookup(index: number): HeaderField {
    if (index === 0) throw compressionError("index 0");
    if (index <= STATIC_COUNT) return STATIC_TABLE[index];
    const i = this.#entries.length - (index - STATIC_COUNT);
    if (i < 0) throw compressionError(`index ${index} beyond the dynamic table`);
    return this.#entries[i];
  }

  #insert(name: string, value: string): void {
    const size = fieldSize(name, value);
    this.#evict(size);
    // An entry larger than the table empties it and is not added (§4.4).
    if (size <= this.#max) {
      this.#entries.push([name, value]);
      this.#size += size;
    }
  }

  /** Evicts oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size + room > this.#max && drop < this.#entries.length) {
      const [n, v] = this.#entries[drop++];
      this.#size -= fieldSize(n, v);
    }
    if (drop > 0) this.#entries.splice(0, drop);
  }
}

const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) {
  const [name, value] = STATIC_TABLE[i];
  STATIC_NAME.set(name, i);
  if (value !== "") STATIC_EXACT.set(`${name}\0${value}`, i);
}

/** Headers that must never enter any compression table (credentials). */
const SENSITIVE = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);

/** Options of {@link HpackEncoder}. */
export interface HpackEncoderOptions {
  /**
   * Huffman-code string literals when that is shorter (tests use it to exercise decoders).
   * @default false
   */
  huffman?: boolean;
}

/** A stateless HPACK encoder (no dynamic table). */
export class HpackEncoder {
  readonly #huffman: boolean;

  /** Creates an encoder. */
  constructor(options: HpackEncoderOptions = {}) {
    this.#huffman = options.huffman ?? false;
  }

  /** Encodes one header block. Names are lowercased. */
  encode(fields: readonly HeaderField[]): Uint8Array {
    const bytes: number[] = [];
    for (const [rawName, value] of fields) {
      const name = rawName.toLowerCase();
      const exact = STATIC_EXACT.get(`${name}\0${value}`);
      if (exact !== undefined) {
        pushInteger(bytes, exact, 7, 0x80);
        continue;
      }
      const flag = SENSITIVE.has(name) ? 0x10 : 0x00;
      const nameIndex = STATIC_NAME.get(name);
      if (nameIndex !== undefined) {
        pushInteger(bytes, nameIndex, 4, flag);
      } else {
        bytes.push(flag);
        this.#pushString(bytes, name);
      }
      this.#pushString(bytes, value);
    }
    return new Uint8Array(bytes);
  }

  #pushString(bytes: number[], s: string): void {
    const octets = toOctets(s);
    if (this.#huffman) {
      const len = huffmanEncodedLength(octets);
      if (len < octets.length) {
        pushInteger(bytes, len, 7, 0x80);
        const buf = new Uint8Array(len);
        huffmanEncode(octets, buf, 0);
        for (const b of buf) bytes.push(b);
        return;
      }
    }
    pushInteger(bytes, octets.length, 7, 0x00);
    for (const b of octets) bytes.push(b);
  }
}

/** Octets of a header string: latin1 when every char fits a byte, UTF-8 otherwise. */
function toOctets(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return [...new TextEncoder().encode(s)];
    out.push(c);
  }
  return out;
}

/** Appends an HPACK integer with an `n`-bit prefix, OR-ing `flags` into the first byte. */
function pushInteger(bytes: number[], value: number, n: number, flags: number): void {
  const max = (1 << n) - 1;
  if (value < max) {
    bytes.push(flags | value);
    return;
  }
  bytes.push(flags | max);
  value -= max;
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
}

/**
 * SLIM names: `org/namespace/service` plus an optional 128-bit instance id.
 *
 * Routing uses only the hashed form (three XXH64 component hashes and the id); the strings travel
 * beside it for display, route listings and the header MAC. A name without an id carries the
 * reserved {@link NULL_ID} ("any instance"), which makes a publish anycast (fanout 1) or broadcast.
 * @module
 */
import { NameError } from "../errors.ts";
import { hashComponent, xxh3_128 } from "./hash.ts";

/** The id meaning "no specific instance" (u128::MAX, shown as `NULL_COMPONENT`). */
export const NULL_ID: bigint = (1n << 128n) - 1n;
/** Ids at or above this value are reserved by SLIM. */
export const RESERVED_ID_FLOOR: bigint = NULL_ID - 50n;
const U64 = (1n << 64n) - 1n;

/** A parsed SLIM name. Immutable; hashes are computed once at construction. */
export class Name {
  /** The three text components. */
  readonly components: readonly [string, string, string];
  /** XXH64 hashes of the components (`component_0..2` on the wire). */
  readonly hashes: readonly [bigint, bigint, bigint];
  /** 128-bit instance id; {@link NULL_ID} when the name designates any instance. */
  readonly id: bigint;

  private constructor(
    components: readonly [string, string, string],
    hashes: readonly [bigint, bigint, bigint],
    id: bigint,
  ) {
    this.components = components;
    this.hashes = hashes;
    this.id = id;
  }

  /** Builds a name from its three components and an optional id. */
  static of(org: string, namespace: string, service: string, id: bigint = NULL_ID): Name {
    const parts = [org, namespace, service].map((p) => p.trim());
    parts.forEach((p, i) => {
      if (p === "") throw new NameError(`name component ${i} is empty`);
      if (p.includes("/")) throw new NameError(`name component ${JSON.stringify(p)} contains '/'`);
    });
    checkId(id);
    const c = parts as unknown as [string, string, string];
    return new Name(c, [hashComponent(c[0]), hashComponent(c[1]), hashComponent(c[2])], id);
  }

  /**
   * Parses `org/ns/service` or `org/ns/service/id`. The id may be a UUID (as SLIM prints it), a
   * decimal or `0x` hexadecimal integer, or `NULL_COMPONENT`.
   */
  static parse(text: string): Name {
    const parts = text.trim().split("/").map((p) => p.trim());
    if (parts.length !== 3 && parts.length !== 4 || parts.some((p) => p === "")) {
      throw new NameError(
        `invalid name ${JSON.stringify(text)}: expected org/namespace/service[/id]`,
      );
    }
    const id = parts.length === 4 ? parseId(parts[3], text) : NULL_ID;
    return Name.of(parts[0], parts[1], parts[2], id);
  }

  /** Rebuilds a name from wire values (the hashes are trusted as received). */
  static fromWire(
    components: readonly [string, string, string],
    hashes: readonly [bigint, bigint, bigint],
    id: bigint,
  ): Name {
    return new Name(components, hashes, id);
  }

  /** True when the id designates one instance (not {@link NULL_ID}). */
  get hasId(): boolean {
    return this.id !== NULL_ID;
  }

  /** The same name with another id. */
  withId(id: bigint): Name {
    checkId(id);
    return id === this.id ? this : new Name(this.components, this.hashes, id);
  }

  /** The same name with {@link NULL_ID}. */
  withoutId(): Name {
    return this.withId(NULL_ID);
  }

  /** Same three components (ids ignored). */
  samePrefix(other: Name): boolean {
    return this.hashes[0] === other.hashes[0] && this.hashes[1] === other.hashes[1] &&
      this.hashes[2] === other.hashes[2];
  }

  /** Same components and same id. */
  equals(other: Name): boolean {
    return this.samePrefix(other) && this.id === other.id;
  }

  /** `org/ns/service` without the id. */
  get base(): string {
    return this.components.join("/");
  }

  /** `org/ns/service` or `org/ns/service/<uuid>`. */
  toString(): string {
    return this.hasId ? `${this.base}/${formatId(this.id)}` : this.base;
  }

  /** A key identifying prefix and id, for maps. */
  get key(): string {
    return `${this.hashes[0]}:${this.hashes[1]}:${this.hashes[2]}:${this.id}`;
  }
}

function checkId(id: bigint): void {
  if (id < 0n || id > NULL_ID) {
    throw new NameError(`name id ${id} is not an unsigned 128-bit value`);
  }
}

/** Parses an id in UUID, decimal or `0x` hex form, or `NULL_COMPONENT`. */
export function parseId(text: string, context = text): bigint {
  const t = text.trim();
  if (t === "NULL_COMPONENT") return NULL_ID;
  let v: bigint | undefined;
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t)) {
    v = BigInt("0x" + t.replaceAll("-", ""));
  } else if (/^0x[0-9a-f]{1,32}$/i.test(t) || /^[0-9]{1,39}$/.test(t)) {
    v = BigInt(t);
  }
  if (v === undefined || v > NULL_ID) {
    throw new NameError(
      `invalid name id ${JSON.stringify(t)} in ${JSON.stringify(context)}: ` +
        "expected a UUID, a decimal or 0x-hex 128-bit integer, or NULL_COMPONENT",
    );
  }
  return v;
}

/** Formats an id as SLIM does: UUID text, or `NULL_COMPONENT`. */
export function formatId(id: bigint): string {
  if (id === NULL_ID) return "NULL_COMPONENT";
  const h = id.toString(16).padStart(32, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Splits a u128 into the wire halves (`id_0` high, `id_1` low). */
export function splitId(id: bigint): [bigint, bigint] {
  return [(id >> 64n) & U64, id & U64];
}

/** Joins the wire halves of an id. */
export function joinId(high: bigint, low: bigint): bigint {
  return (high << 64n) | low;
}

/**
 * The instance id SLIM apps derive from their identity: XXH3-128 of the identity id, folded out of
 * the reserved range.
 */
export function idFromIdentity(identityId: string): bigint {
  const h = xxh3_128(identityId);
  return h >= RESERVED_ID_FLOOR ? h % RESERVED_ID_FLOOR : h;
}

/**
 * The two hashes SLIM names are made of, on the maintained `hash-wasm` package.
 *
 * - Name components: XXH64 (seed 0) over the UTF-8 bytes followed by one `0xFF` byte, which is
 *   how Rust's `Hash for str` feeds a hasher. Plain XXH64 gives different values.
 * - Instance ids: XXH3-128 (seed 0, or a salt for channel ids) over the UTF-8 identity id.
 *
 * The WASM hashers are instantiated once at module load (a top-level await), so every call here
 * is synchronous.
 * @module
 */
import { createXXHash128, createXXHash64 } from "hash-wasm";

const xxh64 = await createXXHash64(0, 0);
const xxh3x128 = await createXXHash128(0, 0);
const encoder = new TextEncoder();
const TERMINATOR = new Uint8Array([0xff]);

/** XXH64 of `component` framed like Rust's `str` hashing; the value of `component_N`. */
export function hashComponent(component: string): bigint {
  xxh64.init();
  xxh64.update(encoder.encode(component));
  xxh64.update(TERMINATOR);
  return BigInt("0x" + xxh64.digest("hex"));
}

/** XXH3-128 (seed 0) of the UTF-8 bytes of `text`, as an unsigned 128-bit integer. */
export function xxh3_128(text: string): bigint {
  xxh3x128.init();
  xxh3x128.update(encoder.encode(text));
  return BigInt("0x" + xxh3x128.digest("hex"));
}

/** XXH3-128 with a 64-bit seed (a salt, needed only when two derived channel ids collide). */
export async function xxh3_128Seeded(text: string, seed: bigint): Promise<bigint> {
  if (seed === 0n) return xxh3_128(text);
  const h = await createXXHash128(Number(seed & 0xffffffffn), Number(seed >> 32n));
  h.update(encoder.encode(text));
  return BigInt("0x" + h.digest("hex"));
}

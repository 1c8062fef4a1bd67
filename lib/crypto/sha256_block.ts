/**
 * The SHA-256 block function (FIPS 180-4), shared by the link's keyed HMAC (`lib/link`) and the
 * general-purpose hashing of `sha256.ts`. Both keep their own states and scratch and call in here; it
 * exists as JavaScript because the callers hash short inputs where a native call's fixed cost
 * dominates (the callers document their measurements).
 * @module
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
/** The initial hash value H(0) (FIPS 180-4 §5.3.3). */
export const SHA256_IV: Int32Array = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

/**
 * SHA-256 compression of the 64-byte blocks in `m[off, end)` into `st`; `w` is a 64-word message
 * schedule scratch owned by the caller.
 */
export function compressSha256(
  st: Int32Array,
  w: Int32Array,
  m: Uint8Array,
  off: number,
  end: number,
): void {
  let a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
  for (; off < end; off += 64) {
    for (let i = 0, j = off; i < 16; i++, j += 4) {
      w[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      w[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
          (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[i - 7] +
          w[i - 16] | 0;
    }
    let A = a, B = b, C = c, D = d, E = e, F = f, G = g, H = h, t = 0;
    // Unrolled by 8 so the working variables rotate by renaming instead of by moves.
    for (let i = 0; i < 64; i += 8) {
      t = H + (((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7))) +
          ((E & F) ^ (~E & G)) + K[i] + w[i] | 0;
      D = D + t | 0;
      H = t + (((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10))) +
          ((A & B) ^ (A & C) ^ (B & C)) | 0;
      t = G + (((D >>> 6) | (D << 26)) ^ ((D >>> 11) | (D << 21)) ^ ((D >>> 25) | (D << 7))) +
          ((D & E) ^ (~D & F)) + K[i + 1] + w[i + 1] | 0;
      C = C + t | 0;
      G = t + (((H >>> 2) | (H << 30)) ^ ((H >>> 13) | (H << 19)) ^ ((H >>> 22) | (H << 10))) +
          ((H & A) ^ (H & B) ^ (A & B)) | 0;
      t = F + (((C >>> 6) | (C << 26)) ^ ((C >>> 11) | (C << 21)) ^ ((C >>> 25) | (C << 7))) +
          ((C & D) ^ (~C & E)) + K[i + 2] + w[i + 2] | 0;
      B = B + t | 0;
      F = t + (((G >>> 2) | (G << 30)) ^ ((G >>> 13) | (G << 19)) ^ ((G >>> 22) | (G << 10))) +
          ((G & H) ^ (G & A) ^ (H & A)) | 0;
      t = E + (((B >>> 6) | (B << 26)) ^ ((B >>> 11) | (B << 21)) ^ ((B >>> 25) | (B << 7))) +
          ((B & C) ^ (~B & D)) + K[i + 3] + w[i + 3] | 0;
      A = A + t | 0;
      E = t + (((F >>> 2) | (F << 30)) ^ ((F >>> 13) | (F << 19)) ^ ((F >>> 22) | (F << 10))) +
          ((F & G) ^ (F & H) ^ (G & H)) | 0;
      t = D + (((A >>> 6) | (A << 26)) ^ ((A >>> 11) | (A << 21)) ^ ((A >>> 25) | (A << 7))) +
          ((A & B) ^ (~A & C)) + K[i + 4] + w[i + 4] | 0;
      H = H + t | 0;
      D = t + (((E >>> 2) | (E << 30)) ^ ((E >>> 13) | (E << 19)) ^ ((E >>> 22) | (E << 10))) +
          ((E & F) ^ (E & G) ^ (F & G)) | 0;
      t = C + (((H >>> 6) | (H << 26)) ^ ((H >>> 11) | (H << 21)) ^ ((H >>> 25) | (H << 7))) +
          ((H & A) ^ (~H & B)) + K[i + 5] + w[i + 5] | 0;
      G = G + t | 0;
      C = t + (((D >>> 2) | (D << 30)) ^ ((D >>> 13) | (D << 19)) ^ ((D >>> 22) | (D << 10))) +
          ((D & E) ^ (D & F) ^ (E & F)) | 0;
      t = B + (((G >>> 6) | (G << 26)) ^ ((G >>> 11) | (G << 21)) ^ ((G >>> 25) | (G << 7))) +
          ((G & H) ^ (~G & A)) + K[i + 6] + w[i + 6] | 0;
      F = F + t | 0;
      B = t + (((C >>> 2) | (C << 30)) ^ ((C >>> 13) | (C << 19)) ^ ((C >>> 22) | (C << 10))) +
          ((C & D) ^ (C & E) ^ (D & E)) | 0;
      t = A + (((F >>> 6) | (F << 26)) ^ ((F >>> 11) | (F << 21)) ^ ((F >>> 25) | (F << 7))) +
          ((F & G) ^ (~F & H)) + K[i + 7] + w[i + 7] | 0;
      E = E + t | 0;
      A = t + (((B >>> 2) | (B << 30)) ^ ((B >>> 13) | (B << 19)) ^ ((B >>> 22) | (B << 10))) +
          ((B & C) ^ (B & D) ^ (C & D)) | 0;
    }
    a = a + A | 0;
    b = b + B | 0;
    c = c + C | 0;
    d = d + D | 0;
    e = e + E | 0;
    f = f + F | 0;
    g = g + G | 0;
    h = h + H | 0;
  }
  st[0] = a;
  st[1] = b;
  st[2] = c;
  st[3] = d;
  st[4] = e;
  st[5] = f;
  st[6] = g;
  st[7] = h;
}

/** Writes the 8-word state `st` big-endian into `out` at `off` (a digest). */
export function storeSha256State(st: Int32Array, out: Uint8Array, off: number): void {
  for (let i = 0; i < 8; i++) {
    const v = st[i];
    out[off++] = v >>> 24;
    out[off++] = v >>> 16;
    out[off++] = v >>> 8;
    out[off++] = v;
  }
}

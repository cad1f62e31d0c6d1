/**
 * Dropout masks and normal noise from Philox4x32-10, a counter-based generator (Salmon, Moraes, Dror and Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3", SC11, doi:10.1145/2063384.2063405; the generator PyTorch's CUDA
 * dropout draws from). An entry is a pure function of (seed, index), so the CPU (this file) and a GPU program
 * (webgpu-philox.ts, the same arithmetic in WGSL) draw the same numbers, and no state is carried.
 *
 * Both use key = (seed mod 2^32, floor(seed / 2^32) mod 2^32) and block b = philox4x32_10(counter (b, stream, 0,
 * 0), key), four u32 words per block; stream 0 for masks, 1 for noise (so one seed never gives both the same words).
 * - The mask of `n` entries with keep probability `keep = 1 - rate`: entry i = word i mod 4 of block floor(i / 4),
 *   kept when that word < floor(keep 2^32) (probability keep to within 2^-32), and then worth fround(1 / keep),
 *   else 0: x * mask is inverted dropout, as tf.dropout's. The same bits on the CPU and the GPU.
 * - Normal noise N(0, sigma^2) of `n` entries: block b gives entries 4b .. 4b + 3 by Box-Muller from the word
 *   pairs (0, 1) and (2, 3): u = (floor(w / 2^9) + 1/2) 2^-23 in (0, 1) (exact in float32), r = sqrt(-2 ln u_a),
 *   theta = pi (2 u_b - 1), entries sigma r cos theta and sigma r sin theta. The CPU's logarithm and cosine are
 *   the double ones, WGSL's float32 ones: the same numbers to within their precision, not bit for bit.
 * Checked against Random123's known-answer vectors and a Python reference (philox.test.ts).
 */

/** The Philox4x32 round multipliers and Weyl key increments (Salmon et al., table 2 and section 3.3). */
export const PHILOX = {
  m0: 0xd2511f53,
  m1: 0xcd9e8d57,
  w0: 0x9e3779b9,
  w1: 0xbb67ae85,
  rounds: 10,
} as const;

/** The high 32 bits of the 64-bit product of two u32s (`mulHiConst` of a's 16-bit halves). */
export function mulHi(a: number, b: number): number {
  return mulHiConst(a & 0xffff, a >>> 16, b);
}

/** Philox4x32-10 of counter (c0, c1, c2, c3) and key (k0, k1): four u32s, written to `out`. */
export function philox4x32(
  c: readonly number[],
  k: readonly number[],
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = (c[0] ?? 0) >>> 0;
  let c1 = (c[1] ?? 0) >>> 0;
  let c2 = (c[2] ?? 0) >>> 0;
  let c3 = (c[3] ?? 0) >>> 0;
  let k0 = (k[0] ?? 0) >>> 0;
  let k1 = (k[1] ?? 0) >>> 0;
  for (let r = 0; r < PHILOX.rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX.w0) >>> 0;
      k1 = (k1 + PHILOX.w1) >>> 0;
    }
    const hi0 = mulHi(PHILOX.m0, c0);
    const lo0 = Math.imul(PHILOX.m0, c0) >>> 0;
    const hi1 = mulHi(PHILOX.m1, c2);
    const lo1 = Math.imul(PHILOX.m1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** The counter's second word of each kind of draw (module comment). */
export const STREAM = { mask: 0, normal: 1 } as const;

/** The Philox key of an integer seed in [0, 2^53): its low and high 32-bit words. */
export function seedKey(seed: number, what: string): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${what} seed ${seed} is not an integer >= 0`);
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32) % 2 ** 32];
}

/** What a mask needs besides its size: the key from the seed, the u32 threshold and the kept value. */
export interface MaskParams {
  key: [number, number];
  /** A word below it keeps its entry: floor(keep 2^32). */
  threshold: number;
  /** fround(1 / keep): the kept entries' value. */
  kept: number;
}

/** The mask parameters of `rate` in [0, 1) at an integer `seed` in [0, 2^53); one-line error otherwise. */
export function maskParams(rate: number, seed: number): MaskParams {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate ${rate} is not in [0, 1)`);
  const key = seedKey(seed, 'dropout');
  const keep = Math.fround(1 - rate);
  return {
    key,
    threshold: Math.min(2 ** 32 - 1, Math.floor(keep * 2 ** 32)),
    kept: Math.fround(1 / keep),
  };
}

/** The key of each of the ten rounds (the key bumped by the Weyl increments): [k0, k1] per round. */
function roundKeys([k0, k1]: readonly [number, number]): Uint32Array {
  const keys = new Uint32Array(2 * PHILOX.rounds);
  for (let r = 0; r < PHILOX.rounds; r++) {
    keys[2 * r] = k0 + r * PHILOX.w0;
    keys[2 * r + 1] = k1 + r * PHILOX.w1;
  }
  return keys;
}

/**
 * The mask of `n` entries (module comment) on the CPU: [n] float32 of 0 and fround(1 / keep). `philox4x32` with
 * its round keys computed once per mask and the multipliers' 16-bit halves constant (a third faster here).
 */
export function philoxMask(n: number, rate: number, seed: number): Float32Array {
  const { key, threshold, kept } = maskParams(rate, seed);
  const keys = roundKeys(key);
  const mask = new Float32Array(n);
  const words = new Uint32Array(4);
  for (let b = 0; b * 4 < n; b++) {
    philoxBlock(b, STREAM.mask, keys, words);
    const base = b * 4;
    for (let j = 0; j < 4 && base + j < n; j++) mask[base + j] = (words[j] as number) < threshold ? kept : 0;
  }
  return mask;
}

/** A word's uniform in (0, 1): (floor(w / 2^9) + 1/2) 2^-23, exact in float32. */
export const uniformOfWord = (w: number): number => ((w >>> 9) + 0.5) * 2 ** -23;

/** sigma as the noise programs take it: float32, finite and >= 0; one-line error otherwise. */
export function noiseSigma(sigma: number): number {
  if (!(Number.isFinite(sigma) && sigma >= 0))
    throw new Error(`noise sigma ${sigma} is not a finite number >= 0`);
  return Math.fround(sigma);
}

/** Normal noise N(0, sigma^2) of `n` entries (module comment) on the CPU: [n] float32. */
export function philoxNormal(n: number, sigma: number, seed: number): Float32Array {
  const s = noiseSigma(sigma);
  const keys = roundKeys(seedKey(seed, 'noise'));
  const out = new Float32Array(n);
  const words = new Uint32Array(4);
  const f = Math.fround;
  for (let b = 0; b * 4 < n; b++) {
    philoxBlock(b, STREAM.normal, keys, words);
    for (let pair = 0; pair < 2; pair++) {
      const r = Math.sqrt(-2 * Math.log(uniformOfWord(words[2 * pair] as number)));
      const theta = Math.PI * (2 * uniformOfWord(words[2 * pair + 1] as number) - 1);
      const i = b * 4 + 2 * pair;
      if (i < n) out[i] = f(s * f(r * Math.cos(theta)));
      if (i + 1 < n) out[i + 1] = f(s * f(r * Math.sin(theta)));
    }
  }
  return out;
}

const M0L = PHILOX.m0 & 0xffff;
const M0H = PHILOX.m0 >>> 16;
const M1L = PHILOX.m1 & 0xffff;
const M1H = PHILOX.m1 >>> 16;

/** The high 32 bits of m c for a u32 m given by its 16-bit halves (four partial products, each exact in a double). */
function mulHiConst(ml: number, mh: number, c: number): number {
  const cl = c & 0xffff;
  const ch = c >>> 16;
  const lh = ml * ch;
  const hl = mh * cl;
  const mid = ((ml * cl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (mh * ch + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** philox4x32_10 of counter (b, stream, 0, 0) under precomputed round keys, to `out`. */
function philoxBlock(b: number, stream: number, keys: Uint32Array, out: Uint32Array): void {
  let c0 = b >>> 0;
  let c1 = stream;
  let c2 = 0;
  let c3 = 0;
  for (let r = 0; r < 2 * PHILOX.rounds; r += 2) {
    const hi0 = mulHiConst(M0L, M0H, c0);
    const lo0 = Math.imul(PHILOX.m0, c0) >>> 0;
    const hi1 = mulHiConst(M1L, M1H, c2);
    const lo1 = Math.imul(PHILOX.m1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ (keys[r] as number)) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ (keys[r + 1] as number)) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

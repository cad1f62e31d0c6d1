/**
 * Seeded randomness. Every random draw of a run (init, shuffling, dropout seeds, delta noise) comes from an
 * Rng made from the run's seed, so a run is reproducible from its config.
 * mulberry32: Tommy Ettinger's 32-bit generator (public domain); Box-Muller for normals.
 */

/** Uniform [0, 1) generator from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  return mulberry32State(seed).next;
}

/** mulberry32 with its whole state (one uint32) readable and settable, for checkpoints. */
function mulberry32State(seed: number): { next: () => number; get: () => number; set: (s: number) => void } {
  let a = seed >>> 0;
  return {
    next: () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
    get: () => a,
    set: (s) => {
      a = s >>> 0;
    },
  };
}

/** The whole state of an Rng: every later draw follows from it (a uint32; JSON-safe). */
export type RngState = number;

/** Checks a stored RNG state: one clear line naming `origin` when it is not a uint32. */
export function checkRngState(x: unknown, origin: string): RngState {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff) {
    throw new Error(`${origin}: RNG state must be an integer in [0, 2^32), got ${JSON.stringify(x)}`);
  }
  return x;
}

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** A fresh 31-bit seed (for tfjs ops that take a seed, e.g. dropout). */
  seed(): number;
  /** The generator's state now: `setState` of it replays every later draw exactly. */
  getState(): RngState;
  setState(state: RngState): void;
}

export function makeRng(seed: number): Rng {
  const gen = mulberry32State(seed);
  const u = gen.next;
  return {
    uniform: u,
    getState: gen.get,
    setState: (state) => gen.set(checkRngState(state, 'RNG state')),
    normal() {
      // Box-Muller; 1 - u() is in (0, 1] so the log is finite.
      const r = Math.sqrt(-2 * Math.log(1 - u()));
      return r * Math.cos(2 * Math.PI * u());
    },
    int: (n) => Math.floor(u() * n),
    seed: () => Math.floor(u() * 2147483647),
  };
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}

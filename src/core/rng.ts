/**
 * Seeded randomness. Every random draw of a run (init, shuffling, dropout seeds, delta noise) comes from an
 * Rng made from the run's seed, so a run is reproducible from its config.
 * mulberry32: Tommy Ettinger's 32-bit generator (public domain); Box-Muller for normals.
 */

/** Uniform [0, 1) generator from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
}

export function makeRng(seed: number): Rng {
  const u = mulberry32(seed);
  return {
    uniform: u,
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

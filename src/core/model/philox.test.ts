// Philox4x32-10 and the dropout masks and normal noise drawn from it (philox.ts): Random123's known-answer vectors,
// the 64-bit product against BigInt, and whole masks and noise against an independent Python reference
// (scripts/golden/make_philox_golden.py -> test/golden/philox.json).
import { describe, expect, it } from 'vitest';

import { readJson } from '../../../test/helpers/nano.ts';
import { maskParams, mulHi, philox4x32, philoxMask, philoxNormal } from './philox.ts';

interface MaskCase {
  n: number;
  rate: number;
  seed: number;
  kept: string;
  keptCount: number;
  keptValueBits: number;
}

interface NoiseCase {
  n: number;
  sigma: number;
  seed: number;
  values: number[];
}

const golden = readJson<{ cases: MaskCase[]; noise: NoiseCase[] }>('test/golden/philox.json');
const hex = (words: ArrayLike<number>) => Array.from(words, (w) => w.toString(16).padStart(8, '0')).join(' ');
const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];

describe('philox4x32', () => {
  // Random123 1.14.0, tests/kat_vectors, the three rows "philox4x32 10" (counter, key -> result).
  it.each([
    ['00000000 00000000 00000000 00000000', '00000000 00000000', '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    ['ffffffff ffffffff ffffffff ffffffff', 'ffffffff ffffffff', '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    ['243f6a88 85a308d3 13198a2e 03707344', 'a4093822 299f31d0', 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ])("gives Random123's known answer for counter %s, key %s", (counter, key, want) => {
    const words = (s: string) => s.split(' ').map((w) => parseInt(w, 16));
    expect(hex(philox4x32(words(counter), words(key)))).toBe(want);
  });

  it('takes the high word of a 32 x 32-bit product exactly (against BigInt)', () => {
    const edge = [
      0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57,
    ];
    let x = 0x9e3779b9;
    const random = Array.from({ length: 200 }, () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0));
    for (const a of [...edge, ...random.slice(0, 100)]) {
      for (const b of [...edge, ...random.slice(100)]) {
        expect(mulHi(a, b), `${a} x ${b}`).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
      }
    }
  });
});

describe('philoxMask', () => {
  it.each(golden.cases.map((c) => [c.n, c.rate, c.seed, c] as const))(
    '%i entries at rate %f, seed %i: the Python reference mask, entry for entry',
    (n, rate, seed, c) => {
      const mask = philoxMask(n, rate, seed);
      const kept = Array.from(mask, (v) => (v === 0 ? '0' : '1')).join('');
      expect(kept).toBe(c.kept);
      const values = new Set(
        Array.from(mask)
          .filter((v) => v !== 0)
          .map(f32Bits),
      );
      expect([...values]).toEqual(c.keptCount > 0 ? [c.keptValueBits] : []);
    },
  );

  it('keeps about 1 - rate of the entries (within 5 binomial sd, 200,000 entries)', () => {
    for (const rate of [0.1, 0.5, 0.9]) {
      const n = 200_000;
      const kept = philoxMask(n, rate, 42).reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
      const sd = Math.sqrt(n * rate * (1 - rate));
      expect(Math.abs(kept - n * (1 - rate)), `rate ${rate}`).toBeLessThan(5 * sd);
    }
  });

  it('draws unrelated masks for neighbouring seeds (agreement near keep^2 + rate^2)', () => {
    const n = 100_000;
    const [a, b] = [philoxMask(n, 0.5, 1000), philoxMask(n, 0.5, 1001)];
    const same = a.reduce((s, v, i) => s + (v === b[i] ? 1 : 0), 0) / n;
    expect(Math.abs(same - 0.5)).toBeLessThan(0.01);
  });

  it('refuses a rate outside [0, 1) or a seed that is not a non-negative integer, in one line', () => {
    expect(() => maskParams(1, 0)).toThrow(/^dropout rate 1 is not in \[0, 1\)$/);
    expect(() => maskParams(-0.1, 0)).toThrow(/dropout rate -0.1/);
    expect(() => maskParams(0.1, 1.5)).toThrow(/^dropout seed 1.5 is not an integer >= 0$/);
    expect(() => maskParams(0.1, -1)).toThrow(/dropout seed -1/);
  });
});

describe('philoxNormal', () => {
  it.each(golden.noise.map((c) => [c.n, c.sigma, c.seed, c] as const))(
    '%i entries, sigma %f, seed %i: the Python reference to a float32 rounding',
    (n, sigma, seed, c) => {
      const got = philoxNormal(n, sigma, seed);
      expect(got.length).toBe(c.values.length);
      // Both round the double r cos(theta) to float32; the two libms' cos and log may differ in the last double bit.
      got.forEach((v, i) =>
        expect(Math.abs(v - (c.values[i] as number)), `entry ${i}`).toBeLessThanOrEqual(
          Math.abs(c.values[i] as number) * 2 ** -23,
        ),
      );
    },
  );

  it('has the moments of N(0, sigma^2) (200,000 draws: mean, variance, tails)', () => {
    const n = 200_000;
    const z = philoxNormal(n, 2, 99);
    const mean = z.reduce((a, v) => a + v, 0) / n;
    const variance = z.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    const tails = z.filter((v) => Math.abs(v) > 4).length / n; // |z| > 2 sd: 4.55%
    expect(Math.abs(mean)).toBeLessThan((5 * 2) / Math.sqrt(n));
    expect(Math.abs(variance / 4 - 1)).toBeLessThan(0.02);
    expect(Math.abs(tails - 0.0455)).toBeLessThan(0.003);
  });

  it('draws another noise for another seed, and nothing for 0 entries', () => {
    const a = philoxNormal(1000, 1, 5);
    const b = philoxNormal(1000, 1, 6);
    expect(a).not.toEqual(b);
    expect(philoxNormal(0, 1, 5)).toEqual(new Float32Array(0));
  });

  it('refuses a negative or non-finite sigma, or a bad seed, in one line', () => {
    expect(() => philoxNormal(4, -1, 0)).toThrow(/^noise sigma -1 is not a finite number >= 0$/);
    expect(() => philoxNormal(4, Number.NaN, 0)).toThrow(/noise sigma NaN/);
    expect(() => philoxNormal(4, 1, 0.5)).toThrow(/^noise seed 0.5 is not an integer >= 0$/);
  });
});

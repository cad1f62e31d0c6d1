/** The preview's truncation rate and histogram bins, from token-length counts. */
import { describe, expect, it } from 'vitest';

import { lengthHistogram, truncationRate } from './dataPreview.ts';

/** counts[n] = examples of n tokens, from a list of lengths. */
function counts(lengths: number[], size = 514): number[] {
  const c = new Array<number>(size).fill(0);
  for (const n of lengths) c[n] = (c[n] as number) + 1;
  return c;
}

describe('truncationRate', () => {
  it('is the share of examples longer than maxLength', () => {
    const c = counts([3, 5, 8, 8, 9, 20]);
    expect(truncationRate(c, 8)).toBeCloseTo(2 / 6, 15);
    expect(truncationRate(c, 20)).toBe(0);
    expect(truncationRate(c, 2)).toBe(1);
    expect(truncationRate(counts([]), 8)).toBeNaN();
  });
});

describe('lengthHistogram', () => {
  it('bins every example once, with maxLength on a bin edge', () => {
    const lengths = [3, 5, 8, 8, 9, 20, 513];
    for (const maxLength of [4, 8, 16, 64, 512]) {
      const bins = lengthHistogram(counts(lengths), maxLength);
      expect(bins.reduce((a, b) => a + b.count, 0)).toBe(lengths.length);
      expect(bins.some((b) => b.to === maxLength)).toBe(true);
      for (const b of bins) expect(b.truncated).toBe(b.from > maxLength);
      // contiguous, from 1
      expect(bins[0]?.from).toBe(1);
      bins.slice(1).forEach((b, i) => expect(b.from).toBe((bins[i]?.to as number) + 1));
      expect(bins.length).toBeLessThanOrEqual(40);
    }
  });

  it('counts truncated examples in truncated bins', () => {
    const bins = lengthHistogram(counts([3, 5, 8, 8, 9, 20]), 8);
    expect(bins.filter((b) => b.truncated).reduce((a, b) => a + b.count, 0)).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';

import { lrAt } from './schedule.ts';

describe('lrAt', () => {
  it('warms up linearly over 10% of the steps, then decays linearly', () => {
    // 100 steps, peak 1: warm-up 10 steps (0.1, 0.2, ..., 1.0), then (100 - step) / 90.
    expect([0, 1, 9].map((s) => lrAt(s, 100, 1))).toEqual([0.1, 0.2, 1]);
    expect(lrAt(10, 100, 1)).toBeCloseTo(1, 12);
    expect(lrAt(55, 100, 1)).toBeCloseTo(0.5, 12);
    expect(lrAt(99, 100, 1)).toBeCloseTo(1 / 90, 12);
    expect(lrAt(100, 100, 1)).toBe(0);
  });

  it('never returns a negative rate and handles a 1-step run', () => {
    expect(lrAt(0, 1, 2e-3)).toBe(2e-3);
    expect(lrAt(5, 3, 1)).toBe(0);
  });
});

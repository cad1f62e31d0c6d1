import { describe, expect, it } from 'vitest';

import { divergenceWarning, errorAdvice, estimateStepBytes, isOutOfMemory } from './advice.ts';
import { DEFAULT_CONFIG } from './coreConfig.ts';
import type { MetricRow } from '../protocol/messages.ts';

const row = (step: number, totalLoss: number) => ({ step, totalLoss }) as MetricRow;

describe('out-of-memory advice', () => {
  it('recognises the allocation failures of tfjs backends', () => {
    expect(isOutOfMemory('RangeError: Array buffer allocation failed')).toBe(true);
    expect(isOutOfMemory('GPU out of memory')).toBe(true);
    expect(isOutOfMemory("config field 'alpha' must be in [0, 1000]")).toBe(false);
  });

  it('estimates memory by hand for the tiny default (K = 1: 3 passes)', () => {
    // per layer and example: 64 * (10 * 128 + 2 * 512) + 2 * 2 * 64 * 64 = 163,840 floats;
    // activations 3 * 2 * 32 * 163,840 = 31,457,280; params 2 * (4 * 128^2 + 2 * 128 * 512) + 30,000 * 128
    // = 4,233,216; bytes 4 * (31,457,280 + 4 * 4,233,216) = 4 * 48,390,144 = 193,560,576.
    expect(estimateStepBytes(DEFAULT_CONFIG)).toBe(193_560_576);
  });

  it('names the sizes and what to shrink for batch 256 x 512 on small', () => {
    const c = { ...DEFAULT_CONFIG, model: 'small' as const, batchSize: 256, maxLength: 512 };
    const advice = errorAdvice('Array buffer allocation failed', c);
    expect(advice).toMatch(
      /^Out of memory: batch 256 x length 512 on the small model needs roughly \d+(\.\d+)? GB/,
    );
    expect(advice).toContain('smaller batch size');
    expect(advice).toContain('shorter maximum length');
    expect(advice).toContain('smaller model');
    expect(errorAdvice('the data file is empty', c)).toBeNull();
  });
});

describe('divergence warning', () => {
  it('warns with the loss, the step and the likely cause (alpha 1000, eta 100)', () => {
    const c = { ...DEFAULT_CONFIG, alpha: 1000, eta: 100 };
    const w = divergenceWarning([row(1, 0.7), row(2, 3251.2)], c);
    expect(w).toContain('Training diverged at step 2: the total loss is 3,251');
    expect(w).toContain('alpha 1000');
    expect(w).toContain('eta 100');
    expect(divergenceWarning([row(3, NaN)], DEFAULT_CONFIG)).toContain('the total loss is NaN');
  });

  it('says nothing for a healthy run', () => {
    expect(divergenceWarning([], DEFAULT_CONFIG)).toBeNull();
    expect(divergenceWarning([row(1, 0.69), row(2, 0.6)], DEFAULT_CONFIG)).toBeNull();
  });
});

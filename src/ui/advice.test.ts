import { describe, expect, it } from 'vitest';

import {
  divergenceWarning,
  errorAdvice,
  estimateStepBytes,
  formatCost,
  isOutOfMemory,
  stepCost,
} from './advice.ts';
import { DEFAULT_CONFIG, METHODS, type Method } from './coreConfig.ts';
import type { MetricRow } from '../protocol/messages.ts';

const row = (step: number, totalLoss: number) => ({ step, totalLoss }) as MetricRow;

describe('out-of-memory advice', () => {
  it('recognises the allocation failures of tfjs backends', () => {
    expect(isOutOfMemory('RangeError: Array buffer allocation failed')).toBe(true);
    expect(isOutOfMemory('GPU out of memory')).toBe(true);
    expect(isOutOfMemory("config field 'alpha' must be in [0, 1000]")).toBe(false);
  });

  it('estimates memory by hand for the tiny default (K = 1: 3 passes, 4 batches stacked)', () => {
    // per layer and example: 64 * (10 * 128 + 2 * 512) + 2 * 2 * 64 * 64 = 163,840 floats;
    // activations 4 * 2 * 32 * 163,840 = 41,943,040; params 2 * (4 * 128^2 + 2 * 128 * 512) + 30,000 * 128
    // = 4,233,216; bytes 4 * (41,943,040 + 4 * 4,233,216) = 4 * 58,875,904 = 235,503,616.
    expect(estimateStepBytes(DEFAULT_CONFIG)).toBe(235_503_616);
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

describe('the cost of a step per method (docs/alum-step.md, "Cost" and "Relatives")', () => {
  // Forward and backward passes and the passes recorded together, K = 3; counted from the methods' steps by
  // src/core/train/methods-cost.test.ts.
  const want: Record<Method, string> = {
    standard: '1F + 1B',
    alum: '5F + 5B',
    r3f: '2F + 2B',
    fgm: '3F + 3B',
    pgd: '5F + 5B',
    freelb: '4F + 3B',
    smart: '6F + 5B + a copy of the weights',
  };
  it.each(METHODS)('%s', (method) => {
    expect(formatCost(stepCost({ method, k: 3 }))).toBe(want[method]);
  });

  it('memory follows the passes recorded together: freelb one at a time, smart a copy of the weights more', () => {
    const c = (method: Method) => estimateStepBytes({ ...DEFAULT_CONFIG, method, k: 3 });
    expect(stepCost({ method: 'freelb', k: 3 }).recorded).toBe(1);
    expect(c('freelb')).toBe(c('standard'));
    expect(c('r3f')).toBeLessThan(c('fgm'));
    expect(c('pgd')).toBe(c('alum'));
    // SMART: ALUM's activations plus one more copy of the 4,233,216 weights (see the tiny default above).
    expect(c('smart') - c('alum')).toBe(4 * 4_233_216);
    const oom = errorAdvice('Array buffer allocation failed', { ...DEFAULT_CONFIG, method: 'smart', k: 2 });
    expect(oom).toContain('(smart keeps 5 batches of activations and an EMA copy of the weights)');
    expect(errorAdvice('out of memory', { ...DEFAULT_CONFIG, method: 'standard' })).not.toContain('keeps');
  });
});

describe('divergence causes per method', () => {
  const causes = (patch: Partial<typeof DEFAULT_CONFIG>) =>
    divergenceWarning([row(1, 0.7), row(2, 3251)], { ...DEFAULT_CONFIG, ...patch }) ?? '';

  it('names the settings the method reads, with their usual values', () => {
    expect(causes({ method: 'r3f', alpha: 50, sigma: 3 })).toContain(
      "alpha 50 (fairseq's --r3f-lambda defaults to 1), sigma 3 (fairseq's --eps is 1e-5)",
    );
    expect(causes({ method: 'fgm', epsilon: 40 })).toContain("epsilon 40 (FGM's default is 5)");
    expect(causes({ method: 'freelb', epsilon: 0, eta: 0.5, k: 3 })).toContain(
      'epsilon 0 leaves δ unbounded, with eta 0.5 over 3 passes',
    );
    expect(causes({ method: 'smart', smartMu: 100 })).toContain('smartMu 100');
  });

  it('leaves out what the method does not read: freelb has no alpha, standard no eta', () => {
    expect(causes({ method: 'freelb', alpha: 1000 })).not.toContain('alpha');
    expect(causes({ method: 'standard', alpha: 1000, eta: 100 })).not.toMatch(/alpha|eta/);
    expect(causes({ method: 'standard', alpha: 1000, eta: 100 })).toContain('Lower lr, then Reset.');
  });
});

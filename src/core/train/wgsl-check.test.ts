// The WGSL self-check (wgsl-check.ts): on Dawn (test/webgpu/selfcheck.ts in a child process; test/helpers/dawn.ts says
// why) it passes the programs as they are and turns them off, through initBackend, when one does not compile; on the cpu
// backend, how it compares two runs' numbers.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { describeOnDawn } from '../../../test/helpers/dawn.ts';
import type { SelfCheckReport } from '../../../test/webgpu/selfcheck.ts';
import { runsWgsl } from '../model/wgsl.ts';
import { wgslCheck, worstDifference } from './wgsl-check.ts';

describeOnDawn<SelfCheckReport>('test/webgpu/selfcheck.ts', 120_000, (reportOf) => {
  it('passes the programs as they are: within 1e-4 of the plain ops (tolerance 1e-3), and leaves them on', () => {
    const { healthy } = reportOf();
    expect(healthy.problem).toBeNull();
    expect(healthy.worst.rel, healthy.worst.name).toBeLessThan(1e-4);
    expect(
      healthy.worst.rel,
      'the two runs round differently: the plain run took the plain ops',
    ).toBeGreaterThan(0);
    expect(healthy.runsWgsl).toBe(true);
    expect(healthy.leakedTensors).toBe(0);
  });

  it('runs the plain ops while they are off for a plain run, and the programs again after it', () => {
    const alum = (counts: Record<string, number>) => Object.keys(counts).filter((k) => k.startsWith('Alum'));
    expect(alum(reportOf().forwardOff)).toEqual([]);
    expect(alum(reportOf().forwardOn)).toContain('AlumHeadsMatMul');
  });

  it('turns them off, saying why, when one does not compile; the model then runs the plain ops', () => {
    const { broken, forwardAfter } = reportOf();
    expect(broken.worst.rel, broken.worst.name).toBeGreaterThan(0.1);
    expect(broken.runsWgsl).toBe(false);
    expect(broken.offReason).toMatch(
      /^this app's WebGPU programs failed their self-check: .+ differs from the plain ops' by \S+ of its largest value$/,
    );
    const off = `${broken.offReason}; it trains on tfjs's own kernels`;
    expect(broken.calibrated.endsWith(`; ${off}`), `the calibrated choice: ${broken.calibrated}`).toBe(true);
    expect(broken.reason, 'a forced choice, after it').toBe(`forced by the backend option (webgpu); ${off}`);
    expect(Object.keys(forwardAfter).filter((k) => k.startsWith('Alum'))).toEqual([]);
    expect(forwardAfter['Erf'], "GELU's plain ops").toBeGreaterThan(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('has nothing to check on a backend that runs no WGSL', async () => {
    expect(runsWgsl()).toBe(false);
    expect(await wgslCheck()).toBeNull();
  });

  const numbers = (entries: [string, number[]][]) =>
    new Map(entries.map(([k, v]) => [k, Float32Array.from(v)] as [string, Float32Array]));

  it('measures each number against its largest magnitude, at least 1e-3, and names the worst', () => {
    const want = numbers([
      ['a', [10, -20]],
      ['b', [1e-6, 0]],
    ]);
    expect(worstDifference(want, want)).toEqual({ name: '', rel: 0 });
    const got = numbers([
      ['a', [10, -19.9]],
      ['b', [2e-6, 0]],
    ]);
    const worst = worstDifference(got, want);
    expect(worst.name).toBe('a');
    expect(worst.rel).toBeCloseTo(0.1 / 20, 6);
  });

  it('counts a NaN, a missing number or one of another size as infinitely far', () => {
    const want = numbers([['a', [1, 2]]]);
    expect(worstDifference(numbers([['a', [1, NaN]]]), want)).toEqual({ name: 'a', rel: Infinity });
    expect(worstDifference(numbers([['a', [1]]]), want).rel).toBe(Infinity);
    expect(worstDifference(new Map(), want)).toEqual({
      name: 'a (missing, or of another size)',
      rel: Infinity,
    });
  });
});

// The WebGPU Philox kernels (webgpu-philox.ts) against the CPU's draws (philoxMask, philoxNormal: philox.test.ts
// checks them against Random123 and a Python reference), run on Dawn in a child process (test/webgpu/philox.ts);
// and, on the cpu backend, what holds without a GPU: the kernels exist only for webgpu, and bad arguments get a
// one-line error.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectWebgpuOnly, hasSwiftShader, runOnDawn, SWIFTSHADER_ICD } from '../../../test/helpers/dawn.ts';
import { CASES, NOISE_CASES, type PhiloxReport } from '../../../test/webgpu/philox.ts';
import { DROPOUT_MASK, dropoutMaskWebgpu, NORMAL, normalWebgpu } from './webgpu-philox.ts';

describe.skipIf(!hasSwiftShader)(
  `on webgpu (Dawn on SwiftShader; skipped without ${SWIFTSHADER_ICD})`,
  () => {
    let report: PhiloxReport;
    beforeAll(() => {
      report = runOnDawn<PhiloxReport>('test/webgpu/philox.ts', 120_000);
    }, 150_000);

    it("makes philoxMask's mask bit for bit, for every size, rate and seed (a reshaped dispatch too)", () => {
      expect(report.masks.map(({ n, rate, seed }) => ({ n, rate, seed }))).toEqual(CASES);
      for (const m of report.masks) {
        expect(m.mismatches, `n ${m.n}, rate ${m.rate}, seed ${m.seed}`).toBe(0);
        if (m.n >= 4096) expect(Math.abs(m.keptFraction - (1 - m.rate)), `n ${m.n}`).toBeLessThan(0.02);
      }
    });

    it("draws philoxNormal's noise to within float32 log and cos, with N(0, 1)'s moments", () => {
      expect(report.noise.map(({ n, sigma, seed }) => ({ n, sigma, seed }))).toEqual(NOISE_CASES);
      for (const z of report.noise) {
        // WGSL promises cos and sin to 2^-11 absolute on [-pi, pi] and log to 2^-21 near 1: at most about r 2^-11,
        // r = sqrt(-2 ln u) <= 5.8 (measured on SwiftShader: 9.4e-4 of sigma).
        expect(z.maxError, `n ${z.n}, sigma ${z.sigma}`).toBeLessThan(3e-3);
        expect(z.maxAbs, `n ${z.n}`).toBeLessThan(6);
        if (z.n > 100_000) {
          expect(Math.abs(z.mean), `mean, n ${z.n}`).toBeLessThan(0.02);
          expect(Math.abs(z.variance - 1), `variance, n ${z.n}`).toBeLessThan(0.02);
        }
      }
    });

    it('runs one dispatch per mask and per noise draw', () => {
      expect(report.kernels).toEqual({ [DROPOUT_MASK]: 1, [NORMAL]: 1 });
    });

    it("gives the model's forward pass with dropout the cpu backend's logits (its masks are the same)", () => {
      expect(report.model.withDropout).toBeLessThan(1e-5);
      expect(report.model.dropoutChangesLogits, 'dropout 0.1 moves the logits').toBeGreaterThan(1e-2);
    });

    it('leaks no tensor', () => {
      expect(report.leakedTensors).toBe(0);
    });
  },
);

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([DROPOUT_MASK, NORMAL]);
  });

  it('refuses a bad rate or seed in one line before running anything', () => {
    expect(() => dropoutMaskWebgpu([4], 1.5, 0)).toThrow(/^dropout rate 1.5 is not in \[0, 1\)$/);
    expect(() => dropoutMaskWebgpu([4], 0.1, -3)).toThrow(/^dropout seed -3 is not an integer >= 0$/);
    expect(() => normalWebgpu([4], -1, 0)).toThrow(/^noise sigma -1 is not a finite number >= 0$/);
    expect(() => normalWebgpu([4], 1, 2 ** 60)).toThrow(/^noise seed \d+ is not an integer >= 0$/);
  });
});

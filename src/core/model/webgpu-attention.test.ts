// The WebGPU heads-in-place attention matMul (webgpu-attention.ts) against a float64 reference and the plain tfjs ops,
// forward and both gradients, in its three forms on random inputs of several shapes, run on Dawn in a child process
// (test/webgpu/attention.ts; test/helpers/dawn.ts says why); and, on the cpu backend, what holds without a GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { describeOnDawn, expectGoldenSteps, expectWebgpuOnly } from '../../../test/helpers/dawn.ts';
import type { AttentionReport, CaseReport, Errors } from '../../../test/webgpu/attention.ts';
import { CASES, FORMS } from '../../../test/webgpu/attention.ts';
import { attentionContext, attentionScores } from './fused.ts';
import { HEADS_MATMUL, headsMatMulShape } from './webgpu-attention.ts';

/** Float32 sums of up to 70 products against float64 and against tfjs's BatchMatMul: measured up to 3.6e-7 of max |b|. */
const TOLERANCE = 1e-6;

function expectWithin(errors: Errors, what: string, c: CaseReport): void {
  for (const [output, e] of Object.entries(errors)) {
    expect(e.rel, `${what}: '${c.form}' ${output} of ${JSON.stringify(c.shape)}`).toBeLessThan(TOLERANCE);
  }
}

describeOnDawn<AttentionReport>('test/webgpu/attention.ts', 120_000, (reportOf) => {
  it('gives each form and both its gradients of the float64 reference, on every shape', () => {
    const want = CASES.flatMap((shape) => FORMS.map((form) => ({ form, shape })));
    expect(reportOf().cases.map(({ form, shape }) => ({ form, shape }))).toEqual(want);
    for (const c of reportOf().cases) {
      expect(Object.keys(c.kernelVsF64), 'outputs compared').toEqual(['y', 'dLhs', 'dRhs']);
      expectWithin(c.kernelVsF64, 'kernel vs float64', c);
      expectWithin(c.plainCpuVsF64, 'plain ops (cpu) vs float64', c);
    }
  });

  it('gives the numbers of the plain tfjs ops (Transposes around a BatchMatMul) on webgpu and on cpu', () => {
    for (const c of reportOf().cases) {
      expectWithin(c.kernelVsPlainWebgpu, 'kernel vs plain ops (webgpu)', c);
      expectWithin(c.kernelVsPlainCpu, 'kernel vs plain ops (cpu)', c);
    }
  });

  it('runs one dispatch forward and two for both gradients, where the plain ops run 3 and 7', () => {
    const k = reportOf().kernels;
    for (const fn of ['scores', 'context'] as const) {
      expect(k[fn], fn).toEqual({ forward: { [HEADS_MATMUL]: 1 }, grad: { [HEADS_MATMUL]: 3 } });
    }
    for (const fn of ['scoresPlain', 'contextPlain'] as const) {
      expect(k[fn], fn).toEqual({
        forward: { Transpose: 2, BatchMatMul: 1 },
        grad: { Transpose: 4, BatchMatMul: 3 },
      });
    }
    expect(k.contextLhsOnly, "the probabilities' gradient alone").toEqual({ [HEADS_MATMUL]: 2 });
  });

  it('runs in the model: two per layer and no Transpose, the nano step matching PyTorch float64', () => {
    const m = reportOf().model;
    expect(m.forward[HEADS_MATMUL], 'nano: 2 layers').toBe(4);
    expect(m.forward['Transpose']).toBeUndefined();
    expectGoldenSteps({ standard: m.standard, alum: m.alum });
  });

  it("reads no entry past a head's columns: infinite q and k entries make the float64 reference's outputs non-finite, no others", () => {
    const { kernel, reference } = reportOf().nonFinite;
    const some = reference.map((indices) => indices.length > 0);
    expect(some, 'y, dq and dk have some').toEqual([true, true, true]);
    expect(kernel).toEqual(reference);
  });

  it('refuses shapes that do not fit in one line, and leaks no tensor', () => {
    expect(reportOf().badShapes).toEqual([
      "headsMatMul 'pv': lhs [6,5,9] and rhs [2,5,12] with 3 heads: want rhs [B, 9, H]",
      "headsMatMul 'qk': lhs [2,5,10] and rhs [2,5,10] with 3 heads: width 10 is not a multiple of the heads",
      "headsMatMul 'ptv': lhs [6,5,9] and rhs [2,5,12] with 2 heads: want lhs [B A, Tq, Tk] with B A = 4",
      'headsMatMul: blocks per dispatch 0 is not a whole number from 1 to 65535',
      'attentionContext: want probabilities [2, 2, Tq, Tk] for v [2,5,12] and 2 heads, got [2,3,5,9]',
    ]);
    expect(reportOf().leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernel for webgpu only', () => {
    expectWebgpuOnly([HEADS_MATMUL]);
  });

  it('leaves the other backends on Transposes and BatchMatMul (no Alum kernel in their profile)', async () => {
    const [q, p] = [tf.randomNormal([2, 5, 12]) as tf.Tensor3D, tf.randomNormal([2, 3, 5, 5]) as tf.Tensor4D];
    const info = await tf.profile(() =>
      tf.dispose(tf.tidy(() => [attentionScores(q, q, 3), attentionContext(p, q, 3)])),
    );
    const names = info.kernels.map((k) => k.name);
    expect(names.filter((n) => n === 'Transpose')).toHaveLength(4);
    expect(names.filter((n) => n === 'BatchMatMul')).toHaveLength(2);
    expect(names.filter((n) => n.startsWith('Alum'))).toEqual([]);
    tf.dispose([q, p]);
  });

  it("sizes each form's output and grid from its inputs", () => {
    expect(headsMatMulShape('qk', [2, 5, 12], [2, 9, 12], 3)).toEqual({ out: [6, 5, 9], grid: [5, 9, 6] });
    expect(headsMatMulShape('pv', [6, 5, 9], [2, 9, 12], 3)).toEqual({ out: [2, 5, 12], grid: [5, 4, 6] });
    expect(headsMatMulShape('ptv', [6, 5, 9], [2, 5, 12], 3)).toEqual({ out: [2, 9, 12], grid: [9, 4, 6] });
  });

  it('checks shapes before it runs anything', () => {
    expect(() => headsMatMulShape('qk', [2, 5, 12], [3, 5, 12], 3)).toThrow(
      "headsMatMul 'qk': lhs [2,5,12] and rhs [3,5,12] with 3 heads: want lhs and rhs [B, T, H] of the same B and H",
    );
    expect(() => headsMatMulShape('pv', [6, 5], [2, 5, 12], 3)).toThrow(/want rank-3 inputs/);
    expect(() => headsMatMulShape('pv', [6, 16 * 65_536, 9], [2, 9, 12], 3)).toThrow(
      /more than 65535 workgroups along one dispatch dimension/,
    );
  });
});

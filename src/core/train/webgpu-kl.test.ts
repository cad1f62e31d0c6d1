// The WebGPU KL kernels (webgpu-kl.ts) against a float64 reference and the plain tfjs ops (losses.ts
// `klRowsTowardOps`), value and gradient, on logits of several shapes and closenesses, run on Dawn in a child
// process (test/webgpu/kl.ts; test/helpers/dawn.ts says why); and, on the cpu backend, what holds without a GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectGoldenSteps, describeOnDawn, expectWebgpuOnly } from '../../../test/helpers/dawn.ts';
import type { ErrorPair, KlCase, KlReport } from '../../../test/webgpu/kl.ts';
import { KL_CASES } from '../../../test/webgpu/kl.ts';
import { klRowsToward } from './losses.ts';
import { KL_ROWS, KL_ROWS_GRAD, klRowsTowardWebgpu } from './webgpu-kl.ts';

/** Float32 against float64, relative to the largest value: measured up to 2.3e-7 (value) and 4.9e-7 (gradient). */
const TOLERANCE = 1e-6;

function expectWithin(e: ErrorPair | undefined, c: KlCase, output: string, what: string): void {
  const label = `${what}: ${output} of [${c.shape.join(',')}]`;
  expect(e, label).toBeDefined();
  if (c.abs) expect(e?.abs, label).toBeLessThan(c.abs[output as 'value' | 'dq']);
  else expect(e?.rel, label).toBeLessThan(TOLERANCE);
}

describeOnDawn<KlReport>('test/webgpu/kl.ts', 280_000, (reportOf) => {
  it('gives KL(sg p || q) per row and its gradient w.r.t. q of the float64 reference, on every shape', () => {
    expect(reportOf().cases.map((c) => c.shape)).toEqual(KL_CASES.map((c) => c.shape));
    for (const [i, r] of reportOf().cases.entries()) {
      const c = KL_CASES[i] as KlCase;
      const outputs = c.forwardOnly ? ['value'] : ['value', 'dq'];
      expect(Object.keys(r.kernelVsF64), 'outputs compared').toEqual(outputs);
      for (const o of outputs) {
        expectWithin(r.kernelVsF64[o as 'value' | 'dq'], c, o, 'kernel vs float64');
        expectWithin(r.plainCpuVsF64[o as 'value' | 'dq'], c, o, 'plain ops (cpu) vs float64');
      }
    }
  });

  it('gives the numbers of the plain tfjs ops (klRowsTowardOps) on webgpu and on cpu', () => {
    for (const [i, r] of reportOf().cases.entries()) {
      const c = KL_CASES[i] as KlCase;
      for (const [o, e] of Object.entries(r.kernelVsPlainWebgpu))
        expectWithin(e, c, o, 'kernel vs plain (webgpu)');
      for (const [o, e] of Object.entries(r.kernelVsPlainCpu)) expectWithin(e, c, o, 'kernel vs plain (cpu)');
    }
  });

  it('runs one dispatch for the value and one more for the gradient, where the plain ops run 56 and 57', () => {
    const { kernel, plain } = reportOf().kernels;
    expect(kernel).toEqual({ forward: { [KL_ROWS]: 1 }, grad: { [KL_ROWS]: 1, [KL_ROWS_GRAD]: 1 } });
    const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    expect([sum(plain.forward), sum(plain.grad)]).toEqual([56, 57]);
  });

  it('runs in the ALUM step (inner KL, sym-KL and klAdv), the nano steps matching PyTorch float64', () => {
    // K = 2 inner steps (two KLs, each differentiated w.r.t. delta) and the sym-KL (one KL over stacked rows).
    expect(reportOf().klKernelsPerAlumStep).toEqual({ value: 3, grad: 3 });
    expectGoldenSteps(reportOf().model);
  });

  it('gives NaN where the plain ops do: a NaN logit is never taken for a row that nearly agrees', () => {
    const { kernel, plainWebgpu, plainCpu } = reportOf().nanRows;
    const rows = [false, true, false, true];
    expect(plainCpu).toEqual({ value: rows, dq: rows });
    expect(plainWebgpu).toEqual(plainCpu);
    expect(kernel).toEqual(plainCpu);
  });

  it('refuses logits that differ in shape in one line, and leaks no tensor', () => {
    expect(reportOf().badShape).toBe('klRowsToward: logits [2,3] and [2,4] differ (want two [R, C])');
    expect(reportOf().leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([KL_ROWS, KL_ROWS_GRAD]);
  });

  it('leaves the other backends on the plain ops (no Alum kernel in the KL)', async () => {
    const [p, q] = [tf.randomNormal([3, 4]) as tf.Tensor2D, tf.randomNormal([3, 4]) as tf.Tensor2D];
    const info = await tf.profile(() => klRowsToward(p, q));
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain('Softmax');
    expect(names.filter((n) => n.startsWith('Alum'))).toEqual([]);
    tf.dispose([p, q, info.result as tf.Tensor]);
  });

  it('checks shapes before it runs anything', () => {
    const [p, q] = [tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([3, 3]) as tf.Tensor2D];
    expect(() => klRowsTowardWebgpu(p, q, 0.01)).toThrow(/logits \[2,3\] and \[3,3\] differ/);
    tf.dispose([p, q]);
  });
});

// The WebGPU GELU and masked-softmax kernels (webgpu-activations.ts) against a float64 reference and the plain tfjs
// ops, forward and gradient, on random inputs of several shapes, run on Dawn in a child process
// (test/webgpu/activations.ts; test/helpers/dawn.ts says why); and, on the cpu backend, what holds without a GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectGoldenSteps, describeOnDawn, expectWebgpuOnly } from '../../../test/helpers/dawn.ts';
import type { ActivationsReport, CaseReport, Errors } from '../../../test/webgpu/activations.ts';
import { CASES } from '../../../test/webgpu/activations.ts';
import { geluFused, maskedSoftmax } from './fused.ts';
import {
  GELU,
  GELU_GRAD,
  MASKED_SOFTMAX,
  MASKED_SOFTMAX_GRAD,
  maskedSoftmaxWebgpu,
} from './webgpu-activations.ts';

/** Float32 against float64 (and against the plain ops' float32): measured up to 2.2e-7 of max |b|. */
const TOLERANCE = 1e-6;

function expectWithin(errors: Errors, what: string, c: CaseReport): void {
  for (const [output, e] of Object.entries(errors)) {
    expect(e.rel, `${what}: ${c.fn} ${output} of [${c.shape.join(',')}]`).toBeLessThan(TOLERANCE);
  }
}

describeOnDawn<ActivationsReport>('test/webgpu/activations.ts', 280_000, (reportOf) => {
  it('gives GELU, the masked softmax and their gradients of the float64 reference, on every shape', () => {
    expect(reportOf().cases.map((c) => c.shape)).toEqual(CASES.map((c) => c.shape));
    for (const [i, c] of reportOf().cases.entries()) {
      const outputs = CASES[i]?.forwardOnly ? ['y'] : ['y', 'dx'];
      expect(Object.keys(c.kernelVsF64), 'outputs compared').toEqual(outputs);
      expectWithin(c.kernelVsF64, 'kernel vs float64', c);
      expectWithin(c.plainCpuVsF64, 'plain ops (cpu) vs float64', c);
    }
  });

  it('gives the numbers of the plain tfjs ops (geluOps, maskedSoftmaxOps) on webgpu and on cpu', () => {
    for (const c of reportOf().cases) {
      expectWithin(c.kernelVsPlainWebgpu, 'kernel vs plain ops (webgpu)', c);
      expectWithin(c.kernelVsPlainCpu, 'kernel vs plain ops (cpu)', c);
    }
  });

  it('runs one dispatch forward and one more for the gradient, where the plain ops run 3 to 13', () => {
    const k = reportOf().kernels;
    expect(k.gelu).toEqual({ forward: { [GELU]: 1 }, grad: { [GELU]: 1, [GELU_GRAD]: 1 } });
    expect(k.softmax).toEqual({
      forward: { [MASKED_SOFTMAX]: 1 },
      grad: { [MASKED_SOFTMAX]: 1, [MASKED_SOFTMAX_GRAD]: 1 },
    });
    const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    expect(sum(k.geluPlain.forward)).toBe(5);
    expect(sum(k.geluPlain.grad)).toBe(13);
    expect(sum(k.softmaxPlain.forward)).toBe(3);
    expect(sum(k.softmaxPlain.grad)).toBe(8);
  });

  it('runs in the model: one GELU and one softmax kernel per layer, the nano step matching PyTorch float64', () => {
    const m = reportOf().model;
    expect([m.geluKernelsPerForward, m.softmaxKernelsPerForward], 'nano: 2 layers').toEqual([2, 2]);
    expectGoldenSteps({ standard: m.standard, alum: m.alum });
  });

  it('refuses scores and a bias that do not fit in one line, and leaks no tensor', () => {
    expect(reportOf().badShape).toBe(
      'maskedSoftmax: scores [2,3,4,4] and bias [2,1,4,4] do not fit (want [B,A,Tq,T] and [B,1,1,T])',
    );
    expect(reportOf().leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([GELU, GELU_GRAD, MASKED_SOFTMAX, MASKED_SOFTMAX_GRAD]);
  });

  it('leaves the other backends on the plain ops (no Alum kernel in their profile)', async () => {
    const [x, bias] = [tf.randomNormal([2, 2, 4, 4]), tf.zeros([2, 1, 1, 4])];
    const info = await tf.profile(() => tf.dispose(tf.tidy(() => maskedSoftmax(geluFused(x), 2, bias))));
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain('Softmax');
    expect(names).toContain('Erf');
    expect(names.filter((n) => n.startsWith('Alum'))).toEqual([]);
    tf.dispose([x, bias]);
  });

  it('checks shapes before it runs anything', () => {
    const [s, b] = [tf.zeros([2, 3, 4]), tf.zeros([2, 1, 1, 4])];
    expect(() => maskedSoftmaxWebgpu(s, 1, b)).toThrow(/scores \[2,3,4\] and bias \[2,1,1,4\] do not fit/);
    tf.dispose([s, b]);
  });
});

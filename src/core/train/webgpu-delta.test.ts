// The WebGPU delta-update kernels (webgpu-delta.ts) against a float64 reference and the plain tfjs ops (alum.ts
// `updateDeltaOps`), for every variant and norm, run on Dawn in a child process (test/webgpu/delta.ts;
// test/helpers/dawn.ts says why); and, on the cpu backend, what holds without a GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { describeOnDawn, expectGoldenSteps, expectWebgpuOnly } from '../../../test/helpers/dawn.ts';
import type { DeltaCaseReport, DeltaReport, Errors } from '../../../test/webgpu/delta.ts';
import { NORMS, SHAPES, VARIANTS } from '../../../test/webgpu/delta.ts';
import { updateDelta } from './alum.ts';
import { DELTA_EFF, DELTA_NEXT, updateDeltaWebgpu } from './webgpu-delta.ts';

/** Float32 against float64, relative to the largest value: measured up to 1.8e-7. */
const TOLERANCE = 1e-6;

function expectWithin(errors: Errors, what: string, c: DeltaCaseReport): void {
  for (const [output, e] of Object.entries(errors)) {
    expect(e.rel, `${what}: ${c.variant} ${c.norm} ${output} of [${c.shape.join(',')}]`).toBeLessThan(
      TOLERANCE,
    );
  }
}

describeOnDawn<DeltaReport>('test/webgpu/delta.ts', 110_000, (reportOf) => {
  it('updates delta and eff as the float64 reference, for every variant, norm and shape', () => {
    const want = VARIANTS.flatMap((variant) =>
      NORMS.flatMap((norm) => SHAPES.map((shape) => [variant, norm, shape])),
    );
    expect(reportOf().cases.map((c) => [c.variant, c.norm, c.shape])).toEqual(want);
    for (const c of reportOf().cases) {
      expectWithin(c.kernelVsF64, 'kernel vs float64', c);
      expectWithin(c.plainCpuVsF64, 'plain ops (cpu) vs float64', c);
    }
  });

  it('gives the numbers of the plain tfjs ops (updateDeltaOps) on webgpu and on cpu', () => {
    for (const c of reportOf().cases) {
      expectWithin(c.kernelVsPlainWebgpu, 'kernel vs plain ops (webgpu)', c);
      expectWithin(c.kernelVsPlainCpu, 'kernel vs plain ops (cpu)', c);
    }
  });

  it("runs two dispatches where the plain ops run ten (the default 'paper', L-inf)", () => {
    const { kernel, plain } = reportOf().kernels;
    expect(kernel).toEqual({ [DELTA_NEXT]: 1, [DELTA_EFF]: 1 });
    expect(Object.values(plain).reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('runs in the ALUM step: the nano step matches PyTorch float64', () => {
    expectGoldenSteps(reportOf().model);
  });

  it('gives NaN where the plain ops do, for every variant and norm (a NaN gradient entry)', () => {
    expect(reportOf().nanRows).toHaveLength(VARIANTS.length * NORMS.length);
    for (const r of reportOf().nanRows) {
      const what = `${r.variant} ${r.norm}`;
      expect(r.plainCpu.next[1], `${what}: the NaN row`).toBe(true);
      expect(r.plainWebgpu, what).toEqual(r.plainCpu);
      expect(r.kernel, what).toEqual(r.plainCpu);
    }
  });

  it('refuses inputs that do not fit in one line, and leaks no tensor', () => {
    expect(reportOf().badShape).toBe(
      'updateDelta: delta [2,3,4], gradient [2,3,4] and mask [2,3,4] do not fit (want [B,T,H], [B,T,H], [B,T,1])',
    );
    expect(reportOf().leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([DELTA_NEXT, DELTA_EFF]);
  });

  it('leaves the other backends on the plain ops (no Alum kernel in an update)', async () => {
    const [d, g, m] = [tf.zeros([1, 2, 3]), tf.ones([1, 2, 3]), tf.ones([1, 2, 1])] as tf.Tensor3D[];
    const s = { variant: 'paper', eta: 1e-3, epsilon: 1e-5, norm: 'inf' } as const;
    const info = await tf.profile(() => {
      const out = updateDelta(d as tf.Tensor3D, g as tf.Tensor3D, m as tf.Tensor3D, s);
      return [out.next, out.eff];
    });
    expect(info.kernels.map((k) => k.name).filter((n) => n.startsWith('Alum'))).toEqual([]);
    tf.dispose([d, g, m, ...(info.result as tf.Tensor[])] as tf.Tensor[]);
  });

  it('checks shapes before it runs anything', () => {
    const [d, m] = [tf.zeros([2, 3, 4]) as tf.Tensor3D, tf.zeros([2, 3, 2]) as tf.Tensor3D];
    const s = { variant: 'paper', norm: 'inf', eta: 1, epsilon: 1, normEps: 0 } as const;
    expect(() => updateDeltaWebgpu(d, d, m, s)).toThrow(/mask \[2,3,2\] do not fit/);
    tf.dispose([d, m]);
  });
});

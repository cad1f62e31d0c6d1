// The WebGPU LayerNorm kernels (webgpu-layernorm.ts) against a float64 reference and the plain tfjs ops, forward
// and gradients, on random inputs of several shapes, run on Dawn in a child process (test/webgpu/layernorm.ts:
// Dawn reads its Vulkan driver's location from the environment only when the process starts); and, on the cpu
// backend, what holds without a GPU: the kernels exist only for webgpu, and bad shapes get a one-line error.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  expectGoldenSteps,
  expectWebgpuOnly,
  hasSwiftShader,
  runOnDawn,
  SWIFTSHADER_ICD as ICD,
} from '../../../test/helpers/dawn.ts';
import type { CaseReport, Errors, LayerNormReport } from '../../../test/webgpu/layernorm.ts';
import {
  ADD_LAYER_NORM,
  COLUMN_SUM,
  LAYER_NORM,
  LAYER_NORM_GRAD_BETA,
  LAYER_NORM_GRAD_GAMMA,
  LAYER_NORM_GRAD_X,
  LAYER_NORM_STATS,
  layerNormWebgpu,
} from './webgpu-layernorm.ts';
import { rowWorkgroupSize } from './wgsl.ts';

/** Float32 sums against float64 (and against the plain ops' float32 sums): measured up to 3e-7 of max |b|. */
const TOLERANCE = 1e-6;

const runChild = (): LayerNormReport => runOnDawn<LayerNormReport>('test/webgpu/layernorm.ts', 280_000);

function expectWithin(errors: Errors, what: string, c: CaseReport): void {
  for (const [output, e] of Object.entries(errors)) {
    const res = c.residual ? ' with a residual' : '';
    expect(e.rel, `${what} ${output} of [${c.shape.join(',')}] eps ${c.eps}${res}`).toBeLessThan(TOLERANCE);
  }
}

describe.skipIf(!hasSwiftShader)(`on webgpu (Dawn on SwiftShader; skipped without ${ICD})`, () => {
  let report: LayerNormReport;
  beforeAll(() => {
    report = runChild();
  }, 300_000);

  it('gives LayerNorm and its gradients (dx, dgamma, dbeta) of the float64 reference, on every shape', () => {
    expect(report.cases.length).toBeGreaterThanOrEqual(19);
    for (const c of report.cases) {
      expect(Object.keys(c.kernelVsF64).length, 'outputs compared').toBeGreaterThanOrEqual(1);
      expectWithin(c.kernelVsF64, 'kernel vs float64', c);
      expectWithin(c.plainCpuVsF64, 'plain ops (cpu) vs float64', c);
    }
    const full = report.cases.filter((c) => !c.residual && Object.keys(c.kernelVsF64).length === 4);
    expect(full.length, 'cases with gradients').toBeGreaterThanOrEqual(14);
  });

  it('gives LayerNorm of x + res and its gradients (dres = dx) of the float64 reference, the sum made inside', () => {
    const residual = report.cases.filter((c) => c.residual);
    expect(residual.map((c) => Object.keys(c.kernelVsF64).sort().join())).toEqual([
      'dbeta,dgamma,dres,dx,y',
      'dbeta,dgamma,dres,dx,y',
      'dbeta,dgamma,dres,dx,y',
      'y',
    ]);
    for (const c of residual) {
      expectWithin(c.kernelVsF64, 'kernel vs float64', c);
      expectWithin(c.kernelVsPlainWebgpu, 'kernel vs Add and plain ops (webgpu)', c);
    }
    expect(report.kernels.residual).toEqual({
      forward: { [ADD_LAYER_NORM]: 1 },
      gradX: { [ADD_LAYER_NORM]: 1, [LAYER_NORM_GRAD_X]: 1 },
      gradAll: {
        [ADD_LAYER_NORM]: 1,
        [LAYER_NORM_GRAD_X]: 1,
        [LAYER_NORM_STATS]: 1,
        [LAYER_NORM_GRAD_GAMMA]: 1,
        [LAYER_NORM_GRAD_BETA]: 1,
      },
    });
  });

  it('gives the numbers of the plain tfjs ops (layerNormOps) on webgpu and on cpu', () => {
    for (const c of report.cases) {
      expectWithin(c.kernelVsPlainWebgpu, 'kernel vs plain ops (webgpu)', c);
      expectWithin(c.kernelVsPlainCpu, 'kernel vs plain ops (cpu)', c);
    }
  });

  it('runs one dispatch forward, one more for dx alone, five in all with dgamma and dbeta', () => {
    const k = report.kernels.kernel;
    expect(k.forward).toEqual({ [LAYER_NORM]: 1 });
    expect(k.gradX).toEqual({ [LAYER_NORM]: 1, [LAYER_NORM_GRAD_X]: 1 });
    expect(k.gradAll).toEqual({
      [LAYER_NORM]: 1,
      [LAYER_NORM_GRAD_X]: 1,
      [LAYER_NORM_STATS]: 1,
      [LAYER_NORM_GRAD_GAMMA]: 1,
      [LAYER_NORM_GRAD_BETA]: 1,
    });
    const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    expect(sum(report.kernels.plain.forward)).toBeGreaterThan(5);
  });

  it("gives a dense layer's bias gradient as one column-sum dispatch, to float32 rounding of the float64 sums", () => {
    expect(report.linearBias.kernels).toEqual({ _FusedMatMul: 1, [COLUMN_SUM]: 1 });
    expect(report.linearBias.errors.length).toBe(3);
    for (const e of report.linearBias.errors) expect(e.rel, `[${e.shape.join(',')}]`).toBeLessThan(TOLERANCE);
  });

  it('runs in the model: one kernel per LayerNorm, the nano step matching PyTorch float64 (standard and ALUM)', () => {
    const m = report.model;
    expect(m.layerNormKernelsPerForward, 'embeddings + 2 layers x 2').toBe(5);
    expect(m.addLayerNormKernelsPerForward, 'each adds its residual (the embeddings: the token types)').toBe(
      5,
    );
    expect(m.addKernelsPerForward, "the embeddings' words + positions alone").toBe(1);
    expectGoldenSteps({ standard: m.standard, alum: m.alum });
  });

  it('leaks no tensor', () => {
    expect(report.leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([
      ADD_LAYER_NORM,
      COLUMN_SUM,
      LAYER_NORM,
      LAYER_NORM_GRAD_X,
      LAYER_NORM_STATS,
      LAYER_NORM_GRAD_GAMMA,
      LAYER_NORM_GRAD_BETA,
    ]);
  });

  it('refuses gamma, beta or a residual that do not fit x in one line', () => {
    const [x, g3, g4, b4, b14] = [
      tf.zeros([2, 4]),
      tf.ones([3]),
      tf.ones([4]),
      tf.zeros([4]),
      tf.zeros([1, 4]),
    ];
    expect(() => layerNormWebgpu(x, g3, b4, 1e-5)).toThrow(
      'layerNorm: x [2,4], gamma [3], beta [4] do not fit',
    );
    expect(() => layerNormWebgpu(x, g4, b14, 1e-5)).toThrow(/beta \[1,4\] do not fit/);
    expect(() => layerNormWebgpu(x, g4, b4, 1e-5, b14)).toThrow(
      'layerNorm: x [2,4], gamma [4], beta [4], residual [1,4] do not fit',
    );
    tf.dispose([x, g3, g4, b4, b14]);
  });

  it('gives each row a power-of-two workgroup, wider for longer rows', () => {
    const sizes = [8, 32, 33, 256, 257, 768, 2048, 4096].map(rowWorkgroupSize);
    expect(sizes).toEqual([32, 32, 64, 64, 128, 128, 256, 256]);
  });
});

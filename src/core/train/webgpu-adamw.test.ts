// The optimizer's webgpu kernels: AdamW's update as three WGSL programs (webgpu-adamw.ts) and the flat buffers'
// concatenation and split by buffer copies (../model/webgpu-copy.ts), against tf.concat / tf.split, AdamW's plain
// ops (webgpu and cpu), a float64 loop and torch's AdamW, run on Dawn in a child process (test/webgpu/optimizer.ts;
// test/helpers/dawn.ts says why); and, on the cpu backend, what holds without a GPU.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { describeOnDawn, expectWebgpuOnly } from '../../../test/helpers/dawn.ts';
import type { ErrorPair, OptimizerReport } from '../../../test/webgpu/optimizer.ts';
import { ADAM_CASES, COPY_CASES } from '../../../test/webgpu/optimizer.ts';
import { variableFrom } from '../model/params.ts';
import { CONCAT_COPY, SPLIT_COPY } from '../model/webgpu-copy.ts';
import { AdamW, ADAMW_DEFAULTS } from './adamw.ts';
import { ADAM_MOMENT, ADAM_WEIGHTS, weightsWebgpu } from './webgpu-adamw.ts';

/** Float32 against float64 over four updates: measured up to 2.8e-7 of the largest magnitude. */
const TOLERANCE = 1e-6;

const exact = (e: ErrorPair, what: string) => expect(e.abs, what).toBe(0);
const within = (e: ErrorPair, what: string) => expect(e.rel, what).toBeLessThan(TOLERANCE);

describeOnDawn<OptimizerReport>('test/webgpu/optimizer.ts', 110_000, (reportOf) => {
  it('concatenates and splits by copies the values of tf.concat and tf.split, bit for bit', () => {
    expect(reportOf().copies.map((c) => c.sizes)).toEqual(COPY_CASES);
    for (const c of reportOf().copies) {
      exact(c.concat, `concat of ${c.sizes.length}`);
      exact(c.split, `split into ${c.sizes.length}`);
    }
  });

  it('copies after the programs before it, from inputs still on the CPU, and from a source already disposed', () => {
    exact(reportOf().copyOrdering, 'parts as written');
  });

  it('joins or cuts 73 tensors in one kernel and no program', () => {
    expect(reportOf().copyKernels).toEqual({ concat: { [CONCAT_COPY]: 1 }, split: { [SPLIT_COPY]: 1 } });
  });

  it("updates as AdamW's plain ops on webgpu (bit for bit) and on cpu, and as a float64 torch AdamW", () => {
    expect(reportOf().adam.map((a) => a.label)).toEqual(ADAM_CASES.map((c) => c.label));
    for (const a of reportOf().adam) {
      exact(a.fusedVsPlainWebgpu, `${a.label}: fused vs plain ops, webgpu`);
      within(a.fusedVsPlainCpu, `${a.label}: fused vs plain ops, cpu`);
      within(a.fusedVsF64, `${a.label}: fused vs float64`);
      within(a.plainCpuVsF64, `${a.label}: plain ops (cpu) vs float64`);
    }
  });

  it("matches torch's AdamW with clip_grad_norm_ over the golden file's two updates", () => {
    expect(reportOf().torch).toHaveLength(2);
    reportOf().torch.forEach((e, i) => expect(e.abs, `update ${i + 1}`).toBeLessThan(1e-6));
  });

  it('updates a group in three programs and one split, where the plain ops take seventeen', () => {
    const { fused, plain } = reportOf().updateKernels;
    expect(fused).toEqual({ [ADAM_MOMENT]: 2, [ADAM_WEIGHTS]: 1, [SPLIT_COPY]: 1 });
    const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    expect(sum(plain)).toBe(17);
  });

  it('copies float32 storage only: a cast int32 tensor is concatenated by tf.concat, or refused in one line', () => {
    exact(reportOf().relabelled.concatFlat, 'concatFlat with a relabelled int32 tensor');
    expect(reportOf().relabelled.refusal).toBe(
      `${CONCAT_COPY}: expected float32 tensors, got float32 stored as int32`,
    );
  });

  it('refuses parts that do not cut the tensor in one line, and leaks no tensor', () => {
    expect(reportOf().badSplit).toBe('splitByCopies: parts [2,2] do not cut 5 values');
    expect(reportOf().leakedTensors).toBe(0);
  });
});

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers its kernels for webgpu only', () => {
    expectWebgpuOnly([ADAM_MOMENT, ADAM_WEIGHTS, CONCAT_COPY, SPLIT_COPY]);
  });

  it('leaves the other backends on the plain ops (no Alum kernel in an update)', async () => {
    const params = new Map([
      ['a.weight', variableFrom(Float32Array.from([1, 2, 3, 4]), [2, 2])],
      ['a.bias', variableFrom(Float32Array.from([1, 2]), [2])],
    ]);
    const opt = new AdamW(params, ADAMW_DEFAULTS);
    expect(opt.fused).toBe(false);
    const grads = new Map([...params].map(([n, p]) => [n, tf.onesLike(p)]));
    const info = await tf.profile(() => opt.apply(grads, 0.1));
    expect(info.kernels.map((k) => k.name).filter((n) => n.startsWith('Alum'))).toEqual([]);
    tf.dispose([...grads.values()]);
    opt.dispose();
    params.forEach((p) => p.dispose());
  });

  it('says in one line when a floor is given without a mixed decay, or missing with one', () => {
    const x = tf.zeros([3]);
    const c = { beta1: 0.9, beta2: 0.999, sqrtBc2: 1, eps: 1e-6, lrBc1: 1, factor: 1 };
    expect(() => weightsWebgpu(x, x, x, 'all', x, c)).toThrow(
      'weightsWebgpu: a floor is given exactly when the decay is mixed (got all)',
    );
    expect(() => weightsWebgpu(x, x, x, 'mixed', null, c)).toThrow(/got mixed/);
    x.dispose();
  });
});

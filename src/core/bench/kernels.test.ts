// Kernel counts of a training step (src/core/bench/kernels.ts): they depend on the model and the method, not on
// the batch or the sequence length, so a small shape measures what a large one costs (cpu backend).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { countKernels, dispatchesOf, tally } from './kernels.ts';
import { benchRun, type BenchShape } from './run.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Kernels of the second step of a run of `shape` (the first lays the optimizer out). */
async function stepKernels(shape: BenchShape) {
  const run = benchRun({ ...shape, vocab: 50 });
  try {
    await run.trainStep();
    return await countKernels(() => run.trainStep());
  } finally {
    run.dispose();
  }
}

describe('kernel counts of a training step', () => {
  it('do not depend on batch size or sequence length (nano, ALUM K=1)', async () => {
    const alum = { model: 'nano', method: 'alum', k: 1 } as const;
    const small = await stepKernels({ ...alum, batchSize: 2, maxLength: 8 });
    const large = await stepKernels({ ...alum, batchSize: 5, maxLength: 16 });
    expect(large.byOp).toEqual(small.byOp);
    expect(large.dispatches).toBe(small.dispatches);
    expect(large.bytesAllocated).toBeGreaterThan(small.bytesAllocated);
  });

  it("stay within issue 9's budget: a small ALUM K=1 step dispatches at most 1,200 programs", async () => {
    // The cpu backend runs the plain ops everywhere (webgpu's LayerNorm, mask and noise programs dispatch fewer:
    // 961 there, docs/performance.md); 1,199 here when this test was written.
    const step = await stepKernels({ model: 'small', method: 'alum', k: 1, batchSize: 2, maxLength: 8 });
    expect(step.dispatches).toBeLessThanOrEqual(1200);
    expect(step.dispatches).toBeGreaterThan(900);
  }, 120_000);

  it('count views apart from dispatches, a split once per part, a concat in chunks of 7', () => {
    const k = (name: string, inputs: number, outputs = 1) => ({
      name,
      bytesAdded: 4,
      inputShapes: Array.from({ length: inputs }, () => [1]),
      outputShapes: Array.from({ length: outputs }, () => [1]),
    });
    expect(dispatchesOf(k('Reshape', 1))).toBe(0);
    expect(dispatchesOf(k('fusedMatMul__op', 3))).toBe(0);
    expect(dispatchesOf(k('unnamed scope', 1))).toBe(0);
    expect(dispatchesOf(k('Multiply', 2))).toBe(1);
    expect(dispatchesOf(k('SplitV', 1, 5))).toBe(5);
    expect(dispatchesOf(k('Concat', 7))).toBe(1);
    expect(dispatchesOf(k('Concat', 50))).toBe(8 + 2 + 1); // 8 chunks, then 2, then 1
    const t = tally([k('Add', 2), k('Identity', 1), k('Add', 2)]);
    expect(t).toEqual({
      kernels: 3,
      dispatches: 2,
      byOp: { Add: 2, Identity: 1 },
      bytesAllocated: 12,
      peakBytes: 0,
    });
  });
});

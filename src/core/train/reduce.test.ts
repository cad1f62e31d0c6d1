// sumAll (reduce.ts): the sum of every entry against a float64 sum, below and above the two-stage size, whole rows
// or padded; and the kernels it runs (two reductions, not one workgroup over everything).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { makeRng } from '../rng.ts';
import { ROW, sumAll, TWO_STAGE_FROM } from './reduce.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('sumAll', () => {
  it.each([
    ['one entry', 1],
    ['below the two-stage size', TWO_STAGE_FROM - 1],
    ['whole rows', 40 * ROW],
    ['padded to whole rows', 40 * ROW + 123],
  ])('sums %s (%i entries) as float64 does, to float32 rounding', async (_, n) => {
    const rng = makeRng(n);
    const v = Float32Array.from({ length: n }, () => 1 + rng.normal()); // mean 1: the sum grows with n
    const want = v.reduce((a, b) => a + b, 0);
    const x = tf.tensor(v, [n]);
    const got = sumAll(x);
    expect(Math.abs((await got.data())[0]! - want) / Math.abs(want)).toBeLessThan(1e-6);
    tf.dispose([x, got]);
  });

  it('reduces rows, then the row sums, from the two-stage size on (any shape)', async () => {
    const x = tf.ones([5, ROW * 16 + 1]);
    const info = await tf.profile(() => {
      const s = sumAll(x);
      expect(s.dataSync()[0]).toBe(5 * (ROW * 16 + 1));
      s.dispose();
      return [];
    });
    expect(info.kernels.filter((k) => k.name === 'Sum').length).toBe(2);
    expect(info.kernels.map((k) => k.name)).toContain('PadV2');
    x.dispose();
  });

  it('leaves no tensor behind', () => {
    const x = tf.ones([3, 100_000]);
    const before = tf.memory().numTensors;
    sumAll(x).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

// sumAll and sumInRows (reduce.ts): the sum of every entry against a float64 sum, whole rows or padded; the two
// reductions sumInRows runs; and which one sumAll takes (two stages only where the backend runs WGSL).
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import * as wgsl from '../model/wgsl.ts';
import { makeRng } from '../rng.ts';
import { ROW, sumAll, sumInRows, TWO_STAGE_FROM } from './reduce.ts';

vi.mock('../model/wgsl.ts', () => ({ runsWgsl: vi.fn(() => false) }));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  vi.mocked(wgsl.runsWgsl).mockReturnValue(false);
});

/** Names of the kernels `f` runs. */
async function kernelsOf(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => {
    f().dispose();
    return [];
  });
  return info.kernels.map((k) => k.name);
}

describe('sumInRows', () => {
  it.each([
    ['one entry', 1],
    ['whole rows', 40 * ROW],
    ['padded to whole rows', 40 * ROW + 123],
  ])('sums %s (%i entries) as float64 does, to float32 rounding', async (_, n) => {
    const rng = makeRng(n);
    const v = Float32Array.from({ length: n }, () => 1 + rng.normal()); // mean 1: the sum grows with n
    const want = v.reduce((a, b) => a + b, 0);
    const x = tf.tensor(v, [n]);
    const got = sumInRows(x);
    expect(Math.abs((await got.data())[0]! - want) / Math.abs(want)).toBeLessThan(1e-6);
    tf.dispose([x, got]);
  });

  it('pads to whole rows and runs two Sums, leaving no tensor behind', async () => {
    const x = tf.ones([5, ROW * 16 + 1]);
    const before = tf.memory().numTensors;
    const names = await kernelsOf(() => sumInRows(x));
    expect(names.filter((k) => k === 'Sum').length).toBe(2);
    expect(names).toContain('PadV2');
    expect(tf.memory().numTensors).toBe(before);
    const s = sumInRows(x);
    expect(s.dataSync()[0]).toBe(5 * (ROW * 16 + 1));
    s.dispose();
    x.dispose();
  });
});

describe('sumAll', () => {
  it('is one Sum where the backend runs no WGSL, at any size', async () => {
    const x = tf.ones([3, TWO_STAGE_FROM]);
    expect(await kernelsOf(() => sumAll(x))).toEqual(['Sum']);
    x.dispose();
  });

  it('sums in rows where the backend runs WGSL, from TWO_STAGE_FROM entries on', async () => {
    vi.mocked(wgsl.runsWgsl).mockReturnValue(true);
    const [big, small] = [tf.ones([TWO_STAGE_FROM]), tf.ones([TWO_STAGE_FROM - 1])];
    expect((await kernelsOf(() => sumAll(big))).filter((k) => k === 'Sum').length).toBe(2);
    expect(await kernelsOf(() => sumAll(small))).toEqual(['Sum']);
    const s = sumAll(big);
    expect(s.dataSync()[0]).toBe(TWO_STAGE_FROM);
    tf.dispose([big, small, s]);
  });
});

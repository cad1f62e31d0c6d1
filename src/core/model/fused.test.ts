// The hand-written gradients of fused.ts against tfjs' autodiff of the plain ops they replace, on random inputs
// of several shapes: the same forward values (the same ops), gradients equal to float32 rounding (cpu backend);
// and the kernels a gradient w.r.t. the input alone runs (no weight gradients).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectNear } from '../../../test/helpers/nano.ts';
import { geluFused, layerNormFused, linearFused, maskedSoftmax } from './fused.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SHAPES = [[7], [3, 5], [2, 4, 6], [2, 3, 4, 8]];
const EPS = 1e-12;

/** Seeded normal [shape] with std `std`. */
const randn = (shape: number[], seed: number, std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed);

/**
 * Value of `f` and the gradients of sum(f(...) * w) for a fixed random `w` (so every output entry matters), as
 * arrays. Disposes everything it made.
 */
async function valueAndGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  seed: number,
): Promise<{ value: Float32Array; grads: Float32Array[] }> {
  const value = tf.tidy(() => f(...inputs));
  const w = randn(value.shape, seed);
  const grads = tf.grads((...xs: tf.Tensor[]) =>
    f(...xs)
      .mul(w)
      .sum(),
  )(inputs);
  const out = {
    value: (await value.data()) as Float32Array,
    grads: await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array)),
  };
  tf.dispose([value, w, ...grads]);
  return out;
}

/** Expects `fused` and `plain` to give the same value (bit for bit) and the same gradients (to `rel`). */
async function expectSame(
  what: string,
  fused: (...xs: tf.Tensor[]) => tf.Tensor,
  plain: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  rel = 1e-5,
): Promise<void> {
  const before = tf.memory().numTensors;
  const a = await valueAndGrads(fused, inputs, 99);
  const b = await valueAndGrads(plain, inputs, 99);
  expect(a.value, `${what} value`).toEqual(b.value);
  expect(a.grads.length).toBe(b.grads.length);
  a.grads.forEach((g, i) =>
    expectNear(g, Array.from(b.grads[i] as Float32Array), `${what} grad ${i}`, { rel }),
  );
  expect(tf.memory().numTensors, `${what} leaks`).toBe(before);
}

const plainLayerNorm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const centred = x.sub(x.mean(-1, true));
  const variance = centred.square().mean(-1, true);
  return centred
    .mul(tf.rsqrt(variance.add(EPS)))
    .mul(g)
    .add(b);
};
const plainGelu = (x: tf.Tensor) => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));

describe('layerNormFused', () => {
  it.each(SHAPES)('matches the plain ops and their autodiff, x [%s, ...]', async (...shape: number[]) => {
    const h = shape[shape.length - 1] as number;
    // Off-centre and scaled, so the mean and variance terms of the gradient both matter.
    const inputs = [randn(shape, 1, 3).add(2), randn([h], 2).add(1), randn([h], 3)];
    await expectSame(
      `layerNorm ${shape.join('x')}`,
      (x, g, b) => layerNormFused(x as tf.Tensor, g as tf.Tensor, b as tf.Tensor, EPS),
      (x, g, b) => plainLayerNorm(x as tf.Tensor, g as tf.Tensor, b as tf.Tensor),
      inputs,
    );
    tf.dispose(inputs);
  });
});

describe('geluFused', () => {
  it.each(SHAPES)('matches the plain ops and their autodiff, x [%s, ...]', async (...shape: number[]) => {
    const inputs = [randn(shape, 4, 3)]; // std 3: both tails and the middle of the curve
    await expectSame(
      `gelu ${shape.join('x')}`,
      (x) => geluFused(x as tf.Tensor),
      (x) => plainGelu(x as tf.Tensor),
      inputs,
    );
    tf.dispose(inputs);
  });
});

describe('geluFused, backward', () => {
  /** dy (Phi(x) + x phi(x)) recomputed from x alone, the ops of the textbook derivative. */
  const closedForm = (x: tf.Tensor, dy: tf.Tensor) => {
    const cdf = tf.erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5);
    const pdf = x
      .square()
      .mul(-0.5)
      .exp()
      .mul(1 / Math.sqrt(2 * Math.PI));
    return dy.mul(cdf.add(x.mul(pdf)));
  };

  it.each(SHAPES)('is the closed form bit for bit, x [%s, ...]', async (...shape: number[]) => {
    const [x, dy] = [randn(shape, 11, 3), randn(shape, 12)];
    const ours = tf.grad((v: tf.Tensor) => geluFused(v))(x, dy);
    const ref = closedForm(x, dy);
    expect(await ours.data()).toEqual(await ref.data());
    tf.dispose([x, dy, ours, ref]);
  });

  it('reuses the forward erf: one Erf for value and gradient together', async () => {
    const x = randn([2, 3, 8], 1);
    const names = await kernelsOfInputGrad((v) => geluFused(v), x);
    expect(count(names, 'Erf')).toBe(1);
    x.dispose();
  });
});

describe('maskedSoftmax', () => {
  it.each([
    [1, 1, 3],
    [2, 2, 5],
    [3, 4, 8],
  ])('matches softmax(s / scale + bias) and its autodiff, B %i A %i T %i', async (b, a, t) => {
    const scores = randn([b, a, t, t], 5, 4);
    // Padding keys: the last key of every row but the first gets -10000, as attentionBias gives.
    const mask = tf.tidy(() => {
      const keep = tf.buffer([b, 1, 1, t]);
      for (let i = 0; i < b; i++)
        for (let j = 0; j < t; j++) keep.set(i > 0 && j === t - 1 ? -10000 : 0, i, 0, 0, j);
      return keep.toTensor();
    });
    const scale = Math.sqrt(8);
    await expectSame(
      `maskedSoftmax ${b}x${a}x${t}`,
      (s) => maskedSoftmax(s as tf.Tensor, scale, mask),
      (s) => tf.softmax((s as tf.Tensor).div(scale).add(mask), -1),
      [scores],
    );
    tf.dispose([scores, mask]);
  });
});

/** Kernel names of the gradient of sum(f(x) * w) w.r.t. x alone. */
async function kernelsOfInputGrad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => {
    const g = tf.grad((v: tf.Tensor) => f(v).sum())(x);
    g.dispose();
    return [];
  });
  return info.kernels.map((k) => k.name);
}

const count = (names: string[], op: string) => names.filter((n) => n === op).length;

describe('linearFused', () => {
  it.each([
    [1, 1, 1],
    [3, 4, 5],
    [16, 32, 8],
  ])('is tf.fused.matMul(x, W^T, b), value and gradients bit for bit, N %i in %i out %i', async (n, i, o) => {
    const inputs = [randn([n, i], 6), randn([o, i], 7), randn([o], 8)];
    const before = tf.memory().numTensors;
    const ours = await valueAndGrads(
      (x, w, b) => linearFused(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D),
      inputs,
      99,
    );
    const builtin = await valueAndGrads(
      (x, w, b) => tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, transposeB: true, bias: b }),
      inputs,
      99,
    );
    expect(ours).toEqual(builtin); // the same kernels on the same inputs
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
  });

  it('a gradient w.r.t. x alone runs one MatMul in the backward pass (tf.fused.matMul runs two and a Sum)', async () => {
    const [x, w, b] = [randn([6, 4], 1), randn([3, 4], 2), randn([3], 3)] as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
    ];
    const ours = await kernelsOfInputGrad((v) => linearFused(v as tf.Tensor2D, w, b), x);
    const builtin = await kernelsOfInputGrad(
      (v) => tf.fused.matMul({ a: v as tf.Tensor2D, b: w, transposeB: true, bias: b }),
      x,
    );
    expect([count(ours, 'BatchMatMul'), count(ours, 'Sum')]).toEqual([1, 1]); // dx; the loss's sum
    expect([count(builtin, 'BatchMatMul'), count(builtin, 'Sum')]).toEqual([2, 2]);
    tf.dispose([x, w, b]);
  });

  it('bad shapes: a one-line error', () => {
    const [x, w, b] = [tf.zeros([2, 3]), tf.zeros([4, 5]), tf.zeros([4])];
    expect(() => linearFused(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D)).toThrow(
      'linear: x [2,3], weight [4,5], bias [4] do not fit',
    );
    tf.dispose([x, w, b]);
  });
});

describe('layerNormFused, gradient w.r.t. x alone', () => {
  it('computes no dgamma or dbeta (no Sum over the rows)', async () => {
    const [x, g, b] = [randn([2, 3, 8], 1), randn([8], 2), randn([8], 3)];
    const names = await kernelsOfInputGrad((v) => layerNormFused(v, g, b, EPS), x);
    expect(count(names, 'Sum')).toBe(1); // the loss's sum only
    tf.dispose([x, g, b]);
  });
});

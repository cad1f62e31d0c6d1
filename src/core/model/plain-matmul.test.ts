// `plainMatMul` (fused.ts), the wasm backend's matMul with a gradient per input: its values and gradients against a
// float64 loop, the kernels a gradient w.r.t. one input runs, and the nano model's standard and ALUM steps on wasm
// against the PyTorch float64 golden file (the path every Node run without a GPU takes: NODE_CHAIN starts at wasm).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectGoldenSteps } from '../../../test/helpers/dawn.ts';
import { goldenStep } from '../../../test/helpers/golden-step.ts';
import { makeRng } from '../rng.ts';
import { PLAIN_MATMUL, plainMatMul } from './fused.ts';

beforeAll(async () => {
  await import('@tensorflow/tfjs-backend-wasm'); // registers the backend (as the CLI's loader does)
  expect(await tf.setBackend('wasm')).toBe(true);
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

/** a [L, m, k] b [L, k, n] and dy [L, m, n]: seeded normals. */
function inputs(l: number, m: number, k: number, n: number, seed: number) {
  const rng = makeRng(seed);
  const fill = (size: number) => Float32Array.from({ length: size }, () => rng.normal());
  return { a: fill(l * m * k), b: fill(l * k * n), dy: fill(l * m * n) };
}

/** a b, dy b^T and a^T dy in float64, loop by loop. */
function reference(x: ReturnType<typeof inputs>, [l, m, k, n]: [number, number, number, number]) {
  const [y, da, db] = [new Float64Array(l * m * n), new Float64Array(l * m * k), new Float64Array(l * k * n)];
  for (let s = 0; s < l; s++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < k; c++) {
          const [ai, bi, yi] = [(s * m + i) * k + c, (s * k + c) * n + j, (s * m + i) * n + j];
          const [av, bv, dv] = [x.a[ai] as number, x.b[bi] as number, x.dy[yi] as number];
          y[yi] = (y[yi] as number) + av * bv;
          da[ai] = (da[ai] as number) + dv * bv;
          db[bi] = (db[bi] as number) + av * dv;
        }
      }
    }
  }
  return { y, da, db };
}

const relError = (got: ArrayLike<number>, want: Float64Array) => {
  let [worst, scale] = [0, 0];
  want.forEach((w, i) => {
    worst = Math.max(worst, Math.abs((got[i] as number) - w));
    scale = Math.max(scale, Math.abs(w));
  });
  return worst / scale;
};

describe('plainMatMul on wasm', () => {
  it.each([
    [1, 3, 4, 5],
    [6, 7, 16, 9],
    [1, 64, 32, 48],
  ])('gives a b and both gradients of the float64 reference ([%i, %i, %i] x [%i])', async (l, m, k, n) => {
    const x = inputs(l, m, k, n, 7 + m);
    const want = reference(x, [l, m, k, n]);
    const [a, b, dy] = [tf.tensor(x.a, [l, m, k]), tf.tensor(x.b, [l, k, n]), tf.tensor(x.dy, [l, m, n])];
    const y = plainMatMul(a, b);
    const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => plainMatMul(p, q))([a, b], dy);
    for (const [name, t, w] of [
      ['y', y, want.y],
      ['da', da, want.da],
      ['db', db, want.db],
    ] as const) {
      expect(relError(await (t as tf.Tensor).data(), w), name).toBeLessThan(1e-6);
    }
    tf.dispose([a, b, dy, y, da as tf.Tensor, db as tf.Tensor]);
  });

  it('computes only the gradient asked for: one matMul backward, not two', async () => {
    const [a, b, dy] = [tf.randomNormal([8, 16]), tf.randomNormal([16, 4]), tf.randomNormal([8, 4])];
    const info = await tf.profile(() => {
      tf.dispose(tf.tidy(() => tf.grad((p: tf.Tensor) => plainMatMul(p, b))(a, dy)));
      return [];
    });
    const names = info.kernels.map((k) => k.name);
    expect(names.filter((n) => n === PLAIN_MATMUL)).toHaveLength(1);
    expect(names.filter((n) => n === 'BatchMatMul')).toHaveLength(1); // dy b^T; a^T dy is not computed
    tf.dispose([a, b, dy]);
  });

  it('runs the nano step (standard and ALUM) as PyTorch float64 does', async () => {
    expectGoldenSteps({ standard: await goldenStep('standard'), alum: await goldenStep('alum') });
  });
});

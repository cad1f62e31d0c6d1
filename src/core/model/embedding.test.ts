// embeddingLookup (bert.ts): the rows it gathers, and its gradient (every token's dy added into its row) against a
// float64 sum, for a small table (one-hot matMul) and a large one (scatter-add), with repeated ids; and which
// kernel each path runs.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { makeRng } from '../rng.ts';
import { embeddingLookup, ONE_HOT_GRAD_ROWS } from './bert.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** ids [B, T] in [0, rows), many repeated; dy [B, T, H]; the float64 gradient [rows, H]. */
function problem(rows: number, b: number, t: number, h: number) {
  const rng = makeRng(rows);
  const ids = Int32Array.from({ length: b * t }, (_, i) => (i % 3 === 0 ? 0 : rng.int(rows)));
  const dy = Float32Array.from({ length: b * t * h }, () => rng.normal());
  const want = new Float64Array(rows * h);
  ids.forEach((id, n) => {
    for (let c = 0; c < h; c++) want[id * h + c] = (want[id * h + c] as number) + (dy[n * h + c] as number);
  });
  return { ids, dy, want };
}

describe('embeddingLookup', () => {
  it.each([
    ['a token-type table (one-hot matMul)', 2, 'BatchMatMul'],
    ['the largest one-hot table', ONE_HOT_GRAD_ROWS, 'BatchMatMul'],
    ['a word table (scatter-add)', ONE_HOT_GRAD_ROWS + 1, 'ScatterNd'],
    ['a larger word table', 500, 'ScatterNd'],
  ])("%s: gathers its rows; its gradient sums each row's tokens", async (_, rows, kernel) => {
    const [b, t, h] = [3, 7, 5];
    const { ids, dy, want } = problem(rows, b, t, h);
    const table = tf.randomNormal([rows, h], 0, 1, 'float32', 1) as tf.Tensor2D;
    const idsT = tf.tensor2d(ids, [b, t], 'int32');
    const dyT = tf.tensor3d(dy, [b, t, h]);
    const rowsGot = tf.tidy(() => embeddingLookup(table, idsT));
    expect(Array.from(await rowsGot.data())).toEqual(Array.from(await tf.gather(table, idsT).data()));
    const grad = (x: tf.Tensor) =>
      tf.grad((tt: tf.Tensor) => embeddingLookup(tt as tf.Tensor2D, idsT))(x, dyT);
    const info = await tf.profile(() => {
      tf.tidy(() => grad(table)).dispose();
      return [];
    });
    expect(info.kernels.map((k) => k.name)).toContain(kernel);
    const gradT = tf.tidy(() => grad(table));
    const got = await gradT.data();
    want.forEach((w, i) =>
      expect(Math.abs((got[i] as number) - w), `entry ${i}`).toBeLessThan(1e-5 * (1 + Math.abs(w))),
    );
    tf.dispose([table, idsT, dyT, rowsGot, gradT]);
  });
});

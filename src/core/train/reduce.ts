/**
 * The sum of every entry of a large tensor in two stages: tfjs reduces a tensor to one number in one GPU
 * workgroup (tfjs-backend-webgpu 4.22, `ReduceProgram`: one workgroup per output), so the global gradient norm's sum
 * over `small`'s 17.2 million gradient entries took 15 to 30 ms of a step on the H200 (docs/performance.md).
 * Summed as rows of ROW entries first (one workgroup per row), then the row sums: two reductions that use the
 * whole GPU, and on every backend a pairwise-like order (no worse in float32 than one running sum).
 */
import * as tf from '@tensorflow/tfjs';

/** Entries per row of the first stage. */
export const ROW = 4096;

/** Below this many entries one reduction is as fast. */
export const TWO_STAGE_FROM = 1 << 16;

/** Sum of all entries of x (any shape, float32) -> scalar; zero-padded to whole rows when its size needs it. */
export function sumAll(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = x.size;
    const flat = x.reshape([n]);
    if (n < TWO_STAGE_FROM) return flat.sum() as tf.Scalar;
    const rows = n % ROW === 0 ? flat : flat.pad([[0, ROW - (n % ROW)]]); // [rows * ROW]
    return rows.reshape([-1, ROW]).sum(1).sum() as tf.Scalar;
  });
}

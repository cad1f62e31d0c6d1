/**
 * The sum of every entry of a large tensor. tfjs-backend-webgpu 4.22 reduces a tensor to one number in one GPU
 * workgroup (`ReduceProgram`: one workgroup per output), so the global gradient norm's sum over `small`'s 17.2
 * million gradient entries took 15 to 31 ms of a step on the H200 (docs/performance.md). There it is summed in two
 * stages (`sumInRows`): rows of ROW entries first, one workgroup each, then the row sums. The other backends keep
 * one Sum (their reductions use the whole device already; and it keeps the cpu backend's bits and its kernel count).
 */
import * as tf from '@tensorflow/tfjs';

import { runsWgsl } from '../model/wgsl.ts';

/** Entries per row of the first stage. */
export const ROW = 4096;

/** Below this many entries one reduction is as fast. */
export const TWO_STAGE_FROM = 1 << 16;

/** Sum of all entries of x (any shape, float32) -> scalar: `sumInRows` on webgpu from TWO_STAGE_FROM entries on. */
export function sumAll(x: tf.Tensor): tf.Scalar {
  if (runsWgsl() && x.size >= TWO_STAGE_FROM) return sumInRows(x);
  return tf.tidy(() => x.sum() as tf.Scalar);
}

/** Sum of all entries as rows of ROW (zero-padded to whole rows), then the row sums: two Sums. -> scalar */
export function sumInRows(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = x.size;
    const flat = x.reshape([n]);
    const rows = n % ROW === 0 ? flat : flat.pad([[0, ROW - (n % ROW)]]); // [rows * ROW]
    return rows.reshape([-1, ROW]).sum(1).sum() as tf.Scalar;
  });
}

/**
 * The random tensors a training step draws, from Philox4x32-10 (philox.ts): dropout masks and normal noise. The
 * one owner of where they are drawn: on the GPU by a WGSL program where the backend runs them (webgpu-philox.ts),
 * else on the CPU and uploaded. The same masks bit for bit everywhere; the same noise to within float32 log and
 * cos (philox.ts says why).
 */
import * as tf from '@tensorflow/tfjs';

import { philoxMask, philoxNormal } from './philox.ts';
import { dropoutMaskWebgpu, normalWebgpu } from './webgpu-philox.ts';
import { runsWgsl } from './wgsl.ts';

const count = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** Inverted-dropout multiplier of `shape` at `rate` in [0, 1): entries 0 or 1 / (1 - rate). */
export function dropoutMask(shape: readonly number[], rate: number, seed: number): tf.Tensor {
  if (runsWgsl()) return dropoutMaskWebgpu(shape, rate, seed);
  return tf.tensor(philoxMask(count(shape), rate, seed), [...shape]);
}

/** N(0, sigma^2) noise of `shape`. */
export function normalNoise(shape: readonly number[], sigma: number, seed: number): tf.Tensor {
  if (runsWgsl()) return normalWebgpu(shape, sigma, seed);
  return tf.tensor(philoxNormal(count(shape), sigma, seed), [...shape]);
}

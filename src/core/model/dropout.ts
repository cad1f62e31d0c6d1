/**
 * Dropout of the model's forward passes (bert.ts). Every dropout site draws its mask from `seed + siteIndex`, so
 * a pass can be replayed exactly. A mask is Philox4x32-10's (philox.ts): entry i kept with probability keep =
 * 1 - rate, then worth 1 / keep (inverted dropout, as tf.dropout), applied as x * mask. It is a pure function of
 * (seed, i): the same bits on every backend, made on the GPU by one WGSL program on webgpu and on the CPU
 * elsewhere (random.ts).
 *
 * Two things cut kernels without changing a mask (docs/performance.md):
 *   - inside `withSharedMasks` (one training step), a mask is made once and every pass that draws the same one
 *     (same rate, seed and shape) multiplies by it;
 *   - a pass over several batches stacked on the batch axis (`stack` passes, one per part) multiplies each part
 *     by its own pass's mask in one kernel: a broadcast when all parts draw the same mask, else one Concat.
 */
import * as tf from '@tensorflow/tfjs';

import { dropoutMask } from './random.ts';

/** Dropout for one forward pass: `rate` 0 turns it off. */
export interface DropoutPass {
  rate: number;
  seed: number;
}

export const NO_DROPOUT: DropoutPass = { rate: 0, seed: 0 };

/** Two passes draw the same masks: both without dropout, or the same rate and seed. */
export function sameMasks(a: DropoutPass, b: DropoutPass): boolean {
  return (a.rate === 0 && b.rate === 0) || (a.rate === b.rate && a.seed === b.seed);
}

/** The step's mask cache (`withSharedMasks`), keyed by rate, seed and shape; null outside a step. */
let shared: Map<string, tf.Tensor> | null = null;

/**
 * Runs `work` with masks shared between the passes that draw the same ones; frees them when it returns (the
 * tape keeps its own references to those a backward pass needs). Nested calls share the outer cache.
 */
export function withSharedMasks<T>(work: () => T): T {
  if (shared) return work();
  const mine = new Map<string, tf.Tensor>();
  shared = mine;
  try {
    return work();
  } finally {
    shared = null;
    tf.dispose([...mine.values()]);
  }
}

/** The mask of one site: from the step's cache when there is one (kept there), else fresh. */
function maskFor(shape: number[], pass: DropoutPass, seed: number): tf.Tensor {
  if (!shared) return dropoutMask(shape, pass.rate, seed);
  const key = `${pass.rate}/${seed}/${shape.join('x')}`;
  let mask = shared.get(key);
  if (!mask) {
    mask = tf.keep(dropoutMask(shape, pass.rate, seed));
    shared.set(key, mask);
  }
  return mask;
}

/**
 * The dropout sites of one forward pass, numbered in call order from `offset`. `passes`: one per part of a
 * batch stacked on axis 0 from `passes.length` equal parts (one pass: an ordinary batch).
 */
export class DropoutSites {
  private site = 0;
  constructor(
    private readonly passes: readonly DropoutPass[],
    private readonly offset = 0,
  ) {
    if (passes.length === 0) throw new Error('dropout sites need at least one pass');
  }

  /** x [n P, ...] -> x * mask, each part under its own pass's mask. */
  apply<T extends tf.Tensor>(x: T): T {
    const site = this.offset + this.site++;
    const first = this.passes[0] as DropoutPass;
    if (this.passes.every((p) => p.rate === 0)) return x;
    const n = this.passes.length;
    const rows = x.shape[0] as number;
    if (rows % n !== 0) throw new Error(`dropout: ${rows} rows do not split into ${n} stacked parts`);
    const part = [rows / n, ...x.shape.slice(1)];
    if (this.passes.every((p) => sameMasks(p, first))) {
      const mask = maskFor(part, first, first.seed + site); // [P, ...]
      return (
        n === 1
          ? x.mul(mask)
          : x
              .reshape([n, ...part])
              .mul(mask)
              .reshape(x.shape)
      ) as T;
    }
    const masks = this.passes.map((p) => (p.rate > 0 ? maskFor(part, p, p.seed + site) : tf.ones(part)));
    return x.mul(tf.concat(masks)) as T; // [n P, ...]
  }
}

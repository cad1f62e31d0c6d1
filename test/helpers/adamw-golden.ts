/**
 * torch.optim.AdamW with clip_grad_norm_ over two updates, one clipped (test/golden/adamw.json,
 * scripts/golden/make_golden.py), replayed through this repo's `AdamW` on the backend in use: adamw.test.ts runs
 * it on cpu, test/webgpu/optimizer.ts with the WGSL update on webgpu.
 */
import * as tf from '@tensorflow/tfjs';

import { variableFrom, type Params } from '../../src/core/model/params.ts';
import { AdamW } from '../../src/core/train/adamw.ts';
import { flat, readJson } from './nano.ts';

interface Golden {
  betas: [number, number];
  eps: number;
  max_grad_norm: number;
  initial: { matrix: number[][]; bias: number[] };
  steps: {
    lr: number;
    grads: { matrix: number[][]; bias: number[] };
    clipped: boolean;
    params_after: { matrix: number[][]; bias: number[] };
  }[];
}

/** One replayed update: our weights after it and torch's ([3, 4] matrix then [4] bias, flattened). */
export interface GoldenUpdate {
  clipped: boolean;
  got: { matrix: Float32Array; bias: Float32Array };
  want: { matrix: number[]; bias: number[] };
}

/** Replays the golden file's updates (weight decay 0.01 on the matrix) with `fused` as AdamW's option; frees all it made. */
export async function replayAdamWGolden(fused?: boolean): Promise<GoldenUpdate[]> {
  const golden = readJson<Golden>('test/golden/adamw.json');
  const params: Params = new Map([
    ['dense.weight', variableFrom(Float32Array.from(flat(golden.initial.matrix)), [3, 4])],
    ['dense.bias', variableFrom(Float32Array.from(golden.initial.bias), [4])],
  ]);
  const settings = {
    ...{ beta1: golden.betas[0], beta2: golden.betas[1], eps: golden.eps },
    ...{ weightDecay: 0.01, maxGradNorm: golden.max_grad_norm },
  };
  const opt = new AdamW(params, settings, true, fused);
  const updates: GoldenUpdate[] = [];
  for (const step of golden.steps) {
    const grads = new Map<string, tf.Tensor>([
      ['dense.weight', tf.tensor(flat(step.grads.matrix), [3, 4])],
      ['dense.bias', tf.tensor(step.grads.bias)],
    ]);
    opt.apply(grads, step.lr);
    tf.dispose([...grads.values()]);
    const got = {
      matrix: (await (params.get('dense.weight') as tf.Variable).data()) as Float32Array,
      bias: (await (params.get('dense.bias') as tf.Variable).data()) as Float32Array,
    };
    const want = { matrix: flat(step.params_after.matrix), bias: step.params_after.bias };
    updates.push({ clipped: step.clipped, got, want });
  }
  opt.dispose();
  params.forEach((p) => p.dispose());
  return updates;
}

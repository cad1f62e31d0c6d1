// AdamW + global-norm clipping against torch.optim.AdamW (test/golden/adamw.json, scripts/golden/make_golden.py).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { closeness, flat, readJson } from '../../../test/helpers/nano.ts';
import type { Params } from '../model/params.ts';
import { variableFrom } from '../model/params.ts';
import { AdamW, decays } from './adamw.ts';

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

const golden = readJson<Golden>('test/golden/adamw.json');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW', () => {
  it('matches torch AdamW with clip_grad_norm_ over two steps (one clipped, one not)', async () => {
    const params: Params = new Map([
      ['dense.weight', variableFrom(Float32Array.from(flat(golden.initial.matrix)), [3, 4])],
      ['dense.bias', variableFrom(Float32Array.from(golden.initial.bias), [4])],
    ]);
    const opt = new AdamW(params, {
      beta1: golden.betas[0],
      beta2: golden.betas[1],
      eps: golden.eps,
      weightDecay: 0.01,
      maxGradNorm: golden.max_grad_norm,
    });
    expect(golden.steps.map((s) => s.clipped)).toEqual([true, false]);
    const before = tf.memory().numTensors;
    for (const step of golden.steps) {
      const grads = new Map<string, tf.Tensor>([
        ['dense.weight', tf.tensor(flat(step.grads.matrix), [3, 4])],
        ['dense.bias', tf.tensor(step.grads.bias)],
      ]);
      opt.apply(grads, step.lr);
      tf.dispose([...grads.values()]);
      const w = await (params.get('dense.weight') as tf.Variable).data();
      const b = await (params.get('dense.bias') as tf.Variable).data();
      expect(closeness(w, flat(step.params_after.matrix), 1e-6, 1e-5)).toBeLessThan(1);
      expect(closeness(b, step.params_after.bias, 1e-6, 1e-5)).toBeLessThan(1);
    }
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    params.forEach((v) => v.dispose());
  });

  it('decays matrices only', () => {
    expect(decays('bert.encoder.layer.0.intermediate.dense.weight', [64, 32])).toBe(true);
    expect(decays('bert.encoder.layer.0.intermediate.dense.bias', [64])).toBe(false);
    expect(decays('bert.embeddings.LayerNorm.weight', [32])).toBe(false);
  });
});

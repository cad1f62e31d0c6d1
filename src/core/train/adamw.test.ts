// AdamW + global-norm clipping against torch.optim.AdamW (test/golden/adamw.json, scripts/golden/make_golden.py).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { closeness, flat, readJson } from '../../../test/helpers/nano.ts';
import type { Params } from '../model/params.ts';
import { variableFrom } from '../model/params.ts';
import { countKernels } from '../bench/kernels.ts';
import { ADAMW_DEFAULTS, AdamW, decays, globalNorm } from './adamw.ts';

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

  it.each([
    ['flat buffers', true],
    ['one group per parameter (wasm)', false],
  ])(
    'updates over %s exactly as the per-tensor form, bit for bit, gradients missing or not',
    async (_, flat) => {
      const shapes: [string, number[]][] = [
        ['a.weight', [5, 3]],
        ['a.bias', [3]],
        ['b.LayerNorm.weight', [4]],
        ['c.weight', [2, 7]],
      ];
      const flatParams = randomParams(shapes, 1);
      const refParams = randomParams(shapes, 1);
      const opt = new AdamW(flatParams, ADAMW_DEFAULTS, flat);
      const ref = new PerTensorAdamW(refParams);
      // Step 3 lacks two gradients (as a masked-LM step lacks the pooler's): those weights and moments stay put.
      const missing = [[], [], ['a.bias', 'c.weight'], []];
      for (const [i, skip] of missing.entries()) {
        const grads = randomGrads(shapes, 10 + i, skip);
        const norm = globalNorm(grads.values());
        opt.apply(grads, 1e-2 * (i + 1), norm);
        ref.apply(grads, 1e-2 * (i + 1), norm);
        tf.dispose([...grads.values(), norm]);
        for (const [name] of shapes) {
          expect(await (flatParams.get(name) as tf.Variable).data(), `${name} after step ${i + 1}`).toEqual(
            await (refParams.get(name) as tf.Variable).data(),
          );
        }
      }
      const state = await opt.exportState();
      for (const [name] of shapes) {
        expect(state.m.get(name), `m ${name}`).toEqual(await (ref.m.get(name) as tf.Tensor).data());
        expect(state.v.get(name), `v ${name}`).toEqual(await (ref.v.get(name) as tf.Tensor).data());
      }
      [opt, ref].forEach((o) => o.dispose());
      [flatParams, refParams].forEach((p) => p.forEach((x) => x.dispose()));
    },
  );

  it('exports and imports its state by parameter name, and refuses a state that does not fit', async () => {
    const shapes: [string, number[]][] = [
      ['a.weight', [3, 2]],
      ['a.bias', [2]],
    ];
    const params = randomParams(shapes, 2);
    const opt = new AdamW(params);
    const grads = randomGrads(shapes, 3, []);
    opt.apply(grads, 0.1);
    const state = await opt.exportState();
    expect([...state.m.keys()]).toEqual(['a.weight', 'a.bias']);
    const fresh = new AdamW(params);
    fresh.importState(state, 'ckpt');
    expect(await fresh.exportState()).toEqual(state);
    const short = { ...state, v: new Map([...state.v].map(([n, a]) => [n, a.slice(1)])) };
    expect(() => fresh.importState(short, 'ckpt')).toThrow(
      "ckpt: optimizer state v 'a.weight' has 5 values, expected 6",
    );
    tf.dispose([...grads.values()]);
    [opt, fresh].forEach((o) => o.dispose());
    params.forEach((x) => x.dispose());
  });

  it('costs a fixed number of kernels per update, whatever the number of parameters, and leaks nothing', async () => {
    const cost = async (count: number) => {
      const shapes: [string, number[]][] = Array.from({ length: count }, (_, i) => [`p${i}.weight`, [2, 3]]);
      const params = randomParams(shapes, 4);
      const opt = new AdamW(params, ADAMW_DEFAULTS, true);
      const grads = randomGrads(shapes, 5, []);
      opt.apply(grads, 0.1); // first update: no lay-out left to do in the counted one
      const before = tf.memory().numTensors;
      const counted = await countKernels(() => opt.apply(grads, 0.1));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...grads.values()]);
      opt.dispose();
      params.forEach((x) => x.dispose());
      return counted;
    };
    const [few, many] = [await cost(2), await cost(12)];
    // The same kernels but for views (four reshapes a parameter: its gradient in the norm and in the update,
    // its weight, its new weight); the dispatches grow by the split back into the weights (a slice each) and
    // the three concatenations' chunks (norm, gradients, weights) only.
    const { Reshape: fewViews, ...fewOps } = few.byOp;
    const { Reshape: manyViews, ...manyOps } = many.byOp;
    expect(manyOps).toEqual(fewOps);
    expect((manyViews ?? 0) - (fewViews ?? 0)).toBe(4 * 10);
    expect(few.kernels - (fewViews ?? 0)).toBeLessThanOrEqual(25);
    // Temporaries are freed as the update goes: under half the per-tensor form's peak (which kept them all).
    const shapes: [string, number[]][] = Array.from({ length: 12 }, (_, i) => [`p${i}.weight`, [2, 3]]);
    const params = randomParams(shapes, 4);
    const ref = new PerTensorAdamW(params);
    const grads = randomGrads(shapes, 5, []);
    const norm = globalNorm(grads.values());
    const refCount = await countKernels(() => ref.apply(grads, 0.1, norm));
    expect(many.peakBytes).toBeLessThan(refCount.peakBytes / 2);
    tf.dispose([...grads.values(), norm]);
    ref.dispose();
    params.forEach((x) => x.dispose());
    expect(many.dispatches - few.dispatches).toBe(10 + 3 * (3 - 1)); // 12 inputs: 2 chunks + 1, 3 times
  });
});

/** Parameters of `shapes`, uniform in [-1, 1), seeded. */
function randomParams(shapes: [string, number[]][], seed: number): Params {
  return new Map(
    shapes.map(([name, shape], i) => [
      name,
      tf.variable(tf.randomUniform(shape, -1, 1, 'float32', seed + i)),
    ]),
  );
}

/** Gradients for `shapes` except `skip`, normal with std 2 (so the first steps clip), seeded. */
function randomGrads(shapes: [string, number[]][], seed: number, skip: string[]): Map<string, tf.Tensor> {
  return new Map(
    shapes
      .filter(([name]) => !skip.includes(name))
      .map(([name, shape], i) => [name, tf.randomNormal(shape, 0, 2, 'float32', seed * 100 + i)]),
  );
}

/** The per-tensor AdamW this module replaced (a dozen kernels per parameter): the reference for the flat one. */
class PerTensorAdamW {
  t = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  constructor(private readonly params: Params) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }
  apply(grads: Map<string, tf.Tensor>, lr: number, norm: tf.Scalar): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = ADAMW_DEFAULTS;
    const [bc1, bc2] = [1 - beta1 ** this.t, 1 - beta2 ** this.t];
    tf.tidy(() => {
      const scale = tf.minimum(tf.scalar(1), tf.scalar(maxGradNorm).div(norm.add(1e-6)));
      for (const [name, p] of this.params) {
        const grad = grads.get(name);
        if (!grad) continue;
        const g = grad.mul(scale);
        const [m, v] = [this.m.get(name) as tf.Variable, this.v.get(name) as tf.Variable];
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        const decayed = decays(name, p.shape) ? p.mul(1 - lr * weightDecay) : p;
        const denom = v.sqrt().div(Math.sqrt(bc2)).add(eps);
        p.assign(decayed.sub(m.div(denom).mul(lr / bc1)));
      }
    });
  }
  dispose(): void {
    [...this.m.values(), ...this.v.values()].forEach((x) => x.dispose());
  }
}

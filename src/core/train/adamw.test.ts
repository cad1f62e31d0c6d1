// AdamW + global-norm clipping against torch.optim.AdamW (test/golden/adamw.json, scripts/golden/make_golden.py).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { replayAdamWGolden } from '../../../test/helpers/adamw-golden.ts';
import { closeness } from '../../../test/helpers/nano.ts';
import type { Params } from '../model/params.ts';
import { countKernels } from '../bench/kernels.ts';
import {
  ADAMW_DEFAULTS,
  AdamW,
  CONCAT_FANIN,
  clipScale,
  concatFlat,
  decays,
  disposeFlat,
  globalNorm,
} from './adamw.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW', () => {
  it('matches torch AdamW with clip_grad_norm_ over two steps (one clipped, one not)', async () => {
    const before = tf.memory().numTensors;
    const updates = await replayAdamWGolden();
    expect(updates.map((u) => u.clipped)).toEqual([true, false]);
    for (const { got, want } of updates) {
      expect(closeness(got.matrix, want.matrix, 1e-6, 1e-5)).toBeLessThan(1);
      expect(closeness(got.bias, want.bias, 1e-6, 1e-5)).toBeLessThan(1);
    }
    expect(tf.memory().numTensors).toBe(before);
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

  it('decays a mixed group per element, also when lr wd is large (factor 0.25)', async () => {
    const shapes: [string, number[]][] = [
      ['a.weight', [5, 3]],
      ['a.bias', [3]],
      ['c.weight', [2, 7]],
    ];
    const settings = { ...ADAMW_DEFAULTS, weightDecay: 0.75 };
    const [params, refParams] = [randomParams(shapes, 3), randomParams(shapes, 3)];
    const [opt, ref] = [new AdamW(params, settings, true), new PerTensorAdamW(refParams, settings)];
    const grads = randomGrads(shapes, 30, []);
    const norm = globalNorm(grads.values());
    opt.apply(grads, 1, norm); // factor 1 - 1 * 0.75
    ref.apply(grads, 1, norm);
    for (const [name] of shapes) {
      expect(await (params.get(name) as tf.Variable).data(), name).toEqual(
        await (refParams.get(name) as tf.Variable).data(),
      );
    }
    tf.dispose([...grads.values(), norm]);
    [opt, ref].forEach((o) => o.dispose());
    [params, refParams].forEach((p) => p.forEach((x) => x.dispose()));
  });

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
    // A training step's path: gradients flattened once (the step reads its norm from them), the norm read back.
    const cost = async (count: number) => {
      const shapes: [string, number[]][] = [
        ...Array.from({ length: count - 1 }, (_, i): [string, number[]] => [`p${i}.weight`, [2, 3]]),
        ['q.bias', [3]], // a mixed group: decay as a per-element factor
      ];
      const params = randomParams(shapes, 4);
      const opt = new AdamW(params, ADAMW_DEFAULTS, true);
      const grads = randomGrads(shapes, 5, []);
      opt.apply(grads, 0.1); // first update: no lay-out left to do in the counted one, weights kept flat
      const before = tf.memory().numTensors;
      const flatGrads = opt.flatten(grads);
      const counted = await countKernels(() => opt.apply(flatGrads, 0.1, 2.5));
      disposeFlat(flatGrads);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...grads.values()]);
      opt.dispose();
      params.forEach((x) => x.dispose());
      return counted;
    };
    const [few, many] = [await cost(2), await cost(12)];
    // The same kernels but for views (a reshape per new weight): no concatenation (gradients given flat, weights
    // kept from the last update), the clip factor from the number; the dispatches grow by the split's slices.
    const { Reshape: fewViews, ...fewOps } = few.byOp;
    const { Reshape: manyViews, ...manyOps } = many.byOp;
    expect(manyOps).toEqual(fewOps);
    expect(fewOps['Concat']).toBeUndefined();
    expect((manyViews ?? 0) - (fewViews ?? 0)).toBe(10);
    expect(few.dispatches).toBe(16 + 2); // 13 for the moments and the step, 3 for decay and update; 2 slices
    expect(many.dispatches - few.dispatches).toBe(10);
    // Temporaries are freed as the update goes: under half the per-tensor form's peak (which kept them all).
    const shapes: [string, number[]][] = Array.from({ length: 12 }, (_, i) => [`p${i}.weight`, [2, 3]]);
    const params = randomParams(shapes, 4);
    const ref = new PerTensorAdamW(params);
    const grads = randomGrads(shapes, 5, []);
    const norm = globalNorm(grads.values());
    const refCount = await countKernels(() => ref.apply(grads, 0.1, norm));
    const optParams = randomParams(shapes, 4);
    const opt = new AdamW(optParams, ADAMW_DEFAULTS, true);
    opt.apply(grads, 0.1);
    const ours = await countKernels(() => opt.apply(grads, 0.1, norm));
    expect(ours.peakBytes).toBeLessThan(refCount.peakBytes / 2);
    tf.dispose([...grads.values(), norm]);
    [ref, opt].forEach((o) => o.dispose());
    [...params.values(), ...optParams.values()].forEach((x) => x.dispose());
  });

  it('reads the weights from its last update while the parameters hold them, and from the parameters after an assign', async () => {
    const shapes: [string, number[]][] = [
      ['a.weight', [4, 3]],
      ['a.bias', [3]],
      ['b.weight', [2, 2]],
    ];
    const [params, refParams] = [randomParams(shapes, 6), randomParams(shapes, 6)];
    const [opt, ref] = [new AdamW(params, ADAMW_DEFAULTS, true), new PerTensorAdamW(refParams)];
    for (let i = 0; i < 3; i++) {
      if (i === 2) {
        // As a checkpoint restore does: new values assigned between updates.
        for (const ps of [params, refParams]) {
          const b = ps.get('a.bias') as tf.Variable;
          tf.tidy(() => b.assign(tf.fill([3], 0.25)));
        }
      }
      const grads = randomGrads(shapes, 20 + i, []);
      const norm = globalNorm(grads.values());
      opt.apply(grads, 0.05, norm);
      ref.apply(grads, 0.05, norm);
      tf.dispose([...grads.values(), norm]);
      for (const [name] of shapes) {
        expect(await (params.get(name) as tf.Variable).data(), `${name} after ${i + 1}`).toEqual(
          await (refParams.get(name) as tf.Variable).data(),
        );
      }
    }
    [opt, ref].forEach((o) => o.dispose());
    [params, refParams].forEach((p) => p.forEach((x) => x.dispose()));
  });

  it('flattens the gradients in parameter order: their global norm is globalNorm of the map, bit for bit', async () => {
    for (const flatMode of [true, false]) {
      const shapes: [string, number[]][] = Array.from({ length: 9 }, (_, i) => [`p${i}.weight`, [3, i + 1]]);
      const params = randomParams(shapes, 7);
      const opt = new AdamW(params, ADAMW_DEFAULTS, flatMode);
      const grads = randomGrads(shapes, 8, ['p4.weight']);
      const flatGrads = opt.flatten(grads);
      const [ours, theirs] = [globalNorm(flatGrads.flats), globalNorm(grads.values())];
      expect(await ours.data()).toEqual(await theirs.data());
      // The clip factor from the number read back is the kernels' (cpu), bit for bit.
      const value = (await ours.data())[0] as number;
      const kernels = tf.tidy(() => tf.minimum(tf.scalar(1), tf.scalar(1).div(ours.add(1e-6))));
      expect(clipScale(1, value)).toBe((await kernels.data())[0]);
      expect(() => new AdamW(params, ADAMW_DEFAULTS, flatMode).apply(flatGrads, 0.1)).toThrow(
        'AdamW.apply: the flat gradients are of another layout (flatten them again)',
      );
      tf.dispose([ours, theirs, kernels, ...grads.values()]);
      disposeFlat(flatGrads);
      opt.dispose();
      params.forEach((x) => x.dispose());
    }
  });

  it('clipScale is min(1, max / (norm + 1e-6)) in float32 steps', () => {
    for (const [max, norm] of [
      [1, 0],
      [1, 0.999999],
      [1, 3.7],
      [0.5, 1234.5678],
      [2, 1e-9],
      // Norms where rounding 1e-6 to float32 first changes the sum (the kernels add the float32 constant).
      [1e-9, 5.718163276213772e-9],
      [1e-9, 0.0000015944906408549286],
    ] as const) {
      const ops = tf.tidy(() => tf.minimum(tf.scalar(1), tf.scalar(max).div(tf.scalar(norm).add(1e-6))));
      expect(clipScale(max, Math.fround(norm)), `${max} / ${norm}`).toBe(ops.dataSync()[0]);
      ops.dispose();
    }
  });
});

describe('concatFlat', () => {
  it.each([1, 2, 7, 8, 13, 14, 44, 73])(
    'is tf.concat of %i flattened tensors, in ceil((n - 1) / 6) Concat kernels of at most 7 inputs',
    async (n) => {
      const xs = Array.from({ length: n }, (_, i) => tf.randomUniform([(i % 3) + 1, 2], -1, 1, 'float32', i));
      const ref = tf.concat(xs.map((x) => x.reshape([-1])));
      const info = await tf.profile(() => {
        const out = concatFlat(xs);
        return [out];
      });
      const concats = info.kernels.filter((k) => k.name === 'Concat');
      expect(concats.length).toBe(Math.ceil((n - 1) / 6));
      concats.forEach((k) => expect(k.inputShapes.length).toBeLessThanOrEqual(CONCAT_FANIN));
      const out = concatFlat(xs);
      expect(await out.data()).toEqual(await ref.data());
      tf.dispose([...xs, ref, out, ...(info.result as tf.Tensor[])]);
    },
  );
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
  constructor(
    private readonly params: Params,
    private readonly settings = ADAMW_DEFAULTS,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }
  apply(grads: Map<string, tf.Tensor>, lr: number, norm: tf.Scalar): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.settings;
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

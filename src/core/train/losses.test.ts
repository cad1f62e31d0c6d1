// Symmetric KL with stop-gradients against float64 hand cases (test/golden/symkl.json), and finite
// differences of the inner-loss gradient w.r.t. delta on the nano model.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  closeness,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import { classify, embed, NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { deltaGradient, innerLoss } from './alum.ts';
import { crossEntropy, stopGradient, symmetricKl } from './losses.ts';

interface SymKlCase {
  name: string;
  logits_clean: number[][];
  logits_adv: number[][];
  value: number;
  grad_clean: number[][];
  grad_adv: number[][];
}

const cases = readJson<{ cases: SymKlCase[] }>('test/golden/symkl.json').cases;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(cases)('symmetricKl: $name', (c) => {
  it('value and both gradients match float64', async () => {
    const clean = tf.tensor2d(c.logits_clean);
    const adv = tf.tensor2d(c.logits_adv);
    const value = symmetricKl(clean, adv);
    const [gClean, gAdv] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      symmetricKl(a as tf.Tensor2D, b as tf.Tensor2D),
    )([clean, adv]);
    expect(closeness(await value.data(), [c.value], 1e-6, 1e-4)).toBeLessThan(1);
    expect(closeness(await (gClean as tf.Tensor).data(), flat(c.grad_clean), 1e-6, 1e-4)).toBeLessThan(1);
    expect(closeness(await (gAdv as tf.Tensor).data(), flat(c.grad_adv), 1e-6, 1e-4)).toBeLessThan(1);
    tf.dispose([clean, adv, value, gClean, gAdv] as tf.Tensor[]);
  });
});

describe('stopGradient and cross-entropy', () => {
  it('d/dx [sg(x) * x] = x', async () => {
    const x = tf.tensor1d([1.5, -2]);
    const g = tf.grad((v: tf.Tensor) => stopGradient(v).mul(v).sum())(x);
    expect(Array.from(await g.data())).toEqual([1.5, -2]);
    tf.dispose([x, g]);
  });

  it('cross-entropy of uniform logits is log(C)', async () => {
    const ce = crossEntropy(tf.zeros([4, 5]) as tf.Tensor2D, tf.tensor1d([0, 1, 2, 4], 'int32'));
    expect((await ce.data())[0]).toBeCloseTo(Math.log(5), 6);
  });
});

describe('inner-loss gradient w.r.t. delta', () => {
  const nano = loadNano();
  const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
  afterAll(() => disposeParams(nano.params));

  it('matches central finite differences of the loss itself', async () => {
    const batch = nanoBatch(golden);
    const e = embed(nano.params, nano.model, batch, NO_DROPOUT);
    const zc = classify(nano.params, nano.model, e, batch.attentionMask, NO_DROPOUT);
    // A point away from 0 (at 0 the KL is flat): delta = 0.3 * delta_init / sigma.
    const delta = tf.tidy(() => tf.tensor3d(flat(golden.delta_init), [3, 8, 32]).mul(30) as tf.Tensor3D);
    const g = await deltaGradient(
      nano.params,
      nano.model,
      e,
      zc,
      batch.attentionMask,
      delta,
      NO_DROPOUT,
    ).data();
    const loss = async (d: tf.Tensor3D) => {
      const l = tf.tidy(() =>
        innerLoss(
          zc,
          classify(nano.params, nano.model, e.add(d) as tf.Tensor3D, batch.attentionMask, NO_DROPOUT),
        ),
      );
      const v = (await l.data())[0] as number;
      l.dispose();
      return v;
    };
    const h = 1e-2;
    // A handful of coordinates on real tokens of each row, including one on a segment-B token.
    for (const [b, t, j] of [
      [0, 0, 0],
      [0, 3, 7],
      [1, 2, 31],
      [2, 5, 10],
      [2, 1, 20],
    ] as const) {
      const idx = (b * 8 + t) * 32 + j;
      const bump = (s: number) =>
        tf.tidy(
          () =>
            delta.add(
              tf
                .oneHot([idx], 3 * 8 * 32)
                .reshape([3, 8, 32])
                .mul(s),
            ) as tf.Tensor3D,
        );
      const up = bump(h);
      const down = bump(-h);
      const fd = ((await loss(up)) - (await loss(down))) / (2 * h);
      tf.dispose([up, down]);
      expect(Math.abs((g[idx] as number) - fd), `(${b},${t},${j}) autodiff ${g[idx]} fd ${fd}`).toBeLessThan(
        2e-3 * Math.abs(fd) + 2e-5,
      );
    }
    tf.dispose([e, zc, delta, ...(Object.values(batch) as tf.Tensor[])]);
  });
});

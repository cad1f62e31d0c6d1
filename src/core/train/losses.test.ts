// Symmetric KL with stop-gradients against float64 hand cases (test/golden/symkl.json); the inner losses
// against float64 formulas computed here in plain JavaScript; finite differences of the inner-loss gradient
// w.r.t. delta on the nano model.
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
import { INNER_REDUCTIONS } from '../config.ts';
import { crossEntropy, innerLoss, klRows, klRowsToward, symmetricKl, symmetricKlParts } from './losses.ts';
import { detach } from './tape.ts';

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

/**
 * Logits [rows, C] for the KL forms: rows 0.. far apart (the plain branch), the rest within 1e-3 of `base` (the
 * series branch, klPieces), seeded.
 */
function logitPair(rows: number, classes: number, seed: number): [tf.Tensor2D, tf.Tensor2D] {
  return tf.tidy(() => {
    const base = tf.randomNormal([rows, classes], 0, 2, 'float32', seed);
    const near = tf.randomNormal([rows, classes], 0, 1e-3, 'float32', seed + 1);
    const far = tf.randomNormal([rows, classes], 0, 2, 'float32', seed + 2);
    const isNear = tf
      .range(0, rows)
      .less(rows / 2)
      .reshape([rows, 1])
      .tile([1, classes]);
    return [base as tf.Tensor2D, base.add(tf.where(isNear, near, far)) as tf.Tensor2D];
  });
}

/** Values of `f` and its gradients w.r.t. both logit inputs, weighted by a fixed random w (every row matters). */
function withGrads(
  f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor,
  a: tf.Tensor2D,
  b: tf.Tensor2D,
): Float32Array[] {
  const value = tf.tidy(() => f(a, b));
  const w = tf.randomNormal(value.shape, 0, 1, 'float32', 77);
  const grads = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
    f(x as tf.Tensor2D, y as tf.Tensor2D)
      .mul(w)
      .sum(),
  )([a, b]);
  const out = [value, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([value, w, ...grads]);
  return out;
}

describe.each([
  [1, 2],
  [4, 3],
  [6, 50],
])(
  'the KLs with stop-gradient targets, %i rows x %i classes, against klRows bit for bit',
  (rows, classes) => {
    it('klRowsToward(p, q) is klRows(sg p, q): value and gradient w.r.t. q (none reaches p)', () => {
      const [p, q] = logitPair(rows, classes, 3);
      const w = tf.randomNormal([rows], 0, 1, 'float32', 77);
      const before = tf.memory().numTensors;
      const run = (f: (z: tf.Tensor2D) => tf.Tensor) => {
        const { value, grad } = tf.valueAndGrad((z: tf.Tensor) =>
          f(z as tf.Tensor2D)
            .mul(w)
            .sum(),
        )(q);
        const out = [value.dataSync(), grad.dataSync()];
        tf.dispose([value, grad]);
        return out;
      };
      expect(run((z) => klRowsToward(p, z))).toEqual(run((z) => klRows(detach(p), z)));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([p, q, w]);
    });

    it('symmetricKlParts: the two-call sym-KL (value, gradients) and KL(sg p_clean || p_adv) per row', () => {
      const [clean, adv] = logitPair(rows, classes, 5);
      const twoCalls = (c: tf.Tensor2D, a: tf.Tensor2D) =>
        klRows(detach(a), c)
          .add(klRows(detach(c), a))
          .mean() as tf.Scalar;
      const parts = (c: tf.Tensor2D, a: tf.Tensor2D) => {
        const { loss, toAdv } = symmetricKlParts(c, a);
        toAdv.dispose();
        return loss;
      };
      expect(withGrads(parts, clean, adv)).toEqual(withGrads(twoCalls, clean, adv));
      expect(withGrads(symmetricKl, clean, adv)).toEqual(withGrads(twoCalls, clean, adv));
      const { loss, toAdv } = symmetricKlParts(clean, adv);
      const want = klRows(clean, adv);
      expect(toAdv.dataSync()).toEqual(want.dataSync());
      tf.dispose([loss, toAdv, want, clean, adv]);
    });
  },
);

describe('detach (stop-gradient) and cross-entropy', () => {
  it('d/dx [sg(x) * x] = x', async () => {
    const x = tf.tensor1d([1.5, -2]);
    const g = tf.grad((v: tf.Tensor) => detach(v).mul(v).sum())(x);
    expect(Array.from(await g.data())).toEqual([1.5, -2]);
    tf.dispose([x, g]);
  });

  it('cuts the path: nothing behind sg(f(x)) is differentiated, even through a nested gradient', async () => {
    const x = tf.tensor1d([0.5, -1.5, 2]);
    // y = sum((2x + sg(0.1 * d/dz sum((2x + z)^2) at z = 0))^2) = sum((2x + c)^2), c = 0.4 x constant -> dy/dx = 9.6 x (11.52 x without the cut)
    const g = tf.grad((v: tf.Tensor) => {
      const e = v.mul(2);
      const inner = tf.grad((z: tf.Tensor) => e.add(z).square().sum())(tf.zerosLike(e));
      return e
        .add(detach(inner.mul(0.1)))
        .square()
        .sum();
    })(x);
    expect(
      closeness(
        await g.data(),
        [0.5, -1.5, 2].map((v) => 9.6 * v),
        1e-5,
        1e-5,
      ),
    ).toBeLessThan(1);
    tf.dispose([x, g]);
  });

  it('cross-entropy of uniform logits is log(C)', async () => {
    const ce = crossEntropy(tf.zeros([4, 5]) as tf.Tensor2D, tf.tensor1d([0, 1, 2, 4], 'int32'));
    expect((await ce.data())[0]).toBeCloseTo(Math.log(5), 6);
  });
});

/** Softmax of one row in float64. */
function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const ex = z.map((v) => Math.exp(v - m));
  const s = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / s);
}

/** mt-dnn's guarded log-odds r(u) = -log(1/(u + 1e-6) - 1 + 1e-6), float64. */
const logOdds = (u: number) => -Math.log(1 / (u + 1e-6) - 1 + 1e-6);

describe('inner losses vs float64 formulas', () => {
  const adv = [
    [0.4, -1.1, 2.2],
    [1.5, 0.2, -0.3],
  ];
  const clean = [
    [0.1, -0.5, 1.9],
    [-0.2, 0.9, 0.4],
  ];
  const divisor = { sum: 1, batchmean: 2, elementmean: 6 } as const;

  it.each(INNER_REDUCTIONS)('kl, %s: KL(p_clean || p_adv) and its gradient p_adv - p_clean', async (red) => {
    const a = tf.tensor2d(adv);
    const c = tf.tensor2d(clean);
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => innerLoss('kl', red, z as tf.Tensor2D, c))(a);
    let want = 0;
    const gWant: number[] = [];
    adv.forEach((row, b) => {
      const pa = softmax(row);
      const pc = softmax(clean[b] as number[]);
      pc.forEach((p, j) => (want += p * (Math.log(p) - Math.log(pa[j] as number))));
      pa.forEach((p, j) => gWant.push((p - (pc[j] as number)) / divisor[red]));
    });
    expect(closeness(await value.data(), [want / divisor[red]], 1e-7, 1e-5)).toBeLessThan(1);
    expect(closeness(await grad.data(), gWant, 1e-7, 1e-5)).toBeLessThan(1);
    tf.dispose([a, c, value, grad]);
  });

  it('keeps the digits of a KL between nearly equal distributions (where the ascent starts)', async () => {
    // float32 inputs, so the float64 reference sees exactly what the backend does
    const zq = [0.3, -1.1, 2.2].map(Math.fround);
    const zp = zq.map((v, i) => Math.fround(v + 1e-5 * ([1, -2, 0.5][i] as number)));
    const [pp, pq] = [softmax(zp), softmax(zq)];
    const want = pp.reduce((acc, p, i) => acc + p * (Math.log(p) - Math.log(pq[i] as number)), 0); // ~1e-10
    const got = klRows(tf.tensor2d([zp]), tf.tensor2d([zq]));
    expect(want).toBeGreaterThan(1e-11);
    // ~1e-12 absolute: the ulp of the 1e-5 logit differences (the textbook form is off by ~1e-8).
    expect(closeness(await got.data(), [want], 2e-12, 1e-2)).toBeLessThan(1);
    // and its gradient w.r.t. q's logits, q - p (~1e-5 here), to 1e-11 where autodiff of the textbook form
    // keeps only ~1e-7 of it
    const [zpT, zqT] = [tf.tensor2d([zp]), tf.tensor2d([zq])];
    const g = tf.grad((z: tf.Tensor) => klRows(zpT, z as tf.Tensor2D).sum())(zqT);
    const gWant = pq.map((q, i) => q - (pp[i] as number));
    expect(closeness(await g.data(), gWant, 1e-11, 1e-3)).toBeLessThan(1);
    tf.dispose([got, g, zpT, zqT]);
  });

  it.each(INNER_REDUCTIONS)('stable-kl, %s: value and the detached-log-odds gradient', async (red) => {
    const a = tf.tensor2d(adv);
    const c = tf.tensor2d(clean);
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor) =>
      innerLoss('stable-kl', red, z as tf.Tensor2D, c),
    )(a);
    let want = 0;
    const gWant: number[] = [];
    adv.forEach((row, b) => {
      const pa = softmax(row);
      const pc = softmax(clean[b] as number[]);
      const cTerm = pa.map((p, j) => logOdds(p) - logOdds(pc[j] as number));
      const mean = pa.reduce((acc, p, j) => acc + p * (cTerm[j] as number), 0);
      pa.forEach((p, j) => (want += 2 * p * (cTerm[j] as number)));
      // d/dz_j sum_i 2 p_i c_i with c constant = 2 p_j (c_j - sum_i p_i c_i)
      pa.forEach((p, j) => gWant.push((2 * p * ((cTerm[j] as number) - mean)) / divisor[red]));
    });
    expect(closeness(await value.data(), [want / divisor[red]], 1e-6, 1e-4)).toBeLessThan(1);
    expect(closeness(await grad.data(), gWant, 1e-6, 1e-4)).toBeLessThan(1);
    tf.dispose([a, c, value, grad]);
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
    const lossOf = (d: tf.Tensor) =>
      innerLoss(
        'kl',
        'sum',
        classify(nano.params, nano.model, e.add(d) as tf.Tensor3D, batch.attentionMask, NO_DROPOUT),
        zc,
      );
    const gT = tf.grad(lossOf)(delta);
    const g = await gT.data();
    gT.dispose();
    const loss = async (d: tf.Tensor3D) => {
      const l = tf.tidy(() => lossOf(d));
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

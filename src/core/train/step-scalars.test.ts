// The step's metrics (`stepScalars` stacks sums, `readStepScalars` finishes them in float32 steps) against the
// device-only form they replaced (kept below as the reference): the same numbers bit for bit (cpu backend), for
// a standard and an ALUM step on the golden nano batch (padding included), in fewer kernels.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { flat, loadNano, nanoBatch, readJson, type NanoGolden } from '../../../test/helpers/nano.ts';
import { countKernels } from '../bench/kernels.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { alumGradients, disposeStepResult, type AlumStepResult } from './alum.ts';
import { accuracyOf, readStepScalars, STEP_EXTRA_AT, STEP_SCALARS, stepScalars, stepTailAt } from './run.ts';

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

/** The metrics as the kernels computed them before (one Pack of STEP_SCALARS, then the extras). */
function deviceScalars(r: AlumStepResult, attentionMask: tf.Tensor2D, ...extra: tf.Scalar[]): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = attentionMask.toFloat();
    const tokens = mask.sum();
    const hidden = r.embedding.shape[2];
    const perToken = (x: tf.Tensor) => x.mul(mask).sum().div(tokens);
    const zero = tf.scalar(0);
    const lastGrad = r.deltaGrads[r.deltaGrads.length - 1];
    const d = r.deltaFinal;
    const values: Record<(typeof STEP_SCALARS)[number], tf.Tensor> = {
      taskLoss: r.taskLoss,
      advLoss: r.advLoss,
      totalLoss: r.totalLoss,
      innerGradNorm: lastGrad ? lastGrad.square().sum().sqrt().mul(tf.scalar(1).sub(r.skipped)) : zero,
      deltaLinf: d ? perToken(d.abs().max(-1)) : zero,
      deltaL2: d ? perToken(d.square().sum(-1).sqrt()) : zero,
      embedAbsMean: perToken(r.embedding.abs().sum(-1)).div(hidden),
      effPerturb: r.eff ? r.eff.sum().div(tokens.mul(hidden)) : zero,
      klInit: r.klInit,
      klAdv: r.klAdv,
      dropoutKl: r.dropoutKl,
      skippedNow: r.skipped,
    };
    return tf.stack([...STEP_SCALARS.map((k) => values[k]), ...extra]) as tf.Tensor1D;
  });
}

function step(
  method: 'alum' | 'standard',
  k: number,
): { batch: ReturnType<typeof nanoBatch>; result: AlumStepResult } {
  const batch = nanoBatch(golden);
  const { eta, epsilon, alpha } = golden.hyper;
  const result = alumGradients(
    nano.params,
    nano.model,
    batch,
    {
      method,
      alpha,
      k,
      eta,
      epsilon,
      variant: 'paper',
      innerLoss: 'kl',
      innerReduction: 'sum',
      detachEmbedding: false,
      norm: 'inf',
    },
    {
      dropout: { clean: NO_DROPOUT, inner: Array.from({ length: k }, () => NO_DROPOUT), adv: NO_DROPOUT },
      deltaInit: method === 'alum' ? tf.tensor3d(flat(golden.delta_init), [3, 8, 32]) : null,
      record: false,
    },
  );
  return { batch, result };
}

describe('stepScalars and readStepScalars', () => {
  it.each([
    ['standard', 0],
    ['alum', 1],
    ['alum', 2],
  ] as const)('give the device form numbers bit for bit, extras in order (%s, K %i)', async (method, k) => {
    const { batch, result } = step(method, k);
    expect((await batch.attentionMask.data()).includes(0)).toBe(true); // padding: the means are over real tokens
    const extras = [tf.scalar(1.5), tf.scalar(-2.25)];
    const before = tf.memory().numTensors;
    const ours = stepScalars(result, batch.attentionMask, extras);
    const ref = deviceScalars(result, batch.attentionMask, ...extras);
    const [o, r] = [await ours.data(), await ref.data()];
    const want = Object.fromEntries(STEP_SCALARS.map((name, i) => [name, r[i]]));
    expect(readStepScalars(o, extras.length)).toEqual(want);
    if (method === 'alum') expect(want['deltaLinf']).toBeGreaterThan(0);
    expect([o[STEP_EXTRA_AT], o[STEP_EXTRA_AT + 1]]).toEqual([1.5, -2.25]);
    tf.dispose([ours, ref]);
    expect(tf.memory().numTensors).toBe(before);
    disposeStepResult(result);
    tf.dispose([...extras, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('take eleven fewer dispatches than the device form (ALUM K 1)', async () => {
    const { batch, result } = step('alum', 1);
    const ours = await countKernels(() => stepScalars(result, batch.attentionMask).dispose());
    const ref = await countKernels(() => deviceScalars(result, batch.attentionMask).dispose());
    expect([ref.dispatches, ours.dispatches]).toEqual([27, 16]);
    disposeStepResult(result);
    tf.dispose(Object.values(batch) as tf.Tensor[]);
  });
});

describe('stepScalars on a made-up result (H 24, a skipped batch)', () => {
  it.each([0, 1])('give the device form numbers bit for bit, skipped %i', async (skipped) => {
    const [b, t, h] = [3, 5, 24]; // H not a power of two: every division rounds
    const r = (seed: number) => tf.randomNormal([b, t, h], 0, 1, 'float32', seed) as tf.Tensor3D;
    const result = {
      grads: new Map(),
      taskLoss: tf.scalar(0.7),
      advLoss: tf.scalar(0.01),
      totalLoss: tf.scalar(0.71),
      embedding: r(1),
      logitsClean: tf.zeros([b, 2]) as tf.Tensor2D,
      logitsAdv: null,
      deltaInit: null,
      deltaGrads: [r(2)],
      deltaSteps: [],
      deltaFinal: r(3),
      eff: tf.tidy(() => r(4).abs()) as tf.Tensor3D,
      klInit: tf.scalar(0.001),
      klAdv: tf.scalar(0.002),
      dropoutKl: tf.scalar(0.003),
      skipped: tf.scalar(skipped),
    } as unknown as AlumStepResult;
    const mask = tf.tensor2d([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], [b, t], 'int32');
    const ours = stepScalars(result, mask);
    const ref = deviceScalars(result, mask);
    const [o, want] = [await ours.data(), await ref.data()];
    expect(readStepScalars(o)).toEqual(Object.fromEntries(STEP_SCALARS.map((name, i) => [name, want[i]])));
    tf.dispose([
      ours,
      ref,
      mask,
      ...(Object.values(result).filter((x) => x instanceof tf.Tensor) as tf.Tensor[]),
    ]);
    tf.dispose([...result.deltaGrads, ...(result.deltaFinal ? [result.deltaFinal] : [])]);
  });
});

describe('accuracyOf', () => {
  it.each([
    [1, 2],
    [5, 2],
    [7, 3],
    [64, 5],
  ])('is argMax, Equal and Mean of the kernels, bit for bit (B %i, C %i, ties included)', async (b, c) => {
    // Logits rounded to halves: many ties, where ArgMax takes the first maximal entry.
    const logits = tf.tidy(() =>
      tf
        .randomNormal([b, c], 0, 1, 'float32', b * c)
        .mul(2)
        .round()
        .div(2),
    );
    const labels = tf.tidy(() => tf.randomUniform([b], 0, c, 'int32', b + c));
    const kernels = tf.tidy(() => logits.argMax(-1).equal(labels).toFloat().mean());
    // As trainStep reads them: the tail of stepScalars' readback.
    const { batch, result } = step('standard', 0);
    const packed = stepScalars(result, batch.attentionMask, [], [logits, labels]);
    const values = await packed.data();
    const at = stepTailAt(0);
    const got = accuracyOf(values.subarray(at, at + b * c), values.subarray(at + b * c), c);
    expect(got).toBe((await kernels.data())[0]);
    tf.dispose([logits, labels, kernels, packed]);
    disposeStepResult(result);
    tf.dispose(Object.values(batch) as tf.Tensor[]);
  });
});

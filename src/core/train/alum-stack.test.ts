// Stacked passes (alum.ts `pairLogits`, `stacksPasses`): the clean rows run in one forward pass with the first
// inner step's rows and again with the adversarial rows. Each row gets what its own pass gives (every layer works
// row by row), so the step computes what the unstacked step (wasm's) does: the same logits, perturbations and
// losses bit for bit on the cpu backend, the parameter gradients to float32 rounding (their sums over the rows
// run in another order). The golden tests (alum-cases, alum-mlm-cases, methods-cases) check the stacked step
// against float64; this file checks the two forms against each other, with dropout on.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  expectNear,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import { disposeParams } from '../model/params.ts';
import { NO_DROPOUT, type DropoutPass } from '../model/dropout.ts';
import {
  alumGradients,
  disposeStepResult,
  headLogits,
  pairLogits,
  stackHead,
  stacksPasses,
  type AlumDropout,
  type AlumSettings,
  type AlumStepResult,
  type HeadInputs,
} from './alum.ts';

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const nano = loadNano();
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

const passes: [string, DropoutPass, DropoutPass][] = [
  ['the same masks', { rate: 0.1, seed: 3 }, { rate: 0.1, seed: 3 }],
  ['fresh masks', { rate: 0.1, seed: 3 }, { rate: 0.1, seed: 8 }],
  ['no dropout in the second', { rate: 0.1, seed: 3 }, NO_DROPOUT],
];

describe('pairLogits', () => {
  it.each(passes)('gives each half what its own pass gives, bit for bit: %s', (_, first, second) => {
    const batch = nanoBatch(golden);
    const head: HeadInputs = { params: nano.params, model: nano.model, attentionMask: batch.attentionMask };
    const stacked = stackHead(head);
    const before = tf.memory().numTensors;
    const a = tf.randomNormal([3, 8, 32], 0, 1, 'float32', 1) as tf.Tensor3D;
    const b = tf.randomNormal([3, 8, 32], 0, 1, 'float32', 2) as tf.Tensor3D;
    const [za, zb] = pairLogits(stacked, a, b, [first, second]);
    const [wa, wb] = [headLogits(head, a, first), headLogits(head, b, second)];
    expect(za.dataSync()).toEqual(wa.dataSync());
    expect(zb.dataSync()).toEqual(wb.dataSync());
    tf.dispose([a, b, za, zb, wa, wb]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([
      stacked.attentionMask,
      batch.inputIds,
      batch.tokenTypeIds,
      batch.attentionMask,
      batch.labels,
    ]);
  });
});

describe('a step with stacked passes against the unstacked step', () => {
  const settings: AlumSettings = {
    ...{ method: 'alum', alpha: 1, k: 2, eta: 1e-2, epsilon: 1e-2, variant: 'paper', norm: 'inf' },
    ...{ innerLoss: 'kl', innerReduction: 'sum', detachEmbedding: false },
  };

  function step(stack: boolean, dropout: AlumDropout, s: AlumSettings): AlumStepResult {
    const batch = nanoBatch(golden);
    const deltaInit = tf.tensor3d(flat(golden.delta_init), [3, 8, 32]);
    const r = alumGradients(nano.params, nano.model, batch, s, { dropout, deltaInit, record: true, stack });
    tf.dispose(Object.values(batch));
    return r;
  }

  const read = (t: tf.Tensor | null) => Array.from(t?.dataSync() ?? []);

  it('the cpu backend stacks (its kernel counts stand for the GPU backends)', () => {
    expect(stacksPasses()).toBe(true);
  });

  it.each(passes)('same outputs, gradients to float32 rounding: %s (K = 2)', (_, clean, other) => {
    const dropout: AlumDropout = { clean, inner: [other, other], adv: other };
    const before = tf.memory().numTensors;
    for (const s of [
      settings,
      { ...settings, k: 1, variant: 'mtdnn-2020' as const, detachEmbedding: true },
    ]) {
      const [st, un] = [step(true, dropout, s), step(false, dropout, s)];
      const exact = (r: AlumStepResult) => [
        ...[r.logitsClean, r.logitsAdv, r.deltaFinal, r.eff, ...r.deltaGrads, ...r.deltaSteps].map(read),
        ...[r.taskLoss, r.advLoss, r.klInit, r.klAdv, r.dropoutKl].map(read),
      ];
      expect(exact(st)).toEqual(exact(un));
      expectNear(read(st.totalLoss), read(un.totalLoss), 'total loss', { rel: 1e-6 });
      for (const [name, g] of un.grads) {
        expectNear(read(st.grads.get(name) ?? null), read(g), `grad ${name}`, { rel: 1e-5 });
      }
      disposeStepResult(st);
      disposeStepResult(un);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("frees the stacked pass's clean logits when the ascent throws after making them", () => {
    const dropout: AlumDropout = { clean: NO_DROPOUT, inner: [NO_DROPOUT, NO_DROPOUT], adv: NO_DROPOUT };
    const batch = nanoBatch(golden);
    const before = tf.memory().numTensors;
    const deltaInit = tf.tensor3d(flat(golden.delta_init), [3, 8, 32]);
    const hooks = {
      update: () => {
        throw new Error('lost device');
      },
    };
    const opts = { dropout, deltaInit, record: true, stack: true, hooks };
    expect(() => alumGradients(nano.params, nano.model, batch, settings, opts)).toThrow('lost device');
    expect(tf.memory().numTensors).toBe(before); // deltaInit (taken over by the step) included
    tf.dispose(Object.values(batch));
  });
});

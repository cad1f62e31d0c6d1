// The cost of an ALUM step in passes through the network (docs/alum-step.md, "Cost"): the embedding runs once;
// the first inner step runs stacked with a clean pass (its target), every later inner step alone, and the
// adversarial pass stacked with the clean pass the loss records. Counted by wrapping the model's two halves,
// `embed` and `classify`: calls (one call = one pass of kernels) and batches (rows / B: the compute).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { flat, loadNano, nanoBatch, readJson, type NanoGolden } from '../../../test/helpers/nano.ts';
import type * as bert from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { alumGradients, disposeStepResult, type AlumDropout, type AlumSettings } from './alum.ts';

const calls = { embed: 0, classify: 0, batches: 0 };
/** Rows of the golden batch (`nanoBatch`). */
const BATCH = 3;

vi.mock('../model/bert.ts', async (importOriginal) => {
  const real = await importOriginal<typeof bert>();
  return {
    ...real,
    embed: (...args: Parameters<typeof real.embed>) => {
      calls.embed += 1;
      return real.embed(...args);
    },
    classify: (...args: Parameters<typeof real.classify>) => {
      calls.classify += 1;
      calls.batches += (args[2].shape[0] as number) / BATCH; // rows of e / rows of the batch
      return real.classify(...args);
    },
  };
});

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const nano = loadNano();
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

function passes(k: number, dropout: AlumDropout, method: 'alum' | 'standard' = 'alum') {
  calls.embed = 0;
  calls.classify = 0;
  calls.batches = 0;
  const batch = nanoBatch(golden);
  expect(batch.inputIds.shape[0]).toBe(BATCH);
  const s: AlumSettings = {
    ...{ method, alpha: 1, k, eta: 1e-2, epsilon: 1e-2, variant: 'paper', norm: 'inf' },
    ...{ innerLoss: 'kl', innerReduction: 'sum', detachEmbedding: false },
  };
  const r = alumGradients(nano.params, nano.model, batch, s, {
    dropout,
    deltaInit: tf.tensor3d(flat(golden.delta_init), [3, 8, 32]),
    record: false,
  });
  disposeStepResult(r);
  tf.dispose(Object.values(batch));
  return { ...calls };
}

describe('forward passes per step', () => {
  const same = (k: number): AlumDropout => {
    const p = { rate: 0.1, seed: 3 };
    return { clean: p, inner: Array.from({ length: k }, () => p), adv: p };
  };

  it.each([1, 2, 3])('ALUM with K = %i: one embedding pass, K + 1 encoder passes of K + 3 batches', (k) => {
    expect(passes(k, same(k))).toEqual({ embed: 1, classify: k + 1, batches: k + 3 });
  });

  it('ALUM with K = 0: one encoder pass, the clean and adversarial batches stacked', () => {
    expect(passes(0, same(0))).toEqual({ embed: 1, classify: 1, batches: 2 });
  });

  it('fresh masks add one encoder pass without gradient for dropoutKl', () => {
    const fresh: AlumDropout = {
      clean: { rate: 0.1, seed: 1 },
      inner: [{ rate: 0.1, seed: 2 }],
      adv: { rate: 0.1, seed: 3 },
    };
    expect(passes(1, fresh)).toEqual({ embed: 1, classify: 3, batches: 5 });
  });

  it('standard: one pass', () => {
    expect(passes(1, same(1), 'standard')).toEqual({ embed: 1, classify: 1, batches: 1 });
  });
});

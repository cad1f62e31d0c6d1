// HotFlip's maths against an independent float64 PyTorch reference on the nano-bert fixture
// (scripts/golden/make_robust_golden.py -> test/golden/robust-hotflip.json): the gradient of the loss with
// respect to each position's word vector, the first-order scores (E_w - E_{x_t}) . g_t, and the class
// probabilities the attacks read.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectNear, fixtureDir, flat, loadNano, readJson } from '../../../test/helpers/nano.ts';
import { disposeParams } from '../model/params.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { flipScores, wordVectorGradient } from './hotflip.ts';
import type { Victim } from './types.ts';
import { probabilities, type Ids } from './victim.ts';

interface Golden {
  max_length: number;
  cases: { input_ids: number[]; label: number; probs: number[]; grad: number[][]; scores: number[][] }[];
}
const golden = readJson<Golden>('test/golden/robust-hotflip.json');
const { model, params } = loadNano();
const victim: Victim = {
  params,
  model,
  tokenizer: WordPieceTokenizer.fromVocabText(readFileSync(`${fixtureDir}/vocab.txt`, 'utf8')),
  maxLength: golden.max_length,
};
const unpadded = (ids: number[]): Ids => {
  const real = ids.filter((id) => id !== victim.tokenizer.padId);
  return { inputIds: real, tokenTypeIds: real.map(() => 0) };
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(params));

describe.each(golden.cases.map((c, i) => [i, c] as const))('golden case %i', (_i, c) => {
  const row = unpadded(c.input_ids);

  it('gradient of the loss w.r.t. each word vector matches PyTorch', async () => {
    const g = wordVectorGradient(victim, row, c.label);
    expect(g.shape).toEqual([golden.max_length, model.hiddenSize]);
    expectNear(await g.data(), flat(c.grad), 'dL/dE_x', { rel: 1e-4, rtol: 1e-3 });
    g.dispose();
  });

  it('first-order flip scores (E_w - E_x) . g match PyTorch', async () => {
    const before = tf.memory().numTensors;
    const g = wordVectorGradient(victim, row, c.label);
    const s = flipScores(victim, row, g);
    expect(s.shape).toEqual([golden.max_length, model.vocabSize]);
    expectNear(await s.data(), flat(c.scores), 'scores', { rel: 1e-4, rtol: 1e-3 });
    tf.dispose([g, s]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('class probabilities match PyTorch', async () => {
    const [p = []] = await probabilities(victim, [row]);
    expectNear(p, c.probs, 'probs', { rel: 1e-5, rtol: 1e-5 });
  });
});

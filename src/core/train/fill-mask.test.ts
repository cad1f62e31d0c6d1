// Fill the mask against the independent PyTorch float64 reference (scripts/golden/make_mlm_golden.py): the
// top-k at each [MASK] of the golden's first sentence are the softmax of its reference logits, sorted.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectNear, readJson, root } from '../../../test/helpers/nano.ts';
import { decodeSafetensors } from '../io/safetensors.ts';
import { fromHfConfig } from '../model/hf.ts';
import { disposeParams, variableFrom, type Params } from '../model/params.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { fillMask } from './fill-mask.ts';

const FIXTURE = 'test/fixtures/nano-bert-mlm';
const golden = readJson<{ masked_input_ids: number[][]; positions: number[]; logits: number[][] }>(
  'test/golden/nano-mlm.json',
);
const { model } = fromHfConfig(readJson(`${FIXTURE}/config.json`), 'config.json');
const tokenizer = WordPieceTokenizer.fromVocabText(readFileSync(`${root}${FIXTURE}/vocab.txt`, 'utf8'));
/** Row 0 of the golden batch: [CLS] the [MASK] sat on [MASK] mat [SEP], masked at flat positions 2 and 5. */
const SENTENCE = 'The [MASK] sat on [MASK] mat';

let params: Params;
beforeAll(async () => {
  await tf.setBackend('cpu');
  const file = decodeSafetensors(new Uint8Array(readFileSync(`${root}${FIXTURE}/model.safetensors`)), 'x');
  params = new Map([...file.tensors].map(([n, t]) => [n, variableFrom(t.data as Float32Array, t.shape)]));
});
afterAll(() => disposeParams(params));

/** The reference's top-k (token, probability) at logit row `row`, from PyTorch's logits. */
function referenceTopK(row: number, k: number): { token: string; probability: number }[] {
  const z = golden.logits[row] as number[];
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e
    .map((v, id) => ({ token: tokenizer.vocab[id] as string, probability: v / sum }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}

describe('fillMask', () => {
  it('reads the sentence as the golden batch row does', async () => {
    const r = await fillMask(params, model, tokenizer, SENTENCE, 16, 3);
    expect(r.tokens.map((t) => tokenizer.vocab.indexOf(t))).toEqual(golden.masked_input_ids[0]);
    expect(r.slots.map((s) => s.index)).toEqual(golden.positions.slice(0, 2));
  });

  it('gives the top-k of the reference logits at each [MASK], most probable first', async () => {
    const r = await fillMask(params, model, tokenizer, SENTENCE, 16, 4);
    r.slots.forEach((slot, m) => {
      const ref = referenceTopK(m, 4);
      expect(slot.candidates.map((c) => c.token)).toEqual(ref.map((c) => c.token));
      expectNear(
        slot.candidates.map((c) => c.probability),
        ref.map((c) => c.probability),
        `probabilities at [MASK] ${m}`,
        { rel: 1e-5, rtol: 1e-4 },
      );
    });
  });

  it('refuses a text without [MASK], or with every [MASK] cut off, in one line', async () => {
    await expect(fillMask(params, model, tokenizer, 'the cat sat', 16)).rejects.toThrow(/has no \[MASK\]/);
    await expect(fillMask(params, model, tokenizer, 'the cat sat on the [MASK]', 4)).rejects.toThrow(
      /beyond the first 4 tokens/,
    );
    await expect(fillMask(params, model, tokenizer, SENTENCE, 16, 0)).rejects.toThrow(/top-k/);
  });

  it('leaves no tensor behind', async () => {
    await fillMask(params, model, tokenizer, SENTENCE, 16); // kernels warm
    const before = tf.memory().numTensors;
    await fillMask(params, model, tokenizer, SENTENCE, 16);
    expect(tf.memory().numTensors).toBe(before);
  });
});

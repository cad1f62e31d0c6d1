// The masked-LM head (HF BertForMaskedLM) against the independent PyTorch float64 reference
// (scripts/golden/make_mlm_golden.py): hidden states, logits, loss and every parameter gradient on the
// nano-bert-mlm fixture; then init, loading and tensor hygiene.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  closeness,
  expectNear,
  flat,
  mlmGoldenBatch,
  readJson,
  root,
  values,
  type MlmBatchGolden,
} from '../../../test/helpers/nano.ts';
import { decodeSafetensors } from '../io/safetensors.ts';
import { makeRng } from '../rng.ts';
import { embed, encode, NO_DROPOUT } from './bert.ts';
import { decodeCheckpoint, fromHfConfig } from './hf.ts';
import {
  addMlmParamsFromArrays,
  initMlmParams,
  maskedLmLoss,
  mlmForward,
  mlmLogits,
  mlmParamSpecs,
  MLM_BIAS,
  WORD_EMBEDDINGS,
} from './mlm.ts';
import { disposeParams, paramSpecs, variableFrom, type Params } from './params.ts';

type Nested = number | Nested[];

interface MlmGolden extends MlmBatchGolden {
  meta: { param_names: string[] };
  input_ids: number[][];
  hidden: Nested;
  logits: number[][];
  loss: number;
  grads: Record<string, Nested>;
}

const FIXTURE = 'test/fixtures/nano-bert-mlm';
const golden = readJson<MlmGolden>('test/golden/nano-mlm.json');
const { model } = fromHfConfig(readJson(`${FIXTURE}/config.json`), 'config.json');
const bytes = new Uint8Array(readFileSync(`${root}${FIXTURE}/model.safetensors`));
const file = decodeSafetensors(bytes, 'model.safetensors');

/** Every tensor of the fixture as a variable, under its file name (encoder + head, no pooler/classifier). */
function loadAll(): Params {
  const params: Params = new Map();
  for (const [name, t] of file.tensors) params.set(name, variableFrom(t.data as Float32Array, t.shape));
  return params;
}

const params = loadAll();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(params));

const maskedBatch = () => mlmGoldenBatch(golden);

/** Loss and the gradient of every variable of `p`, by HF name. */
function lossAndGrads(p: Params, batch: ReturnType<typeof maskedBatch>) {
  const { value, grads } = tf.variableGrads(
    () => maskedLmLoss(mlmForward(p, model, batch, batch.mlmPositions, NO_DROPOUT), batch.labels),
    [...p.values()],
  );
  const byName = new Map<string, tf.Tensor>();
  for (const [name, v] of p) {
    const g = grads[v.name];
    if (g) byName.set(name, g);
  }
  return { loss: value, grads: byName, all: Object.values(grads) };
}

describe('MLM head (HF BertForMaskedLM) vs PyTorch float64', () => {
  it('the fixture holds the encoder and the head, and the golden a gradient for each', () => {
    const want = [
      ...paramSpecs(model).filter((s) => !/^(bert\.pooler|classifier)\./.test(s.name)),
      ...mlmParamSpecs(model),
    ];
    expect([...file.tensors.keys()].sort()).toEqual(want.map((s) => s.name).sort());
    for (const s of want) expect(file.tensors.get(s.name)?.shape, s.name).toEqual(s.shape);
    expect(Object.keys(golden.grads).sort()).toEqual(want.map((s) => s.name).sort());
    expect(golden.meta.param_names.length).toBe(want.length);
  });

  it('hidden states of the masked batch (encode) match to 1e-5', async () => {
    const batch = maskedBatch();
    const h = tf.tidy(() =>
      encode(params, model, embed(params, model, batch, NO_DROPOUT), batch.attentionMask, NO_DROPOUT),
    );
    expect(h.shape).toEqual([3, 8, 32]);
    expect(closeness(await values(h), flat(golden.hidden), 1e-5, 1e-4)).toBeLessThan(1);
    tf.dispose([h, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('logits at the masked positions match to 1e-5, from the golden hidden states and end to end', async () => {
    const batch = maskedBatch();
    const hidden = tf.tensor3d(flat(golden.hidden), [3, 8, 32]);
    const fromHidden = mlmLogits(params, model, hidden, batch.mlmPositions);
    const endToEnd = mlmForward(params, model, batch, batch.mlmPositions, NO_DROPOUT);
    expect(fromHidden.shape).toEqual([golden.positions.length, model.vocabSize]);
    expect(closeness(await values(fromHidden), flat(golden.logits), 1e-5, 1e-4)).toBeLessThan(1);
    expect(closeness(await values(endToEnd), flat(golden.logits), 1e-5, 1e-4)).toBeLessThan(1);
    tf.dispose([hidden, fromHidden, endToEnd, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('masked-LM loss matches to 1e-6 relative', async () => {
    const batch = maskedBatch();
    const logits = mlmForward(params, model, batch, batch.mlmPositions, NO_DROPOUT);
    const loss = maskedLmLoss(logits, batch.labels);
    expect(loss.shape).toEqual([]);
    expect(closeness(await values(loss), [golden.loss], 0, 1e-6)).toBeLessThan(1);
    tf.dispose([logits, loss, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('every parameter gradient matches (the tied word embeddings: input lookup + decoder)', async () => {
    const batch = maskedBatch();
    const { loss, grads, all } = lossAndGrads(params, batch);
    expect(closeness(await values(loss), [golden.loss], 0, 1e-6)).toBeLessThan(1);
    expect([...grads.keys()].sort()).toEqual(Object.keys(golden.grads).sort());
    for (const [name, g] of grads) {
      // Floor: the key-bias gradient is exactly 0 in exact arithmetic (softmax shift invariance).
      expectNear(await values(g), flat(golden.grads[name] as Nested), name, { floor: 1e-3 });
    }
    tf.dispose([loss, ...all, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('an untied decoder (a separate copy of E) changes the word-embedding gradient', async () => {
    // The golden's tied gradient is the sum of the input-lookup and decoder parts; a copy sees the input part only.
    const batch = maskedBatch();
    const untied: Params = new Map(params);
    const copy = tf.variable(params.get(WORD_EMBEDDINGS) as tf.Variable, true);
    untied.set(WORD_EMBEDDINGS, copy);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const e = embed(untied, model, batch, NO_DROPOUT); // reads the copy
          const h = encode(untied, model, e, batch.attentionMask, NO_DROPOUT);
          return maskedLmLoss(mlmLogits(params, model, h, batch.mlmPositions), batch.labels); // decoder: E
        }),
      [copy],
    );
    const inputPart = flat(golden.grads[WORD_EMBEDDINGS] as Nested);
    const got = await values(grads[copy.name] as tf.Tensor);
    expect(closeness(got, inputPart, 1e-3, 1e-3)).toBeGreaterThan(1);
    tf.dispose([value, copy, ...Object.values(grads), ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('keeps tf.memory().numTensors flat across forward, loss and gradients', () => {
    const batch = maskedBatch();
    const run = () => {
      const { loss, all } = lossAndGrads(params, batch);
      tf.dispose([loss, ...all]);
      const logits = mlmForward(params, model, batch, batch.mlmPositions, NO_DROPOUT);
      tf.dispose([logits, maskedLmLoss(logits, batch.labels)]);
    };
    run();
    const before = tf.memory().numTensors;
    run();
    run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(batch) as tf.Tensor[]);
  });
});

describe('MLM head parameters', () => {
  it('lists the transform and the decoder bias; the decoder weight is tied (no separate parameter)', () => {
    const specs = mlmParamSpecs(model);
    expect(specs.map((s) => [s.name, s.shape])).toEqual([
      ['cls.predictions.transform.dense.weight', [32, 32]],
      ['cls.predictions.transform.dense.bias', [32]],
      ['cls.predictions.transform.LayerNorm.weight', [32]],
      ['cls.predictions.transform.LayerNorm.bias', [32]],
      [MLM_BIAS, [40]],
    ]);
    expect(specs.some((s) => s.name.includes('decoder'))).toBe(false);
  });

  it('initMlmParams adds a BERT-initialised head to a map, and refuses to overwrite', async () => {
    const before = tf.memory().numTensors;
    const big = { ...model, hiddenSize: 128 };
    const p: Params = new Map([['other', variableFrom(new Float32Array(1), [1])]]);
    expect(initMlmParams(big, makeRng(3), p)).toBe(p);
    expect([...p.keys()]).toEqual(['other', ...mlmParamSpecs(big).map((s) => s.name)]);
    const w = await values(p.get('cls.predictions.transform.dense.weight') as tf.Variable);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.001); // 4 sigma of the mean of 16384 draws: 4 * 0.02 / 128
    expect(Math.abs(std - 0.02)).toBeLessThan(0.0005);
    expect(await values(p.get('cls.predictions.transform.LayerNorm.weight') as tf.Variable)).toEqual(
      new Array(128).fill(1),
    );
    for (const name of ['cls.predictions.transform.dense.bias', 'cls.predictions.transform.LayerNorm.bias']) {
      expect(await values(p.get(name) as tf.Variable)).toEqual(new Array(128).fill(0));
    }
    expect(await values(p.get(MLM_BIAS) as tf.Variable)).toEqual(new Array(40).fill(0));
    // Same seed, same values
    const again = initMlmParams(big, makeRng(3));
    expect(await values(again.get('cls.predictions.transform.dense.weight') as tf.Variable)).toEqual(w);
    expect(() => initMlmParams(big, makeRng(3), p)).toThrow(/already exists/);
    disposeParams(p);
    disposeParams(again);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a BertForMaskedLM checkpoint loads: decodeCheckpoint for the encoder + addMlmParamsFromArrays', async () => {
    const before = tf.memory().numTensors;
    const p = decodeCheckpoint(bytes, model, 'model.safetensors', (_, shape) => {
      return new Float32Array(shape.reduce((a, b) => a * b, 1)); // the unused pooler/classifier
    });
    const arrays = new Map([...file.tensors].map(([k, t]) => [k, t.data as Float32Array]));
    addMlmParamsFromArrays(p, model, arrays, 'model.safetensors');
    const batch = maskedBatch();
    const logits = mlmForward(p, model, batch, batch.mlmPositions, NO_DROPOUT);
    expect(closeness(await values(logits), flat(golden.logits), 1e-5, 1e-4)).toBeLessThan(1);
    tf.dispose([logits, ...(Object.values(batch) as tf.Tensor[])]);

    const bad = new Map(arrays);
    bad.delete(MLM_BIAS);
    const q: Params = new Map();
    expect(() => addMlmParamsFromArrays(q, model, bad, 'x.safetensors')).toThrow(
      /^x\.safetensors: missing parameter 'cls\.predictions\.bias'$/,
    );
    bad.set(MLM_BIAS, new Float32Array(39));
    expect(() => addMlmParamsFromArrays(q, model, bad, 'x.safetensors')).toThrow(/has 39 values/);
    expect(q.size).toBe(0);
    expect(() => addMlmParamsFromArrays(p, model, arrays, 'x.safetensors')).toThrow(/already exists/);
    disposeParams(p);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('maskedLmLoss', () => {
  it('is ln V for uniform logits, the mean over the masked tokens, and refuses M = 0', async () => {
    const before = tf.memory().numTensors;
    const zeros = tf.zeros([4, 40]) as tf.Tensor2D;
    const labels4 = tf.tensor1d([0, 5, 39, 7], 'int32');
    const uniform = maskedLmLoss(zeros, labels4);
    expect(closeness(await values(uniform), [Math.log(40)], 0, 1e-6)).toBeLessThan(1);
    const logits = tf.tensor2d([
      [2, 0, 0],
      [0, 0, 3],
    ]);
    const labels2 = tf.tensor1d([0, 1], 'int32');
    const loss = maskedLmLoss(logits, labels2);
    const lse = (r: number[]) => Math.log(r.reduce((a, b) => a + Math.exp(b), 0));
    const want = (lse([2, 0, 0]) - 2 + lse([0, 0, 3]) - 0) / 2;
    expect(closeness(await values(loss), [want], 0, 1e-6)).toBeLessThan(1);
    const empty = tf.zeros([0, 40]) as tf.Tensor2D;
    const noLabels = tf.tensor1d([], 'int32');
    const labels1 = tf.tensor1d([0], 'int32');
    expect(() => maskedLmLoss(empty, noLabels)).toThrow(/M = 0/);
    expect(() => maskedLmLoss(logits, labels1)).toThrow(/1 labels for 2/);
    tf.dispose([zeros, labels4, uniform, logits, labels2, loss, empty, noLabels, labels1]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

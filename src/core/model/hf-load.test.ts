// Loading Hugging Face checkpoints (test/fixtures/hf-bin/, written by scripts/golden/make_hf_checkpoint.py).
import { readdirSync, readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { hfBinBytes, hfBinFolder, hfExpected, type HfBatch } from '../../../test/helpers/hf-bin.ts';
import { closeness } from '../../../test/helpers/nano.ts';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { forward, NO_DROPOUT } from './bert.ts';
import { hfFolderFiles } from './hf.ts';
import { describeLoad, loadHfModel, withLabels, type LoadedHfModel } from './hf-load.ts';
import { disposeParams, paramsFromArrays } from './params.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const expected = hfExpected();

function load(dir: string, names?: readonly string[]): LoadedHfModel {
  return loadHfModel(hfBinFolder(dir, names), { name: dir, seed: 1 });
}

async function logits(m: LoadedHfModel, b: HfBatch): Promise<number[]> {
  const params = paramsFromArrays(m.model, m.arrays, 'test');
  const inputs = {
    inputIds: tf.tensor2d(b.input_ids, undefined, 'int32'),
    tokenTypeIds: tf.tensor2d(b.token_type_ids, undefined, 'int32'),
    attentionMask: tf.tensor2d(b.attention_mask, undefined, 'int32'),
  };
  const z = forward(params, m.model, inputs, NO_DROPOUT);
  const out = Array.from(await z.data());
  tf.dispose([z, inputs.inputIds, inputs.tokenTypeIds, inputs.attentionMask]);
  disposeParams(params);
  return out;
}

/** Every logit within 1e-4 of PyTorch's (float64 forward of the same weights). */
async function expectLogits(m: LoadedHfModel, b: HfBatch, want: number[][]): Promise<void> {
  expect(closeness(await logits(m, b), want.flat(), 1e-4, 0)).toBeLessThan(1);
}

/** Ids of the fixture's texts under the loaded tokenizer, padded like the batch. */
function ids(m: LoadedHfModel): number[][] {
  const tok = WordPieceTokenizer.fromVocabText(m.vocabText, { lowercase: m.lowercase });
  return expected.texts.map(([a, b]) => tok.encode(a, b ?? undefined).inputIds);
}

describe('loadHfModel: golden logits from PyTorch', () => {
  it.each([['model.safetensors'], ['pytorch_model.bin']])(
    'f32 %s gives PyTorch logits within 1e-4',
    async (w) => {
      const m = load('f32', ['config.json', 'vocab.txt', w]);
      expect(m.report).toMatchObject({
        weights: w,
        dtypes: ['F32'],
        tokenizer: 'vocab.txt',
        lowercase: true,
      });
      expect(m.report.loaded).toBe(41);
      expect(m.report.initialised).toEqual([]);
      expect(m.report.ignored).toEqual(['bert.embeddings.position_ids']);
      expect(m.labels).toEqual(['negative', 'neutral', 'positive']);
      await expectLogits(m, expected.uncased, expected.logits_f32);
    },
  );

  it.each([['model.safetensors'], ['pytorch_model.bin']])(
    'f16 %s gives PyTorch logits within 1e-4',
    async (w) => {
      const m = load('f16', ['config.json', 'tokenizer.json', w]);
      expect(m.report).toMatchObject({
        weights: w,
        dtypes: ['F16'],
        tokenizer: 'tokenizer.json',
        lowercase: false,
      });
      await expectLogits(m, expected.cased, expected.logits_f16);
    },
  );

  it('the tokenizer follows the model: uncased vocab.txt, cased tokenizer.json', () => {
    const unpad = (b: HfBatch) =>
      b.input_ids.map((row, i) => row.filter((_, j) => b.attention_mask[i]![j] === 1));
    expect(ids(load('f32', ['config.json', 'vocab.txt', 'model.safetensors']))).toEqual(
      unpad(expected.uncased),
    );
    expect(ids(load('f16', ['config.json', 'tokenizer.json', 'model.safetensors']))).toEqual(
      unpad(expected.cased),
    );
    // "The" is [UNK] only when cased.
    expect(unpad(expected.cased)[3]).not.toEqual(unpad(expected.uncased)[3]);
  });

  it('a BertModel .bin with gamma/beta names and MLM heads: encoder loaded, head fresh, extras reported', () => {
    const m = load('legacy');
    const f32 = load('f32', ['config.json', 'vocab.txt', 'model.safetensors']);
    expect(m.report.initialised).toEqual([
      'bert.pooler.dense.weight',
      'bert.pooler.dense.bias',
      'classifier.weight',
      'classifier.bias',
    ]);
    expect(m.report.ignored).toEqual(['cls.predictions.bias', 'cls.predictions.decoder.weight']);
    expect(m.report.loaded).toBe(37);
    for (const [name, v] of m.arrays) {
      if (!name.startsWith('classifier.') && !name.startsWith('bert.pooler.'))
        expect(v, name).toEqual(f32.arrays.get(name));
    }
    expect(Array.from(m.arrays.get('classifier.bias')!)).toEqual([0, 0, 0]);
    expect(m.arrays.get('classifier.weight')!.some((x) => x !== 0)).toBe(true);
    expect(describeLoad(m.report)).toContain('missing head initialised fresh: bert.pooler.dense.weight');
    expect(describeLoad(m.report)).toContain('ignored: cls.predictions.bias');
  });

  it('lists missing encoder tensors and mis-shaped tensors by name', () => {
    const files = hfBinFolder('f32', ['config.json', 'vocab.txt']);
    const st = decodeSafetensors(hfBinBytes('f32/model.safetensors')).tensors;
    const without = new Map(st);
    without.delete('bert.encoder.layer.1.output.dense.bias');
    without.delete('bert.embeddings.LayerNorm.weight');
    files.set('model.safetensors', encodeSafetensors(without));
    expect(() => loadHfModel(files, { name: 'm', seed: 1 })).toThrow(
      'm/model.safetensors: missing 2 tensor(s): bert.embeddings.LayerNorm.weight, bert.encoder.layer.1.output.dense.bias',
    );
    const bad = new Map(st);
    bad.set('classifier.bias', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    files.set('model.safetensors', encodeSafetensors(bad));
    expect(() => loadHfModel(files, { name: 'm', seed: 1 })).toThrow(
      "m/model.safetensors: 1 tensor(s) do not match config.json's shapes: classifier.bias [2] != [3]",
    );
  });

  it('refuses a folder without config, vocabulary or weights, and a vocabulary of the wrong size', () => {
    const f = (names: string[]) => () => loadHfModel(hfBinFolder('f32', names), { name: 'd', seed: 1 });
    expect(f(['vocab.txt', 'model.safetensors'])).toThrow('d/config.json: missing');
    expect(f(['config.json', 'model.safetensors'])).toThrow('d/vocab.txt: missing');
    expect(f(['config.json', 'vocab.txt'])).toThrow('d/model.safetensors: missing');
    const files = hfBinFolder('f32', ['config.json', 'model.safetensors']);
    files.set('vocab.txt', new TextEncoder().encode('[PAD]\n[UNK]\n'));
    expect(() => loadHfModel(files, { name: 'd', seed: 1 })).toThrow(
      'd/vocab.txt: vocab: missing special token [CLS]',
    );
    const tokens = new TextDecoder().decode(hfBinBytes('f32/vocab.txt')) + 'extra\n';
    files.set('vocab.txt', new TextEncoder().encode(tokens));
    expect(() => loadHfModel(files, { name: 'd', seed: 1 })).toThrow(
      "d/vocab.txt: 41 tokens, but config.json's vocab_size is 40",
    );
  });

  it('an exported folder (hfFolderFiles) reloads bit-identically', async () => {
    const m = load('f16', ['config.json', 'tokenizer.json', 'pytorch_model.bin']);
    const params = paramsFromArrays(m.model, m.arrays, 'test');
    const before = tf.memory().numTensors;
    const files = await hfFolderFiles(
      params,
      m.model,
      m.labels,
      0.1,
      m.vocabText,
      {},
      {
        lowercase: m.lowercase,
      },
    );
    expect(tf.memory().numTensors).toBe(before);
    const back = loadHfModel(
      files.map((f) => [f.name, f.bytes]),
      { name: 'export', seed: 1 },
    );
    expect(back.report.loaded).toBe(41);
    expect(back.labels).toEqual(m.labels);
    expect(back.vocabText).toBe(m.vocabText);
    expect(back.lowercase).toBe(false); // cased, through tokenizer_config.json
    for (const [name, v] of m.arrays) expect(back.arrays.get(name), name).toEqual(v);
    disposeParams(params);
  });
});

describe('withLabels', () => {
  it("draws a fresh head for the data's labels, and keeps a checkpoint's own head", () => {
    const legacy = load('legacy');
    const two = withLabels(legacy, ['ham', 'spam'], 1);
    expect(two.model.numLabels).toBe(2);
    expect(two.labels).toEqual(['ham', 'spam']);
    expect(two.arrays.get('classifier.weight')).toHaveLength(2 * 32);
    expect(two.arrays.get('bert.encoder.layer.0.output.dense.bias')).toBe(
      legacy.arrays.get('bert.encoder.layer.0.output.dense.bias'),
    );
    const f32 = load('f32', ['config.json', 'vocab.txt', 'model.safetensors']);
    const same = withLabels(f32, ['negative', 'neutral', 'positive'], 1);
    expect(same.arrays).toBe(f32.arrays);
    expect(same.report.labels).toBeUndefined();
  });

  it("reorders a checkpoint's classifier rows to the data's order of the same label names", () => {
    const f32 = load('f32', ['config.json', 'vocab.txt', 'model.safetensors']);
    const h = f32.model.hiddenSize;
    const w = f32.arrays.get('classifier.weight') as Float32Array;
    const b = f32.arrays.get('classifier.bias') as Float32Array;
    const m = withLabels(f32, ['positive', 'negative', 'neutral'], 1); // data row j = model row [2, 0, 1][j]
    expect(m.labels).toEqual(['positive', 'negative', 'neutral']);
    const w2 = m.arrays.get('classifier.weight') as Float32Array;
    [2, 0, 1].forEach((from, j) => {
      expect(w2.subarray(j * h, (j + 1) * h)).toEqual(w.subarray(from * h, (from + 1) * h));
      expect(m.arrays.get('classifier.bias')?.[j]).toBe(b[from]);
    });
    expect(describeLoad(m.report)).toContain(
      "classifier rows reordered to the data's labels (positive, negative, neutral)",
    );
  });

  it('keeps a classifier over other names by position, and replaces one over another label count', () => {
    const f32 = load('f32', ['config.json', 'vocab.txt', 'model.safetensors']);
    const byPosition = withLabels(f32, ['a', 'b', 'c'], 1);
    expect(byPosition.arrays).toBe(f32.arrays);
    expect(byPosition.labels).toEqual(['a', 'b', 'c']);
    expect(byPosition.report.labels).toBe(
      "classifier kept by position: the model's negative, neutral, positive are the data's a, b, c",
    );
    const two = withLabels(f32, ['ham', 'spam'], 1);
    expect(two.model.numLabels).toBe(2);
    expect(two.arrays.get('classifier.weight')).toHaveLength(2 * f32.model.hiddenSize);
    expect(two.arrays.get('classifier.bias')).toEqual(new Float32Array(2));
    expect(two.arrays.get('bert.pooler.dense.weight')).toBe(f32.arrays.get('bert.pooler.dense.weight'));
    expect(two.report.labels).toBe(
      'classifier replaced by a fresh one: the model has 3 labels (negative, neutral, positive), the data 2',
    );
  });
});

describe('loadHfModel: the masked-LM head', () => {
  const mlmDir = 'test/fixtures/nano-bert-mlm';
  const files = (dir: string) =>
    readdirSync(dir).map((f): [string, Uint8Array] => [f, new Uint8Array(readFileSync(`${dir}/${f}`))]);

  it("hands over a BertForMaskedLM checkpoint's cls.predictions.* tensors, exactly as stored", () => {
    const m = loadHfModel(files(mlmDir), { name: 'mlm', seed: 1 });
    expect(m.mlmHead.missing).toEqual([]);
    const stored = decodeSafetensors(readFileSync(`${mlmDir}/model.safetensors`), 'x').tensors;
    expect([...m.mlmHead.arrays.keys()].sort()).toEqual(
      [...stored.keys()].filter((k) => k.startsWith('cls.predictions.')).sort(),
    );
    for (const [name, values] of m.mlmHead.arrays) {
      const want = stored.get(name);
      expect(want?.dtype, name).toBe('F32');
      expect(Array.from(values), name).toEqual(Array.from(want?.data as Float32Array));
    }
    expect([...m.arrays.keys()].some((k) => k.startsWith('cls.'))).toBe(false); // not a classifier parameter
  });

  it('lists the whole head as missing for a checkpoint without one', () => {
    const m = load('f32', ['config.json', 'vocab.txt', 'model.safetensors']);
    expect(m.mlmHead.arrays.size).toBe(0);
    expect(m.mlmHead.missing).toContain('cls.predictions.bias');
    expect(m.mlmHead.missing).toHaveLength(5);
  });
});

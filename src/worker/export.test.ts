// The page's model download: the zip holds the Hugging Face folder, and it reloads bit-identically.
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';

import { resolveConfig } from '../core/config.ts';
import { decodeCheckpoint, fromHfConfig } from '../core/model/hf.ts';
import { disposeParams, initParams } from '../core/model/params.ts';
import { makeRng } from '../core/rng.ts';
import { TrainingRun } from '../core/train/run.ts';
import type { EncodedSplit } from '../core/data/dataset.ts';
import { modelConfigFor } from '../core/config.ts';
import { exportRunZip } from './export.ts';

function split(count: number, t = 8): EncodedSplit {
  const ids = new Int32Array(count * t).map((_, i) => 5 + (i % 30));
  return {
    inputIds: ids,
    tokenTypeIds: new Int32Array(count * t),
    attentionMask: new Int32Array(count * t).fill(1),
    labels: new Int32Array(count).map((_, i) => i % 3),
    count,
    maxLength: t,
  };
}

const vocab = Array.from({ length: 40 }, (_, i) => `tok${i}`).join('\n');

function makeRun(): TrainingRun {
  const config = resolveConfig({ model: 'nano', batchSize: 4, maxLength: 8, steps: 5 });
  const model = modelConfigFor('nano', 40, 3, 16);
  return new TrainingRun(config, model, initParams(model, makeRng(1)), split(12), split(4), ['a', 'b', 'c']);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('exportRunZip', () => {
  it('zips config.json, model.safetensors and vocab.txt, and the weights reload bit-identically', async () => {
    const run = makeRun();
    await run.trainStep();
    await run.trainStep();
    const before = tf.memory().numTensors;
    const files = unzipSync(await exportRunZip(run, vocab));
    expect(tf.memory().numTensors).toBe(before); // the snapshot is freed
    expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
    const json: unknown = JSON.parse(new TextDecoder().decode(files['config.json']));
    expect(json).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { '2': 'c' } });
    const { model, labels } = fromHfConfig(json);
    expect(labels).toEqual(['a', 'b', 'c']);
    expect(new TextDecoder().decode(files['vocab.txt'])).toBe(vocab + '\n');
    const loaded = decodeCheckpoint(files['model.safetensors'] as Uint8Array, model, 'model.safetensors');
    expect([...loaded.keys()]).toEqual([...run.params.keys()]);
    for (const [name, v] of run.params) {
      expect(Array.from(await (loaded.get(name) as tf.Variable).data()), name).toEqual(
        Array.from(await v.data()),
      );
    }
    disposeParams(loaded);
    run.dispose();
  });

  it('gives the same bytes for the same weights (a fixed timestamp)', async () => {
    const run = makeRun();
    const [a, b] = [await exportRunZip(run, vocab), await exportRunZip(run, vocab)];
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    run.dispose();
  });
});

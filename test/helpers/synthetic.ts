// Test helpers: a synthetic classification task (label = whether token 7 occurs in the sequence) and a nano
// TrainingRun on it, for tests of the training loop that need no real data.
import { modelConfigFor, resolveConfig, type TrainConfig } from '../../src/core/config.ts';
import { arraySplit, type EncodedSplit, type RowSplit } from '../../src/core/data/dataset.ts';
import { initParams } from '../../src/core/model/params.ts';
import { makeRng } from '../../src/core/rng.ts';
import { TrainingRun } from '../../src/core/train/run.ts';

/** `count` sequences of length `t` (4 or more real tokens) over a `vocab`-token vocabulary, seeded. */
export function syntheticSplit(count: number, seed: number, t = 12, vocab = 40): EncodedSplit & RowSplit {
  const rng = makeRng(seed);
  const s: EncodedSplit = {
    inputIds: new Int32Array(count * t),
    tokenTypeIds: new Int32Array(count * t),
    attentionMask: new Int32Array(count * t),
    labels: new Int32Array(count),
    count,
    maxLength: t,
  };
  for (let i = 0; i < count; i++) {
    const len = 4 + rng.int(t - 4);
    const label = rng.int(2);
    s.labels[i] = label;
    for (let j = 0; j < len; j++) {
      s.inputIds[i * t + j] = j === 0 ? 2 : j === len - 1 ? 3 : 8 + rng.int(vocab - 8);
      s.attentionMask[i * t + j] = 1;
    }
    if (label === 1) s.inputIds[i * t + 1 + rng.int(len - 2)] = 7;
  }
  return arraySplit(s);
}

/** A nano run (vocabulary 40, 16 positions) on `trainCount` synthetic rows, seeded init from the config. */
export function makeSyntheticRun(
  patch: Partial<TrainConfig>,
  trainCount = 256,
): TrainingRun<EncodedSplit & RowSplit> {
  const config = resolveConfig({
    model: 'nano',
    batchSize: 8,
    maxLength: 12,
    steps: 60,
    lr: 3e-3,
    dropout: 0.1,
    ...patch,
  });
  const model = modelConfigFor('nano', 40, 2, 16);
  return new TrainingRun<EncodedSplit & RowSplit>(
    config,
    model,
    initParams(model, makeRng(config.seed)),
    syntheticSplit(trainCount, 1),
    syntheticSplit(64, 2),
    ['no', 'yes'],
  );
}

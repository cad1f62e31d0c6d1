// Regression end to end on the core: an STS-B layout file -> a task with one output and float targets ->
// a run whose ALUM steps use MSE, whose dev metrics are Pearson/Spearman/MSE, that leaks no tensors, and whose
// HF config says problem_type "regression". The maths is checked against PyTorch in alum-cases.test.ts.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { root } from '../../../test/helpers/nano.ts';
import { resolveConfig } from '../config.ts';
import { fromHfConfig, toHfConfig } from '../model/hf.ts';
import { meanSquaredError, pearson, ranks, spearman } from './regression-metrics.ts';
import { createRun, encodedSplits, taskFromFile } from './session.ts';

const vocab = readFileSync(`${root}test/fixtures/nano-bert/vocab.txt`, 'utf8');
const stsb = readFileSync(`${root}test/fixtures/glue/stsb-train.tsv`, 'utf8');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('regression metrics', () => {
  // x, y and the numbers below: numpy.corrcoef on these vectors and on their average ranks (tied ranks by hand).
  const x = [1, 2.5, 2.5, 4, -1, 7];
  const y = [0.3, 0.1, 0.9, 0.9, -2, 3];
  it('Pearson, Spearman (average ranks for ties) and MSE', () => {
    expect(pearson(x, y)).toBeCloseTo(0.9530996053149481, 14);
    expect(Array.from(ranks(x))).toEqual([2, 3.5, 3.5, 5, 1, 6]);
    expect(Array.from(ranks(y))).toEqual([3, 2, 4.5, 4.5, 1, 6]);
    expect(spearman(x, y)).toBeCloseTo(59 / 68, 14);
    expect(meanSquaredError(x, y)).toBeCloseTo(5.903333333333333, 14);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN(); // a constant prediction has no correlation
  });
});

describe('a regression task', () => {
  it('reads STS-B into one output with float targets; the user dev file replaces the split', () => {
    const task = taskFromFile('stsb-train.tsv', stsb, vocab, 'vocab.txt', 1, {
      dev: { name: 'stsb-dev.tsv', text: stsb },
    });
    expect(task.data.problemType).toBe('regression');
    expect(task.data.labels).toEqual(['LABEL_0']);
    expect(task.data.train).toHaveLength(8);
    expect(task.data.dev).toHaveLength(8);
    const { train } = encodedSplits(task, 16);
    expect(train.labels).toBeInstanceOf(Float32Array);
    expect(Array.from(train.labels)).toEqual([5, 3.8, 3.8, 2.6, 4.25, 4.25, 0.5, 1.6].map(Math.fround));
    // without a dev file: a seeded random 90/10 split (at least one dev row)
    const split = taskFromFile('stsb-train.tsv', stsb, vocab, 'vocab.txt', 1);
    expect(split.data.dev).toHaveLength(1);
    expect(split.data.train).toHaveLength(7);
  });

  it('trains with ALUM, reports Pearson/Spearman/MSE on dev, leaks nothing, writes problem_type', async () => {
    const task = taskFromFile('stsb-train.tsv', stsb, vocab, 'vocab.txt', 1, {
      dev: { name: 'stsb-dev.tsv', text: stsb },
    });
    const config = resolveConfig({ model: 'nano', batchSize: 4, maxLength: 16, steps: 4, method: 'alum' });
    const before = tf.memory().numTensors;
    const run = createRun(config, task);
    expect(run.model).toMatchObject({ numLabels: 1, problemType: 'regression' });
    await run.trainStep();
    const afterOne = tf.memory().numTensors;
    const row = await run.trainStep();
    expect(row.taskLoss).toBeGreaterThan(0);
    expect(row.advLoss).toBeGreaterThan(0);
    const dev = await run.evaluateDev();
    expect(Object.keys(dev).sort()).toEqual(['devMse', 'devPearson', 'devSpearman']);
    const pred = await run.predictOutputs(run.dev);
    expect(dev.devMse).toBeCloseTo(meanSquaredError(pred, run.dev.labels), 10);
    expect(tf.memory().numTensors).toBe(afterOne);
    const hf = toHfConfig(run.model, task.data.labels, config.dropout);
    expect(hf.problem_type).toBe('regression');
    expect(hf.id2label).toEqual({ '0': 'LABEL_0' });
    expect(fromHfConfig(JSON.parse(JSON.stringify(hf))).model.problemType).toBe('regression');
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('classification keeps its HF problem_type and int32 labels', () => {
    const sst = readFileSync(`${root}test/fixtures/glue/sst2-train.tsv`, 'utf8');
    const task = taskFromFile('sst2-train.tsv', sst, vocab, 'vocab.txt', 1);
    expect(task.data.problemType).toBeUndefined();
    expect(encodedSplits(task, 16).train.labels).toBeInstanceOf(Int32Array);
    const model = createRun(resolveConfig({ model: 'nano', maxLength: 16 }), task);
    expect(toHfConfig(model.model, task.data.labels, 0.1).problem_type).toBe('single_label_classification');
    expect(model.model.problemType).toBeUndefined();
    model.dispose();
  });
});

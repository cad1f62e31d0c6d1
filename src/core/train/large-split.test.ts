// A large split is read by rows: a run over 200,000 rows starts and steps tokenising only the rows its batches
// read (the tokenizer's encode calls are counted), and a dev split above DEV_EVAL_MAX rows is evaluated on a
// fixed seeded sample of DEV_EVAL_MAX rows, a small one on every row.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { resolveConfig } from '../config.ts';
import { DEV_EVAL_MAX, devSampleRows, ROW_CACHE_SIZE, type Example } from '../data/dataset.ts';
import { createRun, taskFromData, type LoadedTask } from './session.ts';

const WORDS = ['win', 'money', 'now', 'hello', 'world', 'meet', 'today', 'free'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS].join('\n');

/** `n` short rows (2 to 4 words), label = whether 'free' occurs. */
function rows(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: 2 + (i % 3) }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]);
    return { text: words.join(' '), label: words.includes('free') ? 1 : 0 };
  });
}

function task(trainRows: number, devRows: number): LoadedTask {
  const data = { name: 'big', source: 'synthetic', labels: ['no', 'yes'], train: rows(trainRows) };
  return taskFromData({ ...data, dev: rows(devRows) }, VOCAB, 'vocab.txt');
}

const config = resolveConfig({ model: 'nano', batchSize: 8, maxLength: 16, steps: 2, seed: 3 });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a run over a large split', () => {
  it('is created and takes 2 steps tokenising only the rows of its batches', async () => {
    const t = task(200_000, 20_000);
    const encode = vi.spyOn(t.tokenizer, 'encode');
    const run = createRun(config, t);
    expect(encode).toHaveBeenCalledTimes(0);
    expect(run.train.count).toBe(200_000);
    for (let s = 0; s < 2; s++) {
      const row = await run.trainStep();
      expect(Number.isFinite(row.taskLoss)).toBe(true);
    }
    // Two batches of 8 rows (a row drawn twice is encoded once).
    expect(encode.mock.calls.length).toBeGreaterThan(0);
    expect(encode.mock.calls.length).toBeLessThanOrEqual(2 * config.batchSize);
    run.dispose();
  });

  it('keeps at most ROW_CACHE_SIZE rows encoded: rows read again past it are encoded again', () => {
    const t = task(4 * ROW_CACHE_SIZE, 10);
    const encode = vi.spyOn(t.tokenizer, 'encode');
    const run = createRun(config, t);
    const all = Array.from({ length: 2 * ROW_CACHE_SIZE }, (_, i) => i);
    run.train.rows(all.slice(0, ROW_CACHE_SIZE));
    run.train.rows(all.slice(0, ROW_CACHE_SIZE)); // cached
    expect(encode).toHaveBeenCalledTimes(ROW_CACHE_SIZE);
    run.train.rows(all.slice(ROW_CACHE_SIZE)); // evicts the first ones
    run.train.rows([0]);
    expect(encode).toHaveBeenCalledTimes(2 * ROW_CACHE_SIZE + 1);
    run.dispose();
  });
});

describe('the dev sample rule', () => {
  it('is every row up to DEV_EVAL_MAX, above it a fixed seeded sorted sample of DEV_EVAL_MAX rows', () => {
    expect(devSampleRows(DEV_EVAL_MAX, 1)).toBeNull();
    expect(devSampleRows(10, 1)).toBeNull();
    const a = devSampleRows(DEV_EVAL_MAX + 1, 1) as number[];
    expect(a).toHaveLength(DEV_EVAL_MAX);
    const b = devSampleRows(50_000, 7) as number[];
    expect(devSampleRows(50_000, 7)).toEqual(b);
    expect(devSampleRows(50_000, 8)).not.toEqual(b);
    expect(new Set(b).size).toBe(DEV_EVAL_MAX);
    expect(b.every((r, i) => r >= 0 && r < 50_000 && (i === 0 || r > (b[i - 1] as number)))).toBe(true);
    expect(b[b.length - 1]).toBeGreaterThan(DEV_EVAL_MAX); // drawn from the whole split, not its head
  });

  it('evaluates a small dev split whole and a large one on its sample, the same rows every time', async () => {
    const small = createRun(config, task(64, DEV_EVAL_MAX));
    expect(small.devEval).toBe(small.dev);
    small.dispose();

    const t = task(64, 3 * DEV_EVAL_MAX);
    const run = createRun(config, t);
    expect(run.devEval.count).toBe(DEV_EVAL_MAX);
    const sample = devSampleRows(3 * DEV_EVAL_MAX, config.seed) as number[];
    expect(Array.from(run.devEval.labels)).toEqual(sample.map((r) => run.dev.labels[r]));
    const again = createRun(config, t);
    expect(again.devEval.labels).toEqual(run.devEval.labels);
    again.dispose();
    const encode = vi.spyOn(t.tokenizer, 'encode');
    expect(Number.isFinite(await run.evaluate())).toBe(true);
    // Exactly the sample's rows, in order, each once.
    expect(encode.mock.calls.map((c) => c[0])).toEqual(sample.map((r) => t.data.dev[r]?.text));
    run.dispose();
  });
});

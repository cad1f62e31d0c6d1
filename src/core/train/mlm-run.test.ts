// Masked-LM training runs (task `mlm`): they learn, they leak nothing, and their dev metrics are comparable
// across steps. Corpus: each document is one word repeated (one document per packed sequence), so every masked
// word follows from its context, while the unigram baseline (24 equally frequent words) is about 1/24.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { withoutTimings } from '../../../test/helpers/rows.ts';

import { INNER_LOSSES, INNER_REDUCTIONS, resolveConfig, VARIANTS, type TrainConfig } from '../config.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { captureCheckpoint, restoreCheckpoint } from './checkpoint.ts';
import { createMlmRun, mlmUnigramBaseline, type Corpus } from './session.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const WORDS = Array.from({ length: 24 }, (_, i) => `w${String.fromCharCode(97 + i)}`);
const tokenizer = WordPieceTokenizer.fromTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS]);

/** n documents of `len` words (maxLength - 2: one per sequence), each one word of WORDS repeated. */
function repeated(n: number, len: number, offset: number): string[] {
  return Array.from({ length: n }, (_, d) =>
    Array(len)
      .fill(WORDS[(d * 7 + offset) % WORDS.length])
      .join(' '),
  );
}

const corpus: Corpus = {
  train: repeated(96, 14, 0),
  dev: repeated(24, 14, 3),
  origin: 'train',
  devOrigin: 'dev',
};

function makeRun(patch: Partial<TrainConfig>) {
  const config = resolveConfig({
    model: 'nano',
    task: 'mlm',
    batchSize: 16,
    maxLength: 16,
    steps: 40,
    lr: 1e-2,
    dropout: 0,
    evalEvery: 0,
    ...patch,
  });
  return createMlmRun(config, tokenizer, corpus);
}

describe('masked-LM TrainingRun', () => {
  it('reaches a masked-token accuracy far above the unigram baseline on the dev slice', async () => {
    const run = makeRun({ method: 'standard', steps: 80 });
    const baseline = mlmUnigramBaseline(run);
    const before = await run.evaluateMasked();
    const rows = [];
    while (!run.done) rows.push(await run.trainStep());
    const after = await run.evaluateMasked();
    expect(baseline.accuracy).toBeLessThan(0.1);
    expect(before.accuracy).toBeLessThan(0.2);
    expect(after.accuracy).toBeGreaterThan(0.8);
    expect(after.loss).toBeLessThan(baseline.loss / 2);
    for (const r of rows) {
      expect(r.perplexity).toBeCloseTo(Math.exp(r.taskLoss), 4);
      expect(r.trainAccuracy).toBeGreaterThanOrEqual(0);
    }
    run.dispose();
  }, 120_000);

  it('keeps tf.memory().numTensors flat across ALUM steps, dev evaluation and dispose', async () => {
    const before = tf.memory().numTensors;
    const run = makeRun({
      method: 'alum',
      k: 2,
      alpha: 10,
      dropout: 0.1,
      advDropout: 'fresh',
      wholeWordMask: true,
    });
    await run.trainStep();
    const afterOne = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await run.trainStep();
    await run.evaluateDev();
    expect(tf.memory().numTensors).toBe(afterOne);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('has an ALUM term over the masked positions, and dev metrics from a fixed masking', async () => {
    const run = makeRun({ method: 'alum', alpha: 10, epsilon: 1e-1, eta: 1e-1 });
    const row = await run.trainStep();
    expect(row.advLoss).toBeGreaterThan(0);
    expect(row.totalLoss).toBeCloseTo(row.taskLoss + 10 * row.advLoss, 4);
    expect(row.deltaLinf).toBeGreaterThan(0);
    const a = await run.evaluateDev();
    const b = await run.evaluateDev();
    expect(a).toEqual(b);
    expect(Number.isFinite(a.devLoss)).toBe(true);
    run.dispose();
  });

  it.each(VARIANTS)(
    'runs every option with variant %s: finite losses, an adversarial term, no leak',
    async (variant) => {
      const before = tf.memory().numTensors;
      for (const [i, innerLoss] of INNER_LOSSES.entries()) {
        const innerReduction = INNER_REDUCTIONS[i % INNER_REDUCTIONS.length] ?? 'sum';
        const run = makeRun({
          method: 'alum',
          variant,
          innerLoss,
          innerReduction,
          k: 2,
          norm: i ? 'l2' : 'inf',
          eta: 1e-1,
          epsilon: 1e-1,
          detachEmbedding: i === 1,
          advDropout: i ? 'off' : 'fresh',
          dropout: 0.1,
        });
        const row = await run.trainStep();
        expect(Number.isFinite(row.totalLoss) && Number.isFinite(row.klAdv), `${variant} ${innerLoss}`).toBe(
          true,
        );
        expect(row.advLoss).toBeGreaterThan(0);
        expect(row.skipped).toBe(0);
        run.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('resumes from a checkpoint exactly: N steps, restore, M steps == N + M steps (masking from the run RNG)', async () => {
    const cfg = {
      method: 'alum' as const,
      dropout: 0.1,
      advDropout: 'fresh' as const,
      steps: 10,
      wholeWordMask: true,
    };
    const whole = makeRun(cfg);
    const wantRows = [];
    for (let i = 0; i < 5; i++) wantRows.push(withoutTimings(await whole.trainStep()));
    const first = makeRun(cfg);
    for (let i = 0; i < 2; i++) await first.trainStep();
    const ckpt = await captureCheckpoint(first);
    first.dispose();
    const resumed = makeRun(cfg);
    restoreCheckpoint(
      resumed,
      { meta: JSON.parse(JSON.stringify(ckpt.meta)) as typeof ckpt.meta, data: ckpt.data.slice(0) },
      'ckpt',
    );
    const gotRows = [];
    for (let i = 0; i < 3; i++) gotRows.push(withoutTimings(await resumed.trainStep()));
    expect(gotRows).toEqual(wantRows.slice(2));
    for (const [name, p] of whole.params) {
      expect(Array.from(await (resumed.params.get(name) as tf.Variable).data()), name).toEqual(
        Array.from(await p.data()),
      );
    }
    whole.dispose();
    resumed.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { makeSyntheticRun as makeRun } from '../../../test/helpers/synthetic.ts';
import { currentBatchRows, joinPieces, perTokenNorms, tokenView } from './token-view.ts';

const VOCAB = Array.from({ length: 40 }, (_, i) => `t${i}`);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('perTokenNorms', () => {
  it('takes max |x| or the L2 norm over the hidden axis, per token (numbers by hand)', () => {
    // [1, 3, 2]: tokens (3, -4), (0, 0), (-1, 0.5); the third is padding when n = 2.
    const a = { dtype: 'F32' as const, shape: [1, 3, 2], data: new Float32Array([3, -4, 0, 0, -1, 0.5]) };
    expect(perTokenNorms(a, 3, 'inf')).toEqual([4, 0, 1]);
    expect(perTokenNorms(a, 3, 'l2')).toEqual([5, 0, Math.sqrt(1.25)]);
    expect(perTokenNorms(a, 2, 'l2')).toEqual([5, 0]);
    expect(() => perTokenNorms(a, 4, 'inf')).toThrow('perTokenNorms: 4 tokens asked of 3');
  });
});

describe('joinPieces', () => {
  it('glues ## continuations to the piece before them', () => {
    expect(joinPieces(['[CLS]', 'free', '##bie', 's', '##', '[SEP]'])).toEqual([
      { text: '[CLS]', start: true },
      { text: 'free', start: true },
      { text: 'bie', start: false },
      { text: 's', start: true },
      { text: '##', start: true },
      { text: '[SEP]', start: true },
    ]);
  });
});

describe('tokenView', () => {
  it('gives one cell per real token at every stage, finite, delta inside the ball', async () => {
    const run = makeRun({ method: 'alum', k: 2, variant: 'paper', eta: 1e-2, epsilon: 1e-2, norm: 'inf' });
    await run.trainStep();
    const rows = currentBatchRows(run);
    expect(rows).toHaveLength(run.config.batchSize);
    const row = rows[3] as number;
    const before = tf.memory().numTensors;
    const v = await tokenView(run, row, VOCAB);
    expect(tf.memory().numTensors).toBe(before);
    const t = run.train.maxLength;
    const n = run.train.attentionMask.subarray(row * t, (row + 1) * t).reduce((s, m) => s + m, 0);
    expect(v.tokens).toHaveLength(n);
    expect(v.tokens[0]).toBe('t2');
    expect(v.stages.map((s) => `${s.kind}${s.k}`)).toEqual(['init0', 'ascent1', 'ascent2', 'outer2']);
    for (const s of v.stages) {
      expect(s.delta).toHaveLength(n);
      for (const x of [...s.delta, ...(s.grad ?? [])]) expect(Number.isFinite(x)).toBe(true);
    }
    // paper: normalised step eta = epsilon, then projection: every token's L-inf norm is epsilon.
    for (const x of (v.stages[3] as { delta: number[] }).delta) expect(x).toBeCloseTo(1e-2, 6);
    expect((v.stages[1] as { grad: number[] }).grad.some((x) => x > 0)).toBe(true);
    for (const x of [v.klInit, v.klAdv, v.taskLoss, v.advLoss, v.totalLoss])
      expect(Number.isFinite(x)).toBe(true);
    expect(v.klAdv).toBeGreaterThan(v.klInit);
    run.dispose();
  });

  it('leaves the run as it was: a run with the view open trains exactly as one without', async () => {
    const cfg = { method: 'alum' as const, seed: 3, dropout: 0.1, advDropout: 'fresh' as const };
    const a = makeRun(cfg);
    const b = makeRun(cfg);
    const ra = [];
    const rb = [];
    for (let i = 0; i < 3; i++) {
      ra.push(await a.trainStep());
      for (const row of currentBatchRows(b).slice(0, 2)) await tokenView(b, row, VOCAB);
      rb.push(await b.trainStep());
    }
    const strip = (r: object) => Object.fromEntries(Object.entries(r).filter(([k]) => !/ms$/i.test(k)));
    expect(rb.map(strip)).toEqual(ra.map(strip));
    a.dispose();
    b.dispose();
  });

  it('refuses a row outside the split in one line', async () => {
    const run = makeRun({});
    await expect(tokenView(run, run.train.count, VOCAB)).rejects.toThrow(
      `token view: row ${run.train.count} is outside [0, ${run.train.count - 1}]`,
    );
    run.dispose();
  });
});

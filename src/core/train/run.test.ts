// TrainingRun: it learns, it leaks nothing, it is reproducible from its seed, and a non-finite step keeps
// the weights. Synthetic data: label = whether token 7 occurs in the sequence.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { makeSyntheticRun as makeRun } from '../../../test/helpers/synthetic.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('TrainingRun', () => {
  it('learns a simple task with ALUM, with finite metrics on every row', async () => {
    // 60 steps of nano reach chance on some seeds (seeds 1-6 with dropout: 4 learn; without: 4); seed 3 learns.
    const run = makeRun({ method: 'alum', variant: 'paper', eta: 1e-2, epsilon: 1e-1, seed: 3 });
    const first = await run.evaluate();
    const rows = [];
    while (!run.done) rows.push(await run.trainStep());
    const acc = await run.evaluate();
    expect(acc).toBeGreaterThan(Math.max(0.8, first + 0.2));
    for (const r of rows) {
      for (const v of Object.values(r)) expect(Number.isFinite(v)).toBe(true);
      expect(r.advLoss).toBeGreaterThan(0);
      expect(r.deltaLinf).toBeLessThanOrEqual(1e-1 * (1 + 1e-6));
    }
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    run.dispose();
  });

  it('keeps tf.memory().numTensors flat across steps, evaluation and dispose', async () => {
    const before = tf.memory().numTensors;
    const run = makeRun({ method: 'alum', k: 2, variant: 'mtdnn-head' });
    await run.trainStep();
    const afterOne = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) await run.trainStep();
    await run.evaluate();
    expect(tf.memory().numTensors).toBe(afterOne);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is reproducible from its seed (dropout, noise and batch order included)', async () => {
    const a = makeRun({ seed: 5 });
    const b = makeRun({ seed: 5 });
    const c = makeRun({ seed: 6 });
    const ra = [await a.trainStep(), await a.trainStep()];
    const rb = [await b.trainStep(), await b.trainStep()];
    const rc = [await c.trainStep(), await c.trainStep()];
    expect(rb.map((r) => r.totalLoss)).toEqual(ra.map((r) => r.totalLoss));
    expect(rc.map((r) => r.totalLoss)).not.toEqual(ra.map((r) => r.totalLoss));
    [a, b, c].forEach((r) => r.dispose());
  });

  it('probe measures a step under another config without touching the weights or leaking', async () => {
    const run = makeRun({ method: 'standard' });
    await run.trainStep();
    const w = run.params.get('classifier.weight') as tf.Variable;
    const before = Array.from(await w.data());
    const tensors = tf.memory().numTensors;
    const m = await run.probe({ ...run.config, method: 'alum', variant: 'mtdnn-head', advDropout: 'fresh' });
    expect(m.advLoss).toBeGreaterThan(0);
    expect(m.dropoutKl).toBeGreaterThan(0); // fresh masks disagree even at delta = 0
    expect(m.deltaLinf).toBeGreaterThan(0.9); // mtdnn-head: unit L-inf per token
    expect(Array.from(await w.data())).toEqual(before);
    expect(run.step).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    run.dispose();
  });

  it('evaluates the dev set every evalEvery steps and at the end (evalDue)', async () => {
    const run = makeRun({ method: 'standard', steps: 7, evalEvery: 3 });
    const due: number[] = [];
    while (!run.done) {
      await run.trainStep();
      if (run.evalDue) due.push(run.step);
    }
    expect(due).toEqual([3, 6, 7]);
    run.dispose();
  });

  it('standard method has no adversarial term', async () => {
    const run = makeRun({ method: 'standard' });
    const r = await run.trainStep();
    expect([r.advLoss, r.deltaLinf, r.deltaL2, r.innerGradNorm, r.effPerturb]).toEqual([0, 0, 0, 0, 0]);
    expect(r.totalLoss).toBeCloseTo(r.taskLoss, 6);
    run.dispose();
  });

  it('a non-finite loss is reported and the update is not applied', async () => {
    const run = makeRun({});
    await run.trainStep();
    const w = run.params.get('classifier.weight') as tf.Variable;
    const before = Array.from(await w.data());
    const emb = run.params.get('bert.embeddings.LayerNorm.weight') as tf.Variable;
    const saved = emb.clone();
    emb.assign(tf.fill(emb.shape, NaN));
    await expect(run.trainStep()).rejects.toThrow(/step 2: loss is not finite/);
    expect(run.step).toBe(1);
    expect(Array.from(await w.data())).toEqual(before);
    emb.assign(saved);
    saved.dispose();
    await run.trainStep(); // recovers
    expect(run.step).toBe(2);
    run.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectNear } from '../../../test/helpers/nano.ts';
import { makeSyntheticRun as makeRun } from '../../../test/helpers/synthetic.ts';
import type { TrainConfig } from '../config.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import { disposeStepResult } from './alum.ts';
import { initialPerturbation, methodGradients } from './methods.ts';
import {
  batchTensors,
  disposeBatch,
  readStepScalars,
  stepScalars,
  type StepScalars,
  type TrainingRun,
} from './run.ts';
import { currentBatchRows, joinPieces, perTokenNorms, tokenView, type TokenView } from './token-view.ts';

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

/**
 * The step's own metrics on row `row` (`stepScalars`, as a training row reports them) from a second, unrecorded
 * step: the same method, weights, delta_0 (the config's seed) and no dropout, through `methodGradients` with
 * `record` off, so none of the trace's recording or its recomputed inner losses is shared.
 */
async function ownMetrics(run: TrainingRun, row: number): Promise<StepScalars> {
  const cfg = run.config;
  const batch = batchTensors(run.train, [row]);
  const shape: [number, number, number] = [1, run.train.maxLength, run.model.hiddenSize];
  const deltaInit = initialPerturbation(cfg, shape, batch.attentionMask, () => cfg.seed);
  const dropout = {
    clean: NO_DROPOUT,
    inner: Array.from({ length: cfg.k }, () => NO_DROPOUT),
    adv: NO_DROPOUT,
  };
  const ema = run.emaParams ?? run.params;
  const r = methodGradients(run.params, run.model, batch, cfg, { dropout, deltaInit, record: false }, ema);
  const packed = stepScalars(r, batch.attentionMask);
  const out = readStepScalars(await packed.data());
  tf.dispose(packed);
  disposeStepResult(r);
  disposeBatch(batch);
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const close = (a: number, b: number, what: string) =>
  expectNear([a], [b], what, { rel: 1e-5, rtol: 1e-4, floor: 1e-6 });

/** One case per method: its config, the stages its trace has, and what its formula makes of them. */
interface MethodCase {
  cfg: Partial<TrainConfig>;
  stages: string[];
  check: (v: TokenView) => void;
}

const CASES: Record<string, MethodCase> = {
  standard: {
    cfg: { method: 'standard' },
    stages: ['init0', 'outer0'],
    check: (v) => {
      for (const s of v.stages) expect(s.delta.every((x) => x === 0)).toBe(true);
      expect(v.advLoss).toBe(0);
    },
  },
  alum: {
    cfg: { method: 'alum', k: 2, variant: 'paper', eta: 1e-2, epsilon: 1e-2, norm: 'inf' },
    stages: ['init0', 'ascent1', 'ascent2', 'outer2'],
    check: (v) => {
      // paper: normalised step eta = epsilon, then projection: every token's L-inf norm is epsilon.
      for (const x of (v.stages[3] as { delta: number[] }).delta) expect(x).toBeCloseTo(1e-2, 6);
      expect(v.stages[2]?.loss).toBeGreaterThan(v.stages[0]?.loss as number);
    },
  },
  r3f: {
    // The noise only: no inner step whatever k says; U(-sigma, sigma) bounds every entry by sigma.
    cfg: { method: 'r3f', k: 2, sigma: 0.05, noiseType: 'uniform', norm: 'inf', alpha: 2 },
    stages: ['init0', 'outer0'],
    check: (v) => {
      const init = v.stages[0] as { delta: number[] };
      expect(v.stages[1]?.delta).toEqual(init.delta);
      for (const x of init.delta) expect(x).toBeLessThanOrEqual(0.05);
      expect(Math.max(...init.delta)).toBeGreaterThan(0.04); // 32 draws of U(-0.05, 0.05) per token
      expect(v.klAdv).toBe(v.klInit);
    },
  },
  fgm: {
    // One step from 0: r = epsilon g / ||g||_2 over the whole example, so sqrt(sum of per-token L2^2) = epsilon.
    cfg: { method: 'fgm', k: 3, epsilon: 0.5, norm: 'l2' },
    stages: ['init0', 'ascent1', 'outer1'],
    check: (v) => {
      expect((v.stages[0] as { delta: number[] }).delta.every((x) => x === 0)).toBe(true);
      const r = (v.stages[2] as { delta: number[] }).delta;
      close(Math.sqrt(r.reduce((a, x) => a + x * x, 0)), 0.5, 'fgm ||r||_2');
      expect(v.stages[1]?.delta).toEqual(r);
    },
  },
  pgd: {
    // K projected steps on the task loss from a random start in the ball: every stage stays inside it.
    cfg: { method: 'pgd', k: 3, eta: 5e-3, epsilon: 1e-2, norm: 'inf' },
    stages: ['init0', 'ascent1', 'ascent2', 'ascent3', 'outer3'],
    check: (v) => {
      for (const s of v.stages) for (const x of s.delta) expect(x).toBeLessThanOrEqual(1e-2 + 1e-9);
    },
  },
  freelb: {
    // K passes at delta_0..delta_{K-1}: K - 1 updates; the loss is the mean of the K passes' task losses.
    cfg: { method: 'freelb', k: 3, eta: 0.1, sigma: 0.05, epsilon: 0.3, norm: 'l2' },
    stages: ['init0', 'ascent1', 'ascent2', 'outer2'],
    check: (v) => {
      close(v.advLoss, mean(v.stages.slice(0, 3).map((s) => s.loss)), 'freelb advLoss = mean of the passes');
      expect(v.totalLoss).toBe(v.advLoss);
      expect(v.stages[3]?.delta).toEqual(v.stages[2]?.delta);
      const total = (s: { delta: number[] }) => Math.sqrt(s.delta.reduce((a, x) => a + x * x, 0));
      for (const s of v.stages) expect(total(s)).toBeLessThanOrEqual(0.3 + 1e-6);
    },
  },
  smart: {
    // ALUM's step plus smartMu times the proximal term against the run's EMA copy (which has moved by now).
    cfg: {
      method: 'smart',
      k: 2,
      variant: 'paper',
      eta: 1e-2,
      epsilon: 1e-2,
      norm: 'inf',
      smartMu: 3,
      alpha: 2,
    },
    stages: ['init0', 'ascent1', 'ascent2', 'outer2'],
    check: (v) => {
      for (const x of (v.stages[3] as { delta: number[] }).delta) expect(x).toBeCloseTo(1e-2, 6);
      expect(v.totalLoss - v.taskLoss - 2 * v.advLoss).toBeGreaterThan(1e-7);
    },
  },
};

describe('tokenView for each method (docs/alum-step.md, "Relatives")', () => {
  it.each(Object.keys(CASES))("%s: its stages, its formula, and the step's own metrics", async (method) => {
    const c = CASES[method] as MethodCase;
    const run = makeRun({ ...c.cfg, seed: 4 });
    for (let i = 0; i < 3; i++) await run.trainStep(); // SMART's EMA copy moves away from the weights
    const row = currentBatchRows(run)[1] as number;
    const before = tf.memory().numTensors;
    const v = await tokenView(run, row, VOCAB);
    expect(tf.memory().numTensors).toBe(before);
    expect(v.method).toBe(method);
    expect(v.stages.map((s) => `${s.kind}${s.k}`)).toEqual(c.stages);
    for (const s of v.stages) {
      expect(s.delta).toHaveLength(v.tokens.length);
      for (const x of [...s.delta, ...(s.grad ?? []), s.loss]) expect(Number.isFinite(x)).toBe(true);
    }
    c.check(v);
    // The step's own metrics, from the unrecorded step: losses, the inner loss before and after, and the
    // perturbation the outer pass used (its mean per-token norm).
    const m = await ownMetrics(run, row);
    close(v.taskLoss, m.taskLoss, 'taskLoss');
    close(v.advLoss, m.advLoss, 'advLoss');
    close(v.totalLoss, m.totalLoss, 'totalLoss');
    close((v.stages[0] as { loss: number }).loss, m.klInit, 'init stage loss = klInit');
    const outer = v.stages[v.stages.length - 1] as { delta: number[]; loss: number };
    close(outer.loss, m.klAdv, 'outer stage loss = klAdv');
    const norm = run.config.norm === 'inf' ? m.deltaLinf : m.deltaL2;
    close(mean(outer.delta), norm, 'mean per-token norm of the outer delta');
    const ascents = v.stages.filter((s) => s.kind === 'ascent');
    const lastAscent = ascents[ascents.length - 1];
    // The trace's recomputed inner loss after the last step is where the adversarial pass ran: klAdv.
    if (lastAscent) close(lastAscent.loss, m.klAdv, 'last inner step loss = klAdv');
    if (lastAscent && run.config.norm === 'l2' && method !== 'freelb') {
      const g = lastAscent.grad as number[];
      close(Math.sqrt(g.reduce((a, x) => a + x * x, 0)), m.innerGradNorm, 'last inner gradient norm');
    }
    run.dispose();
  });
});

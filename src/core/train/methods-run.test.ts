// The methods inside a TrainingRun (cpu backend, nano model, synthetic task): no tensor leaks over steps for each
// method, switching method mid-run (SMART's EMA copy made when first needed and dropped after), a SMART run resumed
// from a checkpoint bit for bit (EMA copy included), and the initial perturbation each method draws.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { withoutTimings } from '../../../test/helpers/rows.ts';
import { makeSyntheticRun } from '../../../test/helpers/synthetic.ts';
import { METHODS, resolveConfig, type Method, type TrainConfig } from '../config.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { captureCheckpoint, restoreCheckpoint, type Checkpoint } from './checkpoint.ts';
import { initialPerturbation } from './methods.ts';
import type { TrainingRun } from './run.ts';
import { createMlmRun } from './session.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Every RNG consumer on: dropout, fresh adversarial masks, K = 2. */
const BASE: Partial<TrainConfig> = { advDropout: 'fresh', dropout: 0.1, k: 2, seed: 5, steps: 30 };

async function steps(run: TrainingRun, n: number): Promise<ReturnType<typeof withoutTimings>[]> {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(withoutTimings(await run.trainStep()));
  return rows;
}

async function weights(run: TrainingRun): Promise<number[][]> {
  return Promise.all([...run.params.values()].map(async (p) => Array.from(await p.data())));
}

describe('each method in a run', () => {
  it.each(METHODS)('%s: finite metrics, and tf.memory().numTensors flat over steps', async (method) => {
    const run = makeSyntheticRun({ ...BASE, method }, 40);
    await steps(run, 1); // SMART makes its EMA copy on the first step
    const after1 = tf.memory().numTensors;
    const rows = await steps(run, 3);
    expect(tf.memory().numTensors).toBe(after1);
    for (const r of rows) {
      expect(Number.isFinite(r.totalLoss), method).toBe(true);
      expect(r.skipped).toBe(0);
    }
    if (method !== 'standard')
      expect(
        rows.some((r) => r.advLoss > 0),
        method,
      ).toBe(true);
    run.dispose();
  });

  it('freelb refuses k = 0 with one line', () => {
    expect(() => resolveConfig({ method: 'freelb', k: 0 })).toThrow(/^method 'freelb' needs k >= 1/);
  });
});

describe('each method on the masked-LM head (alum.ts swaps only the head)', () => {
  const words = Array.from({ length: 12 }, (_, i) => `w${String.fromCharCode(97 + i)}`);
  const tokenizer = WordPieceTokenizer.fromTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words]);
  const docs = (n: number, offset: number) =>
    Array.from({ length: n }, (_, d) =>
      Array(10)
        .fill(words[(d * 5 + offset) % words.length])
        .join(' '),
    );
  const corpus = { train: docs(24, 0), dev: docs(8, 3), origin: 'train', devOrigin: 'dev' };

  it.each(METHODS.filter((m) => m !== 'standard'))(
    '%s: finite, adversarial term on, no leaks',
    async (method) => {
      const config = resolveConfig({
        ...BASE,
        method,
        model: 'nano',
        task: 'mlm',
        batchSize: 4,
        maxLength: 12,
        evalEvery: 0,
      });
      const run = createMlmRun(config, tokenizer, corpus);
      await steps(run, 1);
      const after1 = tf.memory().numTensors;
      const rows = await steps(run, 2);
      expect(tf.memory().numTensors).toBe(after1);
      for (const r of rows) expect(Number.isFinite(r.totalLoss) && r.advLoss > 0, method).toBe(true);
      run.dispose();
    },
  );
});

describe('switching method mid-run', () => {
  it('every method takes over from the next step; the EMA copy is made for smart and dropped after it', async () => {
    const run = makeSyntheticRun({ ...BASE, method: 'alum' }, 40);
    const start = tf.memory().numTensors;
    await steps(run, 1);
    const order: Method[] = ['smart', 'r3f', 'fgm', 'smart', 'pgd', 'freelb', 'standard', 'alum'];
    for (const method of order) {
      const before = await weights(run);
      run.applyLiveSettings({ ...run.config, method });
      const [row] = await steps(run, 1);
      expect(Number.isFinite(row?.totalLoss), method).toBe(true);
      expect(await weights(run), method).not.toEqual(before);
      expect(run.emaParams !== null, method).toBe(method === 'smart');
    }
    expect(tf.memory().numTensors).toBe(start);
    run.dispose();
  });

  it('the EMA copy starts at the weights of the switch and moves by smartBeta', async () => {
    const run = makeSyntheticRun({ ...BASE, method: 'standard' }, 40);
    await steps(run, 2);
    run.applyLiveSettings({ ...run.config, method: 'smart', smartBeta: 0.5 });
    const at = await weights(run);
    await steps(run, 1);
    const after = await weights(run);
    const ema = await Promise.all(
      [...(run.emaParams?.values() ?? [])].map(async (p) => Array.from(await p.data())),
    );
    let offMix = 0;
    let moved = 0;
    ema.forEach((e, i) =>
      e.forEach((v, j) => {
        const [a, z] = [at[i]?.[j] ?? NaN, after[i]?.[j] ?? NaN];
        offMix = Math.max(offMix, Math.abs(v - (0.5 * a + 0.5 * z)));
        moved = Math.max(moved, Math.abs(v - a));
      }),
    );
    expect(offMix).toBeLessThan(1e-6);
    expect(moved).toBeGreaterThan(1e-4);
    run.dispose();
  });
});

describe('smart checkpoints', () => {
  const N = 4;
  const M = 3;
  const make = () => makeSyntheticRun({ ...BASE, method: 'smart', smartMu: 2, smartBeta: 0.9 }, 40);
  const stored = (c: Checkpoint): Checkpoint => ({
    meta: JSON.parse(JSON.stringify(c.meta)) as Checkpoint['meta'],
    data: c.data.slice(0),
  });

  it('N steps, checkpoint, restore into a fresh run, M steps == N + M uninterrupted steps, EMA copy included', async () => {
    const whole = make();
    const expected = await steps(whole, N + M);
    const first = make();
    const before = await steps(first, N);
    const ckpt = stored(await captureCheckpoint(first));
    first.dispose();
    expect(ckpt.meta.tensors.some((t) => t.name.startsWith('ema/'))).toBe(true);
    const resumed = make();
    restoreCheckpoint(resumed, ckpt, 'ckpt');
    expect([...before, ...(await steps(resumed, M))]).toEqual(expected);
    const ema = async (r: TrainingRun) =>
      Promise.all([...(r.emaParams?.values() ?? [])].map(async (p) => Array.from(await p.data())));
    expect(await ema(resumed)).toEqual(await ema(whole));
    [whole, resumed].forEach((r) => r.dispose());
  });

  it('a checkpoint without an EMA copy drops the run’s, without leaking', async () => {
    const plain = makeSyntheticRun({ ...BASE, method: 'alum' }, 40);
    await steps(plain, 1);
    const ckpt = await captureCheckpoint(plain);
    const smart = makeSyntheticRun({ ...BASE, method: 'alum' }, 40);
    smart.applyLiveSettings({ ...smart.config, method: 'smart' });
    await steps(smart, 1);
    smart.applyLiveSettings({ ...smart.config, method: 'alum' });
    const tensors = tf.memory().numTensors;
    expect(smart.emaParams).not.toBeNull();
    restoreCheckpoint(smart, ckpt, 'ckpt');
    expect(smart.emaParams).toBeNull();
    expect(tf.memory().numTensors).toBe(tensors - smart.params.size);
    [plain, smart].forEach((r) => r.dispose());
  });
});

describe('initialPerturbation', () => {
  const shape: [number, number, number] = [3, 4, 8];
  const mask = () =>
    tf.tensor2d(
      [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
        [1, 0, 0, 0],
      ],
      undefined,
      'int32',
    );
  const cfg = (method: Method, patch: Partial<TrainConfig> = {}) =>
    ({ method, sigma: 0.1, epsilon: 0.05, norm: 'inf', noiseType: 'uniform', ...patch }) as const;
  const draw = async (c: ReturnType<typeof cfg>) => {
    const m = mask();
    let seeds = 0;
    const t = initialPerturbation(c, shape, m, () => ++seeds);
    const out = t ? Array.from(await t.data()) : null;
    tf.dispose([m, ...(t ? [t] : [])]);
    return { out, seeds };
  };

  it('standard draws nothing; fgm starts from 0 without a draw', async () => {
    expect(await draw(cfg('standard'))).toEqual({ out: null, seeds: 0 });
    const fgm = await draw(cfg('fgm'));
    expect(fgm.seeds).toBe(0);
    expect(fgm.out?.every((v) => v === 0)).toBe(true);
  });

  it('r3f: U(-sigma, sigma), or N(0, sigma^2) with noiseType normal', async () => {
    const u = (await draw(cfg('r3f'))).out ?? [];
    expect(Math.max(...u.map(Math.abs))).toBeLessThanOrEqual(0.1);
    expect(Math.max(...u.map(Math.abs))).toBeGreaterThan(0.08);
    const n = (await draw(cfg('r3f', { noiseType: 'normal' }))).out ?? [];
    expect(Math.max(...n.map(Math.abs))).toBeGreaterThan(0.1); // 96 normal draws pass one sigma
  });

  it('pgd: uniform in the per-token ball (l2: projected)', async () => {
    const inf = (await draw(cfg('pgd'))).out ?? [];
    expect(Math.max(...inf.map(Math.abs))).toBeLessThanOrEqual(0.05);
    const l2 = (await draw(cfg('pgd', { norm: 'l2' }))).out ?? [];
    for (let tok = 0; tok < 12; tok++) {
      const n = Math.hypot(...l2.slice(tok * 8, tok * 8 + 8));
      expect(n).toBeLessThanOrEqual(0.05 + 1e-7);
    }
  });

  it('freelb l2: U(-1, 1) * sigma / sqrt(L_b H) on real tokens, zero on padding', async () => {
    const d = (await draw(cfg('freelb', { norm: 'l2' }))).out ?? [];
    const lengths = [4, 2, 1];
    lengths.forEach((len, b) => {
      const row = d.slice(b * 32, b * 32 + 32);
      const bound = 0.1 / Math.sqrt(len * 8);
      expect(Math.max(...row.slice(0, len * 8).map(Math.abs))).toBeLessThanOrEqual(bound + 1e-9);
      expect(Math.max(...row.slice(0, len * 8).map(Math.abs))).toBeGreaterThan(bound / 2);
      expect(row.slice(len * 8).every((v) => v === 0)).toBe(true);
    });
  });
});

// Checkpoints: N steps, checkpoint, restore into a fresh run, M steps gives bit-identical weights, optimizer
// state and metric rows to N + M uninterrupted steps (cpu backend); a checkpoint that does not fit the run is
// refused with one line and nothing leaks.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { withoutTimings } from '../../../test/helpers/rows.ts';

import { makeSyntheticRun } from '../../../test/helpers/synthetic.ts';
import type { TrainConfig } from '../config.ts';
import { captureCheckpoint, checkCheckpointMeta, restoreCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { TrainingRun } from './run.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * Every RNG consumer on: ALUM noise, dropout with fresh adversarial masks; 40 rows in batches of 8 so epochs
 * (reshuffles) wrap inside the N + M steps.
 */
const CONFIG: Partial<TrainConfig> = {
  method: 'alum',
  advDropout: 'fresh',
  dropout: 0.1,
  seed: 3,
  steps: 30,
};
const TRAIN_ROWS = 40;
const N = 7;
const M = 6;

const makeRun = (patch: Partial<TrainConfig> = {}): TrainingRun =>
  makeSyntheticRun({ ...CONFIG, ...patch }, TRAIN_ROWS);

async function steps(run: TrainingRun, n: number): Promise<ReturnType<typeof withoutTimings>[]> {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(withoutTimings(await run.trainStep()));
  return rows;
}

/** Weights and optimizer moments, as one flat map of arrays. */
async function state(run: TrainingRun): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, p] of run.params) out.set(`param/${name}`, Array.from(await p.data()));
  const adam = await run.optimizer.exportState();
  adam.m.forEach((a, name) => out.set(`m/${name}`, Array.from(a)));
  adam.v.forEach((a, name) => out.set(`v/${name}`, Array.from(a)));
  out.set('t', [adam.t]);
  return out;
}

/** As it comes back from storage: the JSON part through JSON, the bytes copied. */
function stored(c: Checkpoint): Checkpoint {
  return { meta: JSON.parse(JSON.stringify(c.meta)) as Checkpoint['meta'], data: c.data.slice(0) };
}

describe('checkpoint', () => {
  it('N steps, checkpoint, restore into a fresh run, M steps == N + M uninterrupted steps, bit for bit', async () => {
    const whole = makeRun();
    const expected = await steps(whole, N + M);

    const first = makeRun();
    const before = await steps(first, N);
    const ckpt = stored(await captureCheckpoint(first));
    first.dispose();
    expect(ckpt.meta.step).toBe(N);
    expect(ckpt.meta.cursor).toBe((N * 8) % TRAIN_ROWS); // mid-epoch: the order matters

    const resumed = makeRun();
    restoreCheckpoint(resumed, ckpt, 'ckpt');
    const after = await steps(resumed, M);

    expect([...before, ...after]).toEqual(expected);
    expect(await state(resumed)).toEqual(await state(whole));
    expect(resumed.skipped).toBe(whole.skipped);
    [whole, resumed].forEach((r) => r.dispose());
  });

  it('restoring changes what a fresh run would do (the test above is not vacuous)', async () => {
    const fresh = makeRun();
    const trained = makeRun();
    await steps(trained, N);
    const ckpt = await captureCheckpoint(trained);
    const next = (await steps(trained, 1))[0];
    expect((await steps(fresh, 1))[0]).not.toEqual(next);
    const resumed = makeRun();
    restoreCheckpoint(resumed, ckpt, 'ckpt');
    expect((await steps(resumed, 1))[0]).toEqual(next);
    [fresh, trained, resumed].forEach((r) => r.dispose());
  });

  it('captures and restores without leaking tensors', async () => {
    const run = makeRun();
    await steps(run, 2);
    const tensors = tf.memory().numTensors;
    const ckpt = await captureCheckpoint(run);
    restoreCheckpoint(run, ckpt, 'ckpt');
    expect(tf.memory().numTensors).toBe(tensors);
    run.dispose();
  });

  it('refuses a checkpoint that does not fit the run with one line, naming the field or tensor', async () => {
    const run = makeRun();
    await steps(run, 1);
    const good = await captureCheckpoint(run);
    const other = makeRun({ alpha: 2 });
    expect(() => restoreCheckpoint(other, good, 'runs/x')).toThrow(
      /^runs\/x: config field 'alpha' is 1, the run has 2$/,
    );
    other.dispose();

    const fresh = makeRun();
    const cases: [Checkpoint, RegExp][] = [
      [
        { ...good, data: good.data.slice(0, 400) },
        /tensor 'param\/.*' ends at \d+, past the data's 100 values/,
      ],
      [
        { ...good, meta: { ...good.meta, tensors: good.meta.tensors.slice(1) } },
        /missing tensor 'param\/bert\.embeddings\.word_embeddings\.weight'/,
      ],
      [{ ...good, meta: { ...good.meta, order: [0, 0, 1] } }, /data order is not a permutation of the 40/],
      [{ ...good, meta: { ...good.meta, rngState: -1 } }, /'rngState': RNG state must be an integer/],
      [{ ...good, meta: { ...good.meta, version: 9 as 1 } }, /checkpoint field 'version' is 9, expected 1/],
      [
        { ...good, meta: { ...good.meta, labels: ['a', 'b'] } },
        /labels \[a, b\] differ from the data's \[no, yes\]/,
      ],
    ];
    const weights = await state(fresh);
    for (const [ckpt, message] of cases) {
      expect(() => restoreCheckpoint(fresh, ckpt, 'runs/x')).toThrow(message);
    }
    expect(await state(fresh)).toEqual(weights); // nothing was changed by a refused checkpoint
    expect(fresh.step).toBe(0);
    [run, fresh].forEach((r) => r.dispose());
  });

  it('checkCheckpointMeta names the malformed field', () => {
    expect(() => checkCheckpointMeta(null, 'c')).toThrow("c: checkpoint field 'meta' is not an object");
    expect(() =>
      checkCheckpointMeta({ version: 1, config: {}, model: {}, labels: [], step: 1.5 }, 'c'),
    ).toThrow("c: checkpoint field 'step' is not a non-negative integer");
  });
});

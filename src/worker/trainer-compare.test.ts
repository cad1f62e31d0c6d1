// Issue 7, part A, worker side: two runs of one worker on the same data and seed (compare mode), a live
// setting change between two steps (`set-config` -> `config-applied`), the split of a step's wall time into
// training and dev evaluation, and the per-step train accuracy and gradient split. The message sequence this
// test receives is the fixture the UI's data-path tests replay: `RECORD_FIXTURES=1 npx vitest run
// src/worker/trainer-compare.test.ts` rewrites test/fixtures/worker-messages/compare.json.
import { readFileSync, writeFileSync } from 'node:fs';

import { afterAll, describe, expect, it } from 'vitest';

import { fixtureDir } from '../../test/helpers/nano.ts';
import { startTrainer } from '../../test/helpers/worker.ts';
import { resolveConfig, type TrainConfig } from '../core/config.ts';
import { lrAt } from '../core/train/schedule.ts';
import { PROTOCOL_VERSION, type FromWorker, type MetricRow, type ToWorker } from '../protocol/messages.ts';

const FIXTURE = 'test/fixtures/worker-messages/compare.json';
const vocab = readFileSync(`${fixtureDir}/vocab.txt`, 'utf8');
const task = {
  name: 'toy',
  source: 'hand-written test task',
  labels: ['ham', 'spam'],
  train: [
    ...['win free money now', 'click here you have won a prize', 'cash offer call me now'].map((text) => ({
      text,
      label: 1,
    })),
    ...['the cat sat on the mat', 'see you at noon', 'meeting today at lunch'].map((text) => ({
      text,
      label: 0,
    })),
  ],
  dev: [
    { text: 'free money', label: 1 },
    { text: 'the cat', label: 0 },
    { text: 'see you', label: 0 },
  ],
};
const files: Record<string, string> = { 'mem:task.json': JSON.stringify(task), 'mem:vocab.txt': vocab };

const trainer = startTrainer((url) => Promise.resolve(files[url] ?? ''));
const { client } = trainer;
const received = client.received;
const send = (m: ToWorker) => client.send(m);
const waitFor = (pred: (m: FromWorker) => boolean, ms?: number) => client.waitFor(pred, ms);
const rows = (runId: string): MetricRow[] => client.rows(runId);
const stepped = (runId: string, step: number) => (m: FromWorker) =>
  m.type === 'status' && m.runId === runId && m.step === step && m.status !== 'running';

const base: TrainConfig = resolveConfig({
  model: 'nano',
  batchSize: 4,
  maxLength: 16,
  steps: 6,
  evalEvery: 2,
  lr: 1e-3,
  method: 'alum',
  alpha: 1,
  dropout: 0, // so that the clean pass of step 1 is the same whatever the method draws from the RNG
});
const compared: TrainConfig = { ...base, method: 'standard' };

afterAll(() => trainer.close());

describe('compare mode and live settings in the worker', () => {
  it('records two runs on the same seed and data, one with a mid-run change', async () => {
    send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null });
    await waitFor((m) => m.type === 'ready');
    send({ type: 'create', runId: 'a', config: base, dataUrl: 'mem:task.json', vocabUrl: 'mem:vocab.txt' });
    await waitFor((m) => m.type === 'run-created' && m.info.runId === 'a');
    send({ type: 'step', runId: 'a', n: 3 });
    await waitFor(stepped('a', 3));
    send({ type: 'set-config', runId: 'a', config: { ...base, lr: 5e-4, alpha: 0 } });
    await waitFor((m) => m.type === 'config-applied' && m.runId === 'a');
    send({ type: 'step', runId: 'a', n: 3 });
    await waitFor((m) => m.type === 'status' && m.runId === 'a' && m.status === 'done');
    send({
      type: 'create',
      runId: 'b',
      config: compared,
      dataUrl: 'mem:task.json',
      vocabUrl: 'mem:vocab.txt',
    });
    await waitFor((m) => m.type === 'run-created' && m.info.runId === 'b');
    send({ type: 'step', runId: 'b', n: 6 });
    await waitFor((m) => m.type === 'status' && m.runId === 'b' && m.status === 'done');
    expect(rows('a').map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows('b').map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    if (process.env['RECORD_FIXTURES'] === '1')
      writeFileSync(FIXTURE, JSON.stringify(received, null, 1) + '\n');
  }, 120_000);

  it('applies a live change from the next step on, and says at which step', async () => {
    const applied = await waitFor((m) => m.type === 'config-applied');
    expect(applied).toMatchObject({ runId: 'a', step: 3, config: { lr: 5e-4, alpha: 0 } });
    const a = rows('a');
    a.slice(0, 3).forEach((r) => expect(r.lr).toBeCloseTo(lrAt(r.step - 1, 6, 1e-3), 12));
    a.slice(3).forEach((r) => expect(r.lr).toBeCloseTo(lrAt(r.step - 1, 6, 5e-4), 12));
    // alpha 0 from step 4: the total is the task loss alone.
    a.slice(3).forEach((r) => expect(r.totalLoss).toBeCloseTo(r.taskLoss, 6));
    expect(a.slice(0, 3).every((r) => r.totalLoss > r.taskLoss)).toBe(true);
  });

  it('refuses a change that needs a reset, in one line naming the field', async () => {
    send({ type: 'set-config', runId: 'b', config: { ...compared, batchSize: 2 } });
    const err = await waitFor((m) => m.type === 'error' && m.runId === 'b');
    expect(err).toMatchObject({ message: 'batchSize cannot change during a run: press Reset to apply it' });
  });

  it('the same seed and data give the same first clean loss (same initial weights and first batch)', () => {
    expect(rows('b')[0]?.taskLoss).toBe(rows('a')[0]?.taskLoss);
  });

  it('a row that evaluates holds its evaluation time in ms (ms = trainMs + evalMs); others train only', () => {
    for (const r of [...rows('a'), ...rows('b')]) {
      const evaluated = r.devAccuracy !== undefined;
      expect(evaluated).toBe(r.step % 2 === 0);
      expect(r.trainMs).toBeGreaterThan(0);
      if (evaluated) {
        expect(r.evalMs).toBeGreaterThan(0);
        expect(r.ms).toBeCloseTo((r.trainMs ?? 0) + (r.evalMs ?? 0), 9);
      } else {
        expect(r.evalMs).toBeUndefined();
        expect(r.ms).toBe(r.trainMs);
      }
    }
  });

  it('every row has the batch accuracy; evaluating rows have the task and adversarial gradient norms', () => {
    for (const r of rows('a')) {
      expect(r.trainAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.trainAccuracy).toBeLessThanOrEqual(1);
      expect(r.taskGradNorm === undefined).toBe(r.devAccuracy === undefined);
    }
    const a = rows('a');
    expect(a[1]?.advGradNorm).toBeGreaterThan(0); // step 2: alpha 1
    expect(a[5]?.advGradNorm).toBeLessThan(1e-6 * (a[5]?.taskGradNorm ?? 0)); // step 6: alpha 0
    expect(rows('b')[1]?.advGradNorm).toBe(0); // standard: no adversarial term
  });

  it('reports the majority class of the dev set', async () => {
    const created = await waitFor((m) => m.type === 'run-created' && m.info.runId === 'a');
    expect(created).toMatchObject({ info: { devMajority: { label: 'ham', share: 2 / 3 } } });
  });
});

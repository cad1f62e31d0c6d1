// The worker's Trainer driven over a MessageChannel in Node (no real Worker; comlink's testing idea):
// hello -> ready, create -> run-created, step/start/pause/reset/dispose, metric batches, errors, no leaks.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';

import { fixtureDir } from '../../test/helpers/nano.ts';
import { startTrainer } from '../../test/helpers/worker.ts';
import { resolveConfig, type TrainConfig } from '../core/config.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';

const vocab = readFileSync(`${fixtureDir}/vocab.txt`, 'utf8');
const spam = [
  'win free money now',
  'click here you have won a prize',
  'cash offer call me now',
  'free cash prize',
];
const ham = ['the cat sat on the mat', 'see you at noon', 'meeting today at lunch', 'my dog sat on a mat'];
const task = {
  name: 'toy',
  source: 'hand-written test task',
  labels: ['ham', 'spam'],
  train: [...spam.map((text) => ({ text, label: 1 })), ...ham.map((text) => ({ text, label: 0 }))],
  dev: [
    { text: 'free money', label: 1 },
    { text: 'the cat', label: 0 },
  ],
};
const files: Record<string, string> = {
  'mem:task.json': JSON.stringify(task),
  'mem:vocab.txt': vocab,
  'mem:bad.json': '{"labels": 3}',
};

const trainer = startTrainer((url) =>
  url in files ? Promise.resolve(files[url] as string) : Promise.reject(new Error(`${url}: HTTP 404`)),
);
const client = trainer.client;
const config: TrainConfig = resolveConfig({
  model: 'nano',
  batchSize: 4,
  maxLength: 16,
  steps: 6,
  evalEvery: 3,
  lr: 1e-3,
});

afterAll(() => trainer.close());

describe('Trainer over a MessageChannel', () => {
  it('answers hello with the backend and why', async () => {
    client.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null });
    const ready = await client.waitFor((m) => m.type === 'ready');
    expect(ready).toMatchObject({ type: 'ready', backend: 'cpu', backendReason: 'cpu is the first choice' });
  });

  it('creates a run, steps exactly n, streams metric rows, evaluates on schedule', async () => {
    client.send({ type: 'create', runId: 'r1', config, dataUrl: 'mem:task.json', vocabUrl: 'mem:vocab.txt' });
    const created = await client.waitFor((m) => m.type === 'run-created');
    expect(created).toMatchObject({
      info: {
        runId: 'r1',
        dataName: 'mem:task.json',
        trainExamples: 8,
        devExamples: 2,
        labels: ['ham', 'spam'],
      },
    });
    client.send({ type: 'step', runId: 'r1', n: 3 });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'r1' && m.step === 3);
    const rows = client.rows('r1');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(rows[2]?.devAccuracy).toBeGreaterThanOrEqual(0);
    expect(rows[0]?.devAccuracy).toBeUndefined();
    expect(rows.every((r) => Number.isFinite(r.taskLoss) && r.advLoss > 0)).toBe(true);
  });

  it('exports the model of a run as a zip of its Hugging Face folder, and refuses an unknown run in one line', async () => {
    client.send({ type: 'create', runId: 'rx', config, dataUrl: 'mem:task.json', vocabUrl: 'mem:vocab.txt' });
    await client.waitFor((m) => m.type === 'run-created' && m.info.runId === 'rx');
    client.send({ type: 'step', runId: 'rx', n: 1 });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'rx' && m.step === 1);
    client.send({ type: 'export-model', runId: 'rx', requestId: 'e1' });
    const reply = await client.waitFor((m) => m.type === 'model-export' && m.requestId === 'e1');
    if (reply.type !== 'model-export' || !reply.result.ok) throw new Error(JSON.stringify(reply));
    expect(reply.result).toMatchObject({ step: 1, fileName: 'alum-nano-step1.zip' });
    expect(Object.keys(unzipSync(reply.result.zip)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'vocab.txt',
    ]);
    client.send({ type: 'export-model', runId: 'nope', requestId: 'e2' });
    const refused = await client.waitFor((m) => m.type === 'model-export' && m.requestId === 'e2');
    expect(refused).toMatchObject({ result: { ok: false, message: "export failed: no run 'nope'" } });
    client.send({ type: 'dispose', runId: 'rx' });
  });

  it("checks a user's data file without touching any run, then trains a run on it", async () => {
    const rows = ['sentence\tlabel', ...spam.map((t) => `${t}\tspam`), ...ham.map((t) => `${t}\tham`)];
    const data = { name: 'mine.tsv', text: rows.join('\n') + '\n' };
    client.send({ type: 'check-data', requestId: 'c1', data, vocabUrl: 'mem:vocab.txt', seed: 1 });
    const ok = await client.waitFor((m) => m.type === 'data-checked' && m.requestId === 'c1');
    expect(ok).toMatchObject({ result: { ok: true, name: 'mine.tsv', labels: ['spam', 'ham'] } });
    const bad = { name: 'bad.tsv', text: 'sentence\tlabel\nfine\tham\nno label here\n' };
    client.send({ type: 'check-data', requestId: 'c2', data: bad, vocabUrl: 'mem:vocab.txt', seed: 1 });
    const refused = await client.waitFor((m) => m.type === 'data-checked' && m.requestId === 'c2');
    expect(refused).toMatchObject({ result: { ok: false } });
    if (refused.type === 'data-checked' && !refused.result.ok)
      expect(refused.result.message).toMatch(/^bad\.tsv:3: /);
    client.send({
      type: 'create',
      runId: 'rd',
      config,
      dataUrl: 'mem:task.json',
      vocabUrl: 'mem:vocab.txt',
      data,
    });
    const created = await client.waitFor((m) => m.type === 'run-created' && m.info.runId === 'rd');
    expect(created).toMatchObject({ info: { dataName: 'mine.tsv', labels: ['spam', 'ham'] } });
    client.send({ type: 'step', runId: 'rd', n: 1 });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'rd' && m.step === 1);
    client.send({ type: 'dispose', runId: 'rd' });
  });

  it('runs to the end on start and reports done', async () => {
    client.send({ type: 'start', runId: 'r1' });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'r1' && m.status === 'done');
    expect(client.rows('r1').map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reset rebuilds from step 0 and frees the old run; dispose frees everything', async () => {
    const tensorsBefore = tf.memory().numTensors;
    client.send({ type: 'reset', runId: 'r1', config: { ...config, method: 'standard' } });
    await client.waitFor(
      (m) =>
        m.type === 'status' &&
        m.runId === 'r1' &&
        m.status === 'ready' &&
        client.statuses('r1').filter((s) => s === 'ready').length === 2,
    );
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    client.send({ type: 'dispose', runId: 'r1' });
    client.send({ type: 'step', runId: 'r1', n: 1 });
    const err = await client.waitFor((m) => m.type === 'error');
    expect(err).toEqual({ type: 'error', runId: 'r1', message: "no run 'r1'" });
    expect(tf.memory().numTensors).toBeLessThan(tensorsBefore);
  });

  it('pause holds a running run', async () => {
    client.send({
      type: 'create',
      runId: 'r2',
      config: { ...config, steps: 1000 },
      dataUrl: 'mem:task.json',
      vocabUrl: 'mem:vocab.txt',
    });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'r2' && m.status === 'ready');
    client.send({ type: 'start', runId: 'r2' });
    await client.waitFor(() => client.rows('r2').length >= 2);
    client.send({ type: 'pause', runId: 'r2' });
    const paused = await client.waitFor(
      (m) => m.type === 'status' && m.runId === 'r2' && m.status === 'paused',
    );
    // 'paused' comes after the row of the step that was in flight: no row ever exceeds the paused step.
    const pausedAt = paused.type === 'status' ? paused.step : -1;
    expect(client.rows('r2').at(-1)?.step).toBe(pausedAt);
    await new Promise((r) => setTimeout(r, 500));
    const n = client.rows('r2').length;
    await new Promise((r) => setTimeout(r, 500));
    expect(client.rows('r2').length).toBe(n);
    client.send({ type: 'dispose', runId: 'r2' });
  });

  it('reset then start sent together: the old run stops, the new one starts from step 1', async () => {
    const long = { ...config, steps: 100_000 };
    client.send({
      type: 'create',
      runId: 'r4',
      config: long,
      dataUrl: 'mem:task.json',
      vocabUrl: 'mem:vocab.txt',
    });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'r4' && m.status === 'ready');
    client.send({ type: 'start', runId: 'r4' });
    await client.waitFor(() => client.rows('r4').length >= 2);
    const mark = client.received.length;
    client.send({ type: 'reset', runId: 'r4', config: long });
    client.send({ type: 'start', runId: 'r4' });
    const after = () => client.received.slice(mark);
    await client.waitFor(() =>
      after().some(
        (m) =>
          m.type === 'metrics' &&
          m.runId === 'r4' &&
          m.rows.some((r) => r.step === 2) &&
          after().some((x) => x.type === 'status' && x.status === 'loading'),
      ),
    );
    const seq = after().flatMap((m) =>
      !('runId' in m) || m.runId !== 'r4'
        ? []
        : m.type === 'status'
          ? [`${m.status}@${m.step}`]
          : m.type === 'metrics'
            ? m.rows.map((r) => `row${r.step}`)
            : [],
    );
    const loading = seq.indexOf('loading@0');
    expect(loading).toBeGreaterThanOrEqual(0);
    // After the reset began: ready at 0, running, then rows 1, 2, ... of the new run only.
    expect(seq.slice(loading, loading + 5)).toEqual(['loading@0', 'ready@0', 'running@0', 'row1', 'row2']);
    client.send({ type: 'pause', runId: 'r4' });
    client.send({ type: 'dispose', runId: 'r4' });
  });

  it('reports bad data as a one-line error naming the file', async () => {
    client.send({ type: 'create', runId: 'r3', config, dataUrl: 'mem:bad.json', vocabUrl: 'mem:vocab.txt' });
    const err = await client.waitFor((m) => m.type === 'error' && m.runId === 'r3');
    expect(err.type === 'error' && err.message).toMatch(/^mem:bad\.json: /);
    expect(client.statuses('r3')).toContain('error');
  });
});

describe('protocol version', () => {
  it('refuses a page that speaks another protocol version, with a one-line error', async () => {
    const other = startTrainer(() => Promise.reject(new Error('unused')));
    const c = other.client;
    c.send({ type: 'hello', protocolVersion: 999, backend: null });
    const err = await c.waitFor((m) => m.type === 'error');
    expect(err).toEqual({
      type: 'error',
      runId: null,
      message: `protocol version mismatch: page speaks 999, worker ${PROTOCOL_VERSION}; reload the page`,
    });
    other.close();
  });
});

describe('Trainer: token view', () => {
  it('answers token-view for an example of the batch and for a typed text, and leaves the run where it was', async () => {
    client.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null });
    client.send({
      type: 'create',
      runId: 'rtv',
      config,
      dataUrl: 'mem:task.json',
      vocabUrl: 'mem:vocab.txt',
    });
    await client.waitFor((m) => m.type === 'run-created' && m.info.runId === 'rtv');
    client.send({ type: 'step', runId: 'rtv', n: 2 });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'rtv' && m.step === 2);
    client.send({ type: 'token-view', runId: 'rtv', requestId: 'tv1', index: 1 });
    client.send({ type: 'token-view', runId: 'rtv', requestId: 'tv2', index: 0, text: 'free cash now' });
    client.send({ type: 'token-view', runId: 'nope', requestId: 'tv3', index: 0 });
    const reply = async (id: string) => {
      const m = await client.waitFor((x) => x.type === 'token-view' && x.requestId === id);
      if (m.type !== 'token-view') throw new Error('unreachable');
      return m.result;
    };
    const a = await reply('tv1');
    if (!a.ok) throw new Error(a.message);
    expect(a.view.step).toBe(2);
    expect(a.view.row).toBeGreaterThanOrEqual(0);
    expect(a.view.tokens[0]).toBe('[CLS]');
    expect(a.view.stages.map((s) => s.kind)).toEqual(['init', 'ascent', 'outer']);
    const b = await reply('tv2');
    if (!b.ok) throw new Error(b.message);
    expect(b.view.row).toBe(-1);
    expect(b.view.tokens.slice(1, -1).join(' ')).toMatch(/free/);
    const c = await reply('tv3');
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.message).toContain('nope');
    client.send({ type: 'step', runId: 'rtv', n: 1 });
    await client.waitFor((m) => m.type === 'status' && m.runId === 'rtv' && m.step === 3);
    expect(client.rows('rtv').map((r) => r.step)).toEqual([1, 2, 3]);
    client.send({ type: 'dispose', runId: 'rtv' });
  });
});

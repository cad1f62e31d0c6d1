// The worker's backend choice: hello with the page's model calibrates the chain (core/calibrate.ts), and
// `set-backend` (the page's backend menu) switches a worker with live runs, which pause and go on.
import { readFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import { fixtureDir } from '../../test/helpers/nano.ts';
import { Client, port } from '../../test/helpers/worker.ts';
import { resolveConfig, type BackendName } from '../core/config.ts';
import { PROTOCOL_VERSION, type FromWorker } from '../protocol/messages.ts';
import { Trainer } from './trainer.ts';

const task = {
  name: 'toy',
  source: 'hand-written test task',
  labels: ['ham', 'spam'],
  train: ['win free money now', 'free cash prize', 'the cat sat on the mat', 'see you at noon'].map(
    (text, i) => ({
      text,
      label: i < 2 ? 1 : 0,
    }),
  ),
  dev: [{ text: 'free money', label: 1 }],
};
const files: Record<string, string> = {
  'mem:task.json': JSON.stringify(task),
  'mem:vocab.txt': readFileSync(`${fixtureDir}/vocab.txt`, 'utf8'),
};
const config = resolveConfig({ model: 'nano', batchSize: 4, maxLength: 16, steps: 50, evalEvery: 0 });

const channel = new MessageChannel();
new Trainer(
  port(channel.port1),
  {
    wasm: async () => {
      await import('@tensorflow/tfjs-backend-wasm');
    },
    webgl: () => Promise.reject(new Error('no webgl in Node')),
  },
  (url) =>
    url in files ? Promise.resolve(files[url] as string) : Promise.reject(new Error(`${url}: HTTP 404`)),
  ['webgl', 'wasm', 'cpu'],
);
const client = new Client(channel.port2);
afterAll(() => {
  channel.port1.close();
  channel.port2.close();
});

type Ready = Extract<FromWorker, { type: 'ready' }>;
/** Sends `set-backend` and waits for the `ready` that answers it. */
async function switchTo(backend: BackendName | null): Promise<Ready> {
  const seen = client.received.length;
  client.send({ type: 'set-backend', backend, model: 'nano' });
  return client.waitFor((m): m is Ready => m.type === 'ready' && client.received.indexOf(m) >= seen);
}
async function stepTo(runId: string, n: number, step: number): Promise<void> {
  client.send({ type: 'step', runId, n });
  await client.waitFor((m) => m.type === 'status' && m.runId === runId && m.step === step);
}

describe('the worker chooses its backend', () => {
  it('calibrates on the model hello names, and says how long each backend took', async () => {
    client.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null, model: 'nano' });
    const ready = await client.waitFor((m): m is Ready => m.type === 'ready');
    expect(ready.backendReason).toMatch(
      /^fastest for model nano \(timed at \d+ × \d+ tokens\): webgl failed \(no webgl in Node\); wasm [\d,]+ ms\/step; cpu skipped \(plain JavaScript, not timed once another backend was\); chose wasm$/,
    );
    expect(ready.backendReason).toMatch(new RegExp(`; chose ${ready.backend}$`));
    expect(tf.getBackend()).toBe(ready.backend);
  });

  it('switches backend under a live run, which pauses, keeps its weights and trains on as on one backend', async () => {
    expect((await switchTo('cpu')).backendReason).toBe('forced by the backend option (cpu)');
    for (const runId of ['ref', 'moved']) {
      client.send({ type: 'create', runId, config, dataUrl: 'mem:task.json', vocabUrl: 'mem:vocab.txt' });
      await client.waitFor((m) => m.type === 'run-created' && m.info.runId === runId);
    }
    await stepTo('ref', 4, 4);
    client.send({ type: 'start', runId: 'moved' });
    await client.waitFor(
      (m) => m.type === 'metrics' && m.runId === 'moved' && m.rows.some((r) => r.step >= 2),
    );
    const tensors = tf.memory().numTensors;

    const ready = await switchTo('wasm');
    expect(ready).toMatchObject({ backend: 'wasm', backendReason: 'forced by the backend option (wasm)' });
    expect(tf.getBackend()).toBe('wasm');
    const paused = client.received.filter((m) => m.type === 'status' && m.runId === 'moved').at(-1);
    expect(paused).toMatchObject({ status: 'paused' });
    const at = paused?.type === 'status' ? paused.step : 0;
    expect(at).toBeGreaterThanOrEqual(2);
    expect(at).toBeLessThan(50);

    await stepTo('moved', 2, at + 2);
    expect(tf.memory().numTensors).toBe(tensors); // the moved tensors, not copies
    const loss = (runId: string, step: number) => client.rows(runId).find((r) => r.step === step)?.taskLoss;
    const ref = client.rows('ref').length;
    for (let step = 1; step <= Math.min(at + 2, ref); step++) {
      expect(loss('moved', step)).toBeCloseTo(loss('ref', step) as number, 4);
    }
    await stepTo('ref', at + 2 - ref, at + 2);
    for (const step of [at + 1, at + 2])
      expect(loss('moved', step)).toBeCloseTo(loss('ref', step) as number, 4);
    for (const runId of ['ref', 'moved']) client.send({ type: 'dispose', runId });
  });

  it('keeps the backend it had when the new one fails, and says why', async () => {
    await switchTo('cpu');
    const ready = await switchTo('webgl');
    expect(ready).toMatchObject({
      backend: 'cpu',
      backendReason: 'kept cpu: no usable tfjs backend: webgl failed (no webgl in Node)',
    });
    expect(tf.getBackend()).toBe('cpu');
  });
});

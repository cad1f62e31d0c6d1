// The bench worker's message handling (src/worker/bench.ts) over a MessageChannel in Node, as trainer.test.ts
// drives the Trainer: progress per row, rows at the end, a backend it cannot use reported and skipped,
// cancel, bad requests refused in one line, no tensor left behind.
import { MessageChannel } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

import type { BenchRequest, FromBench, ToBench } from '../protocol/bench.ts';
import { BenchWorker, requestProblem } from './bench.ts';

const channel = new MessageChannel();
new BenchWorker(
  {
    postMessage: (m) => channel.port1.postMessage(m),
    addEventListener: (_type, listener) => channel.port1.on('message', (data: ToBench) => listener({ data })),
  },
  {}, // no loaders: cpu is built into tfjs; webgpu cannot register in Node without one
);
const received: FromBench[] = [];
channel.port2.on('message', (m: FromBench) => received.push(m));
afterAll(() => {
  channel.port1.close();
  channel.port2.close();
});

const request: BenchRequest = {
  backends: ['webgpu', 'cpu'],
  models: ['nano'],
  methods: ['standard', 'alum1'],
  batchSize: 2,
  maxLength: 8,
  steps: 1,
};

function send(m: ToBench): void {
  channel.port2.postMessage(m);
}

/** What `find` gives once it gives something, polled every 50 ms, or a timeout error after `ms`. */
async function until<T>(find: () => T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = find();
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`timeout; got ${JSON.stringify(received.map((m) => m.type))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The first `done` or `error` answer to request `id`. */
function answer(id: string, ms = 60_000): Promise<FromBench> {
  return until(() => received.find((m) => m.id === id && (m.type === 'done' || m.type === 'error')), ms);
}

type Progress = Extract<FromBench, { type: 'progress' }>;
const progressOf = (id: string) =>
  received.filter((m): m is Progress => m.id === id && m.type === 'progress');

describe('the bench worker', () => {
  it('measures every row, reporting progress per row and the backend it could not use', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    send({ type: 'bench', id: 'b1', ...request });
    const done = await answer('b1');
    if (done.type !== 'done') throw new Error(JSON.stringify(done));
    expect(done.cancelled).toBe(false);
    expect(done.failures).toHaveLength(1);
    expect(done.failures[0]?.backend).toBe('webgpu');
    expect(done.rows.map((r) => [r.backend, r.method, r.k])).toEqual([
      ['cpu', 'standard', 0],
      ['cpu', 'alum', 1],
    ]);
    for (const r of done.rows) {
      expect(r.kernelsPerStep).toBeGreaterThan(r.dispatchesPerStep);
      expect(r.dispatchesPerStep).toBeGreaterThan(0);
    }
    const progress = progressOf('b1');
    expect(progress.map((p) => [p.done, p.total, p.backend, p.failure === null])).toEqual([
      [0, 4, 'webgpu', false],
      [1, 4, 'cpu', true],
      [2, 4, 'cpu', true],
    ]);
    expect(progress[2]?.row).toEqual(done.rows[1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops before the next row on cancel', async () => {
    // A worker of its own on a direct endpoint: the cancel reaches it as the first row's progress is posted. Over
    // the channel it took two hops, which a busy event loop could deliver after the next row had started.
    const posted: FromBench[] = [];
    let deliver: (m: ToBench) => void = () => undefined;
    new BenchWorker(
      {
        postMessage: (m) => {
          posted.push(m);
          if (m.type === 'progress') deliver({ type: 'cancel', id: m.id });
        },
        addEventListener: (_type, listener) => {
          deliver = (data) => listener({ data });
        },
      },
      {},
    );
    deliver({
      type: 'bench',
      id: 'c1',
      ...request,
      backends: ['cpu'],
      methods: ['standard', 'alum1', 'alum2'],
    });
    const done = await until(() => posted.find((m) => m.type === 'done' || m.type === 'error'));
    if (done.type !== 'done') throw new Error(JSON.stringify(done));
    expect(done.cancelled).toBe(true);
    expect(done.rows.map((r) => r.method)).toEqual(['standard']);
  });

  it('refuses a bad request in one line, and a second request while one runs', async () => {
    send({ type: 'bench', id: 'b3', ...request, models: ['huge' as 'nano'] });
    expect(await answer('b3')).toEqual({
      type: 'error',
      id: 'b3',
      message: "bench: unknown model 'huge' (known: nano, tiny, mini, small)",
    });
    send({ type: 'bench', id: 'b4', ...request, backends: ['cpu'] });
    send({ type: 'bench', id: 'b5', ...request });
    expect(await answer('b5')).toEqual({
      type: 'error',
      id: 'b5',
      message: 'bench: request b4 is still running',
    });
    expect(await answer('b4')).toMatchObject({ type: 'done', cancelled: false });
  });

  it('checks every field of a request', () => {
    expect(requestProblem(request)).toBeNull();
    expect(requestProblem({ ...request, backends: [] })).toBe('bench: backends is empty');
    expect(requestProblem({ ...request, backends: ['tpu' as 'cpu'] })).toBe(
      "bench: unknown backend 'tpu' (known: webgpu, webgl, wasm, cpu)",
    );
    expect(requestProblem({ ...request, methods: ['alum3' as 'alum1'] })).toMatch(
      /^bench: unknown method 'alum3'/,
    );
    expect(requestProblem({ ...request, steps: 0 })).toBe('bench: steps must be a positive integer, got 0');
    expect(requestProblem({ ...request, batchSize: 1.5 })).toBe(
      'bench: batchSize must be a positive integer, got 1.5',
    );
  });
});

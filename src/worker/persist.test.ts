// Saved runs through the store interface with the in-memory store (the IndexedDB one is exercised in
// e2e/runs.spec.ts): save, list, rename, delete with blob dedupe; a full quota or no store is one line and the
// run goes on; and through the Trainer: a run saved in one worker resumes in another (a reload) from its last
// checkpoint, with the metric rows continuous and identical to an uninterrupted run's.
import { readFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withoutTimings } from '../../test/helpers/rows.ts';

import { fixtureDir } from '../../test/helpers/nano.ts';
import { port } from '../../test/helpers/worker.ts';
import { resolveConfig, type TrainConfig } from '../core/config.ts';
import type { Checkpoint } from '../core/train/checkpoint.ts';
import {
  PROTOCOL_VERSION,
  type FromWorker,
  type MetricRow,
  type SavedRuns,
  type ToWorker,
} from '../protocol/messages.ts';
import { contentHash, MemoryRunStore, RunArchive, type RunSnapshot, type RunStore } from './persist.ts';
import { Trainer } from './trainer.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const config = resolveConfig({ model: 'nano', batchSize: 4, maxLength: 16, steps: 8, evalEvery: 4, seed: 2 });
const vocab = readFileSync(`${fixtureDir}/vocab.txt`, 'utf8');
const rows = [
  'win free money now\t1',
  'click here you have won a prize\t1',
  'cash offer call me now\t1',
  'free cash prize\t1',
  'the cat sat on the mat\t0',
  'see you at noon\t0',
  'meeting today at lunch\t0',
  'my dog sat on a mat\t0',
  'free money for you\t1',
  'lunch at noon today\t0',
];
const data = { name: 'toy.tsv', text: ['sentence\tlabel', ...rows].join('\n') };

const checkpoint = (step: number): Checkpoint => ({
  meta: { step } as Checkpoint['meta'],
  data: new Float32Array([1, 2, step]).buffer,
});

function snapshot(id: string, source: Record<string, unknown>): RunSnapshot {
  return {
    id,
    name: `run ${id}`,
    dataName: 'toy.tsv',
    modelName: 'nano, random init',
    startedAt: 1000,
    status: 'paused',
    config,
    source,
    metrics: [{ step: 1 }, { step: 2 }, { step: 3 }] as MetricRow[],
  };
}

describe('RunArchive over a RunStore', () => {
  it('saves, lists, loads, renames and deletes; a data file shared by two runs is stored once', async () => {
    const store = new MemoryRunStore();
    const archive = new RunArchive(() => Promise.resolve(store));
    const source = { dataUrl: 'u', vocabUrl: 'v', data };
    expect(await archive.save(snapshot('a', source), checkpoint(2))).toBe(true);
    expect(await archive.save(snapshot('b', { ...source, data: { ...data } }), checkpoint(3))).toBe(true);
    expect(store.blobs.size).toBe(1);
    expect([...store.blobs.keys()]).toEqual([await contentHash(data)]);

    const listed = await archive.list(new Map([['b', 'run-7']]));
    expect(listed).toMatchObject({ available: true, problem: null, usage: 24 });
    expect(listed.runs.map((r) => [r.id, r.step, r.steps, r.liveRunId])).toEqual([
      ['a', 2, 8, null],
      ['b', 3, 8, 'run-7'],
    ]);

    const loaded = await archive.load('a');
    expect(loaded.source).toEqual(source);
    expect(loaded.record.metrics.map((r) => r.step)).toEqual([1, 2]); // rows after the checkpoint are dropped
    expect(Array.from(new Float32Array(loaded.checkpoint.data))).toEqual([1, 2, 2]);

    await archive.rename('a', '  mine ');
    expect((await store.get('a'))?.name).toBe('mine');
    await expect(archive.rename('a', ' ')).rejects.toThrow('a run name cannot be empty');
    await expect(archive.load('zzz')).rejects.toThrow("no saved run 'zzz'");

    await archive.remove('a');
    expect(store.blobs.size).toBe(1); // still used by b
    await archive.remove('b');
    expect(store.blobs.size).toBe(0);
    expect(store.checkpoints.size).toBe(0);
  });

  it('a run saved before `init` existed lists and loads with it: loaded with a model, random without', async () => {
    const store = new MemoryRunStore();
    const archive = new RunArchive(() => Promise.resolve(store));
    const { init: _, ...old } = config; // what an earlier version saved
    const ckpt = (step: number): Checkpoint => ({
      ...checkpoint(step),
      meta: { step, config: old } as Checkpoint['meta'],
    });
    const model = { name: 'm', files: [{ name: 'config.json', bytes: new Uint8Array([1]) }] };
    await archive.save(
      { ...snapshot('r', { dataUrl: 'u', vocabUrl: 'v' }), config: old as TrainConfig },
      ckpt(1),
    );
    await archive.save(
      { ...snapshot('l', { dataUrl: 'u', vocabUrl: 'v', model }), config: old as TrainConfig },
      ckpt(1),
    );
    const listed = (await archive.list(new Map())).runs;
    expect(Object.fromEntries(listed.map((r) => [r.id, r.config.init]))).toEqual({
      r: 'random',
      l: 'loaded',
    });
    const loaded = await archive.load('l');
    expect(loaded.record.config).toEqual({ ...config, init: 'loaded' });
    expect(loaded.checkpoint.meta.config).toEqual({ ...config, init: 'loaded' });
  });

  it('a full quota is one line, "not saved: ...", and the next good write clears it', async () => {
    const store = new MemoryRunStore();
    const archive = new RunArchive(() => Promise.resolve(store));
    store.failWrites = new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    expect(await archive.save(snapshot('a', {}), checkpoint(1))).toBe(false);
    expect(archive.problem).toBe('not saved: storage is full (QuotaExceededError)');
    expect((await archive.list(new Map())).problem).toBe('not saved: storage is full (QuotaExceededError)');
    store.failWrites = null;
    expect(await archive.save(snapshot('a', {}), checkpoint(2))).toBe(true);
    expect(archive.problem).toBeNull();
  });

  it('no IndexedDB: one line, an empty list, and saves that do nothing', async () => {
    const archive = new RunArchive(() => Promise.reject(new Error('this browser offers no IndexedDB here')));
    expect(await archive.save(snapshot('a', {}), checkpoint(1))).toBe(false);
    expect(await archive.list(new Map())).toEqual({
      available: false,
      problem:
        'saved runs unavailable (this browser offers no IndexedDB here): training goes on in memory only',
      runs: [],
      usage: null,
      quota: null,
    });
  });

  it('contentHash depends on content only', async () => {
    const h = await contentHash({ a: 'x', b: new Uint8Array([1, 2]) });
    expect(await contentHash({ b: new Uint8Array([1, 2]), a: 'x' })).toBe(h);
    expect(await contentHash({ a: 'x', b: new Uint8Array([1, 3]) })).not.toBe(h);
    expect(await contentHash(['ab', 'c'])).not.toBe(await contentHash(['a', 'bc']));
  });
});

/** A Trainer over a MessageChannel on `store`; `received` collects what it posts. */
class Worker {
  readonly received: FromWorker[] = [];
  private readonly channel = new MessageChannel();
  constructor(store: RunStore, checkpointEvery: number) {
    new Trainer(
      port(this.channel.port1),
      {},
      (url) => (url === 'mem:vocab.txt' ? Promise.resolve(vocab) : Promise.reject(new Error(`${url}: 404`))),
      ['cpu'],
      new RunArchive(() => Promise.resolve(store), checkpointEvery),
    );
    this.channel.port2.on('message', (m: FromWorker) => this.received.push(m));
  }
  send(m: ToWorker): void {
    this.channel.port2.postMessage(m);
  }
  async waitFor<T extends FromWorker>(pred: (m: FromWorker) => m is T, after = 0): Promise<T> {
    for (let i = 0; i < 1200; i++) {
      const hit = this.received.slice(after).find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timeout; got ${this.received.map((m) => m.type).join(' ')}`);
  }
  /** The next runs list whose runs satisfy `ok`. */
  saved(ok: (s: SavedRuns) => boolean, after = 0): Promise<Extract<FromWorker, { type: 'saved-runs' }>> {
    return this.waitFor(
      (m): m is Extract<FromWorker, { type: 'saved-runs' }> => m.type === 'saved-runs' && ok(m.saved),
      after,
    );
  }
  status(runId: string, status: string, step: number) {
    return this.waitFor(
      (m): m is Extract<FromWorker, { type: 'status' }> =>
        m.type === 'status' && m.runId === runId && m.status === status && m.step === step,
    );
  }
  rows(runId: string): ReturnType<typeof withoutTimings>[] {
    return this.received
      .flatMap((m) => (m.type === 'metrics' && m.runId === runId ? m.rows : []))
      .map(withoutTimings);
  }
  close(): void {
    this.channel.port1.close();
    this.channel.port2.close();
  }
}

const hello: ToWorker = { type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null };
const create = (runId: string): ToWorker => ({
  type: 'create',
  runId,
  config,
  dataUrl: 'mem:none.json',
  vocabUrl: 'mem:vocab.txt',
  data,
});

describe('saved runs through the Trainer', () => {
  const workers: Worker[] = [];
  afterAll(() => workers.forEach((w) => w.close()));
  const open = (store: RunStore, every = 0) => {
    const w = new Worker(store, every);
    workers.push(w);
    w.send(hello);
    return w;
  };

  it('a run saved at step 4 resumes after a reload at step 4 and goes on exactly as an uninterrupted run', async () => {
    const store = new MemoryRunStore();
    const first = open(store);
    first.send(create('whole'));
    first.send({ type: 'step', runId: 'whole', n: 6 });
    await first.status('whole', 'ready', 6);
    const expected = first.rows('whole');
    expect(expected.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);

    first.send(create('r'));
    first.send({ type: 'step', runId: 'r', n: 3 });
    await first.status('r', 'ready', 3);
    first.send({ type: 'step', runId: 'r', n: 1 }); // a step after the save we resume from
    await first.status('r', 'ready', 4);
    first.send({ type: 'pause', runId: 'r' });
    const listed = await first.saved((s) => s.runs.some((r) => r.liveRunId === 'r' && r.step === 4));
    const savedId = listed.saved.runs.find((r) => r.liveRunId === 'r')?.id as string;
    expect(store.blobs.size).toBe(1); // the data file, once for both runs

    // "Reload": a fresh worker on the same store. The list shows both runs, neither live.
    const second = open(store);
    const after = await second.saved((s) => s.runs.length === 2);
    expect(after.saved.runs.map((r) => [r.step, r.steps, r.status, r.dataName, r.liveRunId])).toEqual([
      [4, 8, 'ready', 'toy.tsv', null],
      [6, 8, 'ready', 'toy.tsv', null],
    ]);

    second.send({ type: 'resume-run', runId: 'again', savedId });
    await second.status('again', 'paused', 4);
    expect(second.rows('again')).toEqual(expected.slice(0, 4));
    second.send({ type: 'step', runId: 'again', n: 2 });
    await second.status('again', 'paused', 6);
    expect(second.rows('again')).toEqual(expected); // continuous, and bit-identical to the uninterrupted run
  });

  it('a crash after a periodic checkpoint leaves the run listed as interrupted, resumable from that step', async () => {
    const store = new MemoryRunStore();
    const writes: MemoryRunStore[] = [];
    const put = store.put.bind(store);
    store.put = async (record, ckpt) => {
      await put(record, ckpt);
      const copy = new MemoryRunStore(); // what the disk holds after this write, had the page died here
      store.runs.forEach((v, k) => copy.runs.set(k, structuredClone(v)));
      store.checkpoints.forEach((v, k) => copy.checkpoints.set(k, structuredClone(v)));
      store.blobs.forEach((v, k) => copy.blobs.set(k, v));
      writes.push(copy);
    };
    const w = open(store, 2);
    w.send(create('c'));
    w.send({ type: 'start', runId: 'c' });
    await w.status('c', 'done', 8);
    const expected = w.rows('c');
    const atStep2 = writes.find((s) => [...s.runs.values()][0]?.step === 2) as MemoryRunStore;

    const reloaded = open(atStep2);
    const listed = await reloaded.saved((s) => s.runs.length === 1);
    expect(listed.saved.runs[0]).toMatchObject({ step: 2, status: 'interrupted' });
    reloaded.send({ type: 'resume-run', runId: 'c2', savedId: listed.saved.runs[0]?.id as string });
    await reloaded.status('c2', 'paused', 2);
    reloaded.send({ type: 'start', runId: 'c2' });
    await reloaded.status('c2', 'done', 8);
    expect(reloaded.rows('c2')).toEqual(expected);
  });

  it("a failed rename is the list's one-line problem, not a worker error; the next command clears it", async () => {
    const w = open(new MemoryRunStore());
    w.send({ type: 'rename-run', savedId: 'nope', name: 'x' });
    const listed = await w.saved((s) => s.problem !== null);
    expect(listed.saved.problem).toBe("no saved run 'nope'");
    const seen = w.received.length;
    w.send({ type: 'delete-run', savedId: 'nope' });
    await w.saved((s) => s.problem === null, seen);
    expect(w.received.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('a full quota: the status says "not saved: ..." and the run trains on in memory', async () => {
    const store = new MemoryRunStore();
    store.failWrites = new DOMException('full', 'QuotaExceededError');
    const w = open(store, 1);
    w.send(create('q'));
    w.send({ type: 'step', runId: 'q', n: 3 });
    await w.status('q', 'ready', 3);
    expect(w.rows('q').map((r) => r.step)).toEqual([1, 2, 3]);
    const listed = await w.saved((s) => s.problem !== null);
    expect(listed.saved.problem).toBe('not saved: storage is full (QuotaExceededError)');
    expect(w.received.filter((m) => m.type === 'error')).toEqual([]);
  });
});

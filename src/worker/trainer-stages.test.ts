// The stage pipeline through the worker protocol: a run starts from the built-in pre-trained model (fetched
// from public/), pre-trains a masked LM on the built-in corpus, answers fill-mask, and hands its model to the
// next stage, which fine-tunes it with a fresh classifier head. The "public/" here is a map of test files:
// the nano BertForMaskedLM fixture stands in for public/models/tiny.
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { root } from '../../test/helpers/nano.ts';
import { startTrainer } from '../../test/helpers/worker.ts';
import { PAGE_DEFAULT_CONFIG, resolveConfig, type TrainConfig } from '../core/config.ts';
import { loadHfModel } from '../core/model/hf-load.ts';
import {
  PROTOCOL_VERSION,
  type FillMaskReply,
  type FromWorker,
  type RunModelReply,
  type ToWorker,
  type UserModel,
} from '../protocol/messages.ts';

const PUBLIC = 'https://page.test/app/';
const FIXTURE = `${root}test/fixtures/nano-bert-mlm/`;
/** Sentences in the fixture's 40-word vocabulary. */
const WORDS = ['the cat sat on the mat', 'a dog sat on a mat', 'free money win now', 'the dog and the cat'];
const corpus = Array.from({ length: 60 }, (_, i) => `${WORDS[i % 4]} ${WORDS[(i + 1) % 4]}`).join('\n');
const files = new Map<string, Uint8Array>([
  ...['config.json', 'model.safetensors', 'vocab.txt'].map(
    (f) => [`${PUBLIC}models/tiny/${f}`, new Uint8Array(readFileSync(FIXTURE + f))] as const,
  ),
  [`${PUBLIC}data/corpus.txt`, new TextEncoder().encode(corpus)],
  [`${PUBLIC}data/corpus-dev.txt`, new TextEncoder().encode(WORDS.join('\n'))],
  [`${PUBLIC}data/vocab.txt`, new Uint8Array(readFileSync(FIXTURE + 'vocab.txt'))],
]);
const fetched: string[] = [];
const fetchBytes = (url: string): Promise<Uint8Array> => {
  fetched.push(url);
  const b = files.get(url);
  return b ? Promise.resolve(b) : Promise.reject(new Error(`${url}: HTTP 404`));
};
const trainer = startTrainer(async (url) => new TextDecoder().decode(await fetchBytes(url)), fetchBytes);
const send = (m: ToWorker): void => trainer.client.send(m);
const waitFor = <T extends FromWorker>(pred: (m: FromWorker) => m is T): Promise<T> =>
  trainer.client.waitFor(pred, 30_000);

type Created = Extract<FromWorker, { type: 'run-created' }>;
type Failed = Extract<FromWorker, { type: 'error' }>;
type Replies = { 'fill-mask': FillMaskReply; 'run-model': RunModelReply };

const data = {
  name: 'toy.tsv',
  text:
    'sentence\tlabel\n' +
    Array.from({ length: 20 }, (_, i) => `${WORDS[i % 4]}\t${i % 2 ? 'b' : 'a'}`).join('\n'),
};
const tiny = (patch: Partial<TrainConfig>): TrainConfig =>
  resolveConfig({ batchSize: 4, maxLength: 16, steps: 4, evalEvery: 2, ...patch }, PAGE_DEFAULT_CONFIG);

/** Creates run `runId` and resolves with its info, or rejects with the worker's one line. */
async function create(
  runId: string,
  config: TrainConfig,
  extra: { model?: UserModel; data?: typeof data } = {},
) {
  send({
    type: 'create',
    runId,
    config,
    dataUrl: 'unused',
    vocabUrl: `${PUBLIC}data/vocab.txt`,
    publicUrl: PUBLIC,
    ...extra,
  });
  const m = await waitFor(
    (x): x is Created | Failed =>
      (x.type === 'run-created' && x.info.runId === runId) || (x.type === 'error' && x.runId === runId),
  );
  if (m.type === 'error') throw new Error(m.message);
  return m.info;
}

async function steps(runId: string, n: number): Promise<void> {
  send({ type: 'step', runId, n });
  await waitFor(
    (m): m is FromWorker => m.type === 'status' && m.runId === runId && m.step === n && m.status === 'ready',
  );
}

async function ask<K extends keyof Replies>(
  msg: ToWorker & { type: K; requestId: string },
): Promise<Replies[K]> {
  send(msg);
  type Answer = FromWorker & { requestId: string; result: Replies[K] };
  const r = await waitFor(
    (m): m is Answer => m.type === msg.type && 'requestId' in m && m.requestId === msg.requestId,
  );
  return r.result;
}

beforeAll(async () => {
  send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null });
  await waitFor((m): m is FromWorker => m.type === 'ready');
});
afterAll(() => trainer.close());

describe('Trainer: stages', () => {
  it('the page default starts from the built-in pre-trained model, fetched once from public/', async () => {
    fetched.length = 0;
    const info = await create('p1', tiny({}), { data });
    expect(info.config.init).toBe('pretrained');
    expect(info.init?.name).toBe('built-in tiny (pre-trained, models/tiny)');
    expect(info.init?.summary).toContain('missing head initialised fresh');
    expect(info.vocabSize).toBe(40); // the checkpoint's vocabulary
    await create('p2', tiny({ seed: 2 }), { data });
    expect(fetched.filter((u) => u.endsWith('model.safetensors'))).toHaveLength(1);
    send({ type: 'dispose', runId: 'p1' });
    send({ type: 'dispose', runId: 'p2' });
  });

  it("init 'loaded' without a loaded model is one line, and random weights fetch no model", async () => {
    await expect(create('l1', tiny({ init: 'loaded' }), { data })).rejects.toThrow(
      "config field 'init' is 'loaded' but no model is loaded",
    );
    fetched.length = 0;
    const info = await create('r1', tiny({ init: 'random', model: 'nano' }), { data });
    expect(info.init).toBeUndefined();
    expect(fetched.some((u) => u.includes('models/'))).toBe(false);
    send({ type: 'dispose', runId: 'l1' });
    send({ type: 'dispose', runId: 'r1' });
  });

  it('pre-trains a masked LM on the corpus, fills the mask, and hands its model to fine-tuning', async () => {
    await ask({ type: 'run-model', runId: 'gone', requestId: 'sync0' }); // earlier disposals are done
    const before = tf.memory().numTensors;
    const info = await create('m1', tiny({ task: 'mlm' }));
    expect(info.labels).toEqual([]);
    expect(info.dataName).toBe('corpus.txt');
    expect(info.init?.summary).toContain('MLM head loaded');
    expect(info.unigram?.loss).toBeGreaterThan(0); // the unigram baseline on the dev slice
    await steps('m1', 2);
    const rows = trainer.client.rows('m1');
    expect(rows.at(-1)?.devLoss).toBeGreaterThan(0); // evalEvery 2: the dev slice's masked-token loss
    expect(rows.at(-1)?.perplexity).toBeCloseTo(Math.exp(rows.at(-1)?.taskLoss ?? NaN), 4);

    const fill = await ask({
      type: 'fill-mask',
      runId: 'm1',
      requestId: 'f1',
      text: 'the [MASK] sat on the mat',
      topK: 3,
    });
    if (!fill.ok) throw new Error(fill.message);
    expect(fill.fill.slots).toHaveLength(1);
    expect(fill.fill.slots[0]?.candidates).toHaveLength(3);
    const none = await ask({ type: 'fill-mask', runId: 'm1', requestId: 'f2', text: 'the cat sat', topK: 3 });
    expect(none).toEqual({ ok: false, message: expect.stringContaining('has no [MASK]') as string });

    const handed = await ask({ type: 'run-model', runId: 'm1', requestId: 'h1' });
    if (!handed.ok) throw new Error(handed.message);
    expect(handed.step).toBe(2);
    const back = loadHfModel(
      handed.model.files.map((f) => [f.name, f.bytes]),
      { name: 'x', seed: 1 },
    );
    expect(back.mlmHead.missing).toEqual([]); // a BertForMaskedLM: the next pre-training keeps its head
    const fine = await create('c1', tiny({ init: 'loaded' }), { data, model: handed.model });
    expect(fine.labels).toEqual(['a', 'b']);
    expect(fine.init?.summary).toContain('missing head initialised fresh');
    const onClassifier = await ask({
      type: 'fill-mask',
      runId: 'c1',
      requestId: 'f3',
      text: '[MASK]',
      topK: 1,
    });
    expect(onClassifier).toEqual({
      ok: false,
      message: expect.stringContaining('needs a masked-LM run') as string,
    });
    await steps('c1', 1);
    send({ type: 'dispose', runId: 'm1' });
    send({ type: 'dispose', runId: 'c1' });
    await ask({ type: 'run-model', runId: 'gone', requestId: 'sync' }); // after both disposals
    expect(tf.memory().numTensors).toBe(before);
  });
});

// "Load model" through the worker protocol: check-model reads a user's Hugging Face files without touching a
// run, create { model } starts a run from them (tokenised with the model's vocabulary, head drawn for the
// data's labels), and the run's export carries the model's vocabulary.
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';

import { hfBinBytes, hfBinFolder } from '../../test/helpers/hf-bin.ts';
import { startTrainer } from '../../test/helpers/worker.ts';
import { resolveConfig } from '../core/config.ts';
import { loadHfModel } from '../core/model/hf-load.ts';
import { PROTOCOL_VERSION, type FromWorker, type ToWorker, type UserModel } from '../protocol/messages.ts';

const trainer = startTrainer(() => Promise.reject(new Error('no fetch in this test')));
const received = trainer.client.received;
const send = (m: ToWorker): void => trainer.client.send(m);
const waitFor = <T extends FromWorker>(pred: (m: FromWorker) => m is T): Promise<T> =>
  trainer.client.waitFor(pred, 30_000);

function userModel(dir: string, replace: Record<string, Uint8Array> = {}): UserModel {
  const files = hfBinFolder(dir);
  for (const [k, v] of Object.entries(replace)) files.set(k, v);
  return { name: dir, files: [...files].map(([name, bytes]) => ({ name, bytes })) };
}

const data = {
  name: 'toy.tsv',
  text:
    'sentence\tlabel\n' +
    Array.from({ length: 20 }, (_, i) => `The cat sat ${i}\t${i % 2 ? 'b' : 'a'}`).join('\n'),
};

afterAll(() => trainer.close());

describe('Trainer: loaded models', () => {
  it('check-model reports the load, or the one-line reason', async () => {
    send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, backend: null });
    await waitFor((m): m is FromWorker => m.type === 'ready');
    send({ type: 'check-model', requestId: 'q1', model: userModel('legacy'), seed: 1 });
    send({
      type: 'check-model',
      requestId: 'q2',
      model: userModel('legacy', { 'pytorch_model.bin': hfBinBytes('hostile/os_system.bin') }),
      seed: 1,
    });
    type Checked = Extract<FromWorker, { type: 'model-checked' }>;
    const ok = await waitFor((m): m is Checked => m.type === 'model-checked' && m.requestId === 'q1');
    expect(ok.result).toMatchObject({ ok: true, name: 'legacy', vocabSize: 40, maxPositions: 16 });
    expect(ok.result.ok && ok.result.initialised).toContain('classifier.weight');
    const bad = await waitFor((m): m is Checked => m.type === 'model-checked' && m.requestId === 'q2');
    expect(bad.result).toEqual({
      ok: false,
      message: expect.stringContaining(
        'legacy/pytorch_model.bin: pickle byte 183: refused global posix.system',
      ) as string,
    });
  });

  it('a run starts from the model and its vocabulary, exports that vocabulary, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const config = resolveConfig({ model: 'nano', batchSize: 4, maxLength: 16, steps: 3, evalEvery: 3 });
    send({
      type: 'create',
      runId: 'm1',
      config,
      dataUrl: 'unused',
      vocabUrl: 'unused',
      data,
      model: userModel('f16'),
    });
    type Created = Extract<FromWorker, { type: 'run-created' }>;
    type Failed = Extract<FromWorker, { type: 'error' }>;
    const first = await waitFor((m): m is Created | Failed => m.type === 'run-created' || m.type === 'error');
    // f16 has its own 3-label classifier: for a 2-label file it is replaced, and the report says so.
    if (first.type !== 'run-created') throw new Error(first.message);
    expect(first.info.labels).toEqual(['a', 'b']);
    expect(first.info.init?.summary).toContain(
      'classifier replaced by a fresh one: the model has 3 labels (negative, neutral, positive), the data 2',
    );
    send({ type: 'dispose', runId: 'm1' });
    received.length = 0;
    send({
      type: 'create',
      runId: 'm2',
      config,
      dataUrl: 'unused',
      vocabUrl: 'unused',
      data,
      model: userModel('legacy'),
    });
    const created = await waitFor((m): m is Created => m.type === 'run-created');
    expect(created.info.init?.name).toBe('legacy');
    expect(created.info.init?.summary).toContain('missing head initialised fresh');
    expect(created.info.labels).toEqual(['a', 'b']);
    expect(created.info.vocabSize).toBe(40); // the model's vocabulary, not the built-in one
    send({ type: 'step', runId: 'm2', n: 1 });
    await waitFor((m): m is FromWorker => m.type === 'status' && m.runId === 'm2' && m.step === 1);
    send({ type: 'export-model', runId: 'm2', requestId: 'x' });
    type Exported = Extract<FromWorker, { type: 'model-export' }>;
    const exported = await waitFor((m): m is Exported => m.type === 'model-export');
    if (!exported.result.ok) throw new Error(exported.result.message);
    const back = loadHfModel(Object.entries(unzipSync(exported.result.zip)), { name: 'zip', seed: 1 });
    expect(back.vocabText).toBe(new TextDecoder().decode(hfBinBytes('legacy/vocab.txt')));
    expect(back.labels).toEqual(['a', 'b']);
    send({ type: 'dispose', runId: 'm2' });
    send({ type: 'dispose', runId: 'm1' });
    send({ type: 'check-model', requestId: 'end', model: userModel('legacy'), seed: 1 });
    await waitFor((m): m is FromWorker => m.type === 'model-checked' && m.requestId === 'end');
    expect(tf.memory().numTensors).toBe(before);
  });
});

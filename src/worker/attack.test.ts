// The worker's attack jobs (worker/attack.ts) on the hand-built toy model: progress after each example and one
// result with the records, a cancel that stops after the current example, one-line failures, weights that
// training may change meanwhile, and no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TOY_EXAMPLES, toyVictim } from '../../test/helpers/robust.ts';
import { disposeParams, param } from '../core/model/params.ts';
import { resolveAttackSettings } from '../core/robust/attack.ts';
import type { AttackFromWorker, AttackToWorker } from '../protocol/messages.ts';
import { AttackJobs, type AttackSource } from './attack.ts';

const victim = toyVictim();
const source = (): AttackSource => ({ ...victim, dev: TOY_EXAMPLES });
const request = (
  requestId: string,
  attack: 'drop' | 'hotflip' = 'drop',
  maxExamples = 4,
): AttackToWorker => ({
  type: 'attack',
  runId: 'r1',
  requestId,
  settings: resolveAttackSettings(attack),
  maxExamples,
});

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(victim.params));

function jobs(onPost: (m: AttackFromWorker, j: AttackJobs) => void = () => {}) {
  const posted: AttackFromWorker[] = [];
  const j: AttackJobs = new AttackJobs((m) => {
    posted.push(m);
    onPost(m, j);
  });
  return { j, posted };
}

describe('AttackJobs', () => {
  it('posts progress after each example, then the summary and records, and frees its snapshot', async () => {
    const { j, posted } = jobs();
    await j.handle(request('warm-up'), source);
    const before = tf.memory().numTensors;
    posted.length = 0;
    await j.handle(request('a1', 'drop', 3), source);
    expect(tf.memory().numTensors).toBe(before);
    expect(posted.slice(0, 3)).toEqual(
      [1, 2, 3].map((done) => ({ type: 'attack-progress', requestId: 'a1', done, total: 3 })),
    );
    const last = posted[3];
    if (last?.type !== 'attack-result' || !last.result.ok)
      throw new Error(`no result: ${JSON.stringify(last)}`);
    expect(last.result.summary).toMatchObject({ attack: 'drop', n: 3, clean_accuracy: 1, cancelled: false });
    expect(last.result.records.map((r) => r.text)).toEqual(TOY_EXAMPLES.slice(0, 3).map((e) => e.text));
    expect(j.active).toEqual([]);
  });

  it('stops after the current example on a cancel-attack message, with the examples done so far', async () => {
    const { j, posted } = jobs((m, self) => {
      // The cancel arrives as a message does: a macrotask, which the job lets in after each example.
      const cancel = () => void self.handle({ type: 'cancel-attack', requestId: 'c1' }, source);
      if (m.type === 'attack-progress' && m.done === 1) setTimeout(cancel, 0);
    });
    await j.handle(request('c1', 'hotflip'), source);
    const result = posted.find((m) => m.type === 'attack-result');
    if (result?.type !== 'attack-result' || !result.result.ok) throw new Error('no result');
    expect(result.result.summary).toMatchObject({ n: 1, cancelled: true });
    expect(posted.filter((m) => m.type === 'attack-progress')).toHaveLength(1);
  });

  it('cancelAll stops every running attack and resolves once each has posted its partial result', async () => {
    const { j, posted } = jobs();
    const first = j.handle(request('x1', 'hotflip'), source);
    const second = j.handle(request('x2', 'hotflip'), source);
    expect(j.active).toEqual(['x1', 'x2']);
    await j.cancelAll();
    expect(j.active).toEqual([]);
    const results = posted.filter((m) => m.type === 'attack-result');
    expect(results.map((m) => m.requestId)).toEqual(['x1', 'x2']);
    for (const m of results) {
      if (!m.result.ok) throw new Error(m.result.message);
      expect(m.result.summary.cancelled).toBe(true);
      expect(m.result.summary.n).toBeLessThan(4);
    }
    await Promise.all([first, second]);
    await j.cancelAll(); // nothing running: resolves at once
  });

  it('attacks the weights as they were when it started', async () => {
    const table = param(victim.params, 'classifier.bias');
    const saved = table.clone();
    const { j, posted } = jobs((m) => {
      if (m.type === 'attack-progress' && m.done === 1) table.assign(tf.tensor1d([0, 100])); // training moves on
    });
    await j.handle(request('w1', 'drop'), source);
    table.assign(saved);
    saved.dispose();
    const result = posted.find((m) => m.type === 'attack-result');
    if (result?.type !== 'attack-result' || !result.result.ok) throw new Error('no result');
    expect(result.result.summary.clean_accuracy).toBe(1); // with bias [0, 100] every label-0 row would be wrong
  });

  it('answers a run it cannot attack with one line', async () => {
    const { j, posted } = jobs();
    await j.handle(request('e1'), () => ({ ...source(), dev: [] }));
    await j.handle(request('e2'), () => {
      throw new Error("run 'r9' has no model yet (loading)");
    });
    expect(posted).toEqual([
      {
        type: 'attack-result',
        requestId: 'e1',
        result: { ok: false, message: 'the run has no dev examples to attack' },
      },
      {
        type: 'attack-result',
        requestId: 'e2',
        result: { ok: false, message: "run 'r9' has no model yet (loading)" },
      },
    ]);
  });
});

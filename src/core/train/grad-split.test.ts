// The gradient split (run.ts gradientSplit): the parameter-gradient norm of the task term and of the
// alpha-weighted adversarial term, against norms computed here from the independent PyTorch float64
// reference (scripts/golden/make_golden.py): ||d loss_task / d theta|| from nano-bert.json's `standard`
// gradients, and ||d loss_total / d theta - d loss_task / d theta|| from each ALUM case's gradients
// (test/golden/alum-cases.json), on the same batch, delta_0 and dropout-free passes.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { flat, loadNano, nanoBatch, readJson, type NanoGolden } from '../../../test/helpers/nano.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { alumGradients, disposeStepResult, type AlumSettings } from './alum.ts';
import { gradientSplit } from './run.ts';

type Nested = number | Nested[];
interface GoldenCase {
  name: string;
  config: Omit<AlumSettings, 'method'>;
  grads: Record<string, Nested>;
}

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const { cases } = readJson<{ cases: GoldenCase[] }>('test/golden/alum-cases.json');
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

/** float64 L2 norm over every parameter of `grads` minus `minus` (by name). */
function norm(grads: Record<string, Nested>, minus?: Record<string, Nested>): number {
  let sum = 0;
  for (const [name, g] of Object.entries(grads)) {
    const a = flat(g);
    const b = minus === undefined ? null : flat(minus[name] as Nested);
    a.forEach((v, i) => (sum += (v - (b?.[i] ?? 0)) ** 2));
  }
  return Math.sqrt(sum);
}

const taskNormWant = norm(golden.standard.grads);

describe.each(cases.slice(0, 6))('gradient split, case $name, vs PyTorch float64', (c) => {
  it('task and alpha-weighted adversarial gradient norms match; no tensor is left behind', async () => {
    const batch = nanoBatch(golden);
    const settings: AlumSettings = { method: 'alum', ...c.config };
    const dropout = {
      clean: NO_DROPOUT,
      inner: Array.from({ length: c.config.k }, () => NO_DROPOUT),
      adv: NO_DROPOUT,
    };
    const result = alumGradients(nano.params, nano.model, batch, settings, {
      dropout,
      deltaInit: tf.tensor3d(flat(golden.delta_init), [3, 8, 32]),
      record: false,
    });
    const before = tf.memory().numTensors;
    const [task, adv] = gradientSplit(nano.params, nano.model, batch, settings, NO_DROPOUT, result.grads);
    const [taskGot, advGot] = [(await task.data())[0] ?? NaN, (await adv.data())[0] ?? NaN];
    tf.dispose([task, adv]);
    expect(tf.memory().numTensors).toBe(before);
    const advWant = norm(c.grads, golden.standard.grads);
    expect(Math.abs(taskGot - taskNormWant) / taskNormWant, 'task').toBeLessThan(1e-4);
    // A difference of two float32 gradients: its error is that of the total (1e-4 of its scale).
    expect(Math.abs(advGot - advWant), `adv ${advGot} vs ${advWant}`).toBeLessThan(
      1e-4 * taskNormWant + 1e-3 * advWant,
    );
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
});

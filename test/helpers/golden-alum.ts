// Test helpers: one golden ALUM case (scripts/golden/make_golden.py, make_mlm_golden.py) run with dropout off
// from the golden delta_0, and its checks against the PyTorch float64 values.
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';

import type { ModelConfig } from '../../src/core/config.ts';
import { NO_DROPOUT } from '../../src/core/model/bert.ts';
import type { Params } from '../../src/core/model/params.ts';
import {
  alumGradients,
  disposeStepResult,
  type AlumSettings,
  type AlumStepResult,
  type StepBatch,
} from '../../src/core/train/alum.ts';
import { readStepScalars, stepScalars } from '../../src/core/train/run.ts';
import { expectNear, expectStepMetrics, flat, values, type GoldenStepMetrics } from './nano.ts';

export type Nested = number | Nested[];

/** One golden ALUM case: its settings, every inner step, the adversarial logits and every parameter gradient. */
export interface GoldenAlumCase extends GoldenStepMetrics {
  name: string;
  config: Omit<AlumSettings, 'method'>;
  inner_loss: number[];
  delta_grad: Nested[];
  delta: Nested[];
  delta_final: Nested;
  logits_adv: Nested;
  grads: Record<string, Nested>;
}

/** One ALUM step of case `c` on `batch`, dropout off, from `deltaInit`, recording every inner step. */
export function runGoldenAlum(
  params: Params,
  model: ModelConfig,
  batch: StepBatch,
  c: GoldenAlumCase,
  deltaInit: tf.Tensor3D,
): AlumStepResult {
  const k = c.config.k;
  return alumGradients(
    params,
    model,
    batch,
    { method: 'alum', ...c.config },
    {
      dropout: { clean: NO_DROPOUT, inner: Array.from({ length: k }, () => NO_DROPOUT), adv: NO_DROPOUT },
      deltaInit,
      record: true,
    },
  );
}

/**
 * Expects the inner gradient and delta after every inner step to match. Normalising divides g by its per-token
 * norm, which magnifies g's float32 error on a token whose entries are all small (measured: 5e-6 on a delta of
 * scale 2e-2), so deltas get 1e-3 of their scale.
 */
export async function expectInnerSteps(result: AlumStepResult, c: GoldenAlumCase): Promise<void> {
  for (let k = 0; k < c.config.k; k++) {
    expectNear(
      await values(result.deltaGrads[k] as tf.Tensor),
      flat(c.delta_grad[k] as Nested),
      `g_${k + 1}`,
    );
    const d = await values(result.deltaSteps[k] as tf.Tensor);
    expectNear(d, flat(c.delta[k] as Nested), `delta_${k + 1}`, { rel: 1e-3 });
  }
}

/** Expects the final delta (1e-3 of its scale, as the inner steps) to match. */
export async function expectDeltaFinal(
  result: AlumStepResult,
  c: Pick<GoldenAlumCase, 'delta_final'>,
): Promise<void> {
  expectNear(await values(result.deltaFinal as tf.Tensor), flat(c.delta_final), 'delta_final', { rel: 1e-3 });
}

/** Expects the adversarial logits to match. */
export async function expectLogitsAdv(
  result: AlumStepResult,
  c: Pick<GoldenAlumCase, 'logits_adv'>,
): Promise<void> {
  expectNear(await values(result.logitsAdv as tf.Tensor), flat(c.logits_adv), 'logits_adv', { rel: 1e-5 });
}

/**
 * Expects the same parameter names and every parameter gradient to match. Floor: the key-bias gradient is
 * exactly 0 in exact arithmetic (softmax shift invariance), so what we compute there is float32 noise, which grows
 * with the size of the loss (pass a larger `floor` for a loss well above 1, e.g. a regression's MSE).
 */
export async function expectParamGrads(
  result: AlumStepResult,
  c: Pick<GoldenAlumCase, 'grads'>,
  floor = 1e-3,
): Promise<void> {
  expect([...result.grads.keys()].sort()).toEqual(Object.keys(c.grads).sort());
  for (const [name, grad] of result.grads) {
    expectNear(await values(grad), flat(c.grads[name] as Nested), name, { floor });
  }
}

/**
 * Expects as many recorded inner gradients and perturbations as the golden lists have, each matching (deltas to
 * 1e-3 of their scale, as `expectInnerSteps`): for methods whose number of updates is not K (FreeLB's K - 1).
 */
export async function expectRecordedSteps(
  result: AlumStepResult,
  c: Pick<GoldenAlumCase, 'delta_grad' | 'delta'>,
): Promise<void> {
  expect(result.deltaGrads).toHaveLength(c.delta_grad.length);
  expect(result.deltaSteps).toHaveLength(c.delta.length);
  for (const [k, g] of c.delta_grad.entries()) {
    expectNear(await values(result.deltaGrads[k] as tf.Tensor), flat(g), `g_${k + 1}`);
  }
  for (const [k, d] of c.delta.entries()) {
    expectNear(await values(result.deltaSteps[k] as tf.Tensor), flat(d), `delta_${k + 1}`, { rel: 1e-3 });
  }
}

/**
 * make_golden.py's regression head on the nano model: only the first output row of its classifier (num_labels 1,
 * problem_type regression). Shares every other weight with `params`; dispose only the two new variables
 * (`disposeRegressionHead`).
 */
export function regressionHead(model: ModelConfig, params: Params): { model: ModelConfig; params: Params } {
  const out: Params = new Map(params);
  const w = params.get('classifier.weight') as tf.Variable; // [C, H]
  const b = params.get('classifier.bias') as tf.Variable; // [C]
  out.set('classifier.weight', tf.variable(w.slice([0, 0], [1, -1]), true));
  out.set('classifier.bias', tf.variable(b.slice([0], [1]), true));
  return { model: { ...model, numLabels: 1, problemType: 'regression' }, params: out };
}

export function disposeRegressionHead(head: { params: Params }): void {
  tf.dispose([head.params.get('classifier.weight'), head.params.get('classifier.bias')] as tf.Tensor[]);
}

/**
 * The two specs every golden step case shares (ALUM's and its relatives'): the losses and charted metrics, and
 * every parameter gradient, each from a fresh run of the case (`run` builds the batch and takes the step).
 */
export function itMatchesLossesAndGradients(
  run: () => { batch: StepBatch; result: AlumStepResult },
  c: GoldenStepMetrics & Pick<GoldenAlumCase, 'grads'>,
): void {
  it('losses and the charted metrics match', async () => {
    const { batch, result } = run();
    const got = readStepScalars(await stepScalars(result, batch.attentionMask).data());
    expectStepMetrics(got, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('every parameter gradient matches', async () => {
    const { batch, result } = run();
    await expectParamGrads(result, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
}

// Test helpers: one golden ALUM case (scripts/golden/make_golden.py, make_mlm_golden.py) run with dropout off
// from the golden delta_0, and its checks against the PyTorch float64 values.
import type * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

import type { ModelConfig } from '../../src/core/config.ts';
import { NO_DROPOUT } from '../../src/core/model/bert.ts';
import type { Params } from '../../src/core/model/params.ts';
import {
  alumGradients,
  type AlumSettings,
  type AlumStepResult,
  type StepBatch,
} from '../../src/core/train/alum.ts';
import { expectNear, flat, values, type GoldenStepMetrics } from './nano.ts';

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
export async function expectDeltaFinal(result: AlumStepResult, c: GoldenAlumCase): Promise<void> {
  expectNear(await values(result.deltaFinal as tf.Tensor), flat(c.delta_final), 'delta_final', { rel: 1e-3 });
}

/** Expects the adversarial logits to match. */
export async function expectLogitsAdv(result: AlumStepResult, c: GoldenAlumCase): Promise<void> {
  expectNear(await values(result.logitsAdv as tf.Tensor), flat(c.logits_adv), 'logits_adv', { rel: 1e-5 });
}

/**
 * Expects the same parameter names and every parameter gradient to match. Floor: the key-bias gradient is
 * exactly 0 in exact arithmetic (softmax shift invariance).
 */
export async function expectParamGrads(result: AlumStepResult, c: GoldenAlumCase): Promise<void> {
  expect([...result.grads.keys()].sort()).toEqual(Object.keys(c.grads).sort());
  for (const [name, grad] of result.grads) {
    expectNear(await values(grad), flat(c.grads[name] as Nested), name, { floor: 1e-3 });
  }
}

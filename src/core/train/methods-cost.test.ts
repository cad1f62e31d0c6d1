// The cost of each method's step in forward passes through the encoder (docs/alum-step.md, "Cost" and
// "Relatives"), counted by wrapping `classify`, the encoder and head, as alum-cost.test.ts does for ALUM, on the
// cpu backend, which stacks passes (alum.ts `stacksPasses`; the page's `stepCost` in src/ui/advice.ts states the
// unstacked counts, wasm's). K = 3, the same dropout masks in every pass, so no metric-only pass runs.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { loadNano, nanoBatch, readJson, type NanoGolden } from '../../../test/helpers/nano.ts';
import { DEFAULT_CONFIG, METHODS, type Method } from '../config.ts';
import type * as bert from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { disposeStepResult, type AlumDropout } from './alum.ts';
import { initialPerturbation, methodGradients } from './methods.ts';

const calls = { classify: 0, rows: 0 };

vi.mock('../model/bert.ts', async (importOriginal) => {
  const real = await importOriginal<typeof bert>();
  return {
    ...real,
    classify: (...args: Parameters<typeof real.classify>) => {
      calls.classify += 1;
      calls.rows += args[2].shape[0] as number;
      return real.classify(...args);
    },
  };
});

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const nano = loadNano();
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

/**
 * Encoder passes of one step of `method` with K = 3 (SMART's EMA copy: the weights themselves): calls (passes of
 * kernels) and batches (rows / B, the arithmetic; a stacked pass runs two, alum.ts `pairLogits`).
 */
function forwardPasses(method: Method): { calls: number; batches: number } {
  const k = 3;
  const batch = nanoBatch(golden);
  const [b, t] = batch.inputIds.shape;
  const cfg = { ...DEFAULT_CONFIG, method, k, epsilon: 0.1 };
  const deltaInit = initialPerturbation(cfg, [b, t, nano.model.hiddenSize], batch.attentionMask, () => 7);
  const p = { rate: 0.1, seed: 3 };
  const dropout: AlumDropout = { clean: p, inner: Array.from({ length: k }, () => p), adv: p };
  calls.classify = 0;
  calls.rows = 0;
  const r = methodGradients(
    nano.params,
    nano.model,
    batch,
    cfg,
    { dropout, deltaInit, record: false },
    nano.params,
  );
  const n = { calls: calls.classify, batches: calls.rows / b };
  disposeStepResult(r);
  tf.dispose(Object.values(batch));
  return n;
}

describe('forward passes per step, K = 3', () => {
  const want: Record<Method, { calls: number; batches: number }> = {
    standard: { calls: 1, batches: 1 },
    alum: { calls: 4, batches: 6 }, // clean + inner 1 stacked, inner 2 and 3, clean + adversarial stacked
    r3f: { calls: 1, batches: 2 }, // clean + noisy stacked: no ascent
    fgm: { calls: 2, batches: 4 }, // clean + the gradient's pass, clean + adversarial
    pgd: { calls: 4, batches: 6 }, // as ALUM
    freelb: { calls: 4, batches: 4 }, // K passes and one for the clean task loss
    smart: { calls: 5, batches: 7 }, // ALUM's and the EMA copy's
  };
  it.each(METHODS)('%s', (method) => {
    expect(forwardPasses(method)).toEqual(want[method]);
  });
});

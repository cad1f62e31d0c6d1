// Every variant at K = 1, 2, 3, each inner loss and reduction, detach on and off, L2 and L-inf, against the
// independent PyTorch float64 reference (test/golden/alum-cases.json from scripts/golden/make_golden.py,
// which implements docs/alum-step.md): the inner gradient and perturbation after every inner step, the
// losses and metrics, and every parameter gradient. Regression (one output, MSE task loss, MSE 'sum' inner loss,
// MSE outer term without stop-gradients; docs/alum-step.md "Regression") at K = 1 and 2, two variants.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  expectNear,
  expectStepMetrics,
  type GoldenStepMetrics,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  values,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import type { ModelConfig } from '../config.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import { disposeParams, type Params } from '../model/params.ts';
import { alumGradients, disposeStepResult, type AlumSettings } from './alum.ts';
import { readStepScalars, stepScalars } from './run.ts';

type Nested = number | Nested[];

interface GoldenCase extends GoldenStepMetrics {
  name: string;
  config: Omit<AlumSettings, 'method'>;
  inner_loss: number[];
  delta_grad: Nested[];
  delta: Nested[];
  delta_final: Nested;
  logits_adv: Nested;
  grads: Record<string, Nested>;
}

const nanoGolden = readJson<NanoGolden>('test/golden/nano-bert.json');
interface RegressionGolden {
  targets: number[];
  cases: (GoldenCase & { logits_clean: Nested })[];
}

const { cases, regression } = readJson<{ cases: GoldenCase[]; regression: RegressionGolden }>(
  'test/golden/alum-cases.json',
);
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  tf.dispose([reg.params.get('classifier.weight'), reg.params.get('classifier.bias')] as tf.Tensor[]);
  disposeParams(nano.params);
});

/** The nano model with only the first output row of its classifier: a regression head (num_labels 1). */
function regressionModel(): { model: ModelConfig; params: Params } {
  const params: Params = new Map(nano.params);
  const w = nano.params.get('classifier.weight') as tf.Variable; // [C, H]
  const b = nano.params.get('classifier.bias') as tf.Variable; // [C]
  params.set('classifier.weight', tf.variable(w.slice([0, 0], [1, -1]), true, 'reg.classifier.weight'));
  params.set('classifier.bias', tf.variable(b.slice([0], [1]), true, 'reg.classifier.bias'));
  return { model: { ...nano.model, numLabels: 1, problemType: 'regression' }, params };
}

const reg = regressionModel();

function runCase(c: GoldenCase, problem: 'classification' | 'regression' = 'classification') {
  const batch = nanoBatch(nanoGolden);
  if (problem === 'regression') {
    batch.labels.dispose();
    batch.labels = tf.tensor1d(regression.targets, 'float32');
  }
  const { model, params } = problem === 'regression' ? reg : nano;
  const k = c.config.k;
  const result = alumGradients(
    params,
    model,
    batch,
    { method: 'alum', ...c.config },
    {
      dropout: { clean: NO_DROPOUT, inner: Array.from({ length: k }, () => NO_DROPOUT), adv: NO_DROPOUT },
      deltaInit: tf.tensor3d(flat(nanoGolden.delta_init), [3, 8, 32]),
      record: true,
    },
  );
  return { batch, result };
}

describe.each(cases)('ALUM case $name vs PyTorch float64', (c) => {
  it('covers the case it names', () => {
    expect(c.delta_grad).toHaveLength(c.config.k);
    expect(c.name.startsWith(c.config.variant)).toBe(true);
  });

  it('inner gradients and perturbations after every inner step match', async () => {
    const { batch, result } = runCase(c);
    expect(result.deltaGrads).toHaveLength(c.config.k);
    // Normalising divides g by its per-token norm, which magnifies g's float32 error on a token whose entries
    // are all small (measured: 5e-6 on a delta of scale 2e-2), so deltas get 1e-3 of their scale.
    const deltaTol = { rel: 1e-3 };
    for (let k = 0; k < c.config.k; k++) {
      const g = await values(result.deltaGrads[k] as tf.Tensor);
      expectNear(g, flat(c.delta_grad[k] as Nested), `g_${k + 1}`);
      const d = await values(result.deltaSteps[k] as tf.Tensor);
      expectNear(d, flat(c.delta[k] as Nested), `delta_${k + 1}`, deltaTol);
    }
    const dFinal = await values(result.deltaFinal as tf.Tensor);
    expectNear(dFinal, flat(c.delta_final), 'delta_final', deltaTol);
    expectNear(await values(result.logitsAdv as tf.Tensor), flat(c.logits_adv), 'logits_adv', { rel: 1e-5 });
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('losses and the charted metrics match', async () => {
    const { batch, result } = runCase(c);
    const got = readStepScalars(await stepScalars(result, batch.attentionMask).data());
    expectStepMetrics(got, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('every parameter gradient matches', async () => {
    const { batch, result } = runCase(c);
    expect([...result.grads.keys()].sort()).toEqual(Object.keys(c.grads).sort());
    for (const [name, grad] of result.grads) {
      // Floor: the key-bias gradient is exactly 0 in exact arithmetic (softmax shift invariance).
      expectNear(await values(grad), flat(c.grads[name] as Nested), name, { floor: 1e-3 });
    }
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
});

describe.each(regression.cases)('regression case $name vs PyTorch float64', (c) => {
  it('covers the case it names', () => {
    expect(c.delta_grad).toHaveLength(c.config.k);
    expect(c.name).toBe(`regression-${c.config.variant}-k${c.config.k}`);
  });

  it('clean and adversarial outputs, inner gradients and perturbations match', async () => {
    const { batch, result } = runCase(c, 'regression');
    expectNear(await values(result.logitsClean), flat(c.logits_clean), 'logits_clean', { rel: 1e-5 });
    for (let k = 0; k < c.config.k; k++) {
      expectNear(
        await values(result.deltaGrads[k] as tf.Tensor),
        flat(c.delta_grad[k] as Nested),
        `g_${k + 1}`,
      );
      const d = await values(result.deltaSteps[k] as tf.Tensor);
      expectNear(d, flat(c.delta[k] as Nested), `delta_${k + 1}`, { rel: 1e-3 });
    }
    expectNear(await values(result.logitsAdv as tf.Tensor), flat(c.logits_adv), 'logits_adv', { rel: 1e-5 });
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('losses (MSE task, MSE outer, MSE-sum inner) and metrics match', async () => {
    const { batch, result } = runCase(c, 'regression');
    const got = readStepScalars(await stepScalars(result, batch.attentionMask).data());
    expectStepMetrics(got, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('every parameter gradient matches', async () => {
    const { batch, result } = runCase(c, 'regression');
    expect([...result.grads.keys()].sort()).toEqual(Object.keys(c.grads).sort());
    for (const [name, grad] of result.grads) {
      expectNear(await values(grad), flat(c.grads[name] as Nested), name, { floor: 1e-3 });
    }
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
});

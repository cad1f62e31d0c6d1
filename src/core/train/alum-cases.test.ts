// Every variant at K = 1, 2, 3, each inner loss and reduction, detach on and off, L2 and L-inf, against the
// independent PyTorch float64 reference (test/golden/alum-cases.json from scripts/golden/make_golden.py,
// which implements docs/alum-step.md): the inner gradient and perturbation after every inner step, the
// losses and metrics, and every parameter gradient. Regression (one output, MSE task loss, MSE 'sum' inner loss,
// MSE outer term without stop-gradients; docs/alum-step.md "Regression") at K = 1 and 2, two variants.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  expectDeltaFinal,
  expectInnerSteps,
  expectLogitsAdv,
  expectParamGrads,
  runGoldenAlum,
  type GoldenAlumCase as GoldenCase,
  type Nested,
  itMatchesLossesAndGradients,
} from '../../../test/helpers/golden-alum.ts';
import {
  expectNear,
  expectStepMetrics,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  values,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import type { ModelConfig } from '../config.ts';
import { disposeParams, type Params } from '../model/params.ts';
import { disposeStepResult } from './alum.ts';
import { readStepScalars, stepScalars } from './run.ts';

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
  const deltaInit = tf.tensor3d(flat(nanoGolden.delta_init), [3, 8, 32]);
  const result = runGoldenAlum(params, model, batch, c, deltaInit);
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
    await expectInnerSteps(result, c);
    await expectDeltaFinal(result, c);
    await expectLogitsAdv(result, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  itMatchesLossesAndGradients(() => runCase(c), c);
});

describe.each(regression.cases)('regression case $name vs PyTorch float64', (c) => {
  it('covers the case it names', () => {
    expect(c.delta_grad).toHaveLength(c.config.k);
    expect(c.name).toBe(`regression-${c.config.variant}-k${c.config.k}`);
  });

  it('clean and adversarial outputs, inner gradients and perturbations match', async () => {
    const { batch, result } = runCase(c, 'regression');
    expectNear(await values(result.logitsClean), flat(c.logits_clean), 'logits_clean', { rel: 1e-5 });
    await expectInnerSteps(result, c);
    await expectLogitsAdv(result, c);
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
    await expectParamGrads(result, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
});

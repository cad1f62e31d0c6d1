// ALUM's relatives (r3f, fgm, pgd, freelb, smart; docs/alum-step.md "Relatives") against the independent PyTorch
// float64 reference test/golden/methods-cases.json (scripts/golden/make_methods_golden.py): from the case's initial
// perturbation, dropout off, every recorded inner gradient and perturbation, the adversarial logits, the losses
// and charted metrics, and every parameter gradient; SMART's proximal term with a non-trivial EMA copy.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  disposeRegressionHead,
  expectDeltaFinal,
  expectLogitsAdv,
  expectParamGrads,
  expectRecordedSteps,
  regressionHead,
  type GoldenAlumCase,
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
  scalar,
  values,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import type { Method } from '../config.ts';
import { embed, NO_DROPOUT } from '../model/bert.ts';
import { disposeParams, type Params } from '../model/params.ts';
import { disposeStepResult, headLogits } from './alum.ts';
import { createEma, methodGradients, proximalTerm, updateEma, type MethodSettings } from './methods.ts';
import { readStepScalars, stepScalars } from './run.ts';

type MethodCase = Pick<
  GoldenAlumCase,
  'delta_grad' | 'delta' | 'delta_final' | 'logits_adv' | 'grads' | 'loss_task' | 'loss_adv' | 'loss_total'
> &
  Omit<GoldenAlumCase, 'config' | 'inner_loss' | 'name'> & {
    name: string;
    method: Method;
    config: Omit<MethodSettings, 'method'> & { sigma?: number; noiseType?: string };
    init: Nested;
    prox?: number;
    logits_ema?: Nested;
    pass_ce?: number[];
  };

interface MethodsGolden {
  meta: { ema: string };
  cases: MethodCase[];
  regression: { targets: number[]; cases: MethodCase[] };
  ema_update: { beta: number; param: string; after: Nested };
}

const nanoGolden = readJson<NanoGolden>('test/golden/nano-bert.json');
const golden = readJson<MethodsGolden>('test/golden/methods-cases.json');
const nano = loadNano();
const reg = regressionHead(nano.model, nano.params);
/** The EMA copy of make_methods_golden.py: 0.8 theta + 0.02, elementwise. */
let ema: Params;

beforeAll(async () => {
  await tf.setBackend('cpu');
  ema = createEma(nano.params);
  for (const v of ema.values()) {
    const next = tf.tidy(() => v.mul(0.8).add(0.02));
    v.assign(next);
    next.dispose();
  }
});
afterAll(() => {
  disposeParams(ema);
  disposeRegressionHead(reg);
  disposeParams(nano.params);
});

function runCase(c: MethodCase, problem: 'classification' | 'regression' = 'classification') {
  const batch = nanoBatch(nanoGolden);
  if (problem === 'regression') {
    batch.labels.dispose();
    batch.labels = tf.tensor1d(golden.regression.targets, 'float32');
  }
  const { model, params } = problem === 'regression' ? reg : nano;
  const deltaInit = tf.tensor3d(flat(c.init), [3, 8, 32]);
  const settings = { ...c.config, method: c.method } as MethodSettings;
  const passes = Array.from({ length: c.config.k }, () => NO_DROPOUT);
  const result = methodGradients(
    params,
    model,
    batch,
    settings,
    { dropout: { clean: NO_DROPOUT, inner: passes, adv: NO_DROPOUT }, deltaInit, record: true },
    c.method === 'smart' ? ema : null,
  );
  return { batch, result };
}

describe.each(golden.cases)('method case $name vs PyTorch float64', (c) => {
  it('covers the method it names', () => {
    expect(c.name.startsWith(c.method)).toBe(true);
  });

  it('inner gradients, perturbations and adversarial logits match', async () => {
    const { batch, result } = runCase(c);
    await expectRecordedSteps(result, c);
    await expectDeltaFinal(result, c);
    await expectLogitsAdv(result, c);
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  itMatchesLossesAndGradients(() => runCase(c), c);
});

describe.each(golden.regression.cases)(
  'regression case $name vs PyTorch float64 (MSE for CE and KL)',
  (c) => {
    it('perturbations, adversarial outputs, losses, metrics and every parameter gradient match', async () => {
      const { batch, result } = runCase(c, 'regression');
      await expectRecordedSteps(result, c);
      await expectDeltaFinal(result, c);
      await expectLogitsAdv(result, c);
      expectStepMetrics(readStepScalars(await stepScalars(result, batch.attentionMask).data()), c);
      await expectParamGrads(result, c, 1e-3 * Math.max(1, c.loss_total)); // MSE losses reach 4.5
      disposeStepResult(result);
      tf.dispose(Object.values(batch));
    });
  },
);

describe('smart: the proximal term and the EMA copy', () => {
  const c = golden.cases.find((x) => x.method === 'smart') as MethodCase;

  it('the EMA logits and the proximal term match, and the total adds mu times it', async () => {
    const batch = nanoBatch(nanoGolden);
    const head = { params: nano.params, model: nano.model, attentionMask: batch.attentionMask };
    const zEma = headLogits({ ...head, params: ema }, embed(ema, nano.model, batch, NO_DROPOUT), NO_DROPOUT);
    expectNear(await values(zEma), flat(c.logits_ema as Nested), 'logits_ema', { rel: 1e-5 });
    const zClean = headLogits(head, embed(nano.params, nano.model, batch, NO_DROPOUT), NO_DROPOUT);
    const prox = proximalTerm(head, zClean, zEma);
    expectNear([await scalar(prox)], [c.prox as number], 'prox', { rel: 1e-5 });
    expect(c.loss_total).toBeCloseTo(
      c.loss_task + c.config.alpha * c.loss_adv + c.config.smartMu * (c.prox ?? 0),
      9,
    );
    tf.dispose([zEma, zClean, prox, batch.inputIds, batch.tokenTypeIds, batch.attentionMask, batch.labels]);
  });

  it('updateEma moves the copy to beta * ema + (1 - beta) * theta', async () => {
    const copy = createEma(ema);
    updateEma(copy, nano.params, golden.ema_update.beta);
    const got = await values(copy.get(golden.ema_update.param) as tf.Tensor);
    expectNear(got, flat(golden.ema_update.after), 'ema after update', { rel: 1e-6 });
    disposeParams(copy);
  });
});

describe('freelb: the loss is the mean of its K passes', () => {
  it.each(golden.cases.filter((x) => x.method === 'freelb'))('$name', (c) => {
    const ce = c.pass_ce as number[];
    expect(ce).toHaveLength(c.config.k);
    expect(c.loss_total).toBeCloseTo(ce.reduce((a, b) => a + b, 0) / ce.length, 9);
    expect(c.kl_init).toBe(ce[0]);
  });
});

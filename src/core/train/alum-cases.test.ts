// Every variant at K = 1, 2, 3, each inner loss and reduction, detach on and off, L2 and L-inf, against the
// independent PyTorch float64 reference (test/golden/alum-cases.json from scripts/golden/make_golden.py,
// which implements docs/alum-step.md): the inner gradient and perturbation after every inner step, the
// losses and metrics, and every parameter gradient.
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
import { NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
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
const { cases } = readJson<{ cases: GoldenCase[] }>('test/golden/alum-cases.json');
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

function runCase(c: GoldenCase) {
  const batch = nanoBatch(nanoGolden);
  const k = c.config.k;
  const result = alumGradients(
    nano.params,
    nano.model,
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

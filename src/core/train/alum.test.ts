// ALUM step against the independent PyTorch float64 reference (scripts/golden/make_golden.py):
// BERT forward, inner delta gradients and updates for every variant, outer sym-KL, parameter gradients.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  closeness,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import { VARIANTS, type Variant } from '../config.ts';
import { embed, forward, NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { alumGradients, disposeStepResult, type AlumDropout } from './alum.ts';
import { stepScalars } from './run.ts';

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const noDropout: AlumDropout = { clean: NO_DROPOUT, inner: [NO_DROPOUT, NO_DROPOUT], adv: NO_DROPOUT };
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

describe('BERT forward (HF semantics) vs PyTorch', () => {
  it('embedding output and clean logits match to 1e-5', async () => {
    const batch = nanoBatch(golden);
    const e = embed(nano.params, nano.model, batch, NO_DROPOUT);
    const logits = forward(nano.params, nano.model, batch, NO_DROPOUT);
    expect(e.shape).toEqual([3, 8, 32]);
    expect(closeness(await values(e), flat(golden.embedding_output), 1e-5, 1e-4)).toBeLessThan(1);
    expect(closeness(await values(logits), flat(golden.logits_clean), 1e-5, 1e-4)).toBeLessThan(1);
    tf.dispose([e, logits, ...(Object.values(batch) as tf.Tensor[])]);
  });
});

async function runVariant(
  variant: Variant,
  method: 'alum' | 'standard' = 'alum',
  alpha = golden.hyper.alpha,
) {
  const batch = nanoBatch(golden);
  const deltaInit = tf.tensor3d(flat(golden.delta_init), [3, 8, 32]);
  const { K, eta, epsilon, sigma } = golden.hyper;
  const result = await alumGradients(
    nano.params,
    nano.model,
    batch,
    { method, alpha, k: K, eta, epsilon, sigma, variant },
    { dropout: noDropout, deltaInit: method === 'alum' ? deltaInit : null, record: true },
  );
  if (method !== 'alum') deltaInit.dispose();
  return { batch, result };
}

describe.each(VARIANTS)('ALUM step, variant %s, vs PyTorch float64', (variant) => {
  const want = golden.variants[variant];
  if (!want) throw new Error(`no golden for ${variant}`);

  it('inner gradients, deltas, losses and every parameter gradient match', async () => {
    const { batch, result } = await runVariant(variant);
    expect(result.skipped).toBe(false);
    for (let k = 0; k < golden.hyper.K; k++) {
      const g = result.deltaGrads[k] as tf.Tensor;
      // atol relative to the gradient's scale: entries span many orders of magnitude.
      const gWant = flat(want.delta_grad[k] as never);
      const gScale = Math.max(...gWant.map(Math.abs));
      expect(closeness(await values(g), gWant, 1e-4 * gScale, 1e-3), `delta_grad[${k}]`).toBeLessThan(1);
      const dWant = flat(want.delta[k] as never);
      const dScale = Math.max(...dWant.map(Math.abs));
      // Clipping and per-token max are continuous; float32 rounding moves values by ~1e-6 of the scale.
      expect(
        closeness(await values(result.deltaSteps[k] as tf.Tensor), dWant, 1e-4 * dScale, 1e-3),
        `delta[${k}]`,
      ).toBeLessThan(1);
    }
    expect(
      closeness(await values(result.logitsAdv as tf.Tensor), flat(want.logits_adv), 1e-5, 1e-4),
    ).toBeLessThan(1);
    expect((await values(result.taskLoss))[0]).toBeCloseTo(golden.loss_task, 5);
    expect((await values(result.advLoss))[0]).toBeCloseTo(want.loss_adv, 5);
    expect((await values(result.totalLoss))[0]).toBeCloseTo(want.loss_total, 5);
    for (const [name, grad] of result.grads) {
      const gWant = flat(want.grads[name] as never);
      // Floor: the key-bias gradient is exactly 0 in exact arithmetic (softmax shift invariance).
      const scale = Math.max(1e-3, ...gWant.map(Math.abs));
      expect(closeness(await values(grad), gWant, 1e-4 * scale, 1e-3), name).toBeLessThan(1);
    }
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('the charted step metrics match the reference (stepScalars)', async () => {
    const { batch, result } = await runVariant(variant);
    const got = Array.from(await stepScalars(result, batch.attentionMask).data());
    const expected: [string, number][] = [
      ['loss_task', golden.loss_task],
      ['loss_adv', want.loss_adv],
      ['loss_total', want.loss_total],
      ['inner_grad_norm', want.inner_grad_norm],
      ['delta_linf_mean', want.delta_linf_mean],
      ['delta_l2_mean', want.delta_l2_mean],
      ['embed_abs_mean', golden.embed_abs_mean],
      ['eff_perturb', want.eff_perturb],
    ];
    expected.forEach(([name, value], i) => {
      expect(closeness([got[i] as number], [value], 1e-7, 1e-4), name).toBeLessThan(1);
    });
    disposeStepResult(result);
    tf.dispose(Object.values(batch) as tf.Tensor[]);
  });

  it('keeps padding positions of delta exactly zero', async () => {
    const { batch, result } = await runVariant(variant);
    const d = await values(result.deltaFinal as tf.Tensor);
    const mask = golden.attention_mask.flat();
    mask.forEach((m, token) => {
      if (m === 0) for (let j = 0; j < 32; j++) expect(d[token * 32 + j]).toBe(0);
    });
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });
});

describe('ALUM invariants', () => {
  it('replays the clean pass with its own dropout mask inside the gradient, and fresh masks elsewhere', async () => {
    const batch = nanoBatch(golden);
    const clean = { rate: 0.3, seed: 11 };
    const dropout: AlumDropout = { clean, inner: [{ rate: 0.3, seed: 22 }], adv: { rate: 0.3, seed: 33 } };
    const { eta, epsilon, sigma } = golden.hyper;
    const r = await alumGradients(
      nano.params,
      nano.model,
      batch,
      { method: 'alum', alpha: 1, k: 1, eta, epsilon, sigma, variant: 'paper' },
      { dropout, deltaInit: tf.tensor3d(flat(golden.delta_init), [3, 8, 32]), record: false },
    );
    const replay = forward(nano.params, nano.model, batch, clean);
    const other = forward(nano.params, nano.model, batch, dropout.adv);
    const got = await r.logitsClean.data();
    expect(Array.from(got)).toEqual(Array.from(await replay.data()));
    expect(closeness(got, Array.from(await other.data()), 1e-6, 0)).toBeGreaterThan(1); // masks do differ
    disposeStepResult(r);
    tf.dispose([replay, other, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('frees everything it made when a step throws', async () => {
    const batch = nanoBatch(golden);
    // An attention mask of the wrong length makes the clean pass throw after the step allocated its inputs.
    const badMask = tf.ones([3, 7], 'int32') as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const deltaInit = tf.zeros([3, 8, 32]) as tf.Tensor3D;
    const { eta, epsilon, sigma } = golden.hyper;
    await expect(
      alumGradients(
        nano.params,
        nano.model,
        { ...batch, attentionMask: badMask },
        { method: 'alum', alpha: 1, k: 2, eta, epsilon, sigma, variant: 'paper' },
        { dropout: noDropout, deltaInit, record: true },
      ),
    ).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before); // deltaInit (taken over by the step) included
    tf.dispose([badMask, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('paper variant stays inside the epsilon ball', async () => {
    const { batch, result } = await runVariant('paper');
    const maxAbs = Math.max(...(await values(result.deltaFinal as tf.Tensor)).map(Math.abs));
    expect(maxAbs).toBeLessThanOrEqual(golden.hyper.epsilon * (1 + 1e-6));
    expect(maxAbs).toBeGreaterThan(golden.hyper.epsilon * 0.99); // the ball is reached, so the test can fail
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('standard method gives the PyTorch task-loss gradients', async () => {
    const { batch, result } = await runVariant('paper', 'standard');
    expect((await values(result.advLoss))[0]).toBe(0);
    for (const [name, grad] of result.grads) {
      const gWant = flat(golden.standard.grads[name] as never);
      // Floor: the key-bias gradient is exactly 0 in exact arithmetic (softmax shift invariance).
      const scale = Math.max(1e-3, ...gWant.map(Math.abs));
      expect(closeness(await values(grad), gWant, 1e-4 * scale, 1e-3), name).toBeLessThan(1);
    }
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('alpha = 0 gives exactly the standard step gradients', async () => {
    const alum0 = await runVariant('mtdnn-head', 'alum', 0);
    const std = await runVariant('mtdnn-head', 'standard');
    for (const [name, g] of alum0.result.grads) {
      expect(await values(g), name).toEqual(await values(std.result.grads.get(name) as tf.Tensor));
    }
    for (const r of [alum0, std]) {
      disposeStepResult(r.result);
      tf.dispose(Object.values(r.batch));
    }
  });

  it('a non-finite inner gradient skips the adversarial term and reports it', async () => {
    const batch = nanoBatch(golden);
    const deltaInit = tf.fill([3, 8, 32], NaN) as tf.Tensor3D;
    const { K, eta, epsilon, sigma } = golden.hyper;
    const r = await alumGradients(
      nano.params,
      nano.model,
      batch,
      { method: 'alum', alpha: 1, k: K, eta, epsilon, sigma, variant: 'mtdnn-head' },
      { dropout: noDropout, deltaInit, record: false },
    );
    expect(r.skipped).toBe(true);
    expect((await values(r.totalLoss))[0]).toBeCloseTo(golden.loss_task, 5);
    expect(r.deltaFinal).toBeNull();
    disposeStepResult(r);
    tf.dispose(Object.values(batch));
  });

  it('allocates no tensors that outlive the step', async () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { batch, result } = await runVariant('paper');
      disposeStepResult(result);
      tf.dispose(Object.values(batch));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

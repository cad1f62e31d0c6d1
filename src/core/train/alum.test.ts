// ALUM step against the independent PyTorch float64 reference (scripts/golden/make_golden.py, which
// implements docs/alum-step.md): BERT forward, inner delta gradients and updates, outer sym-KL, parameter
// gradients; then the dropout masks each pass uses, the non-finite guard, and the step's tensor hygiene.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  closeness,
  expectStepMetrics,
  flat,
  loadNano,
  nanoBatch,
  readJson,
  scalar,
  values,
  type NanoGolden,
} from '../../../test/helpers/nano.ts';
import type { Variant } from '../config.ts';
import { classify, embed, forward, NO_DROPOUT } from '../model/bert.ts';
import { disposeParams } from '../model/params.ts';
import { makeRng } from '../rng.ts';
import { alumGradients, disposeStepResult, type AlumDropout, type AlumSettings } from './alum.ts';
import { dropoutPlan, readStepScalars, stepScalars } from './run.ts';

const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
const noDropout: AlumDropout = { clean: NO_DROPOUT, inner: [NO_DROPOUT, NO_DROPOUT], adv: NO_DROPOUT };
const nano = loadNano();

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(nano.params));

/** The golden file's settings: KL(clean || adv) summed, embedding not detached, per-token L-inf. */
function settings(variant: Variant, patch: Partial<AlumSettings> = {}): AlumSettings {
  const { K, eta, epsilon, alpha } = golden.hyper;
  const base = { innerLoss: 'kl', innerReduction: 'sum', detachEmbedding: false, norm: 'inf' } as const;
  return { method: 'alum', alpha, k: K, eta, epsilon, variant, ...base, ...patch };
}

const goldenDelta = () => tf.tensor3d(flat(golden.delta_init), [3, 8, 32]);

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

function runVariant(variant: Variant, method: 'alum' | 'standard' = 'alum', alpha = golden.hyper.alpha) {
  const batch = nanoBatch(golden);
  const result = alumGradients(nano.params, nano.model, batch, settings(variant, { method, alpha }), {
    dropout: noDropout,
    deltaInit: goldenDelta(),
    record: true,
  });
  return { batch, result };
}

describe.each(['paper', 'mtdnn-2020', 'mtdnn-head'] as const)(
  'ALUM step, variant %s, vs PyTorch float64',
  (variant) => {
    const want = golden.variants[variant];
    if (!want) throw new Error(`no golden for ${variant}`);

    it('inner gradients, deltas, losses and every parameter gradient match', async () => {
      const { batch, result } = runVariant(variant);
      expect(await scalar(result.skipped)).toBe(0);
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
      const { batch, result } = runVariant(variant);
      const got = readStepScalars(await stepScalars(result, batch.attentionMask).data());
      expectStepMetrics(
        got,
        { ...want, loss_task: golden.loss_task },
        { embedAbsMean: golden.embed_abs_mean },
      );
      disposeStepResult(result);
      tf.dispose(Object.values(batch) as tf.Tensor[]);
    });

    it('keeps padding positions of delta exactly zero', async () => {
      const { batch, result } = runVariant(variant);
      const d = await values(result.deltaFinal as tf.Tensor);
      const mask = golden.attention_mask.flat();
      mask.forEach((m, token) => {
        if (m === 0) for (let j = 0; j < 32; j++) expect(d[token * 32 + j]).toBe(0);
      });
      disposeStepResult(result);
      tf.dispose(Object.values(batch));
    });
  },
);

describe('ALUM invariants', () => {
  it('rejects a batch of inconsistent shapes with a one-line error, allocating nothing', () => {
    const batch = nanoBatch(golden);
    const badMask = tf.ones([3, 7], 'int32') as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const deltaInit = tf.zeros([3, 8, 32]) as tf.Tensor3D;
    expect(() =>
      alumGradients(nano.params, nano.model, { ...batch, attentionMask: badMask }, settings('paper'), {
        dropout: noDropout,
        deltaInit,
        record: true,
      }),
    ).toThrow(/^attention mask shape \[3,7\] != ids \[3,8\]$/);
    expect(tf.memory().numTensors).toBe(before); // deltaInit (taken over by the step) included
    tf.dispose([badMask, ...(Object.values(batch) as tf.Tensor[])]);
  });

  it('frees everything it made, the gradient tape included, when a step throws mid-way', async () => {
    const batch = nanoBatch(golden);
    // A classifier of the wrong shape makes the step throw after the clean pass was recorded.
    const broken = new Map(nano.params);
    const wrong = tf.variable(tf.zeros([2, 5]), true, 'broken-classifier');
    broken.set('classifier.weight', wrong);
    const before = tf.memory().numTensors;
    expect(() =>
      alumGradients(broken, nano.model, batch, settings('paper'), {
        dropout: noDropout,
        deltaInit: tf.zeros([3, 8, 32]) as tf.Tensor3D,
        record: true,
      }),
    ).toThrow();
    expect(tf.memory().numTensors).toBe(before);
    const r = runVariant('paper'); // and the next step works
    expect(
      closeness(await values(r.result.totalLoss), [golden.variants['paper']?.loss_total ?? NaN], 1e-5, 1e-4),
    ).toBeLessThan(1);
    disposeStepResult(r.result);
    tf.dispose([wrong, ...(Object.values(batch) as tf.Tensor[]), ...(Object.values(r.batch) as tf.Tensor[])]);
  });

  it('paper variant stays inside the epsilon ball', async () => {
    const { batch, result } = runVariant('paper');
    const maxAbs = Math.max(...(await values(result.deltaFinal as tf.Tensor)).map(Math.abs));
    expect(maxAbs).toBeLessThanOrEqual(golden.hyper.epsilon * (1 + 1e-6));
    expect(maxAbs).toBeGreaterThan(golden.hyper.epsilon * 0.99); // the ball is reached, so the test can fail
    disposeStepResult(result);
    tf.dispose(Object.values(batch));
  });

  it('standard method gives the PyTorch task-loss gradients', async () => {
    const { batch, result } = runVariant('paper', 'standard');
    expect(await scalar(result.advLoss)).toBe(0);
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
    const alum0 = runVariant('mtdnn-head', 'alum', 0);
    const std = runVariant('mtdnn-head', 'standard');
    for (const [name, g] of alum0.result.grads) {
      expect(await values(g), name).toEqual(await values(std.result.grads.get(name) as tf.Tensor));
    }
    for (const r of [alum0, std]) {
      disposeStepResult(r.result);
      tf.dispose(Object.values(r.batch));
    }
  });

  it('a non-finite ascent skips the adversarial term, reports it, and leaves no NaN in the gradients', async () => {
    const batch = nanoBatch(golden);
    const r = alumGradients(nano.params, nano.model, batch, settings('mtdnn-head'), {
      dropout: noDropout,
      deltaInit: tf.fill([3, 8, 32], NaN) as tf.Tensor3D,
      record: false,
    });
    expect(await scalar(r.skipped)).toBe(1);
    expect(await scalar(r.totalLoss)).toBeCloseTo(golden.loss_task, 5);
    expect([await scalar(r.advLoss), await scalar(r.klInit), await scalar(r.klAdv)]).toEqual([0, 0, 0]);
    expect((await values(r.deltaFinal as tf.Tensor)).every((v) => v === 0)).toBe(true);
    for (const [name, g] of r.grads) {
      const want = flat(golden.standard.grads[name] as never);
      const scale = Math.max(1e-3, ...want.map(Math.abs));
      expect(closeness(await values(g), want, 1e-4 * scale, 1e-3), name).toBeLessThan(1);
    }
    disposeStepResult(r);
    tf.dispose(Object.values(batch));
  });

  it('allocates no tensors that outlive the step', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { batch, result } = runVariant('paper');
      disposeStepResult(result);
      tf.dispose(Object.values(batch));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('dropout masks of the adversarial passes (advDropout)', () => {
  const rate = 0.3;
  /** One step from delta_0 = 0 with dropout on, under the plan `dropoutPlan` builds for `mode`. */
  function stepAtZero(mode: 'same' | 'fresh' | 'off', k: number) {
    const batch = nanoBatch(golden);
    const dropout = dropoutPlan(makeRng(9), rate, k, mode);
    const result = alumGradients(nano.params, nano.model, batch, settings('paper', { k }), {
      dropout,
      deltaInit: tf.zeros([3, 8, 32]) as tf.Tensor3D,
      record: true,
    });
    return { batch, dropout, result };
  }
  function dispose(r: ReturnType<typeof stepAtZero>) {
    disposeStepResult(r.result);
    tf.dispose(Object.values(r.batch));
  }

  it('the clean pass uses its own masks, and `same` gives the inner and adversarial passes exactly those', () => {
    const { dropout } = stepAtZero('same', 2);
    expect(dropout.clean.rate).toBe(rate);
    expect(dropout.inner).toEqual([dropout.clean, dropout.clean]);
    expect(dropout.adv).toEqual(dropout.clean);
  });

  it('`fresh` draws a new mask for every pass; `off` turns dropout off there', () => {
    const fresh = dropoutPlan(makeRng(9), rate, 2, 'fresh');
    const seeds = [fresh.clean, ...fresh.inner, fresh.adv].map((p) => p.seed);
    expect(new Set(seeds).size).toBe(4);
    const off = dropoutPlan(makeRng(9), rate, 2, 'off');
    expect([...off.inner, off.adv].every((p) => p.rate === 0)).toBe(true);
    expect(off.clean.rate).toBe(rate);
  });

  it('clean logits are the forward pass under the clean masks', async () => {
    const r = stepAtZero('fresh', 1);
    const replay = forward(nano.params, nano.model, r.batch, r.dropout.clean);
    expect(await values(r.result.logitsClean)).toEqual(await values(replay));
    replay.dispose();
    dispose(r);
  });

  it('`same`: at delta = 0 with dropout on, the inner and adversarial losses are exactly 0', async () => {
    const r = stepAtZero('same', 1);
    const got = [r.result.advLoss, r.result.klInit, r.result.klAdv, r.result.dropoutKl];
    expect(await Promise.all(got.map(scalar))).toEqual([0, 0, 0, 0]);
    dispose(r);
  });

  it('`fresh`: at delta = 0 the masks alone give a positive loss, and dropoutKl measures exactly that', async () => {
    const r = stepAtZero('fresh', 0); // K = 0: the adversarial pass runs at delta_0 = 0
    const adv = await scalar(r.result.advLoss);
    expect(adv).toBeGreaterThan(1e-4);
    expect(closeness([await scalar(r.result.dropoutKl)], [adv], 1e-7, 1e-5)).toBeLessThan(1);
    dispose(r);
    const inner = stepAtZero('fresh', 1);
    expect(await scalar(inner.result.klInit)).toBeGreaterThan(1e-4); // the inner pass has its own mask
    dispose(inner);
  });

  it('`off`: the adversarial pass runs the encoder without dropout on the clean embedding', async () => {
    const r = stepAtZero('off', 0);
    const e = r.result.embedding;
    const plain = classify(nano.params, nano.model, e, r.batch.attentionMask, NO_DROPOUT);
    expect(await values(r.result.logitsAdv as tf.Tensor)).toEqual(await values(plain));
    expect(await scalar(r.result.dropoutKl)).toBeGreaterThan(1e-4); // the clean pass still has dropout
    plain.dispose();
    dispose(r);
  });
});

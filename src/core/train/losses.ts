/**
 * Losses of the ALUM objective, from logits. Shapes: logits [B, C], labels int32 [B].
 * Definitions and sources: docs/alum-step.md ("Inner loss", "Outer loss").
 */
import * as tf from '@tensorflow/tfjs';

import type { InnerLoss, InnerReduction } from '../config.ts';
import { runsWgsl } from '../model/wgsl.ts';
import { detach } from './tape.ts';
import { klRowsTowardWebgpu } from './webgpu-kl.ts';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** Mean cross-entropy of logits [B, C] against integer labels [B]. -> scalar */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const logp = tf.logSoftmax(logits); // [B, C]
    return tf.oneHot(labels.toInt(), numClasses).mul(logp).sum(-1).neg().mean() as tf.Scalar;
  });
}

/**
 * Rows whose logit differences all stay within this use the series forms of `klPieces`. At 1e-2 the
 * five-term series below are exact to ~1e-13 relative; rows with larger differences have KL values the
 * plain form computes well.
 */
const KL_SMALL_D = 1e-2;

/** expm1(x) = x (1 + x/2 (1 + x/3 (1 + x/4 (1 + x/5)))) + O(x^6), in plain ops: backends' Expm1 kernels may be exp(x) - 1. */
function expm1Series(x: tf.Tensor): tf.Tensor {
  const one = tf.scalar(1);
  const h = one.add(x.div(5)).mul(x.div(4)).add(one).mul(x.div(3)).add(one).mul(x.div(2)).add(one);
  return x.mul(h);
}

/** log1p(s) = s (1 - s (1/2 - s (1/3 - s (1/4 - s/5)))) + O(s^6), in plain ops (as `expm1Series`). */
function log1pSeries(s: tf.Tensor): tf.Tensor {
  const minus = (c: number, x: tf.Tensor) => tf.scalar(c).sub(x); // c - x: one Sub (the same value as -x + c)
  const h = minus(1, minus(0.5, minus(1 / 3, minus(0.25, s.div(5)).mul(s)).mul(s)).mul(s));
  return s.mul(h);
}

/**
 * Per row: do all |d_j| stay within KL_SMALL_D? d [B, C] -> bool [B, C], the row's answer on every entry. Made
 * full-size without Tile: tf.where Tiles a [B, 1] condition, on wasm a JS loop that took 60% of a masked-LM KL's
 * time at C = 8000 (measured: KL value and gradient on [300, 8000] 380 + 780 ms with Tile, 158 + 330 ms without).
 */
function smallRows(d: tf.Tensor2D): tf.Tensor2D {
  return tf.zerosLike(d).add(d.abs().max(-1, true)).lessEqual(KL_SMALL_D) as tf.Tensor2D;
}

/**
 * The pieces of KL(p || q) per row, d = z_p - z_q. On rows where every |d_j| <= KL_SMALL_D:
 *   log p_j - log q_j = d_j + log1p(S),  S = sum_i p_i expm1(-d_i),   q_j - p_j = p_j (expm1(-d_j) - S) / (1 + S)
 * which keep their digits when p and q nearly agree; elsewhere the plain log-softmax forms. [B, C] each.
 */
function klPieces(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D) {
  const logp = tf.logSoftmax(pLogits);
  const p = logp.exp();
  const d = pLogits.sub(qLogits) as tf.Tensor2D;
  const small = smallRows(d); // [B, C]
  const dSmall = d.clipByValue(-KL_SMALL_D, KL_SMALL_D); // the series stay finite in both branches
  const em1 = expm1Series(dSmall.neg()); // [B, C]
  const s = p.mul(em1).sum(-1, true); // [B, 1]
  const logRatio = tf.where(small, dSmall.add(log1pSeries(s)), logp.sub(tf.logSoftmax(qLogits))); // log p - log q
  const qMinusP = tf.where(small, p.mul(em1.sub(s)).div(s.add(1)), tf.softmax(qLogits).sub(p));
  return { p, logRatio: logRatio as tf.Tensor2D, qMinusP: qMinusP as tf.Tensor2D };
}

/**
 * Per-row KL(p || q) = sum_j p_j (log p_j - log q_j) from logits p, q [B, C] -> [B], in a form that keeps its
 * digits when the two distributions nearly agree, which is where the inner loss starts: the textbook form
 * subtracts two log-softmaxes and loses everything below ~1e-7 in float32 (it even goes negative), and so does
 * autodiff's gradient q - p. Both come from `klPieces` here (value and gradient, a custom gradient):
 *   d KL / d z_p = p (log p - log q - KL),   d KL / d z_q = q - p.
 * The backward pass reuses the forward's pieces (saved), it does not recompute them.
 */
export const klRows = tf.customGrad(((pLogits: tf.Tensor2D, qLogits: tf.Tensor2D, save: tf.GradSaveFunc) => {
  const { p, logRatio, qMinusP } = klPieces(pLogits, qLogits);
  const value = p.mul(logRatio).sum(-1); // [B]
  save([p, logRatio, qMinusP, value]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ps, lr, qmp, kl] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      const dy2 = dy.expandDims(-1); // [B, 1]
      return [ps.mul(lr.sub(kl.expandDims(-1))).mul(dy2), qmp.mul(dy2)];
    },
  };
}) as CustomGradFn) as (pLogits: tf.Tensor2D, qLogits: tf.Tensor2D) => tf.Tensor1D;

/**
 * `klRows` with p a constant (a stop-gradient target): KL(sg p || q) per row, [B, C], [B, C] -> [B]. Its
 * gradient is d KL / d z_q = q - p only (`klRows` also computes the p side, which a stop-gradient drops), from the
 * forward's pieces. The same values as `klRows`, bit for bit. On webgpu the same maths as two WGSL programs
 * (webgpu-kl.ts, `klRowsTowardWebgpu`: one dispatch forward, one backward).
 */
export function klRowsToward(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D): tf.Tensor1D {
  if (runsWgsl()) return klRowsTowardWebgpu(pLogits, qLogits, KL_SMALL_D);
  return klRowsTowardOps(pLogits, qLogits);
}

/** `klRowsToward` in plain tfjs ops (`klPieces`): every backend's form, and the reference of the WGSL one. */
export function klRowsTowardOps(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D): tf.Tensor1D {
  const f = tf.customGrad(((q: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const { p, logRatio, qMinusP } = klPieces(pLogits, q);
    save([qMinusP]);
    return {
      value: p.mul(logRatio).sum(-1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [(saved[0] as tf.Tensor).mul(dy.expandDims(-1))],
    };
  }) as CustomGradFn);
  return f(qLogits) as tf.Tensor1D;
}

/** mt-dnn's guard inside `stable_kl`'s log-odds. */
const STABLE_KL_EPS = 1e-6;

/** r(u) = -log(1 / (u + 1e-6) - 1 + 1e-6), the guarded log-odds of mt-dnn's `stable_kl`. [B, C] -> [B, C] */
function logOdds(p: tf.Tensor2D): tf.Tensor2D {
  return tf
    .reciprocal(p.add(STABLE_KL_EPS))
    .sub(1 - STABLE_KL_EPS)
    .log()
    .neg() as tf.Tensor2D;
}

/**
 * Per-row inner loss between perturbed and clean logits (docs/alum-step.md, "Inner loss"), the sum over
 * classes of the elementwise terms t[b, c]:
 *   kl:        p_c (log p_c - log p_a)                 = KL(p_clean || p_adv)
 *   stable-kl: 2 p_a (sg r(p_a) - sg r(p_c))           mt-dnn `stable_kl(adv, clean)`
 * The clean logits are the ascent's constant target: no gradient reaches them. advLogits, cleanLogits [B, C] -> [B]
 */
export function innerLossRows(
  kind: InnerLoss,
  advLogits: tf.Tensor2D,
  cleanLogits: tf.Tensor2D,
): tf.Tensor1D {
  return tf.tidy(() => {
    if (kind === 'kl') return klRowsToward(cleanLogits, advLogits);
    const pAdv = tf.softmax(advLogits);
    const pClean = tf.softmax(cleanLogits);
    const terms = pAdv.mul(detach(logOdds(pAdv)).sub(detach(logOdds(pClean)))).mul(2); // [B, C]
    return terms.sum(-1) as tf.Tensor1D;
  });
}

/**
 * Reduces per-row values [B] of a loss over [B, C] terms: their sum, / B (`batchmean`), or / (B C)
 * (`elementmean`, torch's `.mean()` over the terms). -> scalar
 */
export function reduceRows(rows: tf.Tensor1D, reduction: InnerReduction, numClasses: number): tf.Scalar {
  return tf.tidy(() => {
    const [b] = rows.shape;
    const total = rows.sum();
    if (reduction === 'sum') return total as tf.Scalar;
    return total.div(reduction === 'batchmean' ? b : b * numClasses) as tf.Scalar;
  });
}

/** The configured inner loss of perturbed logits against clean ones. [B, C], [B, C] -> scalar */
export function innerLoss(
  kind: InnerLoss,
  reduction: InnerReduction,
  advLogits: tf.Tensor2D,
  cleanLogits: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() =>
    reduceRows(innerLossRows(kind, advLogits, cleanLogits), reduction, advLogits.shape[1]),
  );
}

/**
 * ALUM's outer adversarial loss, symmetric KL with stop-gradients on the targets, averaged over the batch:
 *   (1/B) sum_b [ KL(sg p_adv || p_clean) + KL(sg p_clean || p_adv) ]
 * Gradients: d/dz_clean = (p_clean - p_adv) / B, d/dz_adv = (p_adv - p_clean) / B. -> scalar
 */
export function symmetricKl(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const { loss, toAdv } = symmetricKlParts(cleanLogits, advLogits);
    toAdv.dispose();
    return loss;
  });
}

/**
 * `symmetricKl` and its second direction's rows, KL(sg p_clean || p_adv) [B] (the inner loss 'kl' at the
 * adversarial logits, before its reduction). Both directions run as one `klRowsToward` on the rows stacked
 * [adv; clean] -> [clean; adv]: every op of the KL works row by row, so each row's value is what its own call
 * gives, for half the kernels. cleanLogits, advLogits [B, C] -> scalar, [B]
 */
export function symmetricKlParts(
  cleanLogits: tf.Tensor2D,
  advLogits: tf.Tensor2D,
): { loss: tf.Scalar; toAdv: tf.Tensor1D } {
  return tf.tidy(() => {
    const b = cleanLogits.shape[0];
    const targets = tf.concat([advLogits, cleanLogits]) as tf.Tensor2D; // [2B, C], constants
    const rows = klRowsToward(targets, tf.concat([cleanLogits, advLogits]) as tf.Tensor2D); // [2B]
    // toClean + toAdv per row, as a sum of two rows ((0 + a) + b = a + b exactly), then the batch mean.
    const loss = rows.reshape([2, b]).sum(0).mean() as tf.Scalar;
    return { loss, toAdv: rows.slice([b], [b]) as tf.Tensor1D };
  });
}

/** Fraction of rows whose argmax equals the label. logits [B, C], labels [B] -> scalar */
export function accuracy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => logits.argMax(-1).equal(labels.toInt()).toFloat().mean() as tf.Scalar);
}

/**
 * Regression task loss: mean squared error of the one output [B, 1] against float targets [B], as HF
 * `BertForSequenceClassification` with `problem_type = "regression"`: `MSELoss()(logits.squeeze(), labels)`.
 * -> scalar
 */
export function mseLoss(predictions: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => predictions.reshape([-1]).sub(targets.toFloat()).square().mean() as tf.Scalar);
}

/**
 * Regression inner loss: sum over [B, 1] of (adv - clean)^2, mt-dnn's
 * `F.mse_loss(adv_logits, logits.detach(), reduction="sum")` (docs/alum-step.md, "Regression"). The clean
 * output is a constant of the inner ascent (the ascent differentiates delta only). -> scalar
 */
export function mseSum(advOutputs: tf.Tensor2D, cleanOutputs: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => advOutputs.sub(cleanOutputs).square().sum() as tf.Scalar);
}

/**
 * Regression outer adversarial loss: mean over the batch of (clean - adv)^2, with NO stop-gradient on either
 * side (mt-dnn `MseCriterion(logits, adv_logits)`; see docs/alum-step.md, "Regression"). [B, 1] each -> scalar
 */
export function mseBetween(cleanOutputs: tf.Tensor2D, advOutputs: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => cleanOutputs.sub(advOutputs).square().mean() as tf.Scalar);
}

/**
 * Losses of the ALUM objective, from logits. Shapes: logits [B, C], labels int32 [B].
 * References: ../shared/ALUM.md §2.3 (mt-dnn `SymKlCriterion`, fairseq ALUM criterion).
 */
import * as tf from '@tensorflow/tfjs';

/** Identity forward, zero gradient: tfjs-core has no public stopGradient (ALUM.md §5.3). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
})) as Parameters<typeof tf.customGrad>[0]) as <T extends tf.Tensor>(x: T) => T;

/** Mean cross-entropy of logits [B, C] against integer labels [B]. -> scalar */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[1];
    const logp = tf.logSoftmax(logits); // [B, C]
    return tf.oneHot(labels.toInt(), numClasses).mul(logp).sum(-1).neg().mean() as tf.Scalar;
  });
}

/** Per-row KL(p || q) = sum_c p (log p - log q), p and q given as logits [B, C]. -> [B] */
export function klRows(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(pLogits);
    const logq = tf.logSoftmax(qLogits);
    return logp.exp().mul(logp.sub(logq)).sum(-1) as tf.Tensor1D;
  });
}

/**
 * ALUM's outer adversarial loss, symmetric KL with stop-gradients on the targets, averaged over the batch:
 *   (1/B) sum_b [ KL(sg p_adv || p_clean) + KL(sg p_clean || p_adv) ]
 * Gradients: d/dz_clean = (p_clean - p_adv) / B, d/dz_adv = (p_adv - p_clean) / B. -> scalar
 */
export function symmetricKl(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const toClean = klRows(stopGradient(advLogits), cleanLogits);
    const toAdv = klRows(stopGradient(cleanLogits), advLogits);
    return toClean.add(toAdv).mean() as tf.Scalar;
  });
}

/** Fraction of rows whose argmax equals the label. logits [B, C], labels [B] -> scalar */
export function accuracy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => logits.argMax(-1).equal(labels.toInt()).toFloat().mean() as tf.Scalar);
}

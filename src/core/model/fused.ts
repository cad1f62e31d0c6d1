/**
 * Layers of bert.ts with hand-written gradients (`tf.customGrad`): the same forward ops as the plain tfjs form
 * (so the same values), and a backward pass of a few kernels where tfjs' autodiff of the plain form runs
 * dozens (broadcast reductions, the erf derivative, saved intermediates). Each gradient is the textbook one,
 * tested against autodiff of the plain ops on random inputs (fused.test.ts). Every backend runs these: they
 * are compositions of builtin ops, not new kernels.
 */
import * as tf from '@tensorflow/tfjs';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** Sums `dy` down to `shape` (the gradient of a broadcast): over the leading axes, keeping the last. [..., H] -> [H] */
function sumToLast(dy: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return dy
    .reshape([-1, dy.shape[dy.rank - 1] as number])
    .sum(0)
    .reshape(shape as number[]);
}

/**
 * LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, variance biased (as
 * torch.nn.LayerNorm). x [..., H], gamma [H], beta [H] -> [..., H]. Backward with xhat = the normalised x and
 * g = dy * gamma: dx = rstd (g - mean(g) - xhat mean(g xhat)), dgamma = sum(dy xhat), dbeta = sum(dy)
 * (sums over every axis but the last).
 */
export function layerNormFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const f = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = xi.mean(-1, true); // [..., 1]
    const centred = xi.sub(mean);
    const variance = centred.square().mean(-1, true);
    const rstd = tf.rsqrt(variance.add(eps)); // [..., 1]
    const xhat = centred.mul(rstd); // [..., H]
    save([xhat, rstd, g]);
    return {
      value: xhat.mul(g).add(b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dxhat = dy.mul(gs); // [..., H]
        const inner = dxhat.sub(dxhat.mean(-1, true)).sub(xh.mul(dxhat.mul(xh).mean(-1, true)));
        return [inner.mul(rs), sumToLast(dy.mul(xh), gs.shape), sumToLast(dy, gs.shape)];
      },
    };
  }) as CustomGradFn);
  return f(x, gamma, beta);
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)), the same ops as the plain form. Backward:
 * dy (Phi(x) + x phi(x)) with Phi(x) = 0.5 (1 + erf(x / sqrt 2)) and phi the standard normal density.
 */
export const geluFused = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs] = saved as [tf.Tensor];
      const cdf = tf.erf(xs.mul(Math.SQRT1_2)).add(1).mul(0.5);
      const pdf = xs.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
      return [dy.mul(cdf.add(xs.mul(pdf)))];
    },
  };
}) as CustomGradFn) as (x: tf.Tensor) => tf.Tensor;

/**
 * Attention probabilities: softmax(scores / scale + bias) over the last axis, `bias` an additive mask that
 * broadcasts to the scores and gets no gradient (it comes from the attention mask). scores [B, A, T, T],
 * bias [B, 1, 1, T] -> [B, A, T, T]. Backward with p the probabilities: dscores = p (dy - sum(dy p)) / scale.
 */
export function maskedSoftmax(scores: tf.Tensor, scale: number, bias: tf.Tensor): tf.Tensor {
  const f = tf.customGrad(((s: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(s.div(scale).add(bias), -1);
    save([p]);
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ps] = saved as [tf.Tensor];
        return [ps.mul(dy.sub(dy.mul(ps).sum(-1, true))).div(scale)];
      },
    };
  }) as CustomGradFn);
  return f(scores);
}

/**
 * Layers of bert.ts with hand-written gradients (`tf.customGrad`): the same forward ops as the plain tfjs form
 * (so the same values), and a backward pass of a few kernels where tfjs' autodiff of the plain form runs
 * dozens (broadcast reductions, the erf derivative, saved intermediates). Each gradient is the textbook one,
 * tested against autodiff of the plain ops on random inputs (fused.test.ts). Every backend runs these: they
 * are compositions of builtin ops, not new kernels, except on webgpu: LayerNorm, GELU, the masked softmax and
 * attention's per-head matMuls run WGSL programs of their own there (webgpu-layernorm.ts, webgpu-activations.ts,
 * webgpu-attention.ts), tested against the ops here.
 */
import * as tf from '@tensorflow/tfjs';

import { geluWebgpu, maskedSoftmaxWebgpu } from './webgpu-activations.ts';
import { attentionContextWebgpu, attentionScoresWebgpu } from './webgpu-attention.ts';
import { columnSumsWebgpu, layerNormWebgpu } from './webgpu-layernorm.ts';
import { runsWgsl } from './wgsl.ts';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, variance biased (as
 * torch.nn.LayerNorm), of x or, with `residual` (x's shape), of x + residual. x [..., H], gamma [H], beta [H] ->
 * [..., H]. On webgpu one WGSL program (`layerNormWebgpu`, webgpu-layernorm.ts: 1 dispatch forward instead of 9,
 * the residual added inside it); elsewhere an Add and `layerNormOps`.
 */
export const layerNormFused: typeof layerNormWebgpu = (x, gamma, beta, eps, residual) => {
  if (runsWgsl()) return layerNormWebgpu(x, gamma, beta, eps, residual);
  return layerNormOps(residual ? x.add(residual) : x, gamma, beta, eps);
};

/**
 * LayerNorm as tfjs ops, on every backend. The normalisation has a hand-written gradient (`normalise`); the
 * affine part is plain Mul and Add, whose builtin gradients tfjs runs per input, only for the inputs a gradient
 * needs: a gradient w.r.t. x alone (the inner ascent) skips dgamma and dbeta.
 */
export function layerNormOps(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return normalise(x, eps).mul(gamma).add(beta);
}

/**
 * xhat = (x - mean) / sqrt(var + eps) over the last axis. x [..., H] -> [..., H]. Backward with g = dxhat:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)).
 */
function normalise(x: tf.Tensor, eps: number): tf.Tensor {
  const f = tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = xi.mean(-1, true); // [..., 1]
    const centred = xi.sub(mean);
    const variance = centred.square().mean(-1, true);
    const rstd = tf.rsqrt(variance.add(eps)); // [..., 1]
    const xhat = centred.mul(rstd); // [..., H]
    save([xhat, rstd]);
    return {
      value: xhat,
      gradFunc: (dxhat: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs] = saved as [tf.Tensor, tf.Tensor];
        const inner = dxhat.sub(dxhat.mean(-1, true)).sub(xh.mul(dxhat.mul(xh).mean(-1, true)));
        return [inner.mul(rs)];
      },
    };
  }) as CustomGradFn);
  return f(x);
}

/** The kernel `linearFused` runs; its gradient is registered below. */
const FUSED_MATMUL = '_FusedMatMul';

/**
 * y = x W^T + b in one `_FusedMatMul` kernel (matMul and bias add), as `tf.fused.matMul` runs it, but recorded
 * with a gradient that tfjs calls per input (`tf.registerGradient`): `tf.fused.matMul` wraps the kernel in a
 * `tf.customGrad`, whose backward always computes dx, dW and db, so a gradient w.r.t. x alone (the inner ascent)
 * paid for dW (a MatMul) and db (a Sum) of every dense layer. The same kernels compute the same values:
 *   dx = dy W,  dW = dy^T x,  db = sum of dy over the rows (on webgpu one column-sum program, `columnSumsWebgpu`).
 * x [N, in], w [out, in] (PyTorch layout), b [out] -> [N, out].
 */
export function linearFused(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const [n, inDim] = x.shape;
  const outDim = w.shape[0];
  if (w.shape[1] !== inDim || b.shape[0] !== outDim) {
    throw new Error(
      `linear: x [${x.shape.join(',')}], weight [${w.shape.join(',')}], bias [${b.shape.join(',')}] do not fit`,
    );
  }
  return tf.tidy(() => {
    const inputs = { a: x.reshape([1, n, inDim]), b: w.reshape([1, outDim, inDim]), bias: b };
    const attrs = { transposeA: false, transposeB: true, activation: 'linear', leakyreluAlpha: 0.2 };
    const y = tf.engine().runKernel(FUSED_MATMUL, inputs, attrs) as tf.Tensor3D; // [1, N, out]
    return y.reshape([n, outDim]);
  });
}

tf.registerGradient({
  kernelName: FUSED_MATMUL,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const a = attrs ?? {};
    if (a['transposeA'] || !a['transposeB'] || (a['activation'] ?? 'linear') !== 'linear') {
      throw new Error(`${FUSED_MATMUL} gradient: only x W^T + b (linearFused) is supported`);
    }
    const d = dy as tf.Tensor3D; // [1, N, out]
    const [x, w] = saved as [tf.Tensor3D, tf.Tensor3D]; // [1, N, in], [1, out, in]
    return {
      a: () => tf.matMul(d, w, false, false), // [1, N, in]
      b: () => tf.matMul(d, x, true, false), // [1, out, in]
      bias: () => (runsWgsl() ? columnSumsWebgpu(d.reshape([d.shape[1], d.shape[2]])) : d.sum([0, 1])), // [out]
    };
  },
});

/** Swaps the last two axes: [..., m, n] -> [..., n, m]. */
export function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1] as number, perm[r - 2] as number];
  return x.transpose(perm);
}

/**
 * matMul(a, b, false, transposeB) with the backend's fast path: on wasm untransposed matMuls only (`plainMatMul`
 * says why); GPU backends fold transposes into the shader, so elsewhere the builtin.
 */
export function mm(a: tf.Tensor, b: tf.Tensor, transposeB: boolean): tf.Tensor {
  if (tf.getBackend() === 'wasm') return plainMatMul(a, transposeB ? swapLast(b) : b);
  return tf.matMul(a, b, false, transposeB);
}

/** The kernel `plainMatMul` runs (wasm only): the backend's BatchMatMul, neither input transposed. */
export const PLAIN_MATMUL = 'AlumPlainMatMul';

if (!tf.getKernel(PLAIN_MATMUL, 'wasm')) {
  tf.registerKernel({
    kernelName: PLAIN_MATMUL,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const batchMatMul = tf.getKernel('BatchMatMul', 'wasm'); // registered when the wasm package loads
      if (!batchMatMul) throw new Error(`${PLAIN_MATMUL}: the wasm backend has no BatchMatMul kernel`);
      return batchMatMul.kernelFunc({ ...args, attrs: { transposeA: false, transposeB: false } });
    },
  });
}

/**
 * da = dy b^T and db = a^T dy, each only when a gradient needs it (`tf.registerGradient`: tfjs calls an input's
 * function only for inputs on the path), and each an untransposed matMul of an explicit transpose. A
 * `tf.customGrad` computes every input's gradient: the inner ascent's gradient w.r.t. delta alone then paid for
 * every dense layer's dW as well (one matMul of the backward's two per layer).
 */
tf.registerGradient({
  kernelName: PLAIN_MATMUL,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const d = dy as tf.Tensor;
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    return { a: () => tf.matMul(d, swapLast(b)), b: () => tf.matMul(swapLast(a), d) };
  },
});

/**
 * a b for a [..., m, k], b [..., k, n] -> [..., m, n] (the same leading axes), computed forward and backward with
 * untransposed matMuls only, for the wasm backend: its transposed BatchMatMul is 5-10x slower than its plain one
 * (2048x128x512: 111 ms with transposeB vs 21 ms plain; the builtin gradient of x W^T 326 ms vs 47 ms this way,
 * measured in Node on this repo's 2-core machine), and tfjs' builtin matMul gradient always uses the transposed
 * forms. One `AlumPlainMatMul` kernel, registered for wasm alone: other backends use `tf.matMul`.
 */
export function plainMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(PLAIN_MATMUL, { a, b }) as tf.Tensor;
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)). x [...] -> [...]. On webgpu one WGSL program forward and one
 * backward (`geluWebgpu`, webgpu-activations.ts); elsewhere `geluOps`.
 */
export function geluFused(x: tf.Tensor): tf.Tensor {
  return runsWgsl() ? geluWebgpu(x) : geluOps(x);
}

/**
 * GELU as tfjs ops, on every backend. Backward: dy (Phi(x) + x phi(x)) with Phi(x) = 0.5 (1 + erf(x / sqrt 2)) and
 * phi the standard normal density. The forward's 1 + erf(x / sqrt 2) is saved for it (Phi is that times 0.5: one
 * kernel, not the four that recompute the erf), at the price of one more tensor of x's size kept per call until the
 * backward pass.
 */
export const geluOps = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const onePlusErf = tf.erf(x.mul(Math.SQRT1_2)).add(1); // [..., I]
  save([x, onePlusErf]);
  return {
    value: x.mul(0.5).mul(onePlusErf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, e1] = saved as [tf.Tensor, tf.Tensor];
      const cdf = e1.mul(0.5);
      const pdf = xs.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
      return [dy.mul(cdf.add(xs.mul(pdf)))];
    },
  };
}) as CustomGradFn) as (x: tf.Tensor) => tf.Tensor;

/**
 * Attention probabilities: softmax(scores / scale + bias) over the last axis, `bias` an additive mask that
 * broadcasts to the scores and gets no gradient (it comes from the attention mask). scores [B, A, T, T],
 * bias [B, 1, 1, T] -> [B, A, T, T]. On webgpu one WGSL program forward and one backward
 * (`maskedSoftmaxWebgpu`, webgpu-activations.ts); elsewhere `maskedSoftmaxOps`.
 */
export function maskedSoftmax(scores: tf.Tensor, scale: number, bias: tf.Tensor): tf.Tensor {
  return runsWgsl() ? maskedSoftmaxWebgpu(scores, scale, bias) : maskedSoftmaxOps(scores, scale, bias);
}

/** `maskedSoftmax` as tfjs ops, on every backend. Backward with p the probabilities: dscores = p (dy - sum(dy p)) / scale. */
export function maskedSoftmaxOps(scores: tf.Tensor, scale: number, bias: tf.Tensor): tf.Tensor {
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

/**
 * Attention scores of each head, unscaled: q [B, Tq, H], k [B, Tk, H] (A heads side by side, H = A dh) ->
 * Q K^T [B, A, Tq, Tk]. On webgpu one program that reads the heads in place (`attentionScoresWebgpu`); elsewhere
 * `attentionScoresOps`.
 */
export function attentionScores(q: tf.Tensor3D, k: tf.Tensor3D, heads: number): tf.Tensor4D {
  return runsWgsl() ? attentionScoresWebgpu(q, k, heads) : attentionScoresOps(q, k, heads);
}

/** [B, T, A dh] -> [B, T, A, dh]: the heads split out, a relabel. */
function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [b, t, h] = x.shape;
  return x.reshape([b, t, heads, h / heads]);
}

/**
 * `attentionScores` as tfjs ops, on every backend: each head moved to a block of its own, K already transposed for
 * Q K^T ([B, A, dh, Tk]: one Transpose, and no transposed MatMul on wasm).
 */
export function attentionScoresOps(q: tf.Tensor3D, k: tf.Tensor3D, heads: number): tf.Tensor4D {
  return tf.tidy(() => {
    const q4 = splitHeads(q, heads).transpose([0, 2, 1, 3]); // [B, A, Tq, dh]
    const kT = splitHeads(k, heads).transpose([0, 2, 3, 1]); // [B, A, dh, Tk]
    return mm(q4, kT, false) as tf.Tensor4D;
  });
}

/**
 * Attention's context: probabilities p [B, A, Tq, Tk], v [B, Tk, H] -> each head's P V, the heads side by side
 * again: [B, Tq, H]. On webgpu one program (`attentionContextWebgpu`); elsewhere `attentionContextOps`.
 */
export function attentionContext(p: tf.Tensor4D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  return runsWgsl() ? attentionContextWebgpu(p, v, heads) : attentionContextOps(p, v, heads);
}

/** `attentionContext` as tfjs ops, on every backend: V's heads moved to blocks, the context moved back. */
export function attentionContextOps(p: tf.Tensor4D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, tq] = [p.shape[0], p.shape[2]];
    const v4 = splitHeads(v, heads).transpose([0, 2, 1, 3]); // [B, A, Tk, dh]
    const context = mm(p, v4, false); // [B, A, Tq, dh]
    return context.transpose([0, 2, 1, 3]).reshape([b, tq, v.shape[2]]) as tf.Tensor3D;
  });
}

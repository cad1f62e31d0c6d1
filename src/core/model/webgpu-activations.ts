/**
 * GELU and attention's masked softmax as WGSL programs of the webgpu backend (tfjs-backend-webgpu 4.22), registered
 * as tfjs kernels with their gradients: one dispatch each forward and one each backward. The plain-op forms in
 * fused.ts (`geluOps`, `maskedSoftmaxOps`) run 5 dispatches forward and 8 backward (GELU), and 3 forward and 5
 * backward (scale, mask, softmax). The same maths as those forms:
 *   GELU:    y = x Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2));  dx = dy (Phi(x) + x phi(x)), phi the normal density,
 *            erf by Abramowitz and Stegun 7.1.26 as tfjs's own Erf kernel (`tf.backend_util.ERF_*`, |error| < 1.5e-7);
 *   softmax: p = softmax(s / scale + bias) over the last axis;  ds = p (dy - sum(dy p)) / scale, bias no gradient.
 * The GELU backward reads x alone (its erf recomputed in the program), so a call keeps x for the backward pass where
 * the plain form keeps x and 1 + erf(x / sqrt 2). Only the webgpu backend has these kernels: fused.ts picks.
 * Tested on Dawn against a float64 reference, the plain ops and the nano model's PyTorch golden step
 * (webgpu-activations.test.ts, which runs test/webgpu/activations.ts).
 */
import * as tf from '@tensorflow/tfjs';

import {
  FlatProgram,
  registerWebgpuKernels,
  rowIndexWgsl,
  rowReductionsWgsl,
  RowProgram,
  rows,
  runProgram,
  type KernelArgs,
} from './wgsl.ts';

/** Kernel names (what `tf.profile` lists; one dispatch each). */
export const GELU = 'AlumGelu';
export const GELU_GRAD = 'AlumGeluGrad';
export const MASKED_SOFTMAX = 'AlumMaskedSoftmax';
export const MASKED_SOFTMAX_GRAD = 'AlumMaskedSoftmaxGrad';

const { ERF_P, ERF_A1, ERF_A2, ERF_A3, ERF_A4, ERF_A5 } = tf.backend_util;

/** erf(a) as tfjs's Erf kernel computes it (tfjs-backend-webgpu `unary_op_util`, ERF). */
const ERF_WGSL = `
  fn erfAS(a : f32) -> f32 {
    let absA = abs(a);
    let t = 1.0 / (1.0 + ${ERF_P} * absA);
    let poly = ((((${ERF_A5} * t + ${ERF_A4}) * t + ${ERF_A3}) * t + ${ERF_A2}) * t + ${ERF_A1}) * t;
    return sign(a) * (1.0 - poly * exp(-absA * absA));
  }
`;

/** The WGSL expression of each GELU program's output at `index`, with `v` = x[index] and `cdf` = Phi(v). */
const GELU_OUT = {
  forward: 'v * cdf',
  grad: `dy[index] * (cdf + v * ${1 / Math.sqrt(2 * Math.PI)} * exp(-0.5 * v * v))`,
};

type GeluMode = keyof typeof GELU_OUT;

/** Elementwise over a flat [n]: GELU of x, or its vector-Jacobian product with dy. One thread an entry. */
class GeluProgram extends FlatProgram {
  variableNames: string[];

  constructor(
    private readonly mode: GeluMode,
    n: number,
  ) {
    super(n, `alumGelu_${mode}`);
    this.variableNames = mode === 'grad' ? ['dy', 'x'] : ['x'];
  }

  getUserCode(): string {
    return `
      ${ERF_WGSL}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let v = x[index];
          let cdf = 0.5 * (1.0 + erfAS(v * ${Math.SQRT1_2}));
          setOutputAtIndex(index, ${GELU_OUT[this.mode]});
        }
      }
    `;
  }
}

/**
 * The per-row bodies of the softmax programs, after `base` (the row's first entry), `t`, `valid` and the row
 * reductions are known. Forward: `v(c)` is the row's scaled and masked score at column c.
 */
const SOFTMAX_BODY = {
  forward: `
        var m = -3.402823e38;
        for (var c = i32(localIndex); c < t; c = c + W) {
          m = max(m, v(base, biasBase, c));
        }
        m = rowMax(m);
        var z = 0.0;
        for (var c = i32(localIndex); c < t; c = c + W) {
          z = z + exp(v(base, biasBase, c) - m);
        }
        z = rowSum(z);
        if (valid) {
          for (var c = i32(localIndex); c < t; c = c + W) {
            setOutputAtIndex(base + c, exp(v(base, biasBase, c) - m) / z);
          }
        }`,
  grad: `
        var acc = 0.0;
        for (var c = i32(localIndex); c < t; c = c + W) {
          acc = acc + dy[base + c] * p[base + c];
        }
        let total = rowSum(acc);
        if (valid) {
          for (var c = i32(localIndex); c < t; c = c + W) {
            setOutputAtIndex(base + c, p[base + c] * (dy[base + c] - total) / uniforms.scale);
          }
        }`,
};

type SoftmaxMode = keyof typeof SOFTMAX_BODY;

/** Inputs of each softmax program: scores [R, T] and bias [B, T] (R a multiple of B); or dy and p, both [R, T]. */
const SOFTMAX_INPUTS: Record<SoftmaxMode, string[]> = { forward: ['scores', 'bias'], grad: ['dy', 'p'] };

/**
 * One workgroup per row of [R, T]. The row is the workgroup's (uniform), clamped so that padding workgroups of a
 * reshaped dispatch (over 65,535 rows) read a real row and write nothing; barriers stay in uniform control flow.
 * Rows r of bias row r / (R / B): the scores' rows are [B, A, Tq] flattened, B first.
 */
class MaskedSoftmaxProgram extends RowProgram {
  variableNames: string[];
  uniforms = 'scale : f32,';

  constructor(
    private readonly mode: SoftmaxMode,
    [r, t]: [number, number],
  ) {
    super(r, t, [r, t], `alumMaskedSoftmax_${mode}`);
    this.variableNames = SOFTMAX_INPUTS[mode];
  }

  getUserCode(): string {
    const w = this.workgroupSize[0];
    const first = this.variableNames[0] as string;
    return `
      ${rowReductionsWgsl(w)}

      ${this.mode === 'forward' ? 'fn v(base : i32, biasBase : i32, c : i32) -> f32 { return scores[base + c] / uniforms.scale + bias[biasBase + c]; }' : ''}

      fn main(index : i32) {
        ${rowIndexWgsl(first, 't')}
        ${this.mode === 'forward' ? 'let biasBase = (row / (n / uniforms.biasShape.x)) * t;' : ''}
        ${SOFTMAX_BODY[this.mode]}
      }
    `;
  }
}

const runGelu = (mode: GeluMode, args: KernelArgs): tf.TensorInfo => {
  const x = args.inputs['x'] as tf.TensorInfo;
  return runProgram(new GeluProgram(mode, tf.util.sizeFromShape(x.shape)), args);
};

function runSoftmax(mode: SoftmaxMode, kernel: string, args: KernelArgs): tf.TensorInfo {
  const first = args.inputs[SOFTMAX_INPUTS[mode][0] as string] as tf.TensorInfo;
  const program = new MaskedSoftmaxProgram(mode, rows(first, kernel));
  return runProgram(program, args, [{ type: 'float32', data: [Number(args.attrs?.['scale'])] }]);
}

registerWebgpuKernels([
  [GELU, (a) => runGelu('forward', a)],
  [GELU_GRAD, (a) => runGelu('grad', a)],
  [MASKED_SOFTMAX, (a) => runSoftmax('forward', MASKED_SOFTMAX, a)],
  [MASKED_SOFTMAX_GRAD, (a) => runSoftmax('grad', MASKED_SOFTMAX_GRAD, a)],
]);

/** dx of GELU from dy and the saved x (both flat [n]). */
if (!tf.getGradient(GELU)) {
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
      x: () =>
        tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x: saved[0] as tf.Tensor }) as tf.Tensor,
    }),
  });
}

/** dscores from dy [R, T] and the saved output p [R, T]; the bias (from the attention mask) takes no gradient. */
if (!tf.getGradient(MASKED_SOFTMAX)) {
  tf.registerGradient({
    kernelName: MASKED_SOFTMAX,
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => ({
      scores: () =>
        tf
          .engine()
          .runKernel(
            MASKED_SOFTMAX_GRAD,
            { dy: dy as tf.Tensor, p: saved[0] as tf.Tensor },
            { ...attrs },
          ) as tf.Tensor,
    }),
  });
}

/** GELU (exact erf form) on the webgpu backend: x [...] -> [...], one dispatch (`AlumGelu`), one more backward. */
export function geluWebgpu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => (tf.engine().runKernel(GELU, { x: x.reshape([-1]) }) as tf.Tensor).reshape(x.shape));
}

/**
 * softmax(scores / scale + bias) over the last axis on the webgpu backend, in one dispatch (`AlumMaskedSoftmax`),
 * one more backward. scores [B, A, Tq, T], bias [B, 1, 1, T] (the additive attention mask) -> [B, A, Tq, T].
 */
export function maskedSoftmaxWebgpu(scores: tf.Tensor, scale: number, bias: tf.Tensor): tf.Tensor {
  const [b, a, tq, t] = scores.shape as number[];
  if (scores.rank !== 4 || bias.rank !== 4 || bias.shape.join() !== [b, 1, 1, t].join()) {
    throw new Error(
      `maskedSoftmax: scores [${scores.shape.join(',')}] and bias [${bias.shape.join(',')}] do not fit (want [B,A,Tq,T] and [B,1,1,T])`,
    );
  }
  return tf.tidy(() => {
    const inputs = {
      scores: scores.reshape([-1, t as number]),
      bias: bias.reshape([b as number, t as number]),
    };
    const p = tf.engine().runKernel(MASKED_SOFTMAX, inputs, { scale }) as tf.Tensor; // [B A Tq, T]
    return p.reshape([b as number, a as number, tq as number, t as number]);
  });
}

/**
 * LayerNorm as WGSL programs of the webgpu backend (tfjs-backend-webgpu 4.22), registered as tfjs kernels with a
 * gradient per input: the forward pass is one dispatch (one workgroup per row: mean, biased variance and the
 * affine map in workgroup memory), the gradient w.r.t. x one more, w.r.t. gamma two (row statistics, then column
 * sums) and w.r.t. beta one (column sums). The plain-op form (`layerNormOps` in fused.ts) runs 9 dispatches
 * forward, 8 backward for dx alone and 11 with dgamma and dbeta. Same maths as that form: xhat = (x - mean) / sqrt(var + eps) with
 * the variance biased, y = xhat gamma + beta, and with g = dy gamma:
 *   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dgamma = sum over rows of dy xhat,  dbeta = sum of dy.
 * With a residual (`AlumAddLayerNorm`: a post-LN block's LayerNorm(sublayer(x) + x)) each program reads x + res where
 * it reads x, so the sum is neither dispatched nor stored, and the residual's gradient is dx.
 * Only the webgpu backend has these kernels; fused.ts calls `layerNormWebgpu` there and the plain ops elsewhere.
 * Tested on Dawn against the plain ops, a float64 reference and the nano model's PyTorch golden step
 * (webgpu-layernorm.test.ts, which runs test/webgpu/layernorm.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import {
  registerWebgpuKernels,
  rowIndexWgsl,
  RowProgram,
  rows,
  runProgram,
  workgroupReduce,
  type KernelArgs,
} from './wgsl.ts';

/** Kernel names (what `tf.profile` lists; each is one dispatch). */
export const LAYER_NORM = 'AlumLayerNorm';
/** LayerNorm of a residual sum x + res, the sum made in the program (post-LN blocks: LayerNorm(sublayer(x) + x)). */
export const ADD_LAYER_NORM = 'AlumAddLayerNorm';
export const LAYER_NORM_GRAD_X = 'AlumLayerNormGradX';
export const LAYER_NORM_STATS = 'AlumLayerNormStats';
export const LAYER_NORM_GRAD_GAMMA = 'AlumLayerNormGradGamma';
export const LAYER_NORM_GRAD_BETA = 'AlumLayerNormGradBeta';
/** The same column-sum program as LAYER_NORM_GRAD_BETA, for a dense layer's bias gradient (fused.ts). */
export const COLUMN_SUM = 'AlumColumnSum';

/** Columns per workgroup and rows summed in parallel per column by the column-sum program (32 x 8 threads). */
const SUM_COLS = 32;
const SUM_LANES = 8;

/**
 * WGSL for the row programs: `rowSum` adds one vec2 per thread over the workgroup (tree in workgroup memory;
 * every thread gets the totals), and the row's mean and reciprocal standard deviation, each thread looping over
 * the columns tid, tid + W, ... of its row. The row index is the workgroup's (uniform), clamped so that padding
 * workgroups of a reshaped dispatch read a real row and write nothing (barriers stay in uniform control flow).
 */
function rowPrelude(w: number, residual: boolean): string {
  return `
    const W = ${w};

    fn xAt(i : i32) -> f32 { return ${residual ? 'x[i] + res[i]' : 'x[i]'}; }
    var<workgroup> red : array<vec2<f32>, ${w}>;

    ${workgroupReduce('rowSum', 'vec2<f32>', w, (a, b) => `${a} + ${b}`)}

    fn rowMean(base : i32, h : i32) -> f32 {
      var s = 0.0;
      for (var c = i32(localIndex); c < h; c = c + W) {
        s = s + xAt(base + c);
      }
      return rowSum(vec2<f32>(s, 0.0)).x / f32(h);
    }

    fn rowRstd(base : i32, h : i32, mean : f32) -> f32 {
      var q = 0.0;
      for (var c = i32(localIndex); c < h; c = c + W) {
        let d = xAt(base + c) - mean;
        q = q + d * d;
      }
      return inverseSqrt(rowSum(vec2<f32>(q, 0.0)).x / f32(h) + uniforms.eps);
    }
  `;
}

/** What a row program computes, per row of x [N, H]. */
type RowMode = 'forward' | 'gradX' | 'stats';

const ROW_INPUTS: Record<RowMode, string[]> = {
  forward: ['x', 'gamma', 'beta'], // -> y [N, H]
  gradX: ['dy', 'x', 'gamma'], // -> dx [N, H]
  stats: ['x'], // -> [N, 2]: mean, rstd
};

/**
 * A program's inputs: `names`, with the residual `res` [N, H] after x where the program normalises x + res (read by
 * `xAt`, so the sum is never stored).
 */
function withResidual(names: readonly string[], residual: boolean): string[] {
  return residual ? names.flatMap((n) => (n === 'x' ? ['x', 'res'] : [n])) : [...names];
}

/** The per-row body after `row`, `base`, `h`, `valid`, `mean` and `rstd` are known. */
const ROW_BODY: Record<RowMode, string> = {
  forward: `
      if (valid) {
        for (var c = i32(localIndex); c < h; c = c + W) {
          setOutputAtIndex(base + c, (xAt(base + c) - mean) * rstd * gamma[c] + beta[c]);
        }
      }`,
  gradX: `
      var sg = 0.0;
      var sgx = 0.0;
      for (var c = i32(localIndex); c < h; c = c + W) {
        let g = dy[base + c] * gamma[c];
        sg = sg + g;
        sgx = sgx + g * (xAt(base + c) - mean) * rstd;
      }
      let m = rowSum(vec2<f32>(sg, sgx)) / f32(h);
      if (valid) {
        for (var c = i32(localIndex); c < h; c = c + W) {
          let g = dy[base + c] * gamma[c];
          let xhat = (xAt(base + c) - mean) * rstd;
          setOutputAtIndex(base + c, rstd * (g - m.x - xhat * m.y));
        }
      }`,
  stats: `
      if (valid && localIndex == 0u) {
        setOutputAtIndex(2 * row, mean);
        setOutputAtIndex(2 * row + 1, rstd);
      }`,
};

/** One workgroup per row of x [N, H] (of x + res with a residual); `eps` a uniform. */
class LayerNormRowProgram extends RowProgram {
  variableNames: string[];
  uniforms = 'eps : f32,';

  constructor(
    private readonly mode: RowMode,
    [n, h]: [number, number],
    private readonly residual: boolean,
  ) {
    super(n, h, mode === 'stats' ? [n, 2] : [n, h], `alumLayerNorm_${mode}${residual ? '_res' : ''}`);
    this.variableNames = withResidual(ROW_INPUTS[mode], residual);
  }

  getUserCode(): string {
    return `
      ${rowPrelude(this.workgroupSize[0], this.residual)}
      fn main(index : i32) {
        ${rowIndexWgsl('x', 'h')}
        let mean = rowMean(base, h);
        let rstd = rowRstd(base, h, mean);
        ${ROW_BODY[this.mode]}
      }
    `;
  }
}

/**
 * Column sums over the rows of dy [N, H] -> [H]: of dy itself (dbeta), or of dy xhat with xhat from x [N, H] (x + res
 * with a residual) and the row statistics [N, 2] (dgamma). A workgroup takes SUM_COLS columns, SUM_LANES threads per column each
 * summing every SUM_LANES-th row, then a tree over the lanes in workgroup memory.
 */
class ColumnSumProgram implements WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [SUM_COLS * SUM_LANES, 1, 1];

  constructor(
    private readonly scaled: boolean,
    [, h]: [number, number],
    private readonly residual = false,
  ) {
    this.variableNames = scaled ? withResidual(['dy', 'x', 'stats'], residual) : ['dy'];
    this.outputShape = [h];
    this.dispatchLayout = { x: [0] };
    this.dispatch = [Math.ceil(h / SUM_COLS), 1, 1];
    this.shaderKey = `alumLayerNormColumnSum_${scaled ? 'gamma' : 'beta'}${residual ? '_res' : ''}`;
  }

  getUserCode(): string {
    const xAt = (i: string) => (this.residual ? `(x[${i}] + res[${i}])` : `x[${i}]`);
    const term = this.scaled
      ? `dy[r * h + col] * (${xAt('r * h + col')} - stats[2 * r]) * stats[2 * r + 1]`
      : 'dy[r * h + col]';
    return `
      var<workgroup> part : array<f32, ${SUM_COLS * SUM_LANES}>;
      fn main(index : i32) {
        let n = uniforms.dyShape.x;
        let h = uniforms.dyShape.y;
        let tid = i32(localIndex);
        let col = (index / ${SUM_COLS * SUM_LANES}) * ${SUM_COLS} + tid % ${SUM_COLS};
        let lane = tid / ${SUM_COLS};
        var acc = 0.0;
        if (col < h) {
          for (var r = lane; r < n; r = r + ${SUM_LANES}) {
            acc = acc + ${term};
          }
        }
        part[tid] = acc;
        workgroupBarrier();
        for (var s = ${SUM_LANES / 2}; s > 0; s = s >> 1u) {
          if (lane < s) {
            part[tid] = part[tid] + part[tid + s * ${SUM_COLS}];
          }
          workgroupBarrier();
        }
        if (lane == 0 && col < h) {
          setOutputAtIndex(col, part[tid]);
        }
      }
    `;
  }
}

const epsUniform = (attrs: KernelArgs['attrs']) => [{ type: 'float32', data: [Number(attrs?.['eps'])] }];

/** Whether a kernel's inputs carry a residual `res` to add to x, of x's shape (or a one-line error naming it). */
function hasResidual(args: KernelArgs, kernel: string): boolean {
  const [x, res] = [
    args.inputs['x'] as tf.TensorInfo | undefined,
    args.inputs['res'] as tf.TensorInfo | undefined,
  ];
  if (res === undefined) return false;
  if (res.dtype !== 'float32' || x === undefined || res.shape.join() !== x.shape.join()) {
    throw new Error(`${kernel}: the residual ${res.dtype} [${res.shape.join(',')}] does not match x`);
  }
  return true;
}

function runRows(mode: RowMode, kernel: string, args: KernelArgs): tf.TensorInfo {
  const shape = rows(args.inputs['x'] as tf.TensorInfo, kernel);
  const program = new LayerNormRowProgram(mode, shape, hasResidual(args, kernel));
  return runProgram(program, args, epsUniform(args.attrs));
}

function runColumnSum(scaled: boolean, kernel: string, args: KernelArgs): tf.TensorInfo {
  const shape = rows(args.inputs['dy'] as tf.TensorInfo, kernel);
  return runProgram(new ColumnSumProgram(scaled, shape, hasResidual(args, kernel)), args);
}

const kernels: [string, tf.KernelFunc][] = [
  [LAYER_NORM, (a) => runRows('forward', LAYER_NORM, a)],
  [ADD_LAYER_NORM, (a) => runRows('forward', ADD_LAYER_NORM, a)],
  [LAYER_NORM_GRAD_X, (a) => runRows('gradX', LAYER_NORM_GRAD_X, a)],
  [LAYER_NORM_STATS, (a) => runRows('stats', LAYER_NORM_STATS, a)],
  [LAYER_NORM_GRAD_GAMMA, (a) => runColumnSum(true, LAYER_NORM_GRAD_GAMMA, a)],
  [LAYER_NORM_GRAD_BETA, (a) => runColumnSum(false, LAYER_NORM_GRAD_BETA, a)],
  [COLUMN_SUM, (a) => runColumnSum(false, COLUMN_SUM, a)],
];
registerWebgpuKernels(kernels);

/**
 * Per input, only for the inputs a gradient needs (the inner ascent's gradient w.r.t. x runs one dispatch).
 * dy [N, H]; x [N, H] and gamma [H] saved from the forward pass.
 */
/**
 * The gradients of LayerNorm of x (`res` undefined) or of x + res: dx (the same for res: a clone, a relabel on webgpu,
 * so that tfjs may dispose each on its own), dgamma, dbeta.
 */
function layerNormGrads(
  dy: tf.Tensor2D,
  [x, gamma, res]: [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D?],
  eps: number,
): Record<string, () => tf.Tensor> {
  const run = (kernel: string, inputs: tf.NamedTensorMap) =>
    tf.engine().runKernel(kernel, inputs, { eps }) as tf.Tensor;
  const xs = res ? { x, res } : { x };
  let dx: tf.Tensor | undefined;
  const gradX = () => (dx ??= run(LAYER_NORM_GRAD_X, { dy, ...xs, gamma })); // [N, H]
  return {
    x: gradX,
    ...(res ? { res: () => gradX().clone() } : {}),
    gamma: () => run(LAYER_NORM_GRAD_GAMMA, { dy, ...xs, stats: run(LAYER_NORM_STATS, xs) }), // [H]
    beta: () => run(LAYER_NORM_GRAD_BETA, { dy }), // [H]
  };
}

if (!tf.getGradient(LAYER_NORM)) {
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ['x', 'gamma'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) =>
      layerNormGrads(dy as tf.Tensor2D, saved as [tf.Tensor2D, tf.Tensor1D], attrs?.['eps'] as number),
  });
}

if (!tf.getGradient(ADD_LAYER_NORM)) {
  tf.registerGradient({
    kernelName: ADD_LAYER_NORM,
    inputsToSave: ['x', 'gamma', 'res'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) =>
      layerNormGrads(
        dy as tf.Tensor2D,
        saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D],
        attrs?.['eps'] as number,
      ),
  });
}

/**
 * LayerNorm over the last axis on the webgpu backend: x [..., H], gamma [H], beta [H] -> [..., H], in one
 * dispatch (`AlumLayerNorm`), with the gradients above; with `residual` (x's shape) of x + residual, the sum made
 * in the program (`AlumAddLayerNorm`: no Add dispatched, no sum stored). Other backends have no such kernel: use
 * `layerNormOps` there (`layerNormFused` picks).
 */
export function layerNormWebgpu(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  residual?: tf.Tensor,
): tf.Tensor {
  const h = x.shape[x.rank - 1] ?? 0;
  const fits = !residual || residual.shape.join() === x.shape.join();
  if (
    x.rank < 1 ||
    gamma.rank !== 1 ||
    beta.rank !== 1 ||
    gamma.shape[0] !== h ||
    beta.shape[0] !== h ||
    !fits
  ) {
    const res = residual ? `, residual [${residual.shape.join(',')}]` : '';
    throw new Error(
      `layerNorm: x [${x.shape.join(',')}], gamma [${gamma.shape.join(',')}], beta [${beta.shape.join(',')}]${res} do not fit`,
    );
  }
  return tf.tidy(() => {
    const flat = { x: x.reshape([-1, h]), gamma, beta };
    const y = residual
      ? tf.engine().runKernel(ADD_LAYER_NORM, { ...flat, res: residual.reshape([-1, h]) }, { eps })
      : tf.engine().runKernel(LAYER_NORM, flat, { eps }); // [N, H]
    return (y as tf.Tensor2D).reshape(x.shape);
  });
}

/**
 * Column sums of dy [N, H] -> [H] in one dispatch on the webgpu backend (`AlumColumnSum`, the program of LayerNorm's
 * dbeta). tfjs's Sum over axis 0 transposes dy first (a reduction runs over the innermost axes only) and then
 * reduces each row of the transpose: two dispatches and, on the H200, about 0.4 ms a dense layer's bias gradient.
 */
export function columnSumsWebgpu(dy: tf.Tensor2D): tf.Tensor1D {
  return tf.engine().runKernel(COLUMN_SUM, { dy }) as tf.Tensor1D;
}

/**
 * The KL toward a stop-gradient target, KL(sg p || q) per row (losses.ts `klRowsToward`), as WGSL programs of the
 * webgpu backend (tfjs-backend-webgpu 4.22): one dispatch for the value and one for its gradient w.r.t. q's logits,
 * where the plain ops of losses.ts (`klPieces`) run about fifty-seven. The same maths in the same order, per row of
 * the logits zp, zq [R, C], d = zp - zq:
 *   log p = (zp - max zp) - log sum exp(zp - max zp), p = exp(log p), and log q, q likewise (q = exp(zq - max) / sum);
 *   where every |d_j| <= `small` (losses.ts's KL_SMALL_D, passed in):
 *     e_j = expm1(-clip(d_j)) and log1p(S), S = sum_i p_i e_i, by the five-term series of losses.ts
 *     (log p_j - log q_j) = clip(d_j) + log1p(S),   q_j - p_j = p_j (e_j - S) / (1 + S);
 *   elsewhere (log p_j - log q_j) and q_j - p_j from the log-softmaxes;
 *   value = sum_j p_j (log p_j - log q_j);  gradient w.r.t. zq = dy_r (q_j - p_j).
 * One workgroup per row: each program reads the row's logits and recomputes its pieces (maxima, sums, S) in
 * workgroup memory, so nothing but the two logit tensors is kept for the backward pass. Tested on Dawn against a
 * float64 reference, the plain ops and the nano model's PyTorch golden step (webgpu-kl.test.ts, running
 * test/webgpu/kl.ts).
 */
import * as tf from '@tensorflow/tfjs';

import {
  registerWebgpuKernels,
  rowIndexWgsl,
  rowReductionsWgsl,
  RowProgram,
  rows,
  runProgram,
  type KernelArgs,
} from '../model/wgsl.ts';

/** Kernel names (what `tf.profile` lists; one dispatch each). */
export const KL_ROWS = 'AlumKlRows';
export const KL_ROWS_GRAD = 'AlumKlRowsGrad';

type Mode = 'value' | 'grad';

/** The five-term series of losses.ts (`expm1Series`, `log1pSeries`), operation for operation. */
const SERIES_WGSL = `
  fn expm1Series(x : f32) -> f32 {
    return x * ((((1.0 + x / 5.0) * (x / 4.0) + 1.0) * (x / 3.0) + 1.0) * (x / 2.0) + 1.0);
  }
  fn log1pSeries(s : f32) -> f32 {
    return s * (1.0 - (0.5 - (${1 / 3} - (0.25 - s / 5.0) * s) * s) * s);
  }
`;

/** Each program's last loop over the row, once the row's maxima, log-sums and S are known. */
const BODY: Record<Mode, string> = {
  value: `
        var acc = 0.0;
        for (var j = i32(localIndex); j < c; j = j + W) {
          let zp = p[base + j];
          let zq = q[base + j];
          let logp = (zp - mp) - lsp;
          var ratio = logp - ((zq - mq) - lsq);
          if (small) {
            ratio = clamp(zp - zq, -uniforms.small, uniforms.small) + log1pSeries(s);
          }
          acc = acc + exp(logp) * ratio;
        }
        let total = rowSum(acc);
        if (valid && localIndex == 0u) {
          setOutputAtIndex(row, total);
        }`,
  grad: `
        let g = dy[row];
        for (var j = i32(localIndex); j < c; j = j + W) {
          let zp = p[base + j];
          let zq = q[base + j];
          let pj = exp((zp - mp) - lsp);
          var qmp = exp(zq - mq) / sumq - pj;
          if (small) {
            qmp = pj * (expm1Series(-clamp(zp - zq, -uniforms.small, uniforms.small)) - s) / (s + 1.0);
          }
          if (valid) {
            setOutputAtIndex(base + j, g * qmp);
          }
        }`,
};

/**
 * One workgroup per row of zp, zq [R, C] (`p`, `q`): the value [R], or the gradient [R, C] from dy [R]. The row is
 * the workgroup's (uniform), clamped so that padding workgroups of a reshaped dispatch read a real row and write
 * nothing; barriers stay in uniform control flow.
 */
class KlRowsProgram extends RowProgram {
  variableNames: string[];
  uniforms = 'small : f32,';

  constructor(
    private readonly mode: Mode,
    [r, c]: [number, number],
  ) {
    super(r, c, mode === 'grad' ? [r, c] : [r], `alumKlRows_${mode}`);
    this.variableNames = mode === 'grad' ? ['p', 'q', 'dy'] : ['p', 'q'];
  }

  getUserCode(): string {
    const w = this.workgroupSize[0];
    return `
      ${rowReductionsWgsl(w)}
      ${SERIES_WGSL}

      fn main(index : i32) {
        ${rowIndexWgsl('p', 'c')}
        var mp = -3.402823e38;
        var mq = -3.402823e38;
        var dmax = 0.0;
        for (var j = i32(localIndex); j < c; j = j + W) {
          mp = max(mp, p[base + j]);
          mq = max(mq, q[base + j]);
          // A NaN difference makes the row not small (WGSL's max may drop a NaN): the plain branch spreads it.
          let dj = abs(p[base + j] - q[base + j]);
          dmax = max(dmax, select(dj, uniforms.INFINITY, isnan(dj)));
        }
        mp = rowMax(mp);
        mq = rowMax(mq);
        let small = rowMax(dmax) <= uniforms.small;
        var ep = 0.0;
        var eq = 0.0;
        for (var j = i32(localIndex); j < c; j = j + W) {
          ep = ep + exp(p[base + j] - mp);
          eq = eq + exp(q[base + j] - mq);
        }
        let lsp = log(rowSum(ep));
        let sumq = rowSum(eq);
        let lsq = log(sumq);
        var part = 0.0;
        for (var j = i32(localIndex); j < c; j = j + W) {
          let d = clamp(p[base + j] - q[base + j], -uniforms.small, uniforms.small);
          part = part + exp((p[base + j] - mp) - lsp) * expm1Series(-d);
        }
        let s = rowSum(part);
        ${BODY[this.mode]}
      }
    `;
  }
}

function runKl(mode: Mode, kernel: string, args: KernelArgs): tf.TensorInfo {
  const shape = rows(args.inputs['p'] as tf.TensorInfo, kernel);
  const small = Number(args.attrs?.['small']);
  return runProgram(new KlRowsProgram(mode, shape), args, [{ type: 'float32', data: [small] }]);
}

registerWebgpuKernels([
  [KL_ROWS, (a) => runKl('value', KL_ROWS, a)],
  [KL_ROWS_GRAD, (a) => runKl('grad', KL_ROWS_GRAD, a)],
]);

/**
 * KL(sg p || q) per row on the webgpu backend from logits pLogits, qLogits [R, C] -> [R]: one dispatch
 * (`AlumKlRows`), one more for the gradient w.r.t. qLogits (`AlumKlRowsGrad`); none reaches pLogits. `small`: the
 * largest |zp - zq| of a row that takes the series forms.
 */
export function klRowsTowardWebgpu(pLogits: tf.Tensor2D, qLogits: tf.Tensor2D, small: number): tf.Tensor1D {
  if (pLogits.rank !== 2 || pLogits.shape.join() !== qLogits.shape.join()) {
    throw new Error(
      `klRowsToward: logits [${pLogits.shape.join(',')}] and [${qLogits.shape.join(',')}] differ (want two [R, C])`,
    );
  }
  const f = tf.customGrad(((q: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([pLogits, q]);
    return {
      value: tf.engine().runKernel(KL_ROWS, { p: pLogits, q }, { small }) as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf
          .engine()
          .runKernel(KL_ROWS_GRAD, { p: saved[0] as tf.Tensor, q: saved[1] as tf.Tensor, dy }, { small }),
      ],
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(qLogits) as tf.Tensor1D;
}

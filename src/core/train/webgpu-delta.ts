/**
 * ALUM's inner-step update of the perturbation (alum.ts `updateDelta`, docs/alum-step.md "Inner ascent") as WGSL
 * programs of the webgpu backend (tfjs-backend-webgpu 4.22), registered as tfjs kernels: one dispatch for the new
 * delta and one for the gradient's part `eff` (mt-dnn's `eff_perturb`), where the plain ops run 10 ('paper', L-inf,
 * the default) to 17. The same maths in the same order, per token row of current and g [R, H], n the token norm
 * (max |x| for 'inf', sqrt of sum x^2 for 'l2'), step = g eta:
 *   paper:      part = step / (n(g) + 1e-12),  next = P(current + part)
 *   paper-raw:  part = step,                   next = P(current + step)
 *   mtdnn-2020: part = step / (n(g) + 1e-6),   next = current + part
 *   mtdnn-head: den = n(current + step) + 1e-6,  part = step / den,  next = (current + step) / den
 * with P the projection onto the token's ball (clip to [-epsilon, epsilon] for 'inf'; for 'l2' a scale of
 * epsilon / max(n, epsilon)); then next * mask and |part| * mask, mask [R] the token's (0 on padding). The norm
 * guards come from alum.ts (`NORM_EPS`, passed in). One workgroup per row, its norms reduced in workgroup memory.
 * Tested on Dawn against `updateDelta`'s plain ops for every variant and norm, and in the nano golden step
 * (webgpu-delta.test.ts, running test/webgpu/delta.ts).
 */
import * as tf from '@tensorflow/tfjs';

import type { Norm, Variant } from '../config.ts';
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
export const DELTA_NEXT = 'AlumDeltaNext';
export const DELTA_EFF = 'AlumDeltaEff';

type Output = 'next' | 'eff';

/** The settings the programs are specialised for (`updateDelta`'s), and the norm guard of the variant. */
export interface DeltaSettings {
  variant: Variant;
  norm: Norm;
  eta: number;
  epsilon: number;
  normEps: number;
}

/** WGSL: the token norm of the row's values `value(c)` (an expression in c) into `name`, every thread getting it. */
function rowNorm(name: string, norm: Norm, value: string): string {
  if (norm === 'inf') {
    // WGSL's max may drop a NaN, tfjs's Max keeps it: a NaN anywhere in the row makes the norm NaN.
    return `
        var ${name}Acc = 0.0;
        var ${name}Nan = 0.0;
        for (var c = i32(localIndex); c < h; c = c + W) {
          let ${name}V = abs(${value});
          ${name}Acc = max(${name}Acc, ${name}V);
          ${name}Nan = select(${name}Nan, 1.0, isnan(${name}V));
        }
        let ${name}Max = rowMax(${name}Acc);
        let ${name} = select(${name}Max, uniforms.NAN, rowMax(${name}Nan) > 0.0);`;
  }
  return `
        var ${name}Acc = 0.0;
        for (var c = i32(localIndex); c < h; c = c + W) {
          let ${name}V = ${value};
          ${name}Acc = ${name}Acc + ${name}V * ${name}V;
        }
        let ${name} = sqrt(rowSum(${name}Acc));`;
}

/**
 * WGSL of a variant: the row norms `part(c)` needs (`partNorms`), those `next(c)` needs besides (`nextNorms`: the
 * projection's), and the two expressions (before the mask).
 */
function variantWgsl(s: Pick<DeltaSettings, 'variant' | 'norm'>): {
  partNorms: string;
  nextNorms: string;
  part: string;
  next: string;
} {
  const step = '(g[base + c] * uniforms.eta)';
  const cur = 'current[base + c]';
  const projected = (raw: string) => ({
    nextNorms: s.norm === 'l2' ? rowNorm('rawNorm', 'l2', raw) : '',
    next:
      s.norm === 'inf' ? `clipNan(${raw})` : `(${raw}) * (uniforms.epsilon / max(rawNorm, uniforms.epsilon))`,
  });
  const gNorm = rowNorm('gNorm', s.norm, 'g[base + c]');
  const normalised = `(${step} / (gNorm + uniforms.normEps))`;
  switch (s.variant) {
    case 'paper':
      return { partNorms: gNorm, part: normalised, ...projected(`${cur} + ${normalised}`) };
    case 'paper-raw':
      return { partNorms: '', part: step, ...projected(`${cur} + ${step}`) };
    case 'mtdnn-2020':
      return { partNorms: gNorm, nextNorms: '', part: normalised, next: `${cur} + ${normalised}` };
    case 'mtdnn-head':
      return {
        partNorms: `${rowNorm('rawNorm', s.norm, `${cur} + ${step}`)}
        let den = rawNorm + uniforms.normEps;`,
        nextNorms: '',
        part: `(${step} / den)`,
        next: `(${cur} + ${step}) / den`,
      };
  }
}

/** One workgroup per token row of current, g [R, H] (and mask [R]): the new delta or eff, [R, H]. */
class DeltaProgram extends RowProgram {
  variableNames: string[];
  uniforms = 'eta : f32, epsilon : f32, normEps : f32,';

  constructor(
    private readonly output: Output,
    private readonly s: Pick<DeltaSettings, 'variant' | 'norm'>,
    [r, h]: [number, number],
  ) {
    super(r, h, [r, h], `alumDelta_${output}_${s.variant}_${s.norm}`);
    // Bound only where read: WGSL drops an unread binding, and the bind group must match.
    const readsCurrent = output === 'next' || s.variant === 'mtdnn-head';
    this.variableNames = readsCurrent ? ['current', 'g', 'mask'] : ['g', 'mask'];
  }

  getUserCode(): string {
    const v = variantWgsl(this.s);
    const next = this.output === 'next';
    const value = next ? v.next : `abs(${v.part})`;
    return `
      ${rowReductionsWgsl(this.workgroupSize[0])}

      // clip to the L-inf ball, a NaN kept (as tfjs's ClipByValue keeps it; WGSL's clamp may not)
      fn clipNan(x : f32) -> f32 {
        return select(clamp(x, -uniforms.epsilon, uniforms.epsilon), x, isnan(x));
      }

      fn main(index : i32) {
        ${rowIndexWgsl('g', 'h')}
        ${v.partNorms}
        ${next ? v.nextNorms : ''}
        if (valid) {
          let m = f32(mask[row]); // an int32 buffer where the mask was cast to float32 (a relabel on webgpu)
          for (var c = i32(localIndex); c < h; c = c + W) {
            setOutputAtIndex(base + c, (${value}) * m);
          }
        }
      }
    `;
  }
}

function runDelta(output: Output, kernel: string, args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as DeltaSettings;
  const shape = rows(args.inputs['g'] as tf.TensorInfo, kernel);
  const uniforms = [a.eta, a.epsilon, a.normEps].map((x) => ({ type: 'float32', data: [x] }));
  return runProgram(new DeltaProgram(output, a, shape), args, uniforms);
}

registerWebgpuKernels([
  [DELTA_NEXT, (a) => runDelta('next', DELTA_NEXT, a)],
  [DELTA_EFF, (a) => runDelta('eff', DELTA_EFF, a)],
]);

/**
 * `updateDelta` on the webgpu backend: current, g [B, T, H], mask [B, T, 1] -> the new state (zero on padding) and
 * |part| (zero on padding), [B, T, H] each, in two dispatches. Not differentiated (the ascent's update is outside
 * its tape).
 */
export function updateDeltaWebgpu(
  current: tf.Tensor3D,
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  s: DeltaSettings,
): { next: tf.Tensor3D; eff: tf.Tensor3D } {
  const [b, t, h] = current.shape;
  if (g.shape.join() !== current.shape.join() || mask.shape.join() !== [b, t, 1].join()) {
    throw new Error(
      `updateDelta: delta [${current.shape.join(',')}], gradient [${g.shape.join(',')}] and mask [${mask.shape.join(',')}] do not fit (want [B,T,H], [B,T,H], [B,T,1])`,
    );
  }
  return tf.tidy(() => {
    const inputs = {
      current: current.reshape([b * t, h]),
      g: g.reshape([b * t, h]),
      mask: mask.reshape([b * t]),
    };
    const attrs = { ...s } as unknown as tf.NamedAttrMap;
    const run = (kernel: string) =>
      (tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor).reshape([b, t, h]);
    return { next: run(DELTA_NEXT) as tf.Tensor3D, eff: run(DELTA_EFF) as tf.Tensor3D };
  });
}

/**
 * AdamW's elementwise update over a group's flat buffers as WGSL programs of the webgpu backend (tfjs-backend-webgpu
 * 4.22), registered as tfjs kernels: three dispatches (first moment, second moment, weights) where the plain ops of
 * adamw.ts (`AdamW`, `updateGroup`) run sixteen. The same arithmetic in the same order, each entry i:
 *   g  = grad_i * scale                                   (scale: the clip factor, a scalar tensor)
 *   m' = m_i * beta1 + g * (1 - beta1)
 *   v' = v_i * beta2 + (g * g) * (1 - beta2)
 *   p' = p_i * f_i - (m' / (sqrt(v') / sqrt(1 - beta2^t) + eps)) * (lr / (1 - beta1^t))
 * with f_i = 1 (no decay), 1 - lr wd (all decay) or max(floor_i, 1 - lr wd) (a mixed group's per-entry floor).
 * The weights program reads m' and v' as the moment programs wrote them. Optimizers are not differentiated: no
 * gradients. Tested on Dawn against the plain ops, a float64 loop and torch's AdamW (webgpu-adamw.test.ts, running
 * test/webgpu/optimizer.ts).
 */
import * as tf from '@tensorflow/tfjs';

import { FlatProgram, registerWebgpuKernels, runProgram, type KernelArgs } from '../model/wgsl.ts';

/** Kernel names (what `tf.profile` lists; one dispatch each). */
export const ADAM_MOMENT = 'AlumAdamMoment';
export const ADAM_WEIGHTS = 'AlumAdamWeights';

/** Which moment a moment program updates: the first (of g) or the second (of g squared). */
export type Moment = 'first' | 'second';

/** How a weights program decays: not at all, by one factor, or by max(floor_i, factor) (an input `floors` [n]). */
export type DecayMode = 'none' | 'all' | 'mixed';

/** The output at `index` of each program, its inputs and its uniforms (in the order the data is passed). */
const PROGRAMS = {
  first: {
    inputs: ['g', 'mom', 'scale'],
    uniforms: 'beta : f32, rest : f32,',
    out: 'mom[index] * uniforms.beta + (g[index] * scale[0]) * uniforms.rest',
  },
  second: {
    inputs: ['g', 'mom', 'scale'],
    uniforms: 'beta : f32, rest : f32,',
    out: 'mom[index] * uniforms.beta + ((g[index] * scale[0]) * (g[index] * scale[0])) * uniforms.rest',
  },
  weights: {
    inputs: ['p', 'm', 'v'],
    uniforms: 'sqrtBc2 : f32, eps : f32, lrBc1 : f32, factor : f32,',
    out: 'p[index] * FACTOR - (m[index] / (sqrt(v[index]) / uniforms.sqrtBc2 + uniforms.eps)) * uniforms.lrBc1',
  },
} as const;

type ProgramKind = keyof typeof PROGRAMS;

/** The factor of a weights program's decay mode, as WGSL. */
const FACTOR: Record<DecayMode, string> = {
  none: '1.0',
  all: 'uniforms.factor',
  mixed: 'max(floors[index], uniforms.factor)',
};

/** Elementwise over flat [n] buffers, one thread an entry (tfjs reshapes the dispatch past 65,535 workgroups). */
class AdamProgram extends FlatProgram {
  variableNames: string[];
  uniforms: string;

  constructor(
    private readonly kind: ProgramKind,
    private readonly decay: DecayMode,
    n: number,
  ) {
    super(n, `alumAdam_${kind}_${decay}`);
    const p = PROGRAMS[kind];
    this.variableNames = [...p.inputs, ...(decay === 'mixed' ? ['floors'] : [])];
    this.uniforms = p.uniforms;
  }

  getUserCode(): string {
    const out = PROGRAMS[this.kind].out.replace('FACTOR', FACTOR[this.decay]);
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, ${out});
        }
      }
    `;
  }
}

const f32 = (x: number) => ({ type: 'float32', data: [x] });

function sizeOf(t: tf.TensorInfo, kernel: string): number {
  if (t.shape.length !== 1 || t.dtype !== 'float32') {
    throw new Error(`${kernel}: expected a float32 [n] input, got ${t.dtype} [${t.shape.join(',')}]`);
  }
  return t.shape[0] as number;
}

function runMoment(args: KernelArgs): tf.TensorInfo {
  const { moment, beta } = args.attrs as { moment: Moment; beta: number };
  const n = sizeOf(args.inputs['g'] as tf.TensorInfo, ADAM_MOMENT);
  return runProgram(new AdamProgram(moment, 'none', n), args, [f32(beta), f32(1 - beta)]);
}

function runWeights(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as { decay: DecayMode; sqrtBc2: number; eps: number; lrBc1: number; factor: number };
  const n = sizeOf(args.inputs['p'] as tf.TensorInfo, ADAM_WEIGHTS);
  const uniforms = [f32(a.sqrtBc2), f32(a.eps), f32(a.lrBc1), f32(a.factor)];
  return runProgram(new AdamProgram('weights', a.decay, n), args, uniforms);
}

registerWebgpuKernels([
  [ADAM_MOMENT, runMoment],
  [ADAM_WEIGHTS, runWeights],
]);

/** The constants of one update (the t-th) as the plain ops round them: each a float32 scalar there too. */
export interface AdamConstants {
  beta1: number;
  beta2: number;
  /** sqrt(1 - beta2^t) */
  sqrtBc2: number;
  eps: number;
  /** lr / (1 - beta1^t) */
  lrBc1: number;
  /** 1 - lr wd */
  factor: number;
}

/**
 * The first or second moment updated from the flat gradient `g` [n] and the clip factor `scale` (a scalar): one
 * dispatch (`AlumAdamMoment`). -> [n]
 */
export function momentWebgpu(
  moment: Moment,
  g: tf.Tensor,
  mom: tf.Tensor,
  scale: tf.Scalar,
  beta: number,
): tf.Tensor1D {
  return tf.engine().runKernel(ADAM_MOMENT, { g, mom, scale }, { moment, beta }) as tf.Tensor1D;
}

/**
 * The weights `p` [n] stepped from the new moments `m`, `v` [n] and decayed as `decay` says (`floor` [n] for a
 * mixed group): one dispatch (`AlumAdamWeights`). -> [n]
 */
export function weightsWebgpu(
  p: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  decay: DecayMode,
  floor: tf.Tensor | null,
  c: AdamConstants,
): tf.Tensor1D {
  if ((decay === 'mixed') !== (floor !== null)) {
    throw new Error(`weightsWebgpu: a floor is given exactly when the decay is mixed (got ${decay})`);
  }
  const inputs = floor ? { p, m, v, floors: floor } : { p, m, v };
  const { sqrtBc2, eps, lrBc1, factor } = c;
  return tf.engine().runKernel(ADAM_WEIGHTS, inputs, { decay, sqrtBc2, eps, lrBc1, factor }) as tf.Tensor1D;
}

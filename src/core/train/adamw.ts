/**
 * AdamW (Loshchilov & Hutter 2019) with global-norm gradient clipping, matching PyTorch's
 * `torch.nn.utils.clip_grad_norm_` + `torch.optim.AdamW` update for update. Own implementation (not
 * tf.train.adam) because we need decoupled weight decay on matrices only, a per-step learning rate, and an
 * optimizer state we can name and save with a checkpoint.
 */
import * as tf from '@tensorflow/tfjs';

import type { Params } from '../model/params.ts';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global L2 norm of all gradients to this (0: no clipping). */
  maxGradNorm: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-6,
  weightDecay: 0.01,
  maxGradNorm: 1,
};

/** Weight decay only for tensors with 2 or more dims: not biases, not LayerNorm (nanoGPT/BERT practice). */
export function decays(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && !name.includes('LayerNorm');
}

/**
 * Global L2 norm of all gradients. Pairwise adds, not tf.addN: WebGPU's AddN binds every input as a storage
 * buffer and fails past the device's per-stage limit (8 on SwiftShader), silently yielding NaN. -> scalar
 */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    for (const g of grads) total = total.add(g.square().sum());
    return total.sqrt() as tf.Scalar;
  });
}

function zeroVariable(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const v = tf.variable(zeros, false);
  zeros.dispose();
  return v;
}

/** AdamW's whole state as plain arrays (a checkpoint's part): update count and both moments per parameter. */
export interface AdamWState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  /** Number of updates applied so far. */
  t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Params,
    readonly settings: AdamWSettings = ADAMW_DEFAULTS,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, zeroVariable(p));
      this.v.set(name, zeroVariable(p));
    }
  }

  /**
   * Applies one update with learning rate `lr`. Gradients are not disposed (the caller owns them).
   * `norm`: their global norm when the caller already computed it (`globalNorm`), so it is not done twice.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, norm?: tf.Scalar): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.settings;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      let scale: tf.Scalar = tf.scalar(1);
      if (maxGradNorm > 0) {
        const total = norm ?? globalNorm(grads.values());
        scale = tf.minimum(tf.scalar(1), tf.scalar(maxGradNorm).div(total.add(1e-6))); // torch's clip_coef
      }
      for (const [name, p] of this.params) {
        const grad = grads.get(name);
        if (!grad) continue;
        const g = grad.mul(scale);
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        const decayed = decays(name, p.shape) && weightDecay > 0 ? p.mul(1 - lr * weightDecay) : p;
        const denom = v.sqrt().div(Math.sqrt(bc2)).add(eps);
        p.assign(decayed.sub(m.div(denom).mul(lr / bc1)));
      }
    });
  }

  /** A copy of the state (reads every moment back from the backend). */
  async exportState(): Promise<AdamWState> {
    const read = async (vars: Map<string, tf.Variable>) => {
      const out = new Map<string, Float32Array>();
      for (const [name, x] of vars) out.set(name, (await x.data()) as Float32Array);
      return out;
    };
    return { t: this.t, m: await read(this.m), v: await read(this.v) };
  }

  /**
   * Replaces the state with `state` (as `exportState` gave it). Checks every moment's name and size first, so
   * a mismatched state changes nothing and gets one line naming `origin` and the tensor.
   */
  importState(state: AdamWState, origin: string): void {
    if (!Number.isInteger(state.t) || state.t < 0) {
      throw new Error(`${origin}: optimizer step count must be a non-negative integer, got ${state.t}`);
    }
    for (const [label, vars, arrays] of [
      ['m', this.m, state.m],
      ['v', this.v, state.v],
    ] as const) {
      for (const [name, x] of vars) {
        const a = arrays.get(name);
        if (!a) throw new Error(`${origin}: optimizer state ${label} has no '${name}'`);
        if (a.length !== x.size) {
          throw new Error(
            `${origin}: optimizer state ${label} '${name}' has ${a.length} values, expected ${x.size}`,
          );
        }
      }
      const extra = [...arrays.keys()].find((name) => !vars.has(name));
      if (extra !== undefined) throw new Error(`${origin}: optimizer state ${label} has unknown '${extra}'`);
    }
    for (const [vars, arrays] of [
      [this.m, state.m],
      [this.v, state.v],
    ] as const) {
      for (const [name, x] of vars) {
        const staging = tf.tensor(arrays.get(name) as Float32Array, x.shape);
        x.assign(staging);
        staging.dispose();
      }
    }
    this.t = state.t;
  }

  dispose(): void {
    this.m.forEach((x) => x.dispose());
    this.v.forEach((x) => x.dispose());
    this.m.clear();
    this.v.clear();
  }
}

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
 * Global L2 norm of all gradients: their squares summed over one flat concatenation (a few kernels, not three
 * per gradient). Concat, not tf.addN: WebGPU's AddN binds every input as a storage buffer and fails past the
 * device's per-stage limit (8 on SwiftShader), silently yielding NaN; its Concat splits the inputs in
 * chunks under that limit. -> scalar
 */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const all = [...grads];
    return all.length === 0 ? tf.scalar(0) : (concatFlat(all).square().sum().sqrt() as tf.Scalar);
  });
}

/** The tensors flattened and concatenated ([sum of sizes]); one tensor is only reshaped (no Concat kernel). */
function concatFlat(xs: tf.Tensor[]): tf.Tensor1D {
  const flat = xs.map((x) => x.reshape([-1]));
  return (flat.length === 1 ? (flat[0] as tf.Tensor) : tf.concat(flat)) as tf.Tensor1D;
}

/** `x` [sum of sizes] cut into parts of `sizes`; one part is `x` itself (a reshape, no SplitV kernel). */
function splitFlat(x: tf.Tensor, sizes: number[]): tf.Tensor[] {
  return sizes.length === 1 ? [x.reshape([-1])] : tf.split(x, sizes);
}

/**
 * Parameters updated together over flat buffers: same weight-decay rule, and all with or all without a
 * gradient in the last update. `m` and `v` hold the moments of `names` in order, flattened [sum of sizes].
 */
interface Group {
  decay: boolean;
  active: boolean;
  names: string[];
  sizes: number[];
  m: tf.Variable;
  v: tf.Variable;
}

/** AdamW's whole state as plain arrays (a checkpoint's part): update count and both moments per parameter. */
export interface AdamWState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/**
 * The update over flat buffers: the parameters fall into at most four groups (weight decay or not, gradient or
 * not), each group's moments are one flat tensor, and a step costs a fixed few kernels per group (concat the
 * gradients and weights, about fifteen elementwise ops, one split back into the weights) instead of a dozen
 * per parameter. The ops and constants per element are those of the per-tensor form, so the result matches it
 * bit for bit on a given backend. Parameters without a gradient in an update keep their weights and moments.
 *
 * On wasm every parameter is a group of its own (`flat` false): wasm's Slice copies its whole input
 * (`readSync`) before slicing, so splitting a flat buffer back into N weights would copy it N times, while a
 * kernel launch there costs next to nothing.
 */
export class AdamW {
  /** Number of updates applied so far. */
  t = 0;
  private groups: Group[];
  /** Which parameters had a gradient when the groups were laid out (names joined). */
  private layoutKey: string;

  constructor(
    private readonly params: Params,
    readonly settings: AdamWSettings = ADAMW_DEFAULTS,
    /** Group parameters into flat buffers (the default but on wasm), or give each its own group. */
    readonly flat: boolean = tf.getBackend() !== 'wasm',
  ) {
    const all = new Set(params.keys());
    this.groups = this.makeGroups(all, () => null);
    this.layoutKey = [...all].join('\n');
  }

  /**
   * Groups of the parameters for the active set `active`, moments taken from `moments(name)` ([size] each, or
   * null for zeros).
   */
  private makeGroups(
    active: ReadonlySet<string>,
    moments: (name: string) => { m: tf.Tensor; v: tf.Tensor } | null,
  ): Group[] {
    const groups: Group[] = [];
    for (const decay of [true, false]) {
      for (const isActive of [true, false]) {
        const members = [...this.params].filter(
          ([name, p]) => this.decays(name, p) === decay && active.has(name) === isActive,
        );
        for (const names of this.flat ? [members] : members.map((x) => [x])) {
          if (names.length > 0) groups.push(this.makeGroup(decay, isActive, names, moments));
        }
      }
    }
    return groups;
  }

  private makeGroup(
    decay: boolean,
    active: boolean,
    names: [string, tf.Variable][],
    moments: (name: string) => { m: tf.Tensor; v: tf.Tensor } | null,
  ): Group {
    const flat = (pick: 'm' | 'v') =>
      tf.tidy(() => concatFlat(names.map(([name, p]) => moments(name)?.[pick] ?? tf.zeros([p.size]))));
    const [m, v] = [flat('m'), flat('v')];
    const group = {
      decay,
      active,
      names: names.map(([name]) => name),
      sizes: names.map(([, p]) => p.size),
      m: tf.variable(m, false),
      v: tf.variable(v, false),
    };
    tf.dispose([m, v]);
    return group;
  }

  private decays(name: string, p: tf.Tensor): boolean {
    return decays(name, p.shape) && this.settings.weightDecay > 0;
  }

  /** Lays the groups out again (on the backend, no readback) when the set of parameters with gradients changed. */
  private relayout(active: ReadonlySet<string>): void {
    const key = [...this.params.keys()].filter((n) => active.has(n)).join('\n');
    if (key === this.layoutKey) return;
    const old = this.groups;
    const views = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
    for (const g of old) {
      const ms = splitFlat(g.m, g.sizes);
      const vs = splitFlat(g.v, g.sizes);
      g.names.forEach((name, i) => views.set(name, { m: ms[i] as tf.Tensor, v: vs[i] as tf.Tensor }));
    }
    this.groups = this.makeGroups(active, (name) => views.get(name) ?? null);
    views.forEach(({ m, v }) => tf.dispose([m, v]));
    old.forEach((g) => tf.dispose([g.m, g.v]));
    this.layoutKey = key;
  }

  /**
   * Applies one update with learning rate `lr`. Gradients are not disposed (the caller owns them).
   * `norm`: their global norm when the caller already computed it (`globalNorm`), so it is not done twice.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, norm?: tf.Scalar): void {
    this.relayout(new Set([...grads.keys()].filter((name) => this.params.has(name))));
    this.t += 1;
    const { maxGradNorm } = this.settings;
    tf.tidy(() => {
      let scale: tf.Scalar = tf.scalar(1);
      if (maxGradNorm > 0) {
        const total = norm ?? globalNorm(grads.values());
        scale = tf.minimum(tf.scalar(1), tf.scalar(maxGradNorm).div(total.add(1e-6))); // torch's clip_coef
      }
      for (const group of this.groups) if (group.active) this.updateGroup(group, grads, scale, lr);
    });
  }

  /**
   * One group's update (the t-th), each quantity in its own tidy so that the group's temporaries ([n] each) are
   * freed as soon as they are used: the peak is a few flat buffers, not every intermediate of the update.
   */
  private updateGroup(group: Group, grads: Map<string, tf.Tensor>, scale: tf.Scalar, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.settings;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    const flat = (get: (name: string) => tf.Tensor) => concatFlat(group.names.map(get)); // [n]
    const { m, v } = group;
    const g = tf.tidy(() => flat((name) => grads.get(name) as tf.Tensor).mul(scale));
    m.assign(tf.tidy(() => m.mul(beta1).add(g.mul(1 - beta1))));
    v.assign(tf.tidy(() => v.mul(beta2).add(tf.tidy(() => g.square().mul(1 - beta2)))));
    g.dispose();
    const step = tf.tidy(() => {
      const denom = tf.tidy(() => v.sqrt().div(Math.sqrt(bc2)).add(eps));
      return m.div(denom).mul(lr / bc1);
    });
    const next = tf.tidy(() => {
      const p = flat((name) => this.params.get(name) as tf.Variable);
      return (group.decay ? p.mul(1 - lr * weightDecay) : p).sub(step); // [n]
    });
    step.dispose();
    splitFlat(next, group.sizes).forEach((x, i) => {
      const param = this.params.get(group.names[i] as string) as tf.Variable;
      param.assign(x.reshape(param.shape));
      x.dispose();
    });
    next.dispose();
  }

  /** A copy of the state (reads every moment back from the backend, one readback per group and moment). */
  async exportState(): Promise<AdamWState> {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const g of this.groups) {
      for (const [out, flat] of [
        [m, g.m],
        [v, g.v],
      ] as const) {
        const data = (await flat.data()) as Float32Array;
        let offset = 0;
        g.names.forEach((name, i) => {
          const size = g.sizes[i] as number;
          out.set(name, data.slice(offset, offset + size));
          offset += size;
        });
      }
    }
    const order = (x: Map<string, Float32Array>) =>
      new Map([...this.params.keys()].map((name) => [name, x.get(name) as Float32Array]));
    return { t: this.t, m: order(m), v: order(v) };
  }

  /**
   * Replaces the state with `state` (as `exportState` gave it). Checks every moment's name and size first, so
   * a mismatched state changes nothing and gets one line naming `origin` and the tensor.
   */
  importState(state: AdamWState, origin: string): void {
    if (!Number.isInteger(state.t) || state.t < 0) {
      throw new Error(`${origin}: optimizer step count must be a non-negative integer, got ${state.t}`);
    }
    for (const [label, arrays] of [
      ['m', state.m],
      ['v', state.v],
    ] as const) {
      for (const [name, x] of this.params) {
        const a = arrays.get(name);
        if (!a) throw new Error(`${origin}: optimizer state ${label} has no '${name}'`);
        if (a.length !== x.size) {
          throw new Error(
            `${origin}: optimizer state ${label} '${name}' has ${a.length} values, expected ${x.size}`,
          );
        }
      }
      const extra = [...arrays.keys()].find((name) => !this.params.has(name));
      if (extra !== undefined) throw new Error(`${origin}: optimizer state ${label} has unknown '${extra}'`);
    }
    for (const g of this.groups) {
      for (const [flat, arrays] of [
        [g.m, state.m],
        [g.v, state.v],
      ] as const) {
        const packed = new Float32Array(flat.size);
        let offset = 0;
        g.names.forEach((name) => {
          const a = arrays.get(name) as Float32Array;
          packed.set(a, offset);
          offset += a.length;
        });
        const staging = tf.tensor1d(packed);
        flat.assign(staging);
        staging.dispose();
      }
    }
    this.t = state.t;
  }

  dispose(): void {
    this.groups.forEach((g) => tf.dispose([g.m, g.v]));
    this.groups = [];
  }
}

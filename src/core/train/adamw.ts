/**
 * AdamW (Loshchilov & Hutter 2019) with global-norm gradient clipping, matching PyTorch's
 * `torch.nn.utils.clip_grad_norm_` + `torch.optim.AdamW` update for update. Own implementation (not
 * tf.train.adam) because we need decoupled weight decay on matrices only, a per-step learning rate, and an
 * optimizer state we can name and save with a checkpoint.
 */
import * as tf from '@tensorflow/tfjs';

import type { Params } from '../model/params.ts';
import { concatByCopies, runsCopies, splitByCopies, storedAsFloat32 } from '../model/webgpu-copy.ts';
import { runsWgsl } from '../model/wgsl.ts';
import { sumAll } from './reduce.ts';
import { momentWebgpu, weightsWebgpu, type AdamConstants } from './webgpu-adamw.ts';

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
  return tf.tidy(() => sumOfSquares(grads).sqrt());
}

/** The sum of the squares of all entries of `grads` (`globalNorm` squared, before its square root; `sumAll`). -> scalar */
export function sumOfSquares(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const all = [...grads];
    return all.length === 0 ? tf.scalar(0) : sumAll(concatFlat(all).square());
  });
}

/**
 * `globalNorm` from the `sumOfSquares` read back: the square root rounded to float32 as the Sqrt kernel rounds
 * it (the cpu backend's bits; a GPU's square root may be an ulp away).
 */
export function normFromSquares(squares: number): number {
  return Math.fround(Math.sqrt(squares));
}

/**
 * Inputs one Concat kernel takes here: WebGPU's default `maxStorageBuffersPerShaderStage` (8) less the output.
 * tfjs' webgpu Concat splits a longer list itself, in chunks of this many and then the chunks (73 inputs: 11 +
 * 2 + 1 programs); `concatFlat` builds the tree itself, every program full (73 inputs: 10 + 1 + 1).
 */
export const CONCAT_FANIN = 7;

/**
 * The tensors flattened and concatenated in order ([sum of sizes]): one tensor is only reshaped (no Concat
 * kernel); on webgpu more are joined by buffer copies (`concatByCopies`, no program; float32 storage only),
 * elsewhere by `concatTree`.
 * The same values as one tf.concat (a copy).
 */
export function concatFlat(xs: tf.Tensor[]): tf.Tensor1D {
  if (xs.length > 1 && runsCopies() && xs.every(storedAsFloat32)) return concatByCopies(xs);
  return concatTree(xs);
}

/**
 * `concatFlat` by Concat kernels: more than CONCAT_FANIN tensors are joined in a tree of Concat kernels of at most
 * CONCAT_FANIN inputs each, each level joining consecutive runs of exactly CONCAT_FANIN (the rest pass up as they
 * are), which takes the fewest kernels: ceil((n - 1) / (CONCAT_FANIN - 1)). -> [sum of sizes]
 */
export function concatTree(xs: tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => {
    let level = xs.map((x) => x.reshape([-1]));
    while (level.length > CONCAT_FANIN) {
      const runs = Math.floor(level.length / CONCAT_FANIN);
      const joined = Array.from({ length: runs }, (_, i) =>
        tf.concat(level.slice(i * CONCAT_FANIN, (i + 1) * CONCAT_FANIN)),
      );
      level = [...joined, ...level.slice(runs * CONCAT_FANIN)];
    }
    return (level.length === 1 ? (level[0] as tf.Tensor) : tf.concat(level)) as tf.Tensor1D;
  });
}

/**
 * `x` [sum of sizes] cut into parts of `sizes`; one part is `x` itself (a reshape, no SplitV kernel); on webgpu
 * by buffer copies (`splitByCopies`, no program).
 */
function splitFlat(x: tf.Tensor, sizes: number[]): tf.Tensor[] {
  if (sizes.length === 1) return [x.reshape([-1])];
  return runsCopies() && storedAsFloat32(x) ? splitByCopies(x, sizes) : tf.split(x, sizes);
}

/** A tensor's storage handle (`tf.Variable.assign` replaces it; nothing else does). */
function dataIdOf(x: tf.Tensor): object {
  return (x as unknown as { dataId: object }).dataId;
}

/**
 * Parameters updated together over flat buffers: all with or all without a gradient in the last update.
 * `m` and `v` hold the moments of `names` in order, flattened [sum of sizes].
 */
interface Group {
  active: boolean;
  names: string[];
  sizes: number[];
  /**
   * Weight decay of the members: none, all, or a mix, given as [n] factors' floor: 1 where a parameter does
   * not decay, -Infinity where it does, so max(floor, 1 - lr wd) is each element's factor (1 - lr wd <= 1).
   */
  decay: 'none' | 'all' | tf.Tensor1D;
  m: tf.Variable;
  v: tf.Variable;
  /**
   * The members' weights as one flat variable [n] (groups of more than one parameter), and the members' data ids
   * when it was last written (laid out, or updated and split into them): while every member still holds that
   * data (no `assign` since), an update reads the weights from here instead of concatenating them again (the
   * same values). Made with the group, so the optimizer holds the same tensors before and after an update.
   */
  weights: { flat: tf.Variable; ids: object[] } | null;
}

/**
 * The gradients of an update as `apply` reads them: per active group, the members' gradients concatenated in
 * order ([n] each), for the layout `layoutKey`. From `AdamW.flatten`; its caller disposes it (`dispose`).
 */
export interface FlatGradients {
  readonly layoutKey: string;
  readonly flats: readonly tf.Tensor1D[];
}

/** Frees a `FlatGradients`' tensors. */
export function disposeFlat(f: FlatGradients): void {
  tf.dispose([...f.flats]);
}

/** AdamW's whole state as plain arrays (a checkpoint's part): update count and both moments per parameter. */
export interface AdamWState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/**
 * torch's clip coefficient min(1, maxGradNorm / (norm + 1e-6)) in float32 arithmetic, from a norm read back
 * (float32): each operation rounded as a float32 kernel rounds it (the cpu backend's bits; a GPU's division may
 * be an ulp away). -> a float32 value
 */
export function clipScale(maxGradNorm: number, norm: number): number {
  const f = Math.fround;
  return Math.min(1, f(f(maxGradNorm) / f(f(norm) + f(1e-6))));
}

/**
 * The update over flat buffers: the parameters fall into at most two groups (with a gradient or without), each
 * group's moments are one flat tensor, and a step costs a fixed few kernels per group (about fifteen
 * elementwise ops, one split back into the weights) instead of a dozen per parameter; weight decay of a mixed
 * group is a per-element factor (`Group.decay`). The ops and constants per element are those of the
 * per-tensor form, so the result matches it bit for bit on a given backend. Parameters without a gradient in an
 * update keep their weights and moments. The gradients come concatenated (`flatten`, which the caller also
 * reads the global norm from), and the weights from a flat copy the group keeps while the parameters still
 * hold what it last wrote (`Group.weights`).
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
    /** Update in three WGSL programs (webgpu-adamw.ts; the default where the backend runs them) or plain ops. */
    readonly fused: boolean = runsWgsl(),
  ) {
    const all = new Set(params.keys());
    this.groups = this.makeGroups(all, () => null);
    this.layoutKey = [...all].join('\n');
  }

  /**
   * Groups of the parameters for the active set `active`, moments taken from `moments(name)` ([size] each, or
   * null for zeros). Members keep the parameters' order.
   */
  private makeGroups(
    active: ReadonlySet<string>,
    moments: (name: string) => { m: tf.Tensor; v: tf.Tensor } | null,
  ): Group[] {
    const groups: Group[] = [];
    for (const isActive of [true, false]) {
      const members = [...this.params].filter(([name]) => active.has(name) === isActive);
      for (const names of this.flat ? [members] : members.map((x) => [x])) {
        if (names.length > 0) groups.push(this.makeGroup(isActive, names, moments));
      }
    }
    return groups;
  }

  private makeGroup(
    active: boolean,
    names: [string, tf.Variable][],
    moments: (name: string) => { m: tf.Tensor; v: tf.Tensor } | null,
  ): Group {
    const flat = (pick: 'm' | 'v') =>
      tf.tidy(() => concatFlat(names.map(([name, p]) => moments(name)?.[pick] ?? tf.zeros([p.size]))));
    const [m, v] = [flat('m'), flat('v')];
    const group = {
      active,
      names: names.map(([name]) => name),
      sizes: names.map(([, p]) => p.size),
      decay: this.decayOf(names),
      m: tf.variable(m, false),
      v: tf.variable(v, false),
      weights: names.length > 1 ? this.weightsOf(names) : null,
    };
    tf.dispose([m, v]);
    return group;
  }

  /** The members' weights concatenated into a variable, with their data ids now (`Group.weights`). */
  private weightsOf(names: [string, tf.Variable][]): { flat: tf.Variable; ids: object[] } {
    const flat = tf.tidy(() => concatFlat(names.map(([, p]) => p)));
    const weights = { flat: tf.variable(flat, false), ids: names.map(([, p]) => dataIdOf(p)) };
    flat.dispose();
    return weights;
  }

  /** The members' weight decay (`Group.decay`): none, all, or the [n] floors of a mix. */
  private decayOf(names: [string, tf.Variable][]): Group['decay'] {
    const flags = names.map(([name, p]) => this.decays(name, p));
    if (flags.every((d) => !d)) return 'none';
    if (flags.every((d) => d)) return 'all';
    const floors = new Float32Array(names.reduce((n, [, p]) => n + p.size, 0));
    let offset = 0;
    names.forEach(([, p], i) => {
      floors.fill(flags[i] ? -Infinity : 1, offset, offset + p.size);
      offset += p.size;
    });
    return tf.keep(tf.tensor1d(floors)); // the group's, whatever tidy lays it out
  }

  private decays(name: string, p: tf.Tensor): boolean {
    return decays(name, p.shape) && this.settings.weightDecay > 0;
  }

  /** Frees a group's tensors. */
  private disposeGroup(g: Group): void {
    tf.dispose([
      g.m,
      g.v,
      ...(g.decay instanceof tf.Tensor ? [g.decay] : []),
      ...(g.weights ? [g.weights.flat] : []),
    ]);
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
    old.forEach((g) => this.disposeGroup(g));
    this.layoutKey = key;
  }

  /**
   * The gradients of `grads` (by parameter name) as the next `apply` reads them: lays the groups out for the
   * parameters that have one, then concatenates each active group's ([n] per group). `globalNorm(flats)` is
   * their global norm. The caller disposes the result (`disposeFlat`); `grads` stay the caller's.
   */
  flatten(grads: ReadonlyMap<string, tf.Tensor>): FlatGradients {
    this.relayout(new Set([...grads.keys()].filter((name) => this.params.has(name))));
    const flats = this.groups
      .filter((g) => g.active)
      .map((g) => concatFlat(g.names.map((name) => grads.get(name) as tf.Tensor)));
    return { layoutKey: this.layoutKey, flats };
  }

  /**
   * Applies one update with learning rate `lr`: to `grads` by parameter name, or as `flatten` gave them (for
   * the current layout). Gradients are not disposed (the caller owns them). `norm`: their global norm when the
   * caller has it, as a tensor (`globalNorm`) or as the number read back (the clip factor is then computed here,
   * `clipScale`, not by three kernels), so it is not done twice.
   */
  apply(grads: ReadonlyMap<string, tf.Tensor> | FlatGradients, lr: number, norm?: tf.Scalar | number): void {
    const made = grads instanceof Map ? this.flatten(grads) : null;
    const flat = made ?? (grads as FlatGradients);
    try {
      if (flat.layoutKey !== this.layoutKey) {
        throw new Error('AdamW.apply: the flat gradients are of another layout (flatten them again)');
      }
      if (!(lr >= 0)) throw new Error(`AdamW.apply: the learning rate must be >= 0, got ${lr}`);
      this.t += 1;
      tf.tidy(() => {
        const scale = this.clipFactor(flat, norm);
        const active = this.groups.filter((g) => g.active);
        active.forEach((group, i) => this.updateGroup(group, flat.flats[i] as tf.Tensor, scale, lr));
      });
    } finally {
      if (made) disposeFlat(made);
    }
  }

  /** The clip factor of the update (a scalar; 1 without clipping), from `norm` when given, else computed. */
  private clipFactor(flat: FlatGradients, norm: tf.Scalar | number | undefined): tf.Scalar {
    const { maxGradNorm } = this.settings;
    if (maxGradNorm <= 0) return tf.scalar(1);
    if (typeof norm === 'number') return tf.scalar(clipScale(maxGradNorm, norm));
    const total = norm ?? globalNorm(flat.flats);
    return tf.minimum(tf.scalar(1), tf.scalar(maxGradNorm).div(total.add(1e-6))); // torch's clip_coef
  }

  /**
   * The group's weights as one flat tensor [n]: its variable while the members hold what was last written there
   * (a variable: a tidy does not free it), else their concatenation.
   */
  private flatWeights(group: Group): tf.Tensor {
    const w = group.weights;
    if (w && group.names.every((name, i) => dataIdOf(this.params.get(name) as tf.Variable) === w.ids[i])) {
      return w.flat;
    }
    return concatFlat(group.names.map((name) => this.params.get(name) as tf.Variable));
  }

  /**
   * One group's update (the t-th) from its flat gradients `flatGrad` [n]: the moments assigned, the weights
   * stepped ([n], `stepGroup`), split back into the parameters and kept as the group's flat copy.
   */
  private updateGroup(group: Group, flatGrad: tf.Tensor, scale: tf.Scalar, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.settings;
    const c: AdamConstants = {
      ...{ beta1, beta2, eps },
      sqrtBc2: Math.sqrt(1 - beta2 ** this.t),
      lrBc1: lr / (1 - beta1 ** this.t),
      factor: 1 - lr * weightDecay, // <= 1: lr and weightDecay are not negative
    };
    const next = this.fused
      ? this.stepFused(group, flatGrad, scale, c)
      : this.stepPlain(group, flatGrad, scale, c);
    const parts = splitFlat(next, group.sizes);
    parts.forEach((x, i) => {
      const param = this.params.get(group.names[i] as string) as tf.Variable;
      param.assign(x.reshape(param.shape));
      x.dispose();
    });
    if (group.weights) {
      group.weights.flat.assign(next);
      group.weights.ids = group.names.map((name) => dataIdOf(this.params.get(name) as tf.Variable));
    }
    next.dispose();
  }

  /**
   * The update in plain tfjs ops (sixteen kernels), each quantity in its own tidy so that the group's temporaries
   * ([n] each) are freed as soon as they are used: the peak is a few flat buffers, not every intermediate of the
   * update. Assigns the moments; -> the new weights [n].
   */
  private stepPlain(group: Group, flatGrad: tf.Tensor, scale: tf.Scalar, c: AdamConstants): tf.Tensor {
    const { m, v, decay } = group;
    const g = tf.tidy(() => flatGrad.mul(scale));
    m.assign(tf.tidy(() => m.mul(c.beta1).add(g.mul(1 - c.beta1))));
    v.assign(tf.tidy(() => v.mul(c.beta2).add(tf.tidy(() => g.square().mul(1 - c.beta2)))));
    g.dispose();
    const step = tf.tidy(() => {
      const denom = tf.tidy(() => v.sqrt().div(c.sqrtBc2).add(c.eps));
      return m.div(denom).mul(c.lrBc1);
    });
    const next = tf.tidy(() => {
      const p = this.flatWeights(group); // [n]
      if (decay === 'none') return p.sub(step);
      if (decay === 'all') return p.mul(c.factor).sub(step);
      return p.mul(tf.maximum(decay, c.factor)).sub(step); // factor where a member decays, 1 where not
    });
    step.dispose();
    return next;
  }

  /**
   * The same update as `stepPlain` in three WGSL programs (webgpu-adamw.ts): each moment, then the weights from
   * them. Assigns the moments; -> the new weights [n].
   */
  private stepFused(group: Group, flatGrad: tf.Tensor, scale: tf.Scalar, c: AdamConstants): tf.Tensor {
    const { m, v, decay } = group;
    m.assign(tf.tidy(() => momentWebgpu('first', flatGrad, m, scale, c.beta1)));
    v.assign(tf.tidy(() => momentWebgpu('second', flatGrad, v, scale, c.beta2)));
    return tf.tidy(() => {
      const p = this.flatWeights(group); // [n]
      const mode = decay instanceof tf.Tensor ? 'mixed' : decay;
      return weightsWebgpu(p, m, v, mode, decay instanceof tf.Tensor ? decay : null, c);
    });
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
    this.groups.forEach((g) => this.disposeGroup(g));
    this.groups = [];
  }
}

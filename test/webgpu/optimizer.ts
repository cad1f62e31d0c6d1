/**
 * Runs the optimizer's webgpu kernels (src/core/train/webgpu-adamw.ts, src/core/model/webgpu-copy.ts) on Dawn and
 * prints one JSON line (an `OptimizerReport`) for src/core/train/webgpu-adamw.test.ts, which starts this script as a
 * child process (test/helpers/dawn.ts says why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/optimizer.ts
 * - Copies: flat concatenation and split by buffer copies against tf.concat and tf.split on the same inputs
 *   (lists of 2 to 73 tensors, parts of 1 to 70,000 values and empty ones), with inputs still on the CPU, inputs a
 *   program has just written, and a source disposed before its parts are read.
 * - AdamW: `AdamW` with the fused update (three programs) against its plain ops on webgpu and on the cpu backend
 *   and against a float64 loop of torch's AdamW written out below, over four updates of groups that decay not at
 *   all, all, or a mix (with a gradient missing in one update, and clipping on and off); and on torch's own
 *   numbers (test/golden/adamw.json, scripts/golden/make_golden.py).
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { variableFrom, type Params } from '../../src/core/model/params.ts';
import { concatByCopies, splitByCopies } from '../../src/core/model/webgpu-copy.ts';
import { AdamW, ADAMW_DEFAULTS, concatFlat, decays, type AdamWSettings } from '../../src/core/train/adamw.ts';
import { makeRng } from '../../src/core/rng.ts';
import { replayAdamWGolden } from '../helpers/adamw-golden.ts';
import { dispatchingKernels, errorOf, type ErrorPair, startWebgpu } from './report.ts';

/** Sizes of the tensors a copy case joins, then cuts again (0: an empty tensor). */
export const COPY_CASES: number[][] = [
  [1, 1],
  [3, 0, 5],
  [7, 70_000, 2, 9],
  Array.from({ length: 73 }, (_, i) => ((i * 37) % 500) + 1),
];

/** One optimizer case: parameter shapes (names say which decay), settings and the updates' learning rates. */
export interface AdamCase {
  label: string;
  shapes: [string, number[]][];
  settings: AdamWSettings;
  lrs: number[];
  /** Per update, the parameters without a gradient in it. */
  missing: string[][];
}

const MIXED: [string, number[]][] = [
  ['a.weight', [64, 48]],
  ['a.bias', [48]],
  ['b.LayerNorm.weight', [48]],
  ['c.weight', [3, 7]],
];

export const ADAM_CASES: AdamCase[] = [
  {
    label: 'mixed decay, clipped',
    shapes: MIXED,
    settings: { ...ADAMW_DEFAULTS, maxGradNorm: 0.5 },
    lrs: [1e-2, 2e-2, 3e-2, 1e-3],
    missing: [[], [], ['a.bias', 'c.weight'], []],
  },
  {
    label: 'all decay, large lr wd (factor 0.25), no clipping',
    shapes: [
      ['a.weight', [5, 3]],
      ['c.weight', [300, 301]],
    ],
    settings: { ...ADAMW_DEFAULTS, weightDecay: 0.75, maxGradNorm: 0 },
    lrs: [1, 0.5, 0.1, 0.01],
    missing: [[], [], [], []],
  },
  {
    label: 'no decay (biases), eps 1e-8',
    shapes: [
      ['a.bias', [1]],
      ['b.bias', [33]],
      ['c.LayerNorm.weight', [65_537]],
    ],
    settings: { ...ADAMW_DEFAULTS, eps: 1e-8, maxGradNorm: 10 },
    lrs: [1e-3, 1e-3, 1e-3, 1e-3],
    missing: [[], ['b.bias'], [], []],
  },
];

export type { ErrorPair };

export interface AdamCaseReport {
  label: string;
  /** Weights and moments after the last update, worst over the parameters. */
  fusedVsPlainWebgpu: ErrorPair;
  fusedVsPlainCpu: ErrorPair;
  fusedVsF64: ErrorPair;
  plainCpuVsF64: ErrorPair;
}

export interface OptimizerReport {
  copies: { sizes: number[]; concat: ErrorPair; split: ErrorPair }[];
  /** The pending-disposal and ordering cases: each part as read, against what was written. */
  copyOrdering: ErrorPair;
  copyKernels: { concat: Record<string, number>; split: Record<string, number> };
  adam: AdamCaseReport[];
  /** torch.optim.AdamW's weights after each of the golden file's updates, the fused form's largest error. */
  torch: ErrorPair[];
  /** Dispatching kernels of one update of a 12-parameter mixed group: fused, and the plain ops, on webgpu. */
  updateKernels: { fused: Record<string, number>; plain: Record<string, number> };
  badSplit: string;
  /**
   * An int32 tensor cast to float32 (a relabel on webgpu, its buffer still integers) among float ones: `concatFlat`
   * against tf.concat, and `concatByCopies`'s one-line refusal.
   */
  relabelled: { concatFlat: ErrorPair; refusal: string };
  leakedTensors: number;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rng = makeRng(seed);
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** The worst of several error pairs (by rel). */
function worst(pairs: ErrorPair[]): ErrorPair {
  return pairs.reduce((a, b) => (b.rel > a.rel ? b : a), { rel: 0, abs: 0 });
}

async function copyCase(sizes: number[], seed: number): Promise<OptimizerReport['copies'][number]> {
  const xs = sizes.map((n, i) => tf.tensor1d(randomArray(n, seed + i)));
  const [ours, ref] = [concatByCopies(xs), tf.concat(xs)];
  const concat = errorOf(await ours.data(), await ref.data());
  const parts = splitByCopies(ref, sizes);
  const refParts = tf.split(ref, sizes);
  const split = worst(
    await Promise.all(parts.map(async (p, i) => errorOf(await p.data(), await refParts[i]!.data()))),
  );
  tf.dispose([...xs, ours, ref, ...parts, ...refParts]);
  return { sizes, concat, split };
}

/**
 * Inputs written by a program just before the copy (x + 1, not yet submitted), inputs still on the CPU, and a
 * source disposed before its parts are read (its buffer must outlive the pending copies).
 */
async function orderingCase(): Promise<ErrorPair> {
  const a = randomArray(1000, 7);
  const b = randomArray(24, 8);
  const errors: ErrorPair[] = [];
  const x = tf.tensor1d(a);
  const written = tf.tidy(() => x.add(1)); // a program, recorded but not submitted
  const cpu = tf.tensor1d(b); // not uploaded yet
  const joined = concatByCopies([written, cpu]);
  tf.dispose([x, written, cpu]); // before the copies are submitted
  const plusOne = a.map((v) => Math.fround(v + 1));
  errors.push(errorOf(await joined.data(), [...plusOne, ...b]));
  const source = tf.tidy(() => joined.mul(2));
  const parts = splitByCopies(source, [1000, 24]);
  source.dispose();
  joined.dispose();
  const doubled = [...plusOne, ...b].map((v) => Math.fround(v * 2));
  errors.push(errorOf(await parts[0]!.data(), doubled.slice(0, 1000)));
  errors.push(errorOf(await parts[1]!.data(), doubled.slice(1000)));
  tf.dispose(parts);
  return worst(errors);
}

async function copyKernels(): Promise<OptimizerReport['copyKernels']> {
  const xs = Array.from({ length: 73 }, (_, i) => tf.fill([i + 1], i));
  const x = tf.concat(xs);
  const report = {
    concat: await dispatchingKernels(() => concatByCopies(xs)),
    split: await dispatchingKernels(() =>
      splitByCopies(
        x,
        xs.map((t) => t.size),
      ),
    ),
  };
  tf.dispose([...xs, x]);
  return report;
}

/** Initial weights [name -> values] of a case. */
function initialWeights(c: AdamCase, seed: number): Map<string, Float32Array> {
  return new Map(c.shapes.map(([name, shape], i) => [name, randomArray(size(shape), seed + i, 0.5)]));
}

/** The gradients of update u (without the case's missing ones), spread so that some updates clip. */
function gradsOf(c: AdamCase, u: number): Map<string, Float32Array> {
  const present = c.shapes.filter(([name]) => !c.missing[u]?.includes(name));
  return new Map(
    present.map(([name, shape], i) => [name, randomArray(size(shape), 100 * (u + 1) + i, 0.05)]),
  );
}

/** Every weight and moment after the case's updates, by `${what} ${name}`. */
type State = Map<string, ArrayLike<number>>;

/** The case run through `AdamW` on the current backend, fused or plain. */
async function runAdam(c: AdamCase, fused: boolean): Promise<State> {
  const params: Params = new Map(
    [...initialWeights(c, 1)].map(([name, w]) => {
      const shape = c.shapes.find(([n]) => n === name)?.[1] as number[];
      return [name, variableFrom(w, shape)];
    }),
  );
  const opt = new AdamW(params, c.settings, true, fused);
  for (const [u, lr] of c.lrs.entries()) {
    const grads = new Map(
      [...gradsOf(c, u)].map(([name, g]) => [name, tf.tensor(g, params.get(name)?.shape)]),
    );
    opt.apply(grads, lr);
    tf.dispose([...grads.values()]);
  }
  const state = await opt.exportState();
  const out: State = new Map();
  for (const [name, p] of params) {
    out.set(`w ${name}`, await p.data());
    out.set(`m ${name}`, state.m.get(name) as Float32Array);
    out.set(`v ${name}`, state.v.get(name) as Float32Array);
  }
  opt.dispose();
  params.forEach((p) => p.dispose());
  return out;
}

/**
 * torch's clip_grad_norm_ and AdamW (decoupled decay, bias corrections as in torch.optim.AdamW's single-tensor
 * step) in float64, over the case's updates; parameters without a gradient keep weights and moments.
 */
function adamF64(c: AdamCase): State {
  const { beta1, beta2, eps, weightDecay, maxGradNorm } = c.settings;
  const w = new Map([...initialWeights(c, 1)].map(([n, a]) => [n, Float64Array.from(a)]));
  const m = new Map(c.shapes.map(([n, s]) => [n, new Float64Array(size(s))]));
  const v = new Map(c.shapes.map(([n, s]) => [n, new Float64Array(size(s))]));
  for (const [u, lr] of c.lrs.entries()) {
    const t = u + 1;
    const grads = gradsOf(c, u);
    let sq = 0;
    grads.forEach((g) => g.forEach((x) => (sq += x * x)));
    const clip = maxGradNorm > 0 ? Math.min(1, maxGradNorm / (Math.sqrt(sq) + 1e-6)) : 1;
    for (const [name, shape] of c.shapes) {
      const g = grads.get(name);
      if (!g) continue;
      const [p, mm, vv] = [w.get(name), m.get(name), v.get(name)] as Float64Array[];
      const wd = decays(name, shape) && weightDecay > 0 ? weightDecay : 0;
      for (let i = 0; i < g.length; i++) {
        const gi = (g[i] as number) * clip;
        mm![i] = beta1 * mm![i]! + (1 - beta1) * gi;
        vv![i] = beta2 * vv![i]! + (1 - beta2) * gi * gi;
        const denom = Math.sqrt(vv![i]!) / Math.sqrt(1 - beta2 ** t) + eps;
        p![i] = p![i]! * (1 - lr * wd) - (lr / (1 - beta1 ** t)) * (mm![i]! / denom);
      }
    }
  }
  const out: State = new Map();
  for (const [name] of c.shapes) {
    out.set(`w ${name}`, w.get(name) as Float64Array);
    out.set(`m ${name}`, m.get(name) as Float64Array);
    out.set(`v ${name}`, v.get(name) as Float64Array);
  }
  return out;
}

function compareStates(a: State, b: State): ErrorPair {
  return worst([...a].map(([key, x]) => errorOf(x, b.get(key) ?? [])));
}

/** The golden file's two updates (one clipped) with the fused form: the weights' errors after each. */
async function torchCase(): Promise<ErrorPair[]> {
  const updates = await replayAdamWGolden(true);
  return updates.map(({ got, want }) =>
    errorOf([...got.matrix, ...got.bias], [...want.matrix, ...want.bias]),
  );
}

/** Dispatching kernels of one update (gradients given flat, the norm as a number), fused or plain. */
async function updateKernels(fused: boolean): Promise<Record<string, number>> {
  const shapes: [string, number[]][] = [
    ...Array.from({ length: 11 }, (_, i): [string, number[]] => [`p${i}.weight`, [2, 3]]),
    ['q.bias', [3]],
  ];
  const params: Params = new Map(
    shapes.map(([n, s], i) => [n, variableFrom(randomArray(size(s), 50 + i), s)]),
  );
  const opt = new AdamW(params, ADAMW_DEFAULTS, true, fused);
  const grads = new Map(shapes.map(([n, s], i) => [n, tf.tensor(randomArray(size(s), 70 + i), s)]));
  opt.apply(grads, 0.1); // lays the group out
  const flats = opt.flatten(grads);
  const counts = await dispatchingKernels(() => {
    opt.apply(flats, 0.1, 2.5);
    return [];
  });
  tf.dispose([...flats.flats, ...grads.values()]);
  opt.dispose();
  params.forEach((p) => p.dispose());
  return counts;
}

async function relabelledCase(): Promise<OptimizerReport['relabelled']> {
  const ints = tf.tidy(() => tf.cast(tf.tensor1d([1, 2, 3], 'int32'), 'float32'));
  const floats = tf.tensor1d([0.5, 1.5]);
  const [ours, ref] = [concatFlat([floats, ints]), tf.concat([floats, ints])];
  const concat = errorOf(await ours.data(), await ref.data());
  let refusal = '';
  try {
    concatByCopies([floats, ints]).dispose();
  } catch (e) {
    refusal = (e as Error).message;
  }
  tf.dispose([ints, floats, ours, ref]);
  return { concatFlat: concat, refusal };
}

function badSplitMessage(): string {
  const x = tf.zeros([5]);
  try {
    splitByCopies(x, [2, 2]);
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    x.dispose();
  }
}

async function main(): Promise<void> {
  await startWebgpu();
  const before = tf.memory().numTensors;
  const copies = [];
  for (const [i, sizes] of COPY_CASES.entries()) copies.push(await copyCase(sizes, 10 * i));
  const copyOrdering = await orderingCase();
  const kernels = await copyKernels();
  const fused: State[] = [];
  const plainWebgpu: State[] = [];
  for (const c of ADAM_CASES) {
    fused.push(await runAdam(c, true));
    plainWebgpu.push(await runAdam(c, false));
  }
  const torch = await torchCase();
  const updates = { fused: await updateKernels(true), plain: await updateKernels(false) };
  const badSplit = badSplitMessage();
  const relabelled = await relabelledCase();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const adam: AdamCaseReport[] = [];
  for (const [i, c] of ADAM_CASES.entries()) {
    const [plainCpu, f64] = [await runAdam(c, false), adamF64(c)];
    adam.push({
      label: c.label,
      fusedVsPlainWebgpu: compareStates(fused[i] as State, plainWebgpu[i] as State),
      fusedVsPlainCpu: compareStates(fused[i] as State, plainCpu),
      fusedVsF64: compareStates(fused[i] as State, f64),
      plainCpuVsF64: compareStates(plainCpu, f64),
    });
  }
  const report: OptimizerReport = {
    ...{ copies, copyOrdering, copyKernels: kernels, adam, torch, updateKernels: updates },
    ...{ badSplit, relabelled, leakedTensors },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

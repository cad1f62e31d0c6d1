/**
 * Runs the WebGPU GELU and masked-softmax kernels (src/core/model/webgpu-activations.ts) on Dawn and prints one JSON
 * line (an `ActivationsReport`) for src/core/model/webgpu-activations.test.ts, which starts this script as a child
 * process (test/helpers/dawn.ts says why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/activations.ts
 * For each case (seeded random inputs and dy): the output and the vector-Jacobian product of dy, from the kernels on
 * webgpu, from the plain ops (`geluOps`, `maskedSoftmaxOps`) on webgpu and on the cpu backend, and from a float64
 * reference written out below (its erf a series, not tfjs's approximation); errors are max |a - b| / max |b| (max |a - b| where b is all zeros).
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { geluOps, maskedSoftmaxOps } from '../../src/core/model/fused.ts';
import {
  GELU,
  geluWebgpu,
  MASKED_SOFTMAX,
  maskedSoftmaxWebgpu,
} from '../../src/core/model/webgpu-activations.ts';
import { makeRng } from '../../src/core/rng.ts';
import {
  dispatchingKernels as dispatching,
  errorOf,
  type ErrorPair,
  nanoModelCheck,
  startWebgpu,
} from './report.ts';

/** One input of either function: its shape, the softmax's scale, and whether to run the forward pass alone. */
export interface ActivationCase {
  fn: 'gelu' | 'softmax';
  shape: number[];
  scale: number;
  /** The softmax's share of masked keys (per batch row; key 0 always kept). */
  masked: number;
  /** The inputs' standard deviation (default 3): large enough, exp of an unshifted score overflows float32. */
  spread?: number;
  /** A score set in each row's last column (softmax): far above the rest, so a max that misses it overflows exp. */
  peakLast?: number;
  forwardOnly?: boolean;
}

const gelu = (shape: number[], forwardOnly = false): ActivationCase => ({
  fn: 'gelu',
  shape,
  scale: 1,
  masked: 0,
  forwardOnly,
});

/** Sizes around the 64-thread workgroup, rows shorter and longer than a row program's workgroup, and the edges. */
export const CASES: ActivationCase[] = [
  ...[[1], [7], [33, 65], [4, 16, 300]].map((s) => gelu(s)),
  // More than 65,535 workgroups of 64: tfjs reshapes the dispatch to 2-D.
  gelu([64 * 65_536 + 3], true),
  { fn: 'softmax', shape: [1, 1, 1, 1], scale: 1, masked: 0 },
  { fn: 'softmax', shape: [2, 3, 5, 7], scale: 2, masked: 0.3 },
  { fn: 'softmax', shape: [2, 4, 16, 16], scale: 4, masked: 0 },
  { fn: 'softmax', shape: [3, 2, 64, 64], scale: 8, masked: 0.5 },
  { fn: 'softmax', shape: [1, 2, 9, 300], scale: 8, masked: 0.2, spread: 300 },
  { fn: 'softmax', shape: [1, 1, 4, 300], scale: 1, masked: 0, peakLast: 1000 },
  // More rows than one dispatch dimension holds: the dispatch is reshaped to 2-D.
  { fn: 'softmax', shape: [2, 1, 33_000, 8], scale: 1, masked: 0.3, forwardOnly: true },
];

export type { ErrorPair };

export type Output = 'y' | 'dx';
export type Errors = Partial<Record<Output, ErrorPair>>;

export interface CaseReport {
  fn: ActivationCase['fn'];
  shape: number[];
  kernelVsF64: Errors;
  kernelVsPlainWebgpu: Errors;
  kernelVsPlainCpu: Errors;
  plainCpuVsF64: Errors;
}

/** Dispatching kernels (by name) of a forward pass and of a gradient w.r.t. the input. */
export interface KernelsReport {
  forward: Record<string, number>;
  grad: Record<string, number>;
}

export interface ActivationsReport {
  cases: CaseReport[];
  kernels: Record<'gelu' | 'softmax' | 'geluPlain' | 'softmaxPlain', KernelsReport>;
  /** The nano model on webgpu: the new kernels per forward pass, and its steps against PyTorch float64. */
  model: {
    geluKernelsPerForward: number;
    softmaxKernelsPerForward: number;
    standard: { lossError: number; gradError: number };
    alum: { lossError: number; gradError: number };
  };
  /** A bad shape's error message. */
  badShape: string;
  leakedTensors: number;
}

type Arrays = Partial<Record<Output, Float32Array | Float64Array>>;

interface Inputs {
  x: Float32Array;
  /** [B, T]: 0 for a kept key, -10000 for a masked one (softmax only). */
  bias: Float32Array;
  dy: Float32Array;
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** GELU inputs are normal * 3 with the edges first: zeros, tiny, and large values where erf saturates. */
const GELU_EDGES = [0, -0, 1e-4, -1e-4, 5, -5, 10, -10, 40, -40];

function makeInputs(c: ActivationCase, seed: number): Inputs {
  const rng = makeRng(seed);
  const n = count(c.shape);
  const x = Float32Array.from({ length: n }, () => (c.spread ?? 3) * rng.normal());
  if (c.fn === 'gelu') x.set(GELU_EDGES.slice(0, n));
  const [b, , , t] = c.shape as [number, number, number, number];
  if (c.peakLast !== undefined) for (let i = t - 1; i < n; i += t) x[i] = c.peakLast;
  const bias =
    c.fn === 'softmax'
      ? Float32Array.from({ length: b * t }, (_, i) => (i % t > 0 && rng.uniform() < c.masked ? -10000 : 0))
      : new Float32Array(0);
  return { x, bias, dy: Float32Array.from({ length: n }, () => rng.normal()) };
}

/** erf in float64: 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1 3 ... (2n+1)), all terms positive; erfc(6) < 3e-17. */
function erf64(x: number): number {
  if (Math.abs(x) >= 6) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** GELU and its vector-Jacobian product in float64. */
function geluReference(inp: Inputs): Arrays {
  const y = new Float64Array(inp.x.length);
  const dx = new Float64Array(inp.x.length);
  inp.x.forEach((v, i) => {
    const cdf = 0.5 * (1 + erf64(v / Math.SQRT2));
    const pdf = Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    y[i] = v * cdf;
    dx[i] = (inp.dy[i] as number) * (cdf + v * pdf);
  });
  return { y, dx };
}

/** softmax(s / scale + bias) per row and its vector-Jacobian product, in float64, loop by loop. */
function softmaxReference(inp: Inputs, c: ActivationCase): Arrays {
  const [b, a, tq, t] = c.shape as [number, number, number, number];
  const y = new Float64Array(inp.x.length);
  const dx = new Float64Array(inp.x.length);
  for (let r = 0; r < b * a * tq; r++) {
    const batch = Math.floor(r / (a * tq));
    const v = Array.from(
      { length: t },
      (_, k) => (inp.x[r * t + k] as number) / c.scale + (inp.bias[batch * t + k] as number),
    );
    const m = Math.max(...v);
    const e = v.map((u) => Math.exp(u - m));
    const z = e.reduce((p, q) => p + q, 0);
    const dot = e.reduce((p, q, k) => p + (q / z) * (inp.dy[r * t + k] as number), 0);
    e.forEach((q, k) => {
      y[r * t + k] = q / z;
      dx[r * t + k] = ((q / z) * ((inp.dy[r * t + k] as number) - dot)) / c.scale;
    });
  }
  return { y, dx };
}

type Fn = (x: tf.Tensor) => tf.Tensor;

/** The function a case runs, kernel or plain ops, with its bias and scale bound. */
function fnOf(c: ActivationCase, inp: Inputs, kernel: boolean): { f: Fn; bias?: tf.Tensor } {
  if (c.fn === 'gelu') return { f: kernel ? geluWebgpu : geluOps };
  const [b, , , t] = c.shape as [number, number, number, number];
  const bias = tf.tensor(inp.bias, [b, 1, 1, t]);
  const softmax = kernel ? maskedSoftmaxWebgpu : maskedSoftmaxOps;
  return { f: (x) => softmax(x, c.scale, bias), bias };
}

/** y and the vector-Jacobian product of dy through the case's function on the current backend, read back. */
async function run(c: ActivationCase, inp: Inputs, kernel: boolean): Promise<Arrays> {
  const { f, bias } = fnOf(c, inp, kernel);
  const x = tf.tensor(inp.x, c.shape);
  // In a tidy: outside one, a `tf.customGrad` (the plain path) keeps the tensors it saves.
  const y = tf.tidy(() => f(x));
  const out: Arrays = { y: (await y.data()) as Float32Array };
  if (!c.forwardOnly) {
    const dy = tf.tensor(inp.dy, c.shape);
    const dx = tf.grad(f)(x, dy);
    out.dx = (await dx.data()) as Float32Array;
    tf.dispose([dy, dx]);
  }
  tf.dispose([x, y, ...(bias ? [bias] : [])]);
  return out;
}

function compare(a: Arrays, b: Arrays): Errors {
  const both = (['y', 'dx'] as Output[]).filter((o) => a[o] !== undefined && b[o] !== undefined);
  return Object.fromEntries(both.map((o) => [o, errorOf(a[o] as Float32Array, b[o] as Float64Array)]));
}

async function kernelsOf(f: Fn, shape: number[]): Promise<KernelsReport> {
  const [x, dy] = [tf.randomNormal(shape), tf.randomNormal(shape)];
  const report = { forward: await dispatching(() => f(x)), grad: await dispatching(() => tf.grad(f)(x, dy)) };
  tf.dispose([x, dy]);
  return report;
}

async function allKernels(): Promise<ActivationsReport['kernels']> {
  const bias = tf.zeros([2, 1, 1, 16]);
  const report = {
    gelu: await kernelsOf(geluWebgpu, [7, 64]),
    geluPlain: await kernelsOf(geluOps, [7, 64]),
    softmax: await kernelsOf((s) => maskedSoftmaxWebgpu(s, 4, bias), [2, 3, 16, 16]),
    softmaxPlain: await kernelsOf((s) => maskedSoftmaxOps(s, 4, bias), [2, 3, 16, 16]),
  };
  bias.dispose();
  return report;
}

async function modelCheck(): Promise<ActivationsReport['model']> {
  const { forward: counts, standard, alum } = await nanoModelCheck();
  return {
    geluKernelsPerForward: counts[GELU] ?? 0,
    softmaxKernelsPerForward: counts[MASKED_SOFTMAX] ?? 0,
    standard,
    alum,
  };
}

function badShapeMessage(): string {
  const [s, b] = [tf.zeros([2, 3, 4, 4]), tf.zeros([2, 1, 4, 4])];
  try {
    maskedSoftmaxWebgpu(s, 1, b);
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    tf.dispose([s, b]);
  }
}

async function main(): Promise<void> {
  await startWebgpu();
  const inputs = CASES.map((c, i) => makeInputs(c, 2000 + i));

  const before = tf.memory().numTensors;
  const kernel: Arrays[] = [];
  const plainWebgpu: Arrays[] = [];
  for (const [i, c] of CASES.entries()) {
    kernel.push(await run(c, inputs[i] as Inputs, true));
    plainWebgpu.push(c.forwardOnly ? {} : await run(c, inputs[i] as Inputs, false));
  }
  const kernels = await allKernels();
  const model = await modelCheck();
  const badShape = badShapeMessage();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const cases: CaseReport[] = [];
  for (const [i, c] of CASES.entries()) {
    const inp = inputs[i] as Inputs;
    const f64 = c.fn === 'gelu' ? geluReference(inp) : softmaxReference(inp, c);
    const plainCpu = c.forwardOnly ? {} : await run(c, inp, false);
    const k = kernel[i] as Arrays;
    cases.push({
      fn: c.fn,
      shape: c.shape,
      kernelVsF64: compare(k, f64),
      kernelVsPlainWebgpu: compare(k, plainWebgpu[i] as Arrays),
      kernelVsPlainCpu: compare(k, plainCpu),
      plainCpuVsF64: compare(plainCpu, f64),
    });
  }
  const report: ActivationsReport = { cases, kernels, model, badShape, leakedTensors };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

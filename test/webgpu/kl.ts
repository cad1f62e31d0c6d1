/**
 * Runs the WebGPU KL kernels (src/core/train/webgpu-kl.ts) on Dawn and prints one JSON line (a `KlReport`) for
 * src/core/train/webgpu-kl.test.ts, which starts this script as a child process (test/helpers/dawn.ts says why).
 * Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/kl.ts
 * For each case (seeded logits zp, zq [R, C] and dy [R]): KL(sg p || q) per row and its vector-Jacobian product
 * w.r.t. zq, from the kernels on webgpu, from the plain ops (`klRowsTowardOps`) on webgpu and on the cpu backend,
 * and from a float64 reference written out below (the textbook sums, in float64 from the same float32 logits);
 * errors are max |a - b| / max |b| (`errorOf`).
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { klRowsTowardOps } from '../../src/core/train/losses.ts';
import { KL_ROWS, KL_ROWS_GRAD, klRowsTowardWebgpu } from '../../src/core/train/webgpu-kl.ts';
import { makeRng } from '../../src/core/rng.ts';
import { goldenStep } from '../helpers/golden-step.ts';
import { dispatchingKernels, errorOf, type ErrorPair, startWebgpu } from './report.ts';

/** losses.ts's KL_SMALL_D (the rows within it take the series forms). */
const SMALL = 1e-2;

/** One case: shape, the logits' spread, and how far q's logits are from p's (`near`: every row within SMALL). */
export interface KlCase {
  shape: [number, number];
  spread: number;
  /** 'near': zq = zp + noise of this size on every row; 'far': independent; 'mixed': every other row near. */
  pairing: 'near' | 'far' | 'mixed';
  offset: number;
  forwardOnly?: boolean;
  /**
   * Absolute error bounds, where the KL (or q - p) lies far below the rounding of its terms (log p - log q, or p
   * and q, of order 1, float32): the plain ops on cpu are that far off too. Otherwise 1e-6 of the largest value.
   */
  abs?: { value: number; dq: number };
}

export const KL_CASES: KlCase[] = [
  { shape: [1, 2], spread: 1, pairing: 'far', offset: 0 },
  { shape: [4, 3], spread: 2, pairing: 'mixed', offset: 1e-3 },
  // KLs near 1e-11: the series keep about 1e-12 of them (losses.test.ts); measured 2.5e-12 and 2.0e-12 for the
  // gradient (cpu ops 1.5e-12 and 1.4e-12).
  { shape: [64, 2], spread: 3, pairing: 'near', offset: 1e-5, abs: { value: 1e-11, dq: 1e-11 } },
  { shape: [7, 300], spread: 2, pairing: 'mixed', offset: 3e-3 },
  // Logits of spread 60: exp of an unshifted logit overflows float32.
  { shape: [5, 33], spread: 60, pairing: 'far', offset: 0 },
  // Rows near the series' edge: differences up to 1.5 SMALL, so some rows take each branch; the plain branch's
  // KLs (near 1e-5) keep about 1e-7 absolute: measured 3.5e-7, and 6.2e-8 for the gradient (cpu ops 1.2e-7, 4.7e-8).
  { shape: [16, 17], spread: 1, pairing: 'near', offset: 1.5 * SMALL, abs: { value: 2e-6, dq: 5e-7 } },
  // A masked LM's rows over a vocabulary.
  { shape: [3, 8000], spread: 2, pairing: 'mixed', offset: 1e-4 },
  // More rows than one dispatch dimension holds: the dispatch is reshaped to 2-D.
  { shape: [70_000, 2], spread: 1, pairing: 'mixed', offset: 1e-3, forwardOnly: true },
];

export type { ErrorPair };

export type Output = 'value' | 'dq';
export type Errors = Partial<Record<Output, ErrorPair>>;

export interface KlCaseReport {
  shape: [number, number];
  kernelVsF64: Errors;
  kernelVsPlainWebgpu: Errors;
  kernelVsPlainCpu: Errors;
  plainCpuVsF64: Errors;
}

export interface KlReport {
  cases: KlCaseReport[];
  /** Dispatching kernels of the value alone and with the gradient w.r.t. zq: kernels and plain ops. */
  kernels: Record<'kernel' | 'plain', { forward: Record<string, number>; grad: Record<string, number> }>;
  /** The nano steps on webgpu against PyTorch float64 (the ALUM one runs the inner KL and the sym-KL here). */
  model: {
    standard: { lossError: number; gradError: number };
    alum: { lossError: number; gradError: number };
  };
  /** The KL kernels in the nano ALUM step (its inner KL and its sym-KL, forward and backward). */
  klKernelsPerAlumStep: { value: number; grad: number };
  /**
   * Rows with a NaN logit ([4, 5]: one in q's row 1, one in p's row 3): per row, whether the value and the gradient
   * row hold a non-finite number, from the kernels and from the plain ops (webgpu, cpu).
   */
  nanRows: Record<'kernel' | 'plainWebgpu' | 'plainCpu', { value: boolean[]; dq: boolean[] }>;
  badShape: string;
  leakedTensors: number;
}

interface Inputs {
  zp: Float32Array;
  zq: Float32Array;
  dy: Float32Array;
}

type Arrays = Partial<Record<Output, ArrayLike<number>>>;

function makeInputs(c: KlCase, seed: number): Inputs {
  const rng = makeRng(seed);
  const [r, k] = c.shape;
  const zp = Float32Array.from({ length: r * k }, () => c.spread * rng.normal());
  const zq = zp.map((v, i) => {
    const near = c.pairing === 'near' || (c.pairing === 'mixed' && Math.floor(i / k) % 2 === 0);
    return near ? v + c.offset * (2 * rng.uniform() - 1) : c.spread * rng.normal();
  });
  return { zp, zq, dy: Float32Array.from({ length: r }, () => rng.normal()) };
}

/** KL(p || q) per row and dy_r (q - p), in float64 from the float32 logits: softmaxes shifted by the row max. */
function reference(inp: Inputs, [r, k]: [number, number]): Arrays {
  const value = new Float64Array(r);
  const dq = new Float64Array(r * k);
  const logSoftmax = (z: Float32Array, row: number) => {
    const xs = Array.from(z.subarray(row * k, (row + 1) * k));
    const m = Math.max(...xs);
    const lse = m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
    return xs.map((x) => x - lse);
  };
  for (let row = 0; row < r; row++) {
    const [lp, lq] = [logSoftmax(inp.zp, row), logSoftmax(inp.zq, row)];
    value[row] = lp.reduce((a, l, j) => a + Math.exp(l) * (l - (lq[j] as number)), 0);
    lp.forEach(
      (l, j) => (dq[row * k + j] = (inp.dy[row] as number) * (Math.exp(lq[j] as number) - Math.exp(l))),
    );
  }
  return { value, dq };
}

type Kl = (p: tf.Tensor2D, q: tf.Tensor2D) => tf.Tensor1D;
const kernelKl: Kl = (p, q) => klRowsTowardWebgpu(p, q, SMALL);

/** The value and the vector-Jacobian product of dy w.r.t. zq, read back. */
async function run(c: KlCase, inp: Inputs, kl: Kl): Promise<Arrays> {
  const [zp, zq] = [tf.tensor2d(inp.zp, c.shape), tf.tensor2d(inp.zq, c.shape)];
  const value = tf.tidy(() => kl(zp, zq));
  const out: Arrays = { value: await value.data() };
  if (!c.forwardOnly) {
    const dy = tf.tensor1d(inp.dy);
    const dq = tf.grad((q: tf.Tensor) => kl(zp, q as tf.Tensor2D))(zq, dy);
    out.dq = await dq.data();
    tf.dispose([dy, dq]);
  }
  tf.dispose([zp, zq, value]);
  return out;
}

function compare(a: Arrays, b: Arrays): Errors {
  const both = (['value', 'dq'] as Output[]).filter((o) => a[o] !== undefined && b[o] !== undefined);
  return Object.fromEntries(
    both.map((o) => [o, errorOf(a[o] as ArrayLike<number>, b[o] as ArrayLike<number>)]),
  );
}

async function kernelsOf(kl: Kl): Promise<{ forward: Record<string, number>; grad: Record<string, number> }> {
  const [zp, zq, dy] = [tf.randomNormal([6, 5]), tf.randomNormal([6, 5]), tf.randomNormal([6])];
  const report = {
    forward: await dispatchingKernels(() => kl(zp as tf.Tensor2D, zq as tf.Tensor2D)),
    grad: await dispatchingKernels(() =>
      tf.grad((q: tf.Tensor) => kl(zp as tf.Tensor2D, q as tf.Tensor2D))(zq, dy),
    ),
  };
  tf.dispose([zp, zq, dy]);
  return report;
}

/** `KlReport.nanRows` for one form of the KL on the current backend. */
async function nanRowsOf(kl: Kl): Promise<{ value: boolean[]; dq: boolean[] }> {
  const near = Array.from({ length: 20 }, (_, i) => Math.sin(i));
  const [zpValues, zqValues] = [[...near], near.map((v) => v + 1e-4)];
  zqValues[1 * 5 + 2] = NaN;
  zpValues[3 * 5 + 0] = NaN;
  const [zp, zq] = [tf.tensor2d(zpValues, [4, 5]), tf.tensor2d(zqValues, [4, 5])];
  const valueT = tf.tidy(() => kl(zp, zq));
  const dqT = tf.grad((q: tf.Tensor) => kl(zp, q as tf.Tensor2D))(zq);
  const [value, dq] = [await valueT.data(), await dqT.data()];
  tf.dispose([zp, zq, valueT, dqT]);
  const rowBad = (xs: ArrayLike<number>, width: number) =>
    Array.from({ length: 4 }, (_, r) =>
      Array.from(xs)
        .slice(r * width, (r + 1) * width)
        .some((x) => !Number.isFinite(x)),
    );
  return { value: rowBad(value, 1), dq: rowBad(dq, 5) };
}

function badShapeMessage(): string {
  const [a, b] = [tf.zeros([2, 3]), tf.zeros([2, 4])];
  try {
    klRowsTowardWebgpu(a as tf.Tensor2D, b as tf.Tensor2D, SMALL);
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    tf.dispose([a, b]);
  }
}

async function main(): Promise<void> {
  await startWebgpu();
  const inputs = KL_CASES.map((c, i) => makeInputs(c, 3000 + i));
  const before = tf.memory().numTensors;
  const kernel: Arrays[] = [];
  const plainWebgpu: Arrays[] = [];
  for (const [i, c] of KL_CASES.entries()) {
    kernel.push(await run(c, inputs[i] as Inputs, kernelKl));
    plainWebgpu.push(await run(c, inputs[i] as Inputs, klRowsTowardOps));
  }
  const kernels = { kernel: await kernelsOf(kernelKl), plain: await kernelsOf(klRowsTowardOps) };
  const model = { standard: await goldenStep('standard'), alum: await goldenStep('alum') };
  const profiled = await tf.profile(async () => {
    await goldenStep('alum');
    return [];
  });
  const names = profiled.kernels.map((k) => k.name);
  const klKernelsPerAlumStep = {
    value: names.filter((n) => n === KL_ROWS).length,
    grad: names.filter((n) => n === KL_ROWS_GRAD).length,
  };
  const [nanKernel, nanPlainWebgpu] = [await nanRowsOf(kernelKl), await nanRowsOf(klRowsTowardOps)];
  const badShape = badShapeMessage();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const nanRows = {
    kernel: nanKernel,
    plainWebgpu: nanPlainWebgpu,
    plainCpu: await nanRowsOf(klRowsTowardOps),
  };
  const cases: KlCaseReport[] = [];
  for (const [i, c] of KL_CASES.entries()) {
    const inp = inputs[i] as Inputs;
    const f64 = reference(inp, c.shape);
    const plainCpu = await run(c, inp, klRowsTowardOps);
    const k = kernel[i] as Arrays;
    cases.push({
      shape: c.shape,
      kernelVsF64: compare(k, f64),
      kernelVsPlainWebgpu: compare(k, plainWebgpu[i] as Arrays),
      kernelVsPlainCpu: compare(k, plainCpu),
      plainCpuVsF64: compare(plainCpu, f64),
    });
  }
  const report: KlReport = {
    ...{ cases, kernels, model, klKernelsPerAlumStep },
    ...{ nanRows, badShape, leakedTensors },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

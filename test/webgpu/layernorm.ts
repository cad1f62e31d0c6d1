/**
 * Runs the WebGPU LayerNorm kernels (src/core/model/webgpu-layernorm.ts) on Dawn and prints one JSON line (a
 * `LayerNormReport`) for src/core/model/webgpu-layernorm.test.ts, which starts this script as a child process:
 * Dawn finds its Vulkan driver (SwiftShader here and in CI) only through LD_LIBRARY_PATH and VK_ICD_FILENAMES
 * set when the process starts. Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/layernorm.ts
 * For each case (random x, gamma, beta, and dy: seeded): y = LayerNorm(x) (of x + res where the case has a residual)
 * and the vector-Jacobian products dx, dres, dgamma, dbeta of dy, from the new kernels on webgpu, from the plain ops
 * (`layerNormOps`, after an Add) on webgpu and on the cpu backend, and from a float64 reference written out below;
 * errors are max |a - b| / max |b|.
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { layerNormOps, linearFused } from '../../src/core/model/fused.ts';
import { ADD_LAYER_NORM, LAYER_NORM, layerNormWebgpu } from '../../src/core/model/webgpu-layernorm.ts';
import { makeRng } from '../../src/core/rng.ts';
import { dispatchingKernels, errorOf, type ErrorPair, nanoModelCheck, startWebgpu } from './report.ts';

/**
 * One input: x's shape (last axis H), eps, and x's distribution per row: offset + scale * normal. `forwardOnly`:
 * y alone, against the float64 reference (SwiftShader runs many workgroups slowly).
 */
export interface LayerNormCase {
  shape: number[];
  eps: number;
  offset: number;
  scale: number;
  forwardOnly?: boolean;
  /** LayerNorm of x + res, res standard normal (a post-LN block's residual sum). */
  residual?: boolean;
}

const BERT_EPS = 1e-12;

/** N x H for N in {1, 7, 64}, H in {32, 128, 512, 768} (rows longer than the workgroup), and the edges. */
export const CASES: LayerNormCase[] = [
  ...[1, 7, 64].flatMap((n) =>
    [32, 128, 512, 768].map((h) => ({ shape: [n, h], eps: BERT_EPS, offset: 3, scale: 2 })),
  ),
  // eps that matters (row variance 0.25 against eps 0.1), a 3-D input, H not a multiple of anything.
  { shape: [2, 5, 96], eps: 0.1, offset: -1, scale: 0.5 },
  { shape: [9, 37], eps: 1e-5, offset: 0, scale: 1 },
  // More rows than one dispatch dimension holds (65,535 workgroups): the dispatch is reshaped to 2-D.
  { shape: [66000, 8], eps: 1e-5, offset: 1, scale: 1, forwardOnly: true },
  // The residual sum made in the program: a row within a workgroup, rows longer than it, a 3-D input with eps that
  // matters, and the reshaped dispatch.
  ...[
    [7, 128],
    [64, 768],
  ].map((shape) => ({ shape, eps: BERT_EPS, offset: 3, scale: 2, residual: true })),
  { shape: [2, 5, 96], eps: 0.1, offset: -1, scale: 0.5, residual: true },
  { shape: [66000, 8], eps: 1e-5, offset: 1, scale: 1, forwardOnly: true, residual: true },
];

export type { ErrorPair };

/**
 * One case's outputs compared: kernel vs float64, kernel vs plain ops (webgpu, cpu), plain cpu vs float64 (the
 * outputs computed: y alone for a forward-only case, which has no plain-op runs).
 */
export interface CaseReport {
  shape: number[];
  eps: number;
  residual: boolean;
  kernelVsF64: Errors;
  kernelVsPlainWebgpu: Errors;
  kernelVsPlainCpu: Errors;
  plainCpuVsF64: Errors;
}

export type Output = 'y' | 'dx' | 'dres' | 'dgamma' | 'dbeta';
const OUTPUTS: Output[] = ['y', 'dx', 'dres', 'dgamma', 'dbeta'];
export type Errors = Partial<Record<Output, ErrorPair>>;

/** Dispatching kernels (by name) of one piece of work, for the kernel path and the plain path. */
export interface KernelsReport {
  forward: Record<string, number>;
  gradX: Record<string, number>;
  gradAll: Record<string, number>;
}

/**
 * The nano model's step on webgpu against PyTorch float64 (test/golden/nano-bert.json, as alum.test.ts checks it
 * on cpu): task loss error, and the largest parameter-gradient error over max(1e-3, max |want|) of its tensor;
 * and how many LayerNorm kernels (`AlumLayerNorm`) one forward pass ran: the model's LayerNorms, once wired in.
 */
export interface ModelReport {
  layerNormKernelsPerForward: number;
  /** Of those, the ones that add a residual (`AlumAddLayerNorm`). */
  addLayerNormKernelsPerForward: number;
  /** Add kernels left in the forward pass (the embeddings' words + positions). */
  addKernelsPerForward: number;
  standard: { lossError: number; gradError: number };
  alum: { lossError: number; gradError: number };
}

export interface LayerNormReport {
  adapter: string;
  cases: CaseReport[];
  kernels: { kernel: KernelsReport; plain: KernelsReport; residual: KernelsReport };
  /** A dense layer's bias gradient (linearFused) on webgpu: its dispatching kernels, and per [N, out] its error. */
  linearBias: { kernels: Record<string, number>; errors: { shape: number[]; rel: number }[] };
  model: ModelReport;
  /** tf.memory().numTensors after the webgpu runs minus before. */
  leakedTensors: number;
}

type Arrays = Partial<Record<Output, Float64Array | Float32Array>>;

interface Inputs {
  x: Float32Array;
  /** Standard normal, x's size, where the case has a residual; else empty. */
  res: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  dy: Float32Array;
}

function makeInputs(c: LayerNormCase, seed: number): Inputs {
  const rng = makeRng(seed);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const h = c.shape[c.shape.length - 1] as number;
  const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  return {
    x: fill(size, () => c.offset + c.scale * rng.normal()),
    res: fill(c.residual ? size : 0, () => rng.normal()),
    gamma: fill(h, () => 1 + 0.5 * rng.normal()),
    beta: fill(h, () => rng.normal()),
    dy: fill(size, () => rng.normal()),
  };
}

/**
 * LayerNorm of x (of x + res with a residual) and its vector-Jacobian products in float64, loop by loop (independent
 * of tfjs); dres is dx.
 */
function reference(inp: Inputs, h: number, eps: number): Arrays {
  const n = inp.x.length / h;
  const y = new Float64Array(n * h);
  const dx = new Float64Array(n * h);
  const dgamma = new Float64Array(h);
  const dbeta = new Float64Array(h);
  for (let r = 0; r < n; r++) {
    const row = Array.from(inp.x.subarray(r * h, (r + 1) * h), (v, c) => v + (inp.res[r * h + c] ?? 0));
    const mean = row.reduce((a, b) => a + b, 0) / h;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / h;
    const rstd = 1 / Math.sqrt(variance + eps);
    const xhat = row.map((v) => (v - mean) * rstd);
    const g = xhat.map((_, c) => (inp.dy[r * h + c] as number) * (inp.gamma[c] as number));
    const meanG = g.reduce((a, b) => a + b, 0) / h;
    const meanGx = g.reduce((a, b, c) => a + b * (xhat[c] as number), 0) / h;
    for (let c = 0; c < h; c++) {
      const i = r * h + c;
      const xh = xhat[c] as number;
      y[i] = xh * (inp.gamma[c] as number) + (inp.beta[c] as number);
      dx[i] = rstd * ((g[c] as number) - meanG - xh * meanGx);
      dgamma[c] = (dgamma[c] as number) + (inp.dy[i] as number) * xh;
      dbeta[c] = (dbeta[c] as number) + (inp.dy[i] as number);
    }
  }
  return { y, dx, dgamma, dbeta, ...(inp.res.length > 0 ? { dres: dx } : {}) };
}

type LayerNormFn = (
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  res?: tf.Tensor,
) => tf.Tensor;

/** The plain ops: LayerNorm of x, or of the Add x + res. */
const plainLayerNorm: LayerNormFn = (x, gamma, beta, eps, res) =>
  layerNormOps(res ? x.add(res) : x, gamma, beta, eps);

/** y and the vector-Jacobian products of dy through `f` (w.r.t. x, gamma, beta, res) on the current backend, read back. */
async function run(f: LayerNormFn, inp: Inputs, c: LayerNormCase): Promise<Arrays> {
  const h = c.shape[c.shape.length - 1] as number;
  const x = tf.tensor(inp.x, c.shape);
  const gamma = tf.tensor1d(inp.gamma);
  const beta = tf.tensor1d(inp.beta);
  const res = c.residual ? [tf.tensor(inp.res, c.shape)] : [];
  // In a tidy: outside one, a `tf.customGrad` (the plain path) keeps the tensors it saves.
  const y = tf.tidy(() => f(x, gamma, beta, c.eps, res[0]));
  if (c.forwardOnly) {
    const value = { y: (await y.data()) as Float32Array };
    tf.dispose([x, gamma, beta, y, ...res]);
    return value;
  }
  const dy = tf.tensor(inp.dy, c.shape);
  const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r?: tf.Tensor) => f(a, g, b, c.eps, r))(
    [x, gamma, beta, ...res],
    dy,
  );
  const [dx, dgamma, dbeta, dres] = grads as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?];
  if (dgamma.size !== h) throw new Error('dgamma has the wrong size');
  const out: Arrays = {
    y: (await y.data()) as Float32Array,
    dx: (await dx.data()) as Float32Array,
    dgamma: (await dgamma.data()) as Float32Array,
    dbeta: (await dbeta.data()) as Float32Array,
    ...(dres ? { dres: (await dres.data()) as Float32Array } : {}),
  };
  tf.dispose([x, gamma, beta, dy, y, ...grads, ...res]);
  return out;
}

function compare(a: Arrays, b: Arrays): Errors {
  const both = OUTPUTS.filter((o) => a[o] !== undefined && b[o] !== undefined);
  return Object.fromEntries(both.map((o) => [o, errorOf(a[o] as Float32Array, b[o] as Float64Array)]));
}

/**
 * Dispatching kernels of the forward pass, the gradient w.r.t. x alone (x and res with a residual), and every
 * gradient, on [7, 128].
 */
async function kernelsOf(f: LayerNormFn, residual = false): Promise<KernelsReport> {
  const x = tf.randomNormal([7, 128]);
  const gamma = tf.ones([128]);
  const beta = tf.zeros([128]);
  const dy = tf.randomNormal([7, 128]);
  const res = residual ? [tf.randomNormal([7, 128])] : [];
  const dispatching = dispatchingKernels;
  const report: KernelsReport = {
    forward: await dispatching(() => f(x, gamma, beta, 1e-5, res[0])),
    gradX: await dispatching(() =>
      tf.grads((a: tf.Tensor, r?: tf.Tensor) => f(a, gamma, beta, 1e-5, r))([x, ...res], dy),
    ),
    gradAll: await dispatching(() =>
      tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r?: tf.Tensor) => f(a, g, b, 1e-5, r))(
        [x, gamma, beta, ...res],
        dy,
      ),
    ),
  };
  tf.dispose([x, gamma, beta, dy, ...res]);
  return report;
}

/** db of y = x W^T + b for random dy, against the float64 column sums of dy; and the kernels of db alone. */
async function linearBiasCheck(): Promise<LayerNormReport['linearBias']> {
  const rng = makeRng(77);
  const errors: { shape: number[]; rel: number }[] = [];
  let kernels: Record<string, number> = {};
  for (const [n, out] of [
    [7, 512],
    [300, 40],
    [5000, 24],
  ] as [number, number][]) {
    const dyValues = Float32Array.from({ length: n * out }, () => rng.normal());
    const [x, w, b, dy] = [
      tf.randomNormal([n, 16]),
      tf.randomNormal([out, 16]),
      tf.zeros([out]),
      tf.tensor(dyValues, [n, out]),
    ];
    const gradB = (bias: tf.Tensor) =>
      tf.grad((t: tf.Tensor) => linearFused(x as tf.Tensor2D, w as tf.Tensor2D, t as tf.Tensor1D))(bias, dy);
    const got = tf.tidy(() => gradB(b));
    const values = await got.data();
    const want = new Float64Array(out);
    dyValues.forEach((v, i) => (want[i % out] = (want[i % out] as number) + v));
    let worst = 0;
    let scale = 0;
    want.forEach((v, c) => {
      worst = Math.max(worst, Math.abs((values[c] as number) - v));
      scale = Math.max(scale, Math.abs(v));
    });
    errors.push({ shape: [n, out], rel: worst / scale });
    // The gradient w.r.t. the bias alone: the forward's kernel and what db needs.
    kernels = await dispatchingKernels(() => gradB(b));
    tf.dispose([x, w, b, dy, got]);
  }
  return { kernels, errors };
}

async function modelCheck(): Promise<ModelReport> {
  const { forward: counts, standard, alum } = await nanoModelCheck();
  return {
    layerNormKernelsPerForward: (counts[LAYER_NORM] ?? 0) + (counts[ADD_LAYER_NORM] ?? 0),
    addLayerNormKernelsPerForward: counts[ADD_LAYER_NORM] ?? 0,
    addKernelsPerForward: counts['Add'] ?? 0,
    standard,
    alum,
  };
}

async function main(): Promise<void> {
  await startWebgpu();
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } };
  const adapter = `${backend.adapterInfo?.vendor ?? '?'} / ${backend.adapterInfo?.architecture ?? '?'}`;
  const inputs = CASES.map((c, i) => makeInputs(c, 1000 + i));

  const before = tf.memory().numTensors;
  const kernel: Arrays[] = [];
  const plainWebgpu: Arrays[] = [];
  for (const [i, c] of CASES.entries()) {
    kernel.push(await run(layerNormWebgpu, inputs[i] as Inputs, c));
    plainWebgpu.push(c.forwardOnly ? {} : await run(plainLayerNorm, inputs[i] as Inputs, c));
  }
  const kernels = {
    kernel: await kernelsOf(layerNormWebgpu),
    plain: await kernelsOf(plainLayerNorm),
    residual: await kernelsOf(layerNormWebgpu, true),
  };
  const linearBias = await linearBiasCheck();
  const model = await modelCheck();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const cases: CaseReport[] = [];
  for (const [i, c] of CASES.entries()) {
    const inp = inputs[i] as Inputs;
    const f64 = reference(inp, c.shape[c.shape.length - 1] as number, c.eps);
    const plainCpu = c.forwardOnly ? {} : await run(plainLayerNorm, inp, c);
    const k = kernel[i] as Arrays;
    cases.push({
      shape: c.shape,
      eps: c.eps,
      residual: c.residual ?? false,
      kernelVsF64: compare(k, f64),
      kernelVsPlainWebgpu: compare(k, plainWebgpu[i] as Arrays),
      kernelVsPlainCpu: compare(k, plainCpu),
      plainCpuVsF64: compare(plainCpu, f64),
    });
  }
  const report: LayerNormReport = { adapter, cases, kernels, linearBias, model, leakedTensors };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// Run as a script, it measures (imported, as by the test for its types, it does nothing).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

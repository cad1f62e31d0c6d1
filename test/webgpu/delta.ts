/**
 * Runs the WebGPU delta-update kernels (src/core/train/webgpu-delta.ts) on Dawn and prints one JSON line (a
 * `DeltaReport`) for src/core/train/webgpu-delta.test.ts, which starts this script as a child process
 * (test/helpers/dawn.ts says why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/delta.ts
 * For every variant and norm and each shape (seeded delta, gradient and padding mask): the new delta and eff from
 * the kernels on webgpu, from the plain ops (`updateDeltaOps`) on webgpu and on the cpu backend, and from a float64
 * reference of docs/alum-step.md's update written out below; errors are max |a - b| / max |b| (`errorOf`).
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import type { Norm, Variant } from '../../src/core/config.ts';
import { NORM_EPS, updateDeltaOps } from '../../src/core/train/alum.ts';
import { updateDeltaWebgpu, type DeltaSettings } from '../../src/core/train/webgpu-delta.ts';
import { makeRng } from '../../src/core/rng.ts';
import type { GoldenErrors } from '../helpers/dawn.ts';
import { goldenStep } from '../helpers/golden-step.ts';
import { dispatchingKernels, errorOf, type ErrorPair, startWebgpu } from './report.ts';

export const VARIANTS: Variant[] = ['paper', 'paper-raw', 'mtdnn-2020', 'mtdnn-head'];
export const NORMS: Norm[] = ['inf', 'l2'];
/** [B, T, H]: one token; rows shorter than a workgroup; rows longer than it (H 300 > 128 threads). */
export const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [2, 5, 7],
  [3, 4, 300],
];

export type { ErrorPair };
type Output = 'next' | 'eff';
export type Errors = Record<Output, ErrorPair>;

export interface DeltaCaseReport {
  variant: Variant;
  norm: Norm;
  shape: [number, number, number];
  kernelVsF64: Errors;
  kernelVsPlainWebgpu: Errors;
  kernelVsPlainCpu: Errors;
  plainCpuVsF64: Errors;
}

export interface DeltaReport {
  cases: DeltaCaseReport[];
  /** Dispatching kernels of one update, 'paper' with L-inf (the default): kernels and plain ops. */
  kernels: { kernel: Record<string, number>; plain: Record<string, number> };
  /** The nano steps against PyTorch float64 (the ALUM one updates delta here). */
  model: { standard: GoldenErrors; alum: GoldenErrors };
  /**
   * A NaN in one gradient entry (row 1 of [1, 3, 4]), per variant and norm: whether each row of the new delta and
   * of eff holds a non-finite number, from the kernels and from the plain ops (webgpu, cpu).
   */
  nanRows: { variant: Variant; norm: Norm; kernel: NanRows; plainWebgpu: NanRows; plainCpu: NanRows }[];
  badShape: string;
  leakedTensors: number;
}

interface Inputs {
  current: Float32Array;
  g: Float32Array;
  /** [B T]: 1 for a token, 0 for padding (the last token of every other sequence). */
  mask: Float32Array;
}

type Arrays = Record<Output, ArrayLike<number>>;
export type NanRows = Record<Output, boolean[]>;

/** A step's settings: eta and epsilon as the defaults' order of magnitude, the variant's norm guard. */
function settingsOf(variant: Variant, norm: Norm): DeltaSettings {
  return { variant, norm, eta: 1e-3, epsilon: 1e-5, normEps: NORM_EPS[variant] };
}

function makeInputs([b, t, h]: [number, number, number], seed: number): Inputs {
  const rng = makeRng(seed);
  const n = b * t * h;
  // delta near the ball's radius, gradients spread over orders of magnitude, one all-zero gradient row
  const current = Float32Array.from({ length: n }, () => 1e-5 * rng.normal());
  const g = Float32Array.from({ length: n }, (_, i) =>
    i < h && b * t > 1 ? 0 : 10 ** (3 * rng.uniform() - 4) * rng.normal(),
  );
  const mask = Float32Array.from({ length: b * t }, (_, i) => (i % (2 * t) === 2 * t - 1 ? 0 : 1));
  return { current, g, mask };
}

/** The update in float64, row by row, as the module comment of webgpu-delta.ts states it. */
function reference(inp: Inputs, [b, t, h]: [number, number, number], s: DeltaSettings): Arrays {
  const next = new Float64Array(b * t * h);
  const eff = new Float64Array(b * t * h);
  const norm = (xs: number[]) =>
    s.norm === 'inf' ? Math.max(...xs.map(Math.abs)) : Math.sqrt(xs.reduce((a, x) => a + x * x, 0));
  const project = (raw: number[]) => {
    if (s.norm === 'inf') return raw.map((x) => Math.min(s.epsilon, Math.max(-s.epsilon, x)));
    const scale = s.epsilon / Math.max(norm(raw), s.epsilon);
    return raw.map((x) => x * scale);
  };
  for (let r = 0; r < b * t; r++) {
    const cur = Array.from(inp.current.subarray(r * h, (r + 1) * h));
    const step = Array.from(inp.g.subarray(r * h, (r + 1) * h), (x) => Math.fround(s.eta) * x);
    let part: number[];
    let nxt: number[];
    if (s.variant === 'mtdnn-head') {
      const raw = cur.map((c, i) => c + (step[i] as number));
      const den = norm(raw) + s.normEps;
      part = step.map((x) => x / den);
      nxt = raw.map((x) => x / den);
    } else {
      const gNorm = norm(Array.from(inp.g.subarray(r * h, (r + 1) * h)));
      part = s.variant === 'paper-raw' ? step : step.map((x) => x / (gNorm + s.normEps));
      const raw = cur.map((c, i) => c + (part[i] as number));
      nxt = s.variant === 'mtdnn-2020' ? raw : project(raw);
    }
    const m = inp.mask[r] as number;
    for (let i = 0; i < h; i++) {
      next[r * h + i] = (nxt[i] as number) * m;
      eff[r * h + i] = Math.abs(part[i] as number) * m;
    }
  }
  return { next, eff };
}

type Update = typeof updateDeltaOps;
const kernelUpdate: Update = (current, g, mask, s) =>
  updateDeltaWebgpu(current, g, mask, { ...s, normEps: NORM_EPS[s.variant] });

async function run(
  inp: Inputs,
  shape: [number, number, number],
  s: DeltaSettings,
  update: Update,
): Promise<Arrays> {
  const [b, t] = shape;
  const [current, g, mask] = [
    tf.tensor3d(inp.current, shape),
    tf.tensor3d(inp.g, shape),
    tf.tensor3d(inp.mask, [b, t, 1]),
  ];
  const out = update(current, g, mask, s);
  const arrays = { next: await out.next.data(), eff: await out.eff.data() };
  tf.dispose([current, g, mask, out.next, out.eff]);
  return arrays;
}

const compare = (a: Arrays, b: Arrays): Errors => ({
  next: errorOf(a.next, b.next),
  eff: errorOf(a.eff, b.eff),
});

async function kernelsOf(update: Update): Promise<Record<string, number>> {
  const [current, g, mask] = [tf.randomNormal([2, 3, 8]), tf.randomNormal([2, 3, 8]), tf.ones([2, 3, 1])];
  const counts = await dispatchingKernels(() => {
    const out = update(
      current as tf.Tensor3D,
      g as tf.Tensor3D,
      mask as tf.Tensor3D,
      settingsOf('paper', 'inf'),
    );
    return [out.next, out.eff];
  });
  tf.dispose([current, g, mask]);
  return counts;
}

/** Which rows of the update hold a non-finite number when g has one NaN (in row 1 of [1, 3, 4]). */
async function nanRowsOf(variant: Variant, norm: Norm, update: Update): Promise<NanRows> {
  const inp = makeInputs([1, 3, 4], 77);
  inp.g[1 * 4 + 2] = NaN;
  const out = await run(inp, [1, 3, 4], settingsOf(variant, norm), update);
  const rowBad = (xs: ArrayLike<number>) =>
    [0, 1, 2].map((r) =>
      Array.from(xs)
        .slice(r * 4, (r + 1) * 4)
        .some((x) => !Number.isFinite(x)),
    );
  return { next: rowBad(out.next), eff: rowBad(out.eff) };
}

function badShapeMessage(): string {
  const [a, m] = [tf.zeros([2, 3, 4]) as tf.Tensor3D, tf.zeros([2, 3, 4]) as tf.Tensor3D];
  try {
    updateDeltaWebgpu(a, a, m, settingsOf('paper', 'inf'));
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    tf.dispose([a, m]);
  }
}

async function main(): Promise<void> {
  await startWebgpu();
  const combos = VARIANTS.flatMap((variant) =>
    NORMS.flatMap((norm) => SHAPES.map((shape, i) => ({ variant, norm, shape, seed: 4000 + i }))),
  );
  const before = tf.memory().numTensors;
  const kernel: Arrays[] = [];
  const plainWebgpu: Arrays[] = [];
  for (const c of combos) {
    const inp = makeInputs(c.shape, c.seed);
    kernel.push(await run(inp, c.shape, settingsOf(c.variant, c.norm), kernelUpdate));
    plainWebgpu.push(await run(inp, c.shape, settingsOf(c.variant, c.norm), updateDeltaOps));
  }
  const kernels = { kernel: await kernelsOf(kernelUpdate), plain: await kernelsOf(updateDeltaOps) };
  const model = { standard: await goldenStep('standard'), alum: await goldenStep('alum') };
  const nanCombos = VARIANTS.flatMap((variant) => NORMS.map((norm) => ({ variant, norm })));
  const nanWebgpu = [];
  for (const c of nanCombos) {
    nanWebgpu.push({
      kernel: await nanRowsOf(c.variant, c.norm, kernelUpdate),
      plainWebgpu: await nanRowsOf(c.variant, c.norm, updateDeltaOps),
    });
  }
  const badShape = badShapeMessage();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const cases: DeltaCaseReport[] = [];
  for (const [i, c] of combos.entries()) {
    const inp = makeInputs(c.shape, c.seed);
    const s = settingsOf(c.variant, c.norm);
    const [f64, plainCpu] = [reference(inp, c.shape, s), await run(inp, c.shape, s, updateDeltaOps)];
    const k = kernel[i] as Arrays;
    cases.push({
      ...{ variant: c.variant, norm: c.norm, shape: c.shape },
      kernelVsF64: compare(k, f64),
      kernelVsPlainWebgpu: compare(k, plainWebgpu[i] as Arrays),
      kernelVsPlainCpu: compare(k, plainCpu),
      plainCpuVsF64: compare(plainCpu, f64),
    });
  }
  const nanRows = [];
  for (const [i, c] of nanCombos.entries()) {
    nanRows.push({ ...c, ...nanWebgpu[i]!, plainCpu: await nanRowsOf(c.variant, c.norm, updateDeltaOps) });
  }
  const report: DeltaReport = { cases, kernels, model, nanRows, badShape, leakedTensors };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

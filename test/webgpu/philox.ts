/**
 * Runs the WebGPU Philox kernels (src/core/model/webgpu-philox.ts) on Dawn and prints one JSON line (a
 * `PhiloxReport`) for src/core/model/webgpu-philox.test.ts, which starts this script as a child process
 * (test/helpers/dawn.ts says why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/philox.ts
 * Compares each GPU mask with `philoxMask` and each GPU noise with `philoxNormal` (the CPU's, themselves checked
 * against Random123 and a Python reference in philox.test.ts) entry by entry, counts the kernels' dispatches, and
 * runs the nano model's forward pass with dropout on webgpu and on the cpu backend (the same masks must give the
 * same logits).
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { tally } from '../../src/core/bench/kernels.ts';
import { forward } from '../../src/core/model/bert.ts';
import { withSharedMasks } from '../../src/core/model/dropout.ts';
import { disposeParams } from '../../src/core/model/params.ts';
import { philoxMask, philoxNormal } from '../../src/core/model/philox.ts';
import { dropoutMaskWebgpu, normalWebgpu } from '../../src/core/model/webgpu-philox.ts';
import { loadNano, nanoBatch, readJson, type NanoGolden } from '../helpers/nano.ts';
import { startWebgpu } from './report.ts';

/** A mask's size, rate and seed. */
export interface MaskCase {
  n: number;
  rate: number;
  seed: number;
}

/** Sizes around the 4-entry blocks, seeds with a zero and a nonzero high key word, and a reshaped dispatch. */
export const CASES: MaskCase[] = [
  ...[1, 3, 4, 5, 257, 100_003].map((n, i) => ({ n, rate: i % 2 ? 0.5 : 0.1, seed: 11 + i })),
  { n: 1003, rate: 0.1, seed: 2 ** 31 + 17 },
  { n: 1000, rate: 0.3, seed: 2 ** 40 + 3 },
  { n: 4096, rate: 0.9, seed: 0 },
  // More than 65,535 workgroups of 64 threads x 4 entries: tfjs reshapes the dispatch to 2-D.
  { n: 4 * 64 * 65_536 + 6, rate: 0.1, seed: 9 },
];

export interface MaskReport extends MaskCase {
  /** Entries whose bits differ from philoxMask's. */
  mismatches: number;
  keptFraction: number;
}

/** A noise draw's size, sigma and seed. */
export interface NoiseCase {
  n: number;
  sigma: number;
  seed: number;
}

export const NOISE_CASES: NoiseCase[] = [
  { n: 1, sigma: 1, seed: 0 },
  { n: 6, sigma: 1e-5, seed: 3 },
  { n: 100_003, sigma: 1, seed: 2 ** 31 + 17 },
  { n: 4 * 64 * 65_536 + 2, sigma: 0.5, seed: 2 ** 40 + 3 },
];

export interface NoiseReport extends NoiseCase {
  /** max |gpu - cpu| / sigma, and the largest |cpu| / sigma. */
  maxError: number;
  maxAbs: number;
  /** The GPU draw's mean and variance over sigma^2. */
  mean: number;
  variance: number;
}

export interface PhiloxReport {
  adapter: string;
  masks: MaskReport[];
  noise: NoiseReport[];
  /** Dispatching kernels of one mask and one noise draw, by name. */
  kernels: Record<string, number>;
  /** The nano forward pass with dropout 0.1: max |webgpu - cpu| / max |cpu| of the logits, and without dropout. */
  model: { withDropout: number; dropoutChangesLogits: number };
  leakedTensors: number;
}

async function maskOnGpu(c: MaskCase): Promise<Float32Array> {
  const t = dropoutMaskWebgpu([c.n], c.rate, c.seed);
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

function compareMask(c: MaskCase, gpu: Float32Array): MaskReport {
  const cpu = philoxMask(c.n, c.rate, c.seed);
  const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  const [g, w] = [bits(gpu), bits(cpu)];
  let mismatches = gpu.length === cpu.length ? 0 : Infinity;
  let kept = 0;
  for (let i = 0; i < cpu.length; i++) {
    if (g[i] !== w[i]) mismatches++;
    if ((cpu[i] as number) !== 0) kept++;
  }
  return { ...c, mismatches, keptFraction: kept / c.n };
}

async function compareNoise(c: NoiseCase): Promise<NoiseReport> {
  const t = normalWebgpu([c.n], c.sigma, c.seed);
  const gpu = (await t.data()) as Float32Array;
  t.dispose();
  const cpu = philoxNormal(c.n, c.sigma, c.seed);
  let maxError = gpu.length === cpu.length ? 0 : Infinity;
  let maxAbs = 0;
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < cpu.length; i++) {
    const d = Math.abs((gpu[i] as number) - (cpu[i] as number));
    maxError = Number.isNaN(d) ? Infinity : Math.max(maxError, d / c.sigma);
    maxAbs = Math.max(maxAbs, Math.abs(cpu[i] as number) / c.sigma);
    sum += gpu[i] as number;
    squares += (gpu[i] as number) ** 2;
  }
  const mean = sum / c.n;
  return {
    ...c,
    maxError,
    maxAbs,
    mean: mean / c.sigma,
    variance: (squares / c.n - mean * mean) / c.sigma ** 2,
  };
}

async function kernelsOfDraws(): Promise<Record<string, number>> {
  const info = await tf.profile(() => {
    dropoutMaskWebgpu([6, 10], 0.1, 3).dispose();
    normalWebgpu([6, 10], 1, 3).dispose();
    return [];
  });
  const counts: Record<string, number> = {};
  for (const k of info.kernels) if (tally([k]).dispatches > 0) counts[k.name] = (counts[k.name] ?? 0) + 1;
  return counts;
}

/** The nano model's logits on the backend in use, with dropout at `rate` (seed 5). */
async function nanoLogits(rate: number): Promise<Float32Array> {
  const nano = loadNano();
  const batch = nanoBatch(readJson<NanoGolden>('test/golden/nano-bert.json'));
  const logits = withSharedMasks(() => forward(nano.params, nano.model, batch, { rate, seed: 5 }));
  const v = (await logits.data()) as Float32Array;
  tf.dispose([logits, ...(Object.values(batch) as tf.Tensor[])]);
  disposeParams(nano.params);
  return v;
}

const relError = (a: Float32Array, b: Float32Array): number => {
  let d = 0;
  let scale = 0;
  b.forEach((v, i) => {
    d = Math.max(d, Math.abs((a[i] as number) - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return d / scale;
};

async function main(): Promise<void> {
  await startWebgpu();
  const backend = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } };
  const adapter = `${backend.adapterInfo?.vendor ?? '?'} / ${backend.adapterInfo?.architecture ?? '?'}`;
  const before = tf.memory().numTensors;
  const masks: MaskReport[] = [];
  for (const c of CASES) masks.push(compareMask(c, await maskOnGpu(c)));
  const noise: NoiseReport[] = [];
  for (const c of NOISE_CASES) noise.push(await compareNoise(c));
  const kernels = await kernelsOfDraws();
  const gpuLogits = await nanoLogits(0.1);
  const leakedTensors = tf.memory().numTensors - before;
  await tf.setBackend('cpu');
  const cpuLogits = await nanoLogits(0.1);
  const model = {
    withDropout: relError(gpuLogits, cpuLogits),
    dropoutChangesLogits: relError(await nanoLogits(0), cpuLogits),
  };
  const report: PhiloxReport = { adapter, masks, noise, kernels, model, leakedTensors };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// Imported by the test for CASES; run as a script, it measures.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

/**
 * One benchmark row: ms per optimizer step of the real training loop (TrainingRun.trainStep, readback
 * included), the kernels one step runs (kernels.ts says which of them dispatch), the optimizer alone, the
 * split of a step's ms, the backend's own large-matMul rate and the adapter it runs on. The one owner of the
 * measurement: `npm run bench` in Node (scripts/bench.ts) and the page's bench worker (src/worker/bench.ts)
 * both call `benchBackend` after choosing the backend. docs/performance.md explains every field.
 */
import * as tf from '@tensorflow/tfjs';

import { adapterFacts, type AdapterFacts, type GpuAdapterLike } from '../adapter.ts';
import type { BackendName, ModelPresetName } from '../config.ts';
import type { TrainingRun } from '../train/run.ts';
import { countKernels, formatByOp, type KernelCount } from './kernels.ts';
import { benchRun } from './run.ts';

/** A method as the bench names it: standard, or ALUM with K inner steps. */
export interface Variant {
  label: string;
  method: 'standard' | 'alum';
  k: number;
}

export const VARIANTS = {
  standard: { label: 'standard', method: 'standard', k: 0 },
  alum1: { label: 'alum K=1', method: 'alum', k: 1 },
  alum2: { label: 'alum K=2', method: 'alum', k: 2 },
} as const satisfies Record<string, Variant>;

export type VariantName = keyof typeof VARIANTS;

/** The variants of a comma list ("standard,alum1"); one line naming the unknown one otherwise. */
export function parseVariants(list: string): Variant[] {
  return list.split(',').map((name) => {
    const v = (VARIANTS as Record<string, Variant>)[name];
    if (!v) throw new Error(`--methods: unknown '${name}' (known: ${Object.keys(VARIANTS).join(', ')})`);
    return v;
  });
}

/** The shape every row of one bench run shares. */
export interface BenchShapeOptions {
  batchSize: number;
  maxLength: number;
  /** Timed steps per row (after one warm-up step and one profiled step). */
  steps: number;
}

/** What one measured configuration gave, before the split (which needs its standard row). */
export interface StepMeasure {
  backend: BackendName;
  model: ModelPresetName;
  method: 'standard' | 'alum';
  k: number;
  batchSize: number;
  maxLength: number;
  steps: number;
  msPerStep: number;
  msMin: number;
  stepsPerSec: number;
  tokensPerSec: number;
  kernelsPerStep: number;
  dispatchesPerStep: number;
  bytesAllocatedPerStep: number;
  /** Most bytes held at once during the step, above what the run held before it. */
  peakBytesPerStep: number;
  kernelsByOp: Record<string, number>;
  optimizer: { ms: number; kernels: number; dispatches: number; byOp: Record<string, number> };
  tensorsLeakedPerStep: number;
  paramCount: number;
}

/** The step's ms split (`splitMs`): null where the standard row is missing. */
export interface MsSplit {
  innerLoop: number | null;
  outerGradient: number | null;
  optimizer: number;
}

/** A large square matMul on the backend, synced by a readback: its size, mean ms and GFLOP/s. */
export interface MatMulRate {
  size: number;
  ms: number;
  gflops: number;
}

/** The device a backend computes on (webgpu: the GPU adapter's info; others: the backend and user agent). */
export interface AdapterDescription {
  /** One line for tables and the page. */
  summary: string;
  vendor: string | null;
  architecture: string | null;
  device: string | null;
  description: string | null;
  /** webgpu only: a software (fallback) adapter such as SwiftShader. */
  isFallbackAdapter: boolean | null;
}

/** One JSON row of `{"rows": [...]}` (docs/performance.md, "What is measured"). */
export interface BenchRow extends StepMeasure {
  ratioToStandard: number | null;
  msSplit: MsSplit;
  matMul: MatMulRate;
  adapter: AdapterDescription;
}

export const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** Waits until the backend has finished the work queued so far (reads one parameter value back). */
async function sync(run: TrainingRun): Promise<void> {
  const first = run.params.values().next().value as tf.Variable;
  const one = tf.tidy(() => first.reshape([-1]).slice(0, 1));
  await one.data();
  one.dispose();
}

/** The optimizer alone: ms per update (mean of `n`, synced) and its kernels, on all-zero gradients, lr 0. */
export async function optimizerCost(
  run: TrainingRun,
  n: number,
): Promise<{ ms: number; count: KernelCount }> {
  const grads = new Map([...run.params].map(([name, p]) => [name, tf.zerosLike(p)] as const));
  const norm = tf.scalar(0);
  try {
    const count = await countKernels(() => run.optimizer.apply(grads, 0, norm));
    await sync(run);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) run.optimizer.apply(grads, 0, norm);
    await sync(run);
    return { ms: (performance.now() - t0) / n, count };
  } finally {
    tf.dispose([...grads.values(), norm]);
  }
}

/**
 * One configuration on the backend in use: a warm-up step (shader/kernel compilation), one profiled step,
 * `steps` timed steps, then the optimizer alone. Returns the row and `gradientMs` (ms per step less the
 * optimizer's), which `splitMs` needs.
 */
export async function measure(
  backend: BackendName,
  model: ModelPresetName,
  v: Variant,
  { batchSize, maxLength, steps }: BenchShapeOptions,
): Promise<{ row: StepMeasure; gradientMs: number }> {
  const run = benchRun({ model, method: v.method, k: v.k, batchSize, maxLength });
  try {
    await run.trainStep();
    const tensorsBefore = tf.memory().numTensors;
    const step = await countKernels(() => run.trainStep());
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await run.trainStep();
      times.push(performance.now() - t0);
    }
    const leaked = (tf.memory().numTensors - tensorsBefore) / (steps + 1);
    const ms = times.reduce((a, b) => a + b, 0) / steps;
    const opt = await optimizerCost(run, Math.max(2, steps));
    const row: StepMeasure = {
      backend,
      model,
      method: v.method,
      k: v.k,
      batchSize,
      maxLength,
      steps,
      msPerStep: round(ms),
      msMin: round(Math.min(...times)),
      stepsPerSec: round(1000 / ms, 2),
      tokensPerSec: Math.round((batchSize * maxLength * 1000) / ms),
      kernelsPerStep: step.kernels,
      dispatchesPerStep: step.dispatches,
      bytesAllocatedPerStep: step.bytesAllocated,
      peakBytesPerStep: step.peakBytes,
      kernelsByOp: step.byOp,
      optimizer: {
        ms: round(opt.ms),
        kernels: opt.count.kernels,
        dispatches: opt.count.dispatches,
        byOp: opt.count.byOp,
      },
      tensorsLeakedPerStep: leaked,
      paramCount: run.paramCount,
    };
    return { row, gradientMs: ms - opt.ms };
  } finally {
    run.dispose();
  }
}

/**
 * The step's ms split: the optimizer as measured; the outer gradient as the standard step's time without the
 * optimizer (same backend, model and shapes: `standardGradientMs`); the inner loop as the rest of an ALUM
 * step (`gradientMs`, never below 0). Inner loop and outer gradient are null without a standard row.
 */
export function splitMs(optimizerMs: number, gradientMs: number, standardGradientMs: number | null): MsSplit {
  if (standardGradientMs === null) return { innerLoop: null, outerGradient: null, optimizer: optimizerMs };
  return {
    innerLoop: round(Math.max(0, gradientMs - standardGradientMs)),
    outerGradient: round(standardGradientMs),
    optimizer: optimizerMs,
  };
}

/** GFLOP/s of `reps` square matMuls of `size` (2 size^3 flops each) in `ms`. */
export function gflops(size: number, reps: number, ms: number): number {
  return (2 * size ** 3 * reps) / (ms * 1e6);
}

/**
 * The matMul size a backend is timed at: 2048 on a real GPU (webgpu, not a fallback adapter), 1024 on a
 * software GPU, webgl and wasm, 512 on the plain-JS cpu backend (a 1024 matMul takes seconds there).
 */
export function matMulSize(backend: BackendName, adapter: AdapterDescription): number {
  if (backend === 'webgpu' && adapter.isFallbackAdapter === false) return 2048;
  return backend === 'cpu' ? 512 : 1024;
}

/**
 * The backend's own matMul rate: [size, size] x [size, size] of uniform values, one warm-up (compilation),
 * then matMuls until `minMs` have passed (at most `maxReps`), each synced by reading one element back.
 */
export async function matMulRate(size: number, minMs = 300, maxReps = 20): Promise<MatMulRate> {
  const a = tf.randomUniform([size, size], -1, 1, 'float32', 1);
  const b = tf.randomUniform([size, size], -1, 1, 'float32', 2);
  const once = async (): Promise<void> => {
    const corner = tf.tidy(() => tf.matMul(a, b).slice([size - 1, size - 1], [1, 1]));
    await corner.data();
    corner.dispose();
  };
  try {
    await once();
    let reps = 0;
    const t0 = performance.now();
    while (reps < maxReps && (reps === 0 || performance.now() - t0 < minMs)) {
      await once();
      reps++;
    }
    const ms = (performance.now() - t0) / reps;
    return { size, ms: round(ms, 2), gflops: round(gflops(size, 1, ms), 2) };
  } finally {
    tf.dispose([a, b]);
  }
}

/** The host's `navigator` as far as the bench reads it (browsers, workers; Node has Dawn's `gpu` at most). */
export interface NavigatorLike {
  userAgent?: string;
  gpu?: { requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null> };
}

const orNull = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

/** The description of a WebGPU adapter's info, or of a non-GPU backend on `agent`. Pure. */
export function adapterDescription(
  backend: BackendName,
  info: AdapterFacts | null,
  agent: string | null,
): AdapterDescription {
  if (backend !== 'webgpu' || info === null) {
    const where = agent === null ? '' : ` on ${agent}`;
    return {
      summary: `${backend}${where}`,
      vendor: null,
      architecture: null,
      device: null,
      description: null,
      isFallbackAdapter: null,
    };
  }
  const d = {
    vendor: orNull(info.vendor),
    architecture: orNull(info.architecture),
    device: orNull(info.device),
    description: orNull(info.description),
    isFallbackAdapter: info.isFallbackAdapter ?? null,
  };
  const named = [d.vendor, d.architecture, d.device, d.description].filter((s) => s !== null);
  const fallback = d.isFallbackAdapter === true ? ' (fallback adapter)' : '';
  return { summary: `webgpu: ${named.length > 0 ? named.join(' / ') : 'unnamed adapter'}${fallback}`, ...d };
}

/**
 * Describes the device `backend` computes on: for webgpu, the adapter `navigator.gpu` gives with tfjs'
 * default request (high-performance); for the others, the backend and the user agent.
 */
export async function describeAdapter(
  backend: BackendName,
  nav: NavigatorLike | undefined = (globalThis as { navigator?: NavigatorLike }).navigator,
): Promise<AdapterDescription> {
  const agent = nav?.userAgent ?? null;
  if (backend !== 'webgpu' || nav?.gpu === undefined) return adapterDescription(backend, null, agent);
  const adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) return adapterDescription(backend, null, agent);
  return adapterDescription(backend, await adapterFacts(adapter), agent);
}

/**
 * Whether the bench should stop before its next row (the page's cancel). A worker's check first yields to
 * its event loop: on the CPU backends a whole row runs in microtasks, and a cancel message waits behind them.
 */
export type ShouldStop = () => boolean | Promise<boolean>;

/**
 * Every model x variant on the backend in use (the caller has chosen it with initBackend), in order, each
 * row handed to `onRow` as it is measured; then the backend's matMul rate and adapter join every row.
 * Stops before the next row once `stop()` says so. A standard variant listed before an ALUM one gives the
 * ALUM rows their ratio and split.
 */
export async function benchBackend(
  backend: BackendName,
  models: readonly ModelPresetName[],
  variants: readonly Variant[],
  shape: BenchShapeOptions,
  onRow: (row: BenchRow) => void = () => {},
  stop: ShouldStop = () => false,
): Promise<BenchRow[]> {
  const adapter = await describeAdapter(backend);
  const rate = await matMulRate(matMulSize(backend, adapter));
  const rows: BenchRow[] = [];
  for (const model of models) {
    let standard: { row: StepMeasure; gradientMs: number } | null = null;
    for (const v of variants) {
      if (await stop()) return rows;
      const m = await measure(backend, model, v, shape);
      if (v.method === 'standard') standard = m;
      const row: BenchRow = {
        ...m.row,
        ratioToStandard: standard ? round(m.row.msPerStep / standard.row.msPerStep, 2) : null,
        msSplit: splitMs(m.row.optimizer.ms, m.gradientMs, standard?.gradientMs ?? null),
        matMul: rate,
        adapter,
      };
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

/** The markdown table's header (two lines) that `tableLine` fills. */
export const TABLE_HEADER = [
  '| backend | model | method | ms/step | x standard | inner / outer / optimizer ms | kernels/step | dispatches/step | MB allocated/step | matMul GFLOP/s | top ops |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
].join('\n');

/** The method's label: `standard`, or `alum K=1`. */
export function methodLabel(method: 'standard' | 'alum', k: number): string {
  return method === 'standard' ? 'standard' : `alum K=${k}`;
}

const dash = (x: number | null): string => (x === null ? '-' : String(x));

/** One markdown table line of a row. */
export function tableLine(row: BenchRow): string {
  const s = row.msSplit;
  return (
    `| ${row.backend} | ${row.model} | ${methodLabel(row.method, row.k)} | ${row.msPerStep} | ` +
    `${dash(row.ratioToStandard)} | ${dash(s.innerLoop)} / ${dash(s.outerGradient)} / ${s.optimizer} | ` +
    `${row.kernelsPerStep} | ${row.dispatchesPerStep} | ${round(row.bytesAllocatedPerStep / 2 ** 20)} | ` +
    `${row.matMul.gflops} (${row.matMul.size}) | ${formatByOp(row.kernelsByOp, 6)} |`
  );
}

/** The table line of a backend that could not be used. */
export function unavailableLine(backend: string, message: string): string {
  return `| ${backend} | - | unavailable: ${message.split('\n')[0] ?? ''} | | | | | | | | |`;
}

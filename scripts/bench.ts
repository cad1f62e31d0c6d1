/**
 * `npm run bench`: ms per optimizer step of the real training loop (TrainingRun.trainStep, readback
 * included) for each backend this Node process can use, each model preset asked for, and standard vs ALUM,
 * with the kernels one step runs (tf.profile; src/core/bench/kernels.ts says which of them dispatch). Speed
 * goals live here, not in tests. Prints a markdown table and writes `{"rows": [...]}` as JSON.
 *
 * Options: --backends wasm,cpu,webgpu  --models nano,tiny  --methods standard,alum1,alum2  --steps N
 *          --batch-size B  --max-length T  --json FILE (default bench-results.json)
 *          --quick (cpu,wasm x nano,tiny x standard,alum1, batch 8, length 32, 2 steps: a few minutes here)
 * `webgpu` uses Dawn for Node (the `webgpu` package); here that is SwiftShader on the CPU:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npm run bench -- --backends webgpu
 * Kernel counts do not depend on batch or length (src/core/bench/kernels.test.ts), so a tiny shape with
 * --steps 1 measures them quickly on any backend. docs/performance.md records the results.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { nodeLoaders } from '../src/cli/files.ts';
import { initBackend } from '../src/core/backend.ts';
import { countKernels, formatByOp, type KernelCount } from '../src/core/bench/kernels.ts';
import { benchRun } from '../src/core/bench/run.ts';
import { type BackendName, type ModelPresetName } from '../src/core/config.ts';
import type { TrainingRun } from '../src/core/train/run.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string' },
    models: { type: 'string' },
    methods: { type: 'string' },
    steps: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-length': { type: 'string' },
    json: { type: 'string', default: 'bench-results.json' },
    quick: { type: 'boolean', default: false },
  },
});

const quick = values.quick === true;
const pick = (given: string | undefined, normal: string, fast: string): string =>
  given ?? (quick ? fast : normal);
const backends = pick(values.backends, 'wasm,cpu', 'cpu,wasm').split(',') as BackendName[];
const models = pick(values.models, 'nano,tiny', 'nano,tiny').split(',') as ModelPresetName[];
const steps = positive('steps', pick(values.steps, '5', '2'));
const batchSize = positive('batch-size', pick(values['batch-size'], '32', '8'));
const maxLength = positive('max-length', pick(values['max-length'], '64', '32'));

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${text}'`);
  return n;
}

interface Variant {
  label: string;
  method: 'standard' | 'alum';
  k: number;
}

const VARIANTS: Record<string, Variant> = {
  standard: { label: 'standard', method: 'standard', k: 0 },
  alum1: { label: 'alum K=1', method: 'alum', k: 1 },
  alum2: { label: 'alum K=2', method: 'alum', k: 2 },
};
const variants = pick(values.methods, 'standard,alum1,alum2', 'standard,alum1')
  .split(',')
  .map((name) => {
    const v = VARIANTS[name];
    if (!v) throw new Error(`--methods: unknown '${name}' (known: ${Object.keys(VARIANTS).join(', ')})`);
    return v;
  });

/** Waits until the backend has finished the work queued so far (reads one parameter value back). */
async function sync(run: TrainingRun): Promise<void> {
  const first = run.params.values().next().value as tf.Variable;
  const one = tf.tidy(() => first.reshape([-1]).slice(0, 1));
  await one.data();
  one.dispose();
}

/** The optimizer alone: ms per update (mean of `n`, synced) and its kernels, on all-zero gradients, lr 0. */
async function optimizerCost(run: TrainingRun, n: number): Promise<{ ms: number; count: KernelCount }> {
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

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

/** One measured configuration (a JSON row, plus `gradientMs` for the split). */
interface Row {
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
  /** ms per step less the optimizer's. */
  gradientMs: number;
  tensorsLeakedPerStep: number;
  paramCount: number;
}

async function measure(backend: BackendName, modelName: ModelPresetName, v: Variant): Promise<Row> {
  const run = benchRun({ model: modelName, method: v.method, k: v.k, batchSize, maxLength });
  try {
    await run.trainStep(); // warm-up: shader/kernel compilation
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
    return {
      backend,
      model: modelName,
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
      gradientMs: ms - opt.ms,
      tensorsLeakedPerStep: leaked,
      paramCount: run.paramCount,
    };
  } finally {
    run.dispose();
  }
}

/**
 * The step's ms split: the optimizer as measured; the outer gradient as the standard step's time without the
 * optimizer (same backend, model and shapes); the inner loop as the rest of an ALUM step. Null where the
 * standard row is missing.
 */
function split(row: Row, standard: Row | undefined): Record<string, number | null> {
  const optimizer = row.optimizer.ms;
  if (!standard) return { innerLoop: null, outerGradient: null, optimizer };
  const outer = standard.gradientMs;
  return { innerLoop: round(Math.max(0, row.gradientMs - outer)), outerGradient: round(outer), optimizer };
}

const rows: Omit<Row, 'gradientMs'>[] = [];
const started = performance.now();
console.log(
  `batch ${batchSize}, length ${maxLength}, ${steps} timed steps; ${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
);
console.log(
  `| backend | model | method | ms/step | x standard | inner / outer / optimizer ms | kernels/step | dispatches/step | MB allocated/step | top ops |`,
);
console.log(`|---|---|---|---|---|---|---|---|---|---|`);
for (const backend of backends) {
  try {
    await initBackend(backend, [backend], nodeLoaders);
  } catch (e) {
    console.log(`| ${backend} | - | unavailable: ${(e as Error).message.split('\n')[0]} | | | | | | | |`);
    continue;
  }
  for (const modelName of models) {
    let standard: Row | undefined;
    for (const v of variants) {
      const row = await measure(backend, modelName, v);
      if (v.method === 'standard') standard = row;
      const { gradientMs: _, ...out } = {
        ...row,
        ratioToStandard: standard ? round(row.msPerStep / standard.msPerStep, 2) : null,
        msSplit: split(row, standard),
      };
      rows.push(out);
      const s = out.msSplit;
      const dash = (x: number | null | undefined) => (x === null || x === undefined ? '-' : String(x));
      console.log(
        `| ${backend} | ${modelName} | ${v.label} | ${row.msPerStep} | ${out.ratioToStandard ?? '-'} | ` +
          `${dash(s.innerLoop)} / ${dash(s.outerGradient)} / ${dash(s.optimizer)} | ${row.kernelsPerStep} | ` +
          `${row.dispatchesPerStep} | ${round(row.bytesAllocatedPerStep / 2 ** 20)} | ` +
          `${formatByOp(row.kernelsByOp, 6)} |`,
      );
    }
  }
}
const report = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, node: process.version },
  options: { backends, models, steps, batchSize, maxLength, quick },
  totalSeconds: round((performance.now() - started) / 1000),
  rows,
};
writeFileSync(values.json as string, JSON.stringify(report, null, 2) + '\n');
console.log(`wrote ${values.json} (${rows.length} rows, ${report.totalSeconds} s)`);

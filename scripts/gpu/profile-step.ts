/**
 * Where a training step's time goes, by kernel: one step of each model and method under `tf.profile`, summed by
 * kernel name. On the webgpu backend (Dawn for Node, the default) with WebGPU timestamp queries (`timestamp-query`,
 * which Dawn exposes with `allow_unsafe_apis`): GPU time. A diagnostic for docs/performance.md, not a benchmark:
 * each timed program runs in its own compute pass and submit, so the sums leave out the launch overhead that
 * `npm run bench` includes. Also times the embedding gradient's scatter-add alone on three id patterns (webgpu).
 * With `--backend wasm` or `cpu`: the CPU time tfjs measures around each kernel.
 *
 *   node profile-step.mjs [--backend webgpu] [--models small] [--methods standard,alum1] [--batch-size 32]
 *     [--max-length 64]
 *   npx tsx scripts/gpu/profile-step.ts --backend wasm --models mini --batch-size 8   (here, without a GPU)
 *
 * pack.sh bundles it next to bench.mjs; run.sh runs it with PROFILE=1. Prints one JSON line per row: `kernelMs`
 * (the sum; `gpuMs` too on webgpu), `top` (ms by kernel name) and `slowest` (single kernels, with input shapes).
 */
import process from 'node:process';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { loadDawn, nodeLoaders } from '../../src/cli/files.ts';
import { useBackend } from '../../src/core/backend.ts';
import { BACKENDS, type BackendName, type ModelPresetName } from '../../src/core/config.ts';
import { parseVariants } from '../../src/core/bench/measure.ts';
import { benchRun } from '../../src/core/bench/run.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgpu' },
    models: { type: 'string', default: 'small' },
    methods: { type: 'string', default: 'standard,alum1' },
    'batch-size': { type: 'string', default: '32' },
    'max-length': { type: 'string', default: '64' },
  },
});

interface TimedKernel {
  name: string;
  kernelTimeMs: number | { error: string };
  inputShapes: unknown[];
}

/** The `n` single kernels that took longest, with their input shapes. */
function slowest(kernels: readonly TimedKernel[], n: number): [string, number, unknown[]][] {
  const timed = kernels.filter((k) => !isWrapper(k.name) && typeof k.kernelTimeMs === 'number');
  timed.sort((a, b) => (b.kernelTimeMs as number) - (a.kernelTimeMs as number));
  return timed.slice(0, n).map((k) => [k.name, Number((k.kernelTimeMs as number).toFixed(3)), k.inputShapes]);
}

/** A tf.customGrad wrapper: its inner kernels are profiled (and timed) on their own. */
const isWrapper = (name: string): boolean => name === 'unnamed scope' || name.endsWith('__op');

/** Kernel ms by kernel name (count, ms), largest first, and their total. */
function byName(kernels: readonly TimedKernel[]): { totalMs: number; byOp: [string, number, number][] } {
  const ms = new Map<string, [number, number]>();
  for (const k of kernels) {
    if (isWrapper(k.name) || typeof k.kernelTimeMs !== 'number') continue;
    const [n, t] = ms.get(k.name) ?? [0, 0];
    ms.set(k.name, [n + 1, t + k.kernelTimeMs]);
  }
  const byOp = [...ms].map(([name, [n, t]]) => [name, n, Number(t.toFixed(3))] as [string, number, number]);
  byOp.sort((a, b) => b[2] - a[2]);
  return { totalMs: Number(byOp.reduce((s, r) => s + r[2], 0).toFixed(2)), byOp };
}

/** ms of `f` (synced by reading its result back), mean of 5 after one warm-up. */
async function wallMs(f: () => tf.Tensor): Promise<number> {
  const once = async (): Promise<void> => {
    const y = f();
    await y.data();
    y.dispose();
  };
  await once();
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) await once();
  return Number(((performance.now() - t0) / 5).toFixed(3));
}

/** The embedding gradient's scatter-add [N, H] -> [V, H] alone, for ids all equal, positional and random. */
async function scatterRows(n: number, h: number): Promise<void> {
  const dy = tf.randomNormal([n, h]);
  const patterns: [string, number, Int32Array][] = [
    ['token types (all 0)', 2, new Int32Array(n)],
    ['positions (64 distinct)', 512, Int32Array.from({ length: n }, (_, i) => i % 64)],
    ['random words', 8000, Int32Array.from({ length: n }, (_, i) => (i * 7919) % 8000)],
  ];
  for (const [label, v, ids] of patterns) {
    const idx = tf.tensor2d(ids, [n, 1], 'int32');
    const ms = await wallMs(() => tf.scatterND(idx, dy, [v, h]));
    const oneHotMs = await wallMs(() =>
      tf.tidy(() => tf.matMul(tf.oneHot(idx.reshape([n]), v), dy, true, false)),
    );
    process.stdout.write(JSON.stringify({ scatter: label, n, h, v, ms, oneHotMatMulMs: oneHotMs }) + '\n');
    idx.dispose();
  }
  dy.dispose();
}

async function main(): Promise<void> {
  const backend = (values.backend ?? '') as BackendName;
  if (!BACKENDS.includes(backend))
    throw new Error(`--backend must be one of ${BACKENDS.join('|')}, got '${backend}'`);
  // As the bench and the app start it (useBackend: uploads patched, smoke-tested); on webgpu with timestamp queries.
  const dawn = () => loadDawn(['enable-dawn-features=allow_unsafe_apis']);
  await useBackend(backend, { ...nodeLoaders, webgpu: dawn });
  const batchSize = Number(values['batch-size']);
  const maxLength = Number(values['max-length']);
  if (backend === 'webgpu') await scatterRows(batchSize * maxLength, 512);
  for (const model of (values.models ?? '').split(',') as ModelPresetName[]) {
    for (const v of parseVariants(values.methods ?? '')) {
      const run = benchRun({ model, method: v.method, k: v.k, batchSize, maxLength });
      await run.trainStep();
      const t0 = performance.now();
      await run.trainStep();
      const stepMs = performance.now() - t0;
      const info = await tf.profile(async () => {
        await run.trainStep();
        return [];
      });
      const timed = info.kernels as unknown as TimedKernel[];
      const { totalMs, byOp } = byName(timed);
      const row = {
        model,
        method: v.label,
        batchSize,
        maxLength,
        stepMs: Number(stepMs.toFixed(1)),
        kernelMs: totalMs,
        ...(backend === 'webgpu' ? { gpuMs: totalMs } : {}),
      };
      process.stdout.write(
        JSON.stringify({ ...row, top: byOp.slice(0, 15), slowest: slowest(timed, 20) }) + '\n',
      );
      run.dispose();
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`profile-step: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

/**
 * What the Dawn child scripts (test/webgpu/*.ts) share: starting the backend, the error of an output against a
 * reference, and the dispatching kernels of a piece of work by name.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

import { nodeLoaders } from '../../src/cli/files.ts';
import { tally } from '../../src/core/bench/kernels.ts';
import { forward, NO_DROPOUT } from '../../src/core/model/bert.ts';
import { disposeParams } from '../../src/core/model/params.ts';
import { goldenStep } from '../helpers/golden-step.ts';
import { loadNano, nanoBatch, readJson, type NanoGolden } from '../helpers/nano.ts';

/** Errors of one output against a reference: max |a - b| / max |b| (max |a - b| where b is all zeros), and max |a - b|. */
export interface ErrorPair {
  rel: number;
  abs: number;
}

/** `ErrorPair` of `got` against `want`; Infinity on a NaN or a length mismatch. */
export function errorOf(got: ArrayLike<number>, want: ArrayLike<number>): ErrorPair {
  let abs = got.length === want.length ? 0 : Infinity;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    abs = Number.isNaN(d) ? Infinity : Math.max(abs, d);
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return { abs, rel: scale > 0 ? abs / scale : abs };
}

/**
 * The kernels of `work` that dispatch device work on webgpu, counted by name (`tally`); the profiler's
 * `tf.customGrad` wrappers are not kernels and are left out.
 */
export async function dispatchingKernels(
  work: () => tf.Tensor | tf.Tensor[],
): Promise<Record<string, number>> {
  const info = await tf.profile(() => {
    tf.dispose(tf.tidy(work));
    return [];
  });
  const counts: Record<string, number> = {};
  for (const k of info.kernels) {
    const isKernel = tf.getKernel(k.name, 'webgpu') !== undefined;
    if (isKernel && tally([k]).dispatches > 0) counts[k.name] = (counts[k.name] ?? 0) + 1;
  }
  return counts;
}

/**
 * Loads Dawn (as the CLI does) and makes webgpu the backend, or throws in one line. A WebGPU error that no error scope
 * takes (a shader that does not compile: tfjs opens no scope, and the program then writes nothing) is printed to
 * stderr and makes the script exit non-zero, which fails its test (`runOnDawn`).
 */
export async function startWebgpu({ failOnWebgpuError = true } = {}): Promise<void> {
  await nodeLoaders.webgpu?.();
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start');
  if (!failOnWebgpuError) return; // a script that breaks a program on purpose (selfcheck.ts)
  (tf.backend() as WebGPUBackend).device.addEventListener('uncapturederror', (e) => {
    process.stderr.write(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}\n`);
    process.exitCode = 1;
  });
}

/** The nano model on webgpu: a forward pass's dispatching kernels by name, and its steps against PyTorch float64. */
export interface NanoModelReport {
  forward: Record<string, number>;
  standard: { lossError: number; gradError: number };
  alum: { lossError: number; gradError: number };
}

/** The dispatching kernels, by name, of the nano model's forward pass on its golden batch without dropout. */
export async function nanoForwardKernels(): Promise<Record<string, number>> {
  const nano = loadNano();
  const batch = nanoBatch(readJson<NanoGolden>('test/golden/nano-bert.json'));
  const counts = await dispatchingKernels(() => forward(nano.params, nano.model, batch, NO_DROPOUT));
  tf.dispose(Object.values(batch));
  disposeParams(nano.params);
  return counts;
}

/**
 * `NanoModelReport` of the kernels as wired into the model: the nano forward pass's kernels
 * (`nanoForwardKernels`), then the standard and ALUM steps of test/golden/nano-bert.json (`goldenStep`).
 */
export async function nanoModelCheck(): Promise<NanoModelReport> {
  const counts = await nanoForwardKernels();
  return { forward: counts, standard: await goldenStep('standard'), alum: await goldenStep('alum') };
}

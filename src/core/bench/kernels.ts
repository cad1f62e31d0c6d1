/**
 * Kernel counts of a piece of work, from tfjs' own profiler (`tf.profile`): every kernel the engine runs,
 * by op name, and how many of them launch device work. The one owner of the "which kernels dispatch" policy:
 * the bench (scripts/bench.ts) and the kernel-count tests read it from here.
 */
import * as tf from '@tensorflow/tfjs';

import { CONCAT_COPY, SPLIT_COPY } from '../model/webgpu-copy.ts';

/**
 * Kernels that launch no GPU work on the webgpu backend (tfjs-backend-webgpu 4.22): they relabel an existing
 * buffer or only group other kernels. Reshape and ExpandDims give the same data a new shape (the dataId is
 * shared); Identity increments a reference count (the engine runs one for every tensor it saves for the
 * backward pass, and `clone` is one); Cast to float32 is an identity on webgpu (`hasEncodingLoss` is false
 * from int32, bool or float32; every Cast of a training step is one: masks to float, and the float32 casts in
 * tfjs' gradients). A `tf.customGrad` call is profiled as a wrapper named after its op scope ('unnamed scope',
 * or e.g. 'fusedMatMul__op' inside `tf.fused.matMul`) besides its inner ops: the wrapper dispatches nothing.
 */
export const VIEW_KERNELS: ReadonlySet<string> = new Set(['Reshape', 'Identity', 'ExpandDims', 'Cast']);

/** Whether a profiled name is a `tf.customGrad` wrapper: 'unnamed scope', or the op scope ('fusedMatMul__op'). */
function isWrapper(name: string): boolean {
  return name === 'unnamed scope' || name.endsWith('__op');
}

/**
 * Inputs one webgpu Concat program binds: WebGPU's default `maxStorageBuffersPerShaderStage` (8, which tfjs
 * does not raise) less one for the output. Past it tfjs concatenates in chunks, then the chunks.
 */
export const CONCAT_INPUTS_PER_DISPATCH = 7;

/** The kernel facts a dispatch count needs (as `tf.profile` lists them). */
export interface ProfiledKernel {
  name: string;
  bytesAdded: number;
  inputShapes: unknown[];
  outputShapes: unknown[];
}

/**
 * This repo's copy kernels (webgpu-copy.ts): no program; each ends the compute pass once and records one buffer
 * copy per tensor. Counted as one launch each: GPU work, without a pipeline, bind group or uniforms per copy.
 */
export const COPY_KERNELS: ReadonlySet<string> = new Set([CONCAT_COPY, SPLIT_COPY]);

/**
 * Device programs one kernel launches on webgpu: none for VIEW_KERNELS; one slice per output for SplitV
 * (webgpu `splitV` slices each part); chunks of CONCAT_INPUTS_PER_DISPATCH for Concat; one for a copy kernel
 * (COPY_KERNELS) and for every other kernel (a lower bound: Softmax, some reductions and split-K MatMuls run
 * more than one program).
 */
export function dispatchesOf(k: ProfiledKernel): number {
  if (VIEW_KERNELS.has(k.name) || isWrapper(k.name)) return 0;
  if (COPY_KERNELS.has(k.name)) return 1;
  if (k.name === 'SplitV') return k.outputShapes.length;
  if (k.name === 'Concat') return concatDispatches(k.inputShapes.length);
  return 1;
}

function concatDispatches(inputs: number): number {
  if (inputs <= CONCAT_INPUTS_PER_DISPATCH) return 1;
  const chunks = Math.ceil(inputs / CONCAT_INPUTS_PER_DISPATCH);
  return chunks + concatDispatches(chunks);
}

/** What one piece of work cost in kernels and fresh memory. */
export interface KernelCount {
  /** Every kernel the engine ran. */
  kernels: number;
  /** Device programs launched on webgpu (`dispatchesOf`, summed). */
  dispatches: number;
  /** Kernel count by op name, keys sorted by count (largest first). */
  byOp: Record<string, number>;
  /** Bytes of the kernels' fresh outputs, summed (what the work asks the allocator for). */
  bytesAllocated: number;
  /** Most bytes held at once during the work, above what was held before it (0 from `tally`). */
  peakBytes: number;
}

/** Counts kernels as `tf.profile` lists them (name and `bytesAdded` each). */
export function tally(kernels: readonly ProfiledKernel[]): KernelCount {
  const byName = new Map<string, number>();
  let bytes = 0;
  for (const k of kernels) {
    byName.set(k.name, (byName.get(k.name) ?? 0) + 1);
    bytes += Math.max(0, k.bytesAdded);
  }
  const sorted = [...byName].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const dispatches = kernels.reduce((n, k) => n + dispatchesOf(k), 0);
  return {
    kernels: kernels.length,
    dispatches,
    byOp: Object.fromEntries(sorted),
    bytesAllocated: bytes,
    peakBytes: 0,
  };
}

/** Runs `work` under the profiler and counts its kernels. Whatever `work` returns is its caller's. */
export async function countKernels(work: () => unknown): Promise<KernelCount> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    await work();
    return [];
  });
  return { ...tally(info.kernels), peakBytes: Math.max(0, info.peakBytes - before) };
}

/** One line: the `top` most frequent ops, "Name count" comma-separated. */
export function formatByOp(byOp: Record<string, number>, top = 12): string {
  return Object.entries(byOp)
    .slice(0, top)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

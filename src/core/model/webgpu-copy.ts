/**
 * Flat concatenation and split by buffer copies on the webgpu backend (tfjs-backend-webgpu 4.22), registered as
 * tfjs kernels: no compute program at all. tfjs's Concat binds at most 7 inputs per program (a tree of programs past
 * that) and its SplitV runs one Slice program per part; each program costs a uniform buffer, a bind group and a
 * dispatch. Joining flat tensors end to end, or cutting one into consecutive parts, is a byte copy: here one kernel
 * ends the backend's compute pass once and records one `copyBufferToBuffer` per part on its command encoder, in
 * order with the programs before and after it (the next program begins a new pass).
 *
 * What it reads of the backend beyond its public API (`BackendInternals`): the command encoder and the set of data
 * ids the pending command buffer uses (so that a tensor disposed before the submit keeps its buffer until then, as
 * tfjs does for its own programs). `runsCopies` checks they are there. Float32 only; no gradients (the optimizer's
 * flat buffers, where they are used, are not differentiated: tfjs then says no gradient is registered).
 * Tested on Dawn against tf.concat and tf.split (src/core/train/webgpu-adamw.test.ts, running
 * test/webgpu/optimizer.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

import { registerWebgpuKernels, runsWgsl, type KernelArgs } from './wgsl.ts';

/** Kernel names (what `tf.profile` lists): each records its copies in one break of the compute pass. */
export const CONCAT_COPY = 'AlumConcatCopy';
export const SPLIT_COPY = 'AlumSplitCopy';

/** The webgpu backend's members these kernels use that its typings keep private (tfjs-backend-webgpu 4.22). */
interface BackendInternals {
  commandEncoder: GPUCommandEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
}

type Backend = Pick<
  WebGPUBackend,
  'uploadToGPU' | 'tensorMap' | 'ensureCommandEncoderReady' | 'endComputePassEncoder' | 'makeTensorInfo'
> &
  BackendInternals;

const BYTES = 4; // float32

/** Whether the backend in use runs these kernels: webgpu (`runsWgsl`) with the internals they record into. */
export function runsCopies(): boolean {
  if (!runsWgsl()) return false;
  const b = tf.backend() as unknown as Partial<Backend>;
  return 'commandEncoder' in b && b.commandQueueOwnedIds instanceof WeakSet;
}

/**
 * Whether a tensor's data is float32 as stored: webgpu's Cast to float32 from int32 or bool only relabels the
 * tensor, its buffer keeping the integers (tfjs's own programs read the stored dtype too). Copies move bytes, so
 * they take float32 storage alone.
 */
export function storedAsFloat32(t: tf.TensorInfo): boolean {
  const b = tf.backend() as unknown as Partial<Backend>;
  return t.dtype === 'float32' && b.tensorMap?.get(t.dataId)?.dtype === 'float32';
}

/** The tensor's GPU buffer, uploaded first if its data is still on the CPU; a one-line error for another dtype. */
function bufferOf(b: Backend, t: tf.TensorInfo, kernel: string): GPUBuffer {
  const stored = b.tensorMap.get(t.dataId).dtype;
  if (t.dtype !== 'float32' || stored !== 'float32') {
    throw new Error(`${kernel}: expected float32 tensors, got ${t.dtype} stored as ${stored}`);
  }
  b.uploadToGPU(t.dataId);
  const resource = b.tensorMap.get(t.dataId).resource as GPUBuffer | null;
  if (!resource || !('size' in resource)) throw new Error(`${kernel}: a tensor is not in a GPU buffer`);
  return resource;
}

/** One copy per part: `from` [elements] at `src` offsets to `to` at `dst` offsets, after the programs so far. */
function recordCopies(
  b: Backend,
  ids: object[],
  copies: { from: GPUBuffer; src: number; to: GPUBuffer; dst: number; size: number }[],
): void {
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  const encoder = b.commandEncoder as GPUCommandEncoder;
  for (const c of copies)
    encoder.copyBufferToBuffer(c.from, c.src * BYTES, c.to, c.dst * BYTES, c.size * BYTES);
  ids.forEach((id) => b.commandQueueOwnedIds.add(id));
}

/** A float32 [n] output: on the GPU when n > 0; an empty one on the CPU (as tfjs makes its programs' empty outputs). */
function output(b: Backend, n: number): tf.TensorInfo {
  return n > 0 ? b.makeTensorInfo([n], 'float32') : b.makeTensorInfo([0], 'float32', new Float32Array(0));
}

/** The inputs (any shapes) flattened and joined end to end -> [sum of sizes]. */
function concatCopy({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as unknown as Backend;
  const xs = (Object.values(inputs) as tf.TensorInfo[]).filter((x) => tf.util.sizeFromShape(x.shape) > 0);
  const sizes = xs.map((x) => tf.util.sizeFromShape(x.shape));
  const from = xs.map((x) => bufferOf(b, x, CONCAT_COPY)); // checked before the output is made
  const out = output(
    b,
    sizes.reduce((s, n) => s + n, 0),
  );
  if (xs.length === 0) return out;
  const to = bufferOf(b, out, CONCAT_COPY);
  let offset = 0;
  const copies = sizes.map((size, i) => {
    const c = { from: from[i] as GPUBuffer, src: 0, to, dst: offset, size };
    offset += size;
    return c;
  });
  recordCopies(b, [out.dataId, ...xs.map((x) => x.dataId)], copies);
  return out;
}

/** x [n] cut into consecutive parts of `sizes` (attr; they sum to n) -> [size] each. */
function splitCopy({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const b = backend as unknown as Backend;
  const x = inputs['x'] as tf.TensorInfo;
  const sizes = attrs?.['sizes'] as number[];
  const from = x.shape.includes(0) ? null : bufferOf(b, x, SPLIT_COPY); // checked before the outputs are made
  const outs = sizes.map((size) => output(b, size));
  if (from === null) return outs;
  let offset = 0;
  const copies = [];
  for (const [i, out] of outs.entries()) {
    const size = sizes[i] as number;
    if (size > 0) copies.push({ from, src: offset, to: bufferOf(b, out, SPLIT_COPY), dst: 0, size });
    offset += size;
  }
  recordCopies(b, [x.dataId, ...outs.map((o) => o.dataId)], copies);
  return outs;
}

registerWebgpuKernels([
  [CONCAT_COPY, concatCopy],
  [SPLIT_COPY, splitCopy as unknown as tf.KernelFunc],
]);

/** xs flattened and concatenated in order -> [sum of sizes], by buffer copies (webgpu only; see `runsCopies`). */
export function concatByCopies(xs: readonly tf.Tensor[]): tf.Tensor1D {
  return tf
    .engine()
    .runKernel(CONCAT_COPY, Object.fromEntries(xs.map((x, i) => [`x${i}`, x]))) as tf.Tensor1D;
}

/** x cut into consecutive flat parts of `sizes` ([size] each), by buffer copies (webgpu only; see `runsCopies`). */
export function splitByCopies(x: tf.Tensor, sizes: readonly number[]): tf.Tensor1D[] {
  const n = sizes.reduce((s, k) => s + k, 0);
  if (n !== x.size || sizes.some((k) => !Number.isInteger(k) || k < 0)) {
    throw new Error(`splitByCopies: parts [${sizes.join(',')}] do not cut ${x.size} values`);
  }
  return tf.engine().runKernel(SPLIT_COPY, { x }, { sizes: [...sizes] }) as unknown as tf.Tensor1D[];
}

/**
 * Cheaper uploads for tfjs-backend-webgpu 4.22. Every tensor made from CPU data (each JavaScript number an op
 * takes becomes a scalar tensor) is uploaded the first time a GPU program reads it, and the backend's
 * `uploadToGPU` does that through a mapped staging buffer it creates and destroys per upload
 * (`device.createBuffer`): about 22 ms of a `small` ALUM step on the H200 machine went to it
 * (docs/performance.md). This writes the data with `queue.writeBuffer` into a buffer from the backend's own pool
 * instead, as the backend already writes every program's uniforms (`makeUniforms`).
 *
 * Why the order is right: the queue runs a `writeBuffer` before any command submitted after it, and every
 * program that reads the new tensor is recorded after this call, so submitted after it. A pooled buffer cannot
 * still be read by a recorded but unsubmitted command: the backend frees a tensor that such a command uses only
 * after submitting (`commandQueueOwnedIds`, `tensorDataPendingDisposal`); earlier submitted readers run first.
 */

/** The parts of tfjs-backend-webgpu's WebGPUBackend this reads (its fields are public in 4.22). */
interface TensorDataLike {
  values?: ArrayLike<number> | null;
  dtype: string;
  shape: number[];
  resource?: unknown;
}

interface WebgpuBackendLike {
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): TensorDataLike | undefined };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  queue: GPUQueue;
}

const patched = new WeakSet<object>();

const absent = (v: unknown): boolean => v === null || v === undefined;

function isWebgpuBackend(b: unknown): b is WebgpuBackendLike {
  const x = b as Partial<WebgpuBackendLike> | null;
  return (
    typeof x?.uploadToGPU === 'function' &&
    typeof x.bufferManager?.acquireBuffer === 'function' &&
    typeof x.queue?.writeBuffer === 'function' &&
    typeof x.tensorMap?.get === 'function'
  );
}

type Words = Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer>;

/** `v` itself when it is a typed array of `kind` over a plain ArrayBuffer, else a copy of it as one. */
function asWords<K extends typeof Float32Array | typeof Int32Array>(v: ArrayLike<number>, kind: K): Words {
  if (v instanceof kind && v.buffer instanceof ArrayBuffer) return v as Words;
  return kind.from(v);
}

/** The values as the GPU stores them (float32, or int32 for int32 and bool), or null for another dtype. */
function gpuWords(d: TensorDataLike): Words | null {
  const v = d.values as ArrayLike<number>;
  if (d.dtype === 'float32') return asWords(v, Float32Array);
  if (d.dtype === 'int32' || d.dtype === 'bool') return asWords(v, Int32Array);
  return null;
}

/**
 * Makes `backend` (tfjs's WebGPU backend) upload with `queue.writeBuffer` (module comment). Anything else, and
 * uploads the replacement does not handle (no CPU values, another dtype, an empty tensor), keep the backend's
 * own path. Idempotent; returns whether `backend` is one it patches.
 */
export function fastUploads(backend: unknown): boolean {
  if (!isWebgpuBackend(backend)) return false;
  if (patched.has(backend)) return true;
  const own = backend.uploadToGPU.bind(backend);
  backend.uploadToGPU = (dataId: object): void => {
    const d = backend.tensorMap.get(dataId);
    const words = d && absent(d.resource) && !absent(d.values) ? gpuWords(d) : null;
    if (!d || !words || words.length === 0) return own(dataId);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = backend.bufferManager.acquireBuffer(words.byteLength, usage);
    backend.queue.writeBuffer(buffer, 0, words);
    d.values = null; // as the backend's own path: once on the GPU, the CPU copy goes
    d.resource = buffer;
  };
  patched.add(backend);
  return true;
}

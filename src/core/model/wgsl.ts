/**
 * What this repo's WGSL programs share (webgpu-layernorm.ts, webgpu-philox.ts, webgpu-activations.ts): whether the
 * backend in use runs them, how they are registered and run, and how wide a row program's workgroup is.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

/** Backends whose WGSL programs were turned off (`turnWgslOff`), with why. */
const wgslOff = new WeakMap<object, string>();

/**
 * Whether the backend in use runs this repo's WGSL programs: tfjs's WebGPU backend (registered as 'webgpu', with
 * `runWebGPUProgram`), unless they were turned off for it (`turnWgslOff`: a failed self-check). A backend
 * registered under that name without it (a test's stand-in) gets the plain ops. The one owner of that choice:
 * fused.ts, dropout.ts, random.ts and the optimizer ask here.
 */
export function runsWgsl(): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const backend = tf.backend() as Partial<WebGPUBackend>;
  return typeof backend.runWebGPUProgram === 'function' && !wgslOff.has(backend);
}

/** Turns this repo's WGSL programs off for the backend in use, so that it runs the plain ops; `why` is kept. */
export function turnWgslOff(why: string): void {
  wgslOff.set(tf.backend(), why);
}

/** Why the WGSL programs are off for the backend in use, or null. */
export function wgslOffReason(): string | null {
  return wgslOff.get(tf.backend()) ?? null;
}

/** Runs `work` with the WGSL programs off for the backend in use, then restores what was (a self-check's plain run). */
export async function withWgslOff<T>(work: () => Promise<T>): Promise<T> {
  const backend = tf.backend();
  const before = wgslOff.get(backend);
  wgslOff.set(backend, 'off for a plain-op run');
  try {
    return await work();
  } finally {
    if (before === undefined) wgslOff.delete(backend);
    else wgslOff.set(backend, before);
  }
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Registers each kernel for the webgpu backend, once (a module loaded twice, as in tests, registers nothing new). */
export function registerWebgpuKernels(kernels: readonly (readonly [string, tf.KernelFunc])[]): void {
  for (const [kernelName, kernelFunc] of kernels) {
    if (!tf.getKernel(kernelName, 'webgpu'))
      tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}

/**
 * Runs a float32 program on the kernel's backend, binding the kernel's inputs in the order the program names them
 * (its `variableNames`), with the uniforms the program declares.
 */
export function runProgram(
  program: WebGPUProgram,
  { inputs, backend }: KernelArgs,
  uniforms?: { type: string; data: number[] }[],
): tf.TensorInfo {
  const bound = program.variableNames.map((k) => inputs[k] as tf.TensorInfo);
  return (backend as WebGPUBackend).runWebGPUProgram(program, bound, 'float32', uniforms);
}

/** Threads per workgroup of a `FlatProgram`. */
const FLAT_WORKGROUP = 64;

/**
 * An elementwise program over a flat [n] output, one thread an entry (64 a workgroup; tfjs reshapes the dispatch past
 * 65,535 workgroups and passes the entry's index to `main`, guarded by `uniforms.size`). The subclass names its
 * inputs, its uniforms and its WGSL.
 */
export abstract class FlatProgram implements WebGPUProgram {
  abstract variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [FLAT_WORKGROUP, 1, 1];
  size = true;

  constructor(n: number, shaderKey: string) {
    this.outputShape = [n];
    this.shaderKey = shaderKey;
    this.dispatch = [Math.ceil(n / FLAT_WORKGROUP), 1, 1];
  }

  abstract getUserCode(): string;
}

/**
 * A one-workgroup-per-row program over rows of length `len` (`rowIndexWgsl` opens its `main`): R workgroups of
 * `rowWorkgroupSize(len)` threads, a flat dispatch layout over its output. The subclass names its inputs, its
 * uniforms and its WGSL.
 */
export abstract class RowProgram implements WebGPUProgram {
  abstract variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];

  constructor(rowCount: number, len: number, outputShape: number[], shaderKey: string) {
    this.outputShape = outputShape;
    this.shaderKey = shaderKey;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [rowCount, 1, 1];
    this.workgroupSize = [rowWorkgroupSize(len), 1, 1];
  }

  abstract getUserCode(): string;
}

/** Threads per row of a one-workgroup-per-row program: a power of two (tree reductions halve it), more for longer rows. */
export function rowWorkgroupSize(h: number): number {
  if (h >= 2048) return 256;
  if (h > 256) return 128;
  return h > 32 ? 64 : 32;
}

/** The [N, H] shape of a kernel's 2-D float32 input, or a one-line error naming the kernel. */
export function rows(t: tf.TensorInfo, kernel: string): [number, number] {
  if (t.shape.length !== 2 || t.dtype !== 'float32') {
    throw new Error(`${kernel}: expected a float32 [N, H] input, got ${t.dtype} [${t.shape.join(',')}]`);
  }
  return [t.shape[0] as number, t.shape[1] as number];
}

/**
 * WGSL of `fn <name>(v : <type>) -> <type>`: the workgroup's w values (one a thread, w a power of two) combined by
 * a tree in the workgroup array `red` (array<type, w>, which the program declares), every thread getting the
 * total. Call it in uniform control flow (it has barriers). `combine` writes the WGSL of two values combined.
 */
export function workgroupReduce(
  name: string,
  type: string,
  w: number,
  combine: (a: string, b: string) => string,
): string {
  return `
    fn ${name}(v : ${type}) -> ${type} {
      red[localIndex] = v;
      workgroupBarrier();
      for (var s = ${w / 2}u; s > 0u; s = s >> 1u) {
        if (localIndex < s) {
          red[localIndex] = ${combine('red[localIndex]', 'red[localIndex + s]')};
        }
        workgroupBarrier();
      }
      let total = red[0];
      workgroupBarrier();
      return total;
    }
  `;
}

/**
 * WGSL opening a one-workgroup-per-row program's `main`, over the first input `input` [N, len]: `n`, `<len>`, the
 * workgroup's `row` (clamped, so that padding workgroups of a reshaped dispatch, past 65,535 rows, read a real row;
 * barriers stay in uniform control flow), `valid` (whether the row is real: only then does it write) and `base` (the
 * row's first entry). The program declares `const W`, its workgroup size.
 */
export function rowIndexWgsl(input: string, len: string): string {
  return `
        let n = uniforms.${input}Shape.x;
        let ${len} = uniforms.${input}Shape.y;
        let valid = index / W < n;
        let row = min(index / W, n - 1);
        let base = row * ${len};`;
}

/** WGSL of a row program's workgroup size `W` and its float row reductions `rowMax` and `rowSum` (`workgroupReduce`). */
export function rowReductionsWgsl(w: number): string {
  return `
      const W = ${w};
      var<workgroup> red : array<f32, ${w}>;

      ${workgroupReduce('rowMax', 'f32', w, (a, b) => `max(${a}, ${b})`)}
      ${workgroupReduce('rowSum', 'f32', w, (a, b) => `${a} + ${b}`)}`;
}

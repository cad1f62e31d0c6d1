/**
 * Philox draws (philox.ts) as WGSL programs of the webgpu backend (tfjs-backend-webgpu 4.22), registered as tfjs
 * kernels: `AlumDropoutMask` (a dropout mask, the same bits as `philoxMask`) and `AlumNormal` (normal noise, as
 * `philoxNormal` to within float32 log and cos). One dispatch writes the whole tensor on the GPU, one thread per
 * Philox block of four entries. On the CPU the draws cost about 13 ns an entry and an upload (masks: about 165 ms
 * of a `small` step at batch 32, length 64 on the H200 machine; noise: about 37 ms of an ALUM step,
 * docs/performance.md); here no CPU work and no upload. Tested on Dawn against the CPU's draws
 * (webgpu-philox.test.ts, which runs test/webgpu/philox.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { maskParams, noiseSigma, PHILOX, seedKey, STREAM } from './philox.ts';
import { registerWebgpuKernels, type KernelArgs } from './wgsl.ts';

/** Kernel names (what `tf.profile` lists; one dispatch each). */
export const DROPOUT_MASK = 'AlumDropoutMask';
export const NORMAL = 'AlumNormal';

const WORKGROUP = 64;

const hex = (v: number): string => `0x${v.toString(16)}u`;

/** WGSL of philox4x32_10 (philox.ts, `philox4x32`): u32 arithmetic wraps, as `>>> 0` does there. */
const PHILOX_WGSL = `
  fn mulHi(a : u32, b : u32) -> u32 {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  }

  fn philox(counter : vec4<u32>, key : vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0; r < ${PHILOX.rounds}; r = r + 1) {
      if (r > 0) {
        k = k + vec2<u32>(${hex(PHILOX.w0)}, ${hex(PHILOX.w1)});
      }
      let hi0 = mulHi(${hex(PHILOX.m0)}, c.x);
      let lo0 = ${hex(PHILOX.m0)} * c.x;
      let hi1 = mulHi(${hex(PHILOX.m1)}, c.z);
      let lo1 = ${hex(PHILOX.m1)} * c.z;
      c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
  }
`;

/** What one thread does with its block `w` (vec4<u32>) for entries base .. base + 3 (philox.ts, module comment). */
const BODY = {
  mask: `
          for (var j = 0; j < 4; j = j + 1) {
            if (base + j < uniforms.n) {
              setOutputAtIndex(base + j, select(0.0, uniforms.value, w[j] < uniforms.threshold));
            }
          }`,
  normal: `
          for (var p = 0; p < 2; p = p + 1) {
            let ua = (f32(w[2 * p] >> 9u) + 0.5) * ${2 ** -23};
            let ub = (f32(w[2 * p + 1] >> 9u) + 0.5) * ${2 ** -23};
            let r = sqrt(-2.0 * log(ua));
            let theta = ${Math.PI} * (2.0 * ub - 1.0);
            let i = base + 2 * p;
            if (i < uniforms.n) {
              setOutputAtIndex(i, uniforms.value * (r * cos(theta)));
            }
            if (i + 1 < uniforms.n) {
              setOutputAtIndex(i + 1, uniforms.value * (r * sin(theta)));
            }
          }`,
};

type Draw = keyof typeof BODY;

/** [n] float32 from the Philox blocks (b, stream, 0, 0) under `key`: a mask (`value` the kept value) or noise (`value` sigma). */
class PhiloxProgram implements WebGPUProgram {
  variableNames: string[] = [];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] } = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms = 'n : i32, key0 : u32, key1 : u32, threshold : u32, value : f32,';

  constructor(
    private readonly draw: Draw,
    n: number,
  ) {
    this.outputShape = [n];
    this.dispatch = [Math.ceil(Math.ceil(n / 4) / WORKGROUP), 1, 1];
    this.shaderKey = `alumPhilox_${draw}`;
  }

  getUserCode(): string {
    return `
      ${PHILOX_WGSL}
      fn main(index : i32) {
        let base = index * 4;
        if (base < uniforms.n) {
          let w = philox(vec4<u32>(u32(index), ${STREAM[this.draw]}u, 0u, 0u), vec2<u32>(uniforms.key0, uniforms.key1));
          ${BODY[this.draw]}
        }
      }
    `;
  }
}

/** Runs the program of `draw` for n entries under the key, threshold (masks) and value. */
function runPhilox(
  draw: Draw,
  backend: KernelArgs['backend'],
  n: number,
  key: [number, number],
  threshold: number,
  value: number,
): tf.TensorInfo {
  return (backend as WebGPUBackend).runWebGPUProgram(new PhiloxProgram(draw, n), [], 'float32', [
    { type: 'int32', data: [n] },
    { type: 'uint32', data: [key[0]] },
    { type: 'uint32', data: [key[1]] },
    { type: 'uint32', data: [threshold] },
    { type: 'float32', data: [value] },
  ]);
}

const size = (attrs: KernelArgs['attrs']): number => Number(attrs?.['n']);

const kernels: [string, tf.KernelFunc][] = [
  [
    DROPOUT_MASK,
    ({ backend, attrs }) => {
      const { key, threshold, kept } = maskParams(Number(attrs?.['rate']), Number(attrs?.['seed']));
      return runPhilox('mask', backend, size(attrs), key, threshold, kept);
    },
  ],
  [
    NORMAL,
    ({ backend, attrs }) => {
      const key = seedKey(Number(attrs?.['seed']), 'noise');
      return runPhilox('normal', backend, size(attrs), key, 0, noiseSigma(Number(attrs?.['sigma'])));
    },
  ],
];
registerWebgpuKernels(kernels);

const count = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

/** Runs a draw kernel and shapes its [n] output (inside a tidy: the flat tensor is freed). */
const drawn = (kernel: string, shape: readonly number[], attrs: tf.NamedAttrMap): tf.Tensor =>
  tf.tidy(() =>
    (tf.engine().runKernel(kernel, {}, { n: count(shape), ...attrs }) as tf.Tensor).reshape([...shape]),
  );

/** `philoxMask(size of shape, rate, seed)` made on the GPU, shaped `shape` (webgpu only: `runsWgsl`). */
export function dropoutMaskWebgpu(shape: readonly number[], rate: number, seed: number): tf.Tensor {
  maskParams(rate, seed); // a bad rate or seed: its one-line error here, before any GPU work
  return drawn(DROPOUT_MASK, shape, { rate, seed });
}

/** `philoxNormal(size of shape, sigma, seed)` drawn on the GPU, shaped `shape` (webgpu only: `runsWgsl`). */
export function normalWebgpu(shape: readonly number[], sigma: number, seed: number): tf.Tensor {
  noiseSigma(sigma);
  seedKey(seed, 'noise');
  return drawn(NORMAL, shape, { sigma, seed });
}

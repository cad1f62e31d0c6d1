/**
 * Whether the backend in use runs this repo's WGSL programs (webgpu-layernorm.ts, webgpu-dropout.ts): tfjs's
 * WebGPU backend (registered as 'webgpu', with `runWebGPUProgram`). A backend registered under that name without
 * it (a test's stand-in) gets the plain ops. The one owner of that choice: fused.ts and dropout.ts ask here.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export function runsWgsl(): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  return typeof (tf.backend() as Partial<WebGPUBackend>).runWebGPUProgram === 'function';
}

/**
 * How the page's workers load the two tfjs backends that live in separate packages (webgpu and wasm), for
 * initBackend (src/core/backend.ts). The training worker and the bench worker share them. The wasm binaries
 * are bundled by Vite and served from the app's own origin.
 */
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

import type { BackendLoaders } from '../core/backend.ts';
import { adapterFacts, type GpuAdapterLike } from '../core/adapter.ts';
import { softwareAdapter } from '../core/calibrate.ts';

/** WebGL's unmasked renderer string (ANGLE names SwiftShader there), read from a throwaway context. */
function webglRenderer(): string | undefined {
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (gl === null) return undefined;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer: unknown = gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return typeof renderer === 'string' ? renderer : undefined;
}

export const browserLoaders: BackendLoaders = {
  webgpu: async () => {
    if (!('gpu' in navigator)) throw new Error('navigator.gpu is missing (no WebGPU in this browser)');
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
    await import('@tensorflow/tfjs-backend-webgpu');
    return softwareAdapter(await adapterFacts(adapter as GpuAdapterLike)) ?? undefined;
  },
  // webgl ships inside @tensorflow/tfjs: nothing to load, only a software renderer to name.
  webgl: () => Promise.resolve(softwareAdapter({ description: webglRenderer() }) ?? undefined),
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlainUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    });
  },
};

/**
 * Web Worker entry: wires the Trainer to the worker scope and tells it how to load the two backends that
 * live in separate packages. The wasm binaries are bundled by Vite and served from the app's own origin.
 */
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

import type { FromWorker, ToWorker, Endpoint } from '../protocol/messages.ts';
import { openIdbStore, RunArchive } from './persist.ts';
import { Trainer } from './trainer.ts';

declare const self: DedicatedWorkerGlobalScope;

const endpoint: Endpoint<ToWorker, FromWorker> = {
  postMessage: (m) => self.postMessage(m),
  addEventListener: (type, listener) =>
    self.addEventListener(type, (ev: MessageEvent<ToWorker>) => listener(ev)),
};

new Trainer(
  endpoint,
  {
    webgpu: async () => {
      if (!('gpu' in navigator)) throw new Error('navigator.gpu is missing (no WebGPU in this browser)');
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
      await import('@tensorflow/tfjs-backend-webgpu');
    },
    wasm: async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths({
        'tfjs-backend-wasm.wasm': wasmPlainUrl,
        'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
        'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
      });
    },
  },
  async (url) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    return res.text();
  },
  undefined,
  new RunArchive(() => openIdbStore()), // saved runs in IndexedDB; in memory only where it is unavailable
);

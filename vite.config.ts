/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The app is static: `public/data` (prepared by `npm run data`) holds the default task and vocabulary.
// Cross-origin isolation (COOP + COEP) gives the page SharedArrayBuffer, so tfjs' wasm backend can run its
// threaded SIMD build; everything the page loads is same-origin, so require-corp blocks nothing.
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  base: './',
  plugins: [react()],
  // The worker bundle is not minified: tfjs' threaded wasm backend starts its pthread workers from the source
  // text of its module factory (`wasmFactoryThreadedSimd.toString()`, @tensorflow/tfjs-backend-wasm
  // dist/backend_wasm.js), which minification breaks (names it reads get hoisted out of it: "e is not defined").
  worker: { format: 'es', rolldownOptions: { output: { minify: false } } },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { headers: ISOLATION },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: ISOLATION },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'scripts/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});

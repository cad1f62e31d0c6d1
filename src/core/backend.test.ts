import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { float32Problem, initBackend, smokeProblem, smokeTest } from './backend.ts';

/** The smoke test's read-back layout: 4 gradient values, then 128 of (1 + 1e-4) - 1, then 128 of 1e-30 * 1e20. */
function readBack(cancel: number, product: number, grad = [20, 28, 28, 40]): Float32Array {
  return Float32Array.from([
    ...grad,
    ...Array<number>(128).fill(cancel),
    ...Array<number>(128).fill(product),
  ]);
}

const f = Math.fround;
/** What a float32 backend computes. */
const F32 = { cancel: f(f(1 + f(1e-4)) - 1), product: f(f(1e-30) * f(1e20)) };

const env = (flags: Record<string, boolean>) => ({
  getBool: (flag: string) => {
    const value = flags[flag];
    if (value === undefined) throw new Error(`flag ${flag} read`);
    return value;
  },
});

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('smoke test', () => {
  it('passes on the cpu backend', async () => {
    await expect(smokeTest()).resolves.toBeUndefined();
  });

  it('accepts what float32 arithmetic reads back', () => {
    expect(F32.cancel).toBeCloseTo(1.00017e-4, 9);
    expect(smokeProblem(readBack(F32.cancel, F32.product))).toBeNull();
  });

  it('rejects what float16 arithmetic reads back', () => {
    // float16: 1 + 1e-4 rounds to 1; 1e-30 flushes to 0 and 1e20 to Infinity, so the product is NaN (or 0).
    expect(smokeProblem(readBack(0, F32.product))).toMatch(/\(1 \+ 1e-4\) - 1 gave 0: not float32/);
    expect(smokeProblem(readBack(F32.cancel, NaN))).toMatch(/1e-30 \* 1e20 gave NaN: not float32/);
    expect(smokeProblem(readBack(F32.cancel, 0))).toMatch(/1e-30 \* 1e20 gave 0: not float32/);
    expect(smokeProblem(readBack(0, 0))).not.toBeNull();
  });

  it('rejects a wrong gradient or a short read-back', () => {
    expect(smokeProblem(readBack(F32.cancel, F32.product, [20, 28, 28, 41]))).toMatch(/matMul gradient/);
    expect(smokeProblem(Float32Array.from([20, 28, 28, 40]))).toMatch(/read back 4 values/);
  });
});

describe('float32Problem', () => {
  it('refuses webgl without float32 render targets', () => {
    expect(float32Problem('webgl', env({ WEBGL_RENDER_FLOAT32_ENABLED: false }))).toMatch(
      /^webgl renders only half-float textures here \(WEBGL_RENDER_FLOAT32_ENABLED is false\)/,
    );
    expect(float32Problem('webgl', env({ WEBGL_RENDER_FLOAT32_ENABLED: true }))).toBeNull();
  });

  it('reads no WebGL flag for the other backends', () => {
    for (const name of ['webgpu', 'wasm', 'cpu'] as const) expect(float32Problem(name, env({}))).toBeNull();
  });
});

describe('initBackend', () => {
  afterEach(async () => {
    await tf.setBackend('cpu');
  });

  it('falls back past a backend whose loader throws, and says so', async () => {
    const choice = await initBackend(null, ['wasm', 'cpu'], {
      wasm: () => Promise.reject(new Error('no wasm binary')),
    });
    expect(choice).toEqual({ backend: 'cpu', reason: 'fell back to cpu: wasm failed (no wasm binary)' });
  });

  it('refuses webgl when it renders only half-float textures', async () => {
    // Node has no webgl backend: register a stand-in (a cpu backend instance) on a "machine" whose WebGL
    // has no float32 render targets.
    expect(tf.findBackendFactory('webgl')).toBeNull();
    tf.registerBackend('webgl', () => tf.findBackendFactory('cpu')!() as tf.KernelBackend);
    tf.env().set('WEBGL_RENDER_FLOAT32_ENABLED', false);
    try {
      const choice = await initBackend(null, ['webgl', 'cpu']);
      expect(choice.backend).toBe('cpu');
      expect(choice.reason).toMatch(
        /^fell back to cpu: webgl failed \(webgl renders only half-float textures/,
      );
      expect(choice.reason).toContain('WEBGL_RENDER_FLOAT32_ENABLED is false');
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('webgl');
    }
  });
});

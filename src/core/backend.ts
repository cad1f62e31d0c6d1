/**
 * Backend selection: the only place that calls tf.setBackend. WebGPU first, then WebGL, WASM, CPU in the
 * browser; a forced choice (URL `?backend=`, CLI `--backend`) is tried alone. Each candidate must also pass
 * a smoke test (a matMul and its gradient read back with `await data()`), because a backend can register and
 * still fail on first use (ANCHORS.md §3.1: missing kernels, device init bugs). The reason string says why
 * the backend in use was chosen and why each earlier one was not.
 */
import * as tf from '@tensorflow/tfjs';

import type { BackendName } from './config.ts';
import { errorMessage } from './errors.ts';

export interface BackendChoice {
  backend: BackendName;
  reason: string;
}

/** Imports/registers a backend's package (webgpu and wasm are separate packages). */
export type BackendLoaders = Partial<Record<BackendName, () => Promise<void>>>;

export const BROWSER_CHAIN: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
export const NODE_CHAIN: readonly BackendName[] = ['wasm', 'cpu'];

async function smokeTest(): Promise<void> {
  const g = tf.tidy(() => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    return tf.grad((w: tf.Tensor) => tf.matMul(x, w).square().sum())(tf.eye(2));
  });
  const v = await g.data();
  g.dispose();
  // d/dW sum((xW)^2) at W = I is 2 x^T x = [[20, 28], [28, 40]].
  if (Math.abs((v[0] ?? 0) - 20) > 1e-3 || Math.abs((v[3] ?? 0) - 40) > 1e-3) {
    throw new Error(`smoke test gave [${Array.from(v).join(', ')}]`);
  }
}

/**
 * Tries `forced` alone, or each backend of `chain` in order, and keeps the first that works.
 * Throws when none does, with every failure in the message.
 */
export async function initBackend(
  forced: BackendName | null,
  chain: readonly BackendName[],
  loaders: BackendLoaders = {},
): Promise<BackendChoice> {
  const candidates = forced ? [forced] : chain;
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      await loaders[name]?.();
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error('not available here');
      await tf.ready();
      await smokeTest();
      const why = forced
        ? `forced by the backend option (${name})`
        : failures.length === 0
          ? `${name} is the first choice`
          : `fell back to ${name}: ${failures.join('; ')}`;
      return { backend: name, reason: why };
    } catch (e) {
      failures.push(`${name} failed (${errorMessage(e)})`);
    }
  }
  throw new Error(`no usable tfjs backend: ${failures.join('; ')}`);
}

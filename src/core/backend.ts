/**
 * Backend selection: the only place that calls tf.setBackend, with calibrate.ts (which times the backends
 * `useBackend` passed and keeps the fastest: the page's default). Here the chain's first that works: WebGPU,
 * WebGL, WASM, CPU in the browser; a forced choice (URL `?backend=`, CLI `--backend`) is tried alone. Each
 * must pass a smoke test (a matMul and its gradient read back with `await data()`), because a backend can
 * register and still fail on first use (missing kernels, device init bugs), and must compute in float32:
 * WebGL without float32 render targets is refused, and the smoke test probes float32 arithmetic (ALUM's 1e-5
 * noise and 1e-12 guards underflow in float16). The reason string says why the backend in use was chosen and
 * why each earlier one was not.
 */
import * as tf from '@tensorflow/tfjs';

import type { BackendName } from './config.ts';
import { errorMessage } from './errors.ts';
import { fastUploads } from './model/webgpu-uploads.ts';
import { turnWgslOff, wgslOffReason } from './model/wgsl.ts';
import { wgslCheck } from './train/wgsl-check.ts';

export interface BackendChoice {
  backend: BackendName;
  reason: string;
}

/**
 * Imports/registers a backend's package (webgpu and wasm are separate packages). A loader may resolve to a
 * note on what it found that the reason should name (a software WebGPU adapter: core/calibrate.ts).
 */
export type BackendLoaders = Partial<Record<BackendName, () => Promise<string | void>>>;

export const BROWSER_CHAIN: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
export const NODE_CHAIN: readonly BackendName[] = ['wasm', 'cpu'];

/** The flags float32Problem reads; `tf.env()` in use. */
export interface BackendEnv {
  getBool(flag: string): boolean;
}

/**
 * Why backend `name` cannot train here for want of float32, or null. WebGL without float32 render targets
 * stores every tensor as float16, where ALUM's 1e-5 noise, the 1e-12 guards and LayerNorm's eps vanish.
 * Reads the flag only for webgl (it is a WebGL capability; evaluating it creates a WebGL context).
 */
export function float32Problem(name: BackendName, env: BackendEnv): string | null {
  if (name !== 'webgl' || env.getBool('WEBGL_RENDER_FLOAT32_ENABLED')) return null;
  return "webgl renders only half-float textures here (WEBGL_RENDER_FLOAT32_ENABLED is false): ALUM's 1e-5 noise and 1e-12 guards underflow in float16";
}

/**
 * Width of the smoke test's precision probes: at least tfjs-webgl's CPU_HANDOFF_SIZE_THRESHOLD (128), so that
 * WebGL computes them in its textures instead of handing small tensors to the CPU.
 */
const PROBE = 128;

/**
 * Checks what the smoke test read back: 4 gradient values, then PROBE values of (1 + 1e-4) - 1, then PROBE
 * values of 1e-30 * 1e20. Returns why they are wrong, or null. Float32 gives 1.00017e-4 and 1e-10; float16
 * arithmetic gives 0 (1 + 1e-4 rounds to 1) and 0 or NaN (1e-30 underflows, 1e20 overflows).
 * Written as !(error <= tolerance) so that NaN fails.
 */
export function smokeProblem(v: ArrayLike<number>): string | null {
  const at = (i: number) => v[i] ?? NaN;
  // d/dW sum((xW)^2) at W = I is 2 x^T x = [[20, 28], [28, 40]].
  const grad = [20, 28, 28, 40];
  if (v.length !== grad.length + 2 * PROBE) return `smoke test read back ${v.length} values`;
  if (!grad.every((want, i) => Math.abs(at(i) - want) <= 1e-3)) {
    return `matMul gradient gave [${grad.map((_, i) => at(i)).join(', ')}], want [${grad.join(', ')}]`;
  }
  for (let i = grad.length; i < grad.length + PROBE; i++) {
    if (!(Math.abs(at(i) - 1e-4) <= 1e-6)) return `(1 + 1e-4) - 1 gave ${at(i)}: not float32 arithmetic`;
  }
  for (let i = grad.length + PROBE; i < v.length; i++) {
    if (!(Math.abs(at(i) - 1e-10) <= 1e-13)) return `1e-30 * 1e20 gave ${at(i)}: not float32 arithmetic`;
  }
  return null;
}

/** One tidy, one read-back with `await data()`: a matMul gradient and two float32 precision probes. */
export async function smokeTest(): Promise<void> {
  const out = tf.tidy(() => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const g = tf.grad((w: tf.Tensor) => tf.matMul(x, w).square().sum())(tf.eye(2));
    const one = tf.ones([PROBE]);
    const cancel = one.add(tf.fill([PROBE], 1e-4)).sub(one);
    const product = tf.fill([PROBE], 1e-30).mul(tf.fill([PROBE], 1e20));
    return tf.concat([g.reshape([4]), cancel, product]);
  });
  const v = await out.data();
  out.dispose();
  const problem = smokeProblem(v);
  if (problem) throw new Error(`smoke test: ${problem}`);
}

/** Backends whose WGSL programs were checked (`checkWgslPrograms`): once a backend is enough. */
const wgslChecked = new WeakSet<object>();

/**
 * On webgpu, this app's WGSL programs against the plain ops (`wgslCheck`), once per backend; where they fail (or
 * throw), they are turned off for this backend, which then trains on tfjs's own kernels. Resolves to a note saying
 * so, or null. Run on the backend that training keeps (`checkedChoice`), not on each one smoke-tested: on a
 * software adapter the check takes seconds.
 */
async function checkWgslPrograms(): Promise<string | null> {
  const backend = tf.backend();
  if (!wgslChecked.has(backend)) {
    wgslChecked.add(backend);
    const problem = await wgslCheck();
    if (problem) turnWgslOff(problem);
  }
  const off = wgslOffReason();
  return off === null ? null : `${off}; it trains on tfjs's own kernels`;
}

/**
 * The backend chosen for training, made tfjs's current one: on webgpu with this app's programs checked
 * (`checkWgslPrograms`), the reason saying where they were turned off. initBackend and calibrate.ts end here.
 */
export async function checkedChoice(choice: BackendChoice): Promise<BackendChoice> {
  await tf.setBackend(choice.backend);
  const note = choice.backend === 'webgpu' ? await checkWgslPrograms() : null;
  return note === null ? choice : { ...choice, reason: `${choice.reason}; ${note}` };
}

/**
 * Loads backend `name`, makes it tfjs's current one and smoke-tests it; throws why it cannot train here.
 * Resolves to its loader's note (a software WebGPU adapter), or null.
 */
export async function useBackend(name: BackendName, loaders: BackendLoaders = {}): Promise<string | null> {
  const note = await loaders[name]?.();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error('not available here');
  await tf.ready();
  if (name === 'webgpu') fastUploads(tf.backend());
  const problem = float32Problem(name, tf.env());
  if (problem) throw new Error(problem);
  await smokeTest();
  return note ?? null;
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
      const note = await useBackend(name, loaders);
      const why = forced
        ? `forced by the backend option (${name})`
        : failures.length === 0
          ? `${name} is the first choice`
          : `fell back to ${name}: ${failures.join('; ')}`;
      return await checkedChoice({ backend: name, reason: note === null ? why : `${why}; ${name}: ${note}` });
    } catch (e) {
      failures.push(`${name} failed (${errorMessage(e)})`);
    }
  }
  throw new Error(`no usable tfjs backend: ${failures.join('; ')}`);
}

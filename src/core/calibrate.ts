/**
 * Backend calibration: the fastest backend for the chosen model, not the first one that works. On a machine
 * whose WebGPU adapter is a software one (SwiftShader, llvmpipe), the default run took 61 s per step on webgpu
 * and 1.8 s on wasm in the same browser. So, unless a backend is forced, every backend of the chain that passes
 * the smoke test (backend.ts `useBackend`) trains the model preset for one warm-up step and
 * `CALIBRATION.timedSteps` timed steps at a small shape (bench/run.ts `benchRun`), in chain order, and the
 * fastest wins. A backend whose warm-up is already far slower than the best step so far, or over a fixed
 * limit, is not timed further, and a fallback (a software adapter, named by its loader's note, or tfjs's cpu
 * backend) is timed last and only when nothing else was: calibration costs about one warm-up step per working
 * hardware GPU or wasm backend, plus each one's smoke test.
 * `skipAfterWarmup`, `skipUntimed` and `pickBackend` are the decision, pure; `calibrateBackends` is the glue.
 */
import * as tf from '@tensorflow/tfjs';

import type { AdapterFacts } from './adapter.ts';
import {
  checkedChoice,
  initBackend,
  useBackend,
  type BackendChoice,
  type BackendLoaders,
} from './backend.ts';
import { benchRun } from './bench/run.ts';
import type { BackendName, ModelPresetName } from './config.ts';
import { errorMessage } from './errors.ts';

export interface CalibrationLimits {
  /** The timed run's shape: small, so that a slow backend costs seconds, not minutes. */
  batchSize: number;
  maxLength: number;
  /** Steps timed after the warm-up (which compiles shaders and is not counted); ms per step is their mean. */
  timedSteps: number;
  /**
   * A backend whose warm-up step took more than `skipFactor` times the best ms per step so far is not timed
   * further (it would lose: a CPU backend's first step is about its later ones, a GPU's first step adds its
   * shader compilation, and the chain times the GPUs first).
   */
  skipFactor: number;
  /** Nor is one whose warm-up took over this many ms (it bounds a slow backend that is timed first). */
  maxWarmupMs: number;
}

export const CALIBRATION: Readonly<CalibrationLimits> = {
  batchSize: 8,
  maxLength: 32,
  timedSteps: 2,
  skipFactor: 4,
  maxWarmupMs: 10_000,
};

/** What calibration learnt of one backend of the chain. `note`: its loader's note (a software adapter). */
export type BackendTrial =
  | { kind: 'failed'; backend: BackendName; why: string }
  /** Passed the smoke test, not timed: the only backend that did. */
  | { kind: 'untimed'; backend: BackendName; note: string | null }
  | { kind: 'timed'; backend: BackendName; note: string | null; warmupMs: number; stepMs: number }
  /** Not timed (further): `warmupMs` is null when not even warmed up (a fallback, `skipUntimed`). */
  | { kind: 'skipped'; backend: BackendName; note: string | null; warmupMs: number | null; why: string };

const ms = (x: number): string => `${Math.round(x).toLocaleString('en-US')} ms`;

/** Why a backend whose warm-up took `warmupMs` is not timed further, or null to time it. */
export function skipAfterWarmup(
  warmupMs: number,
  bestStepMs: number | null,
  limits: CalibrationLimits = CALIBRATION,
): string | null {
  if (warmupMs > limits.maxWarmupMs)
    return `warm-up ${ms(warmupMs)}, over the ${ms(limits.maxWarmupMs)} limit`;
  if (bestStepMs !== null && warmupMs > limits.skipFactor * bestStepMs) {
    return `warm-up ${ms(warmupMs)}, over ${limits.skipFactor} × the best ${ms(bestStepMs)}/step`;
  }
  return null;
}

/**
 * A fallback: a software adapter (its loader's note: a GPU emulated on the CPU; SwiftShader's warm-up alone
 * took 18 s for the nano model in headless Chromium, where wasm took 69 ms a step) or tfjs's cpu backend
 * (plain JavaScript: its warm-up alone took 4.2 s for tiny in Node, where wasm took 369 ms a step).
 */
export function isFallback(t: { backend: BackendName; note: string | null }): boolean {
  return t.note !== null || t.backend === 'cpu';
}

/** Why a backend is not timed at all, or null: a fallback is timed last, and only when no other backend was. */
export function skipUntimed(
  t: { backend: BackendName; note: string | null },
  bestStepMs: number | null,
): string | null {
  if (bestStepMs === null || !isFallback(t)) return null;
  const what = t.note !== null ? 'emulated on the CPU' : 'plain JavaScript';
  return `${what}, not timed once another backend was`;
}

/** The best ms per step among the timed trials, or null. */
export function bestStepMs(trials: readonly BackendTrial[]): number | null {
  const times = trials.flatMap((t) => (t.kind === 'timed' ? [t.stepMs] : []));
  return times.length === 0 ? null : Math.min(...times);
}

/** Rank of a usable trial: timed ones by ms per step, then skipped ones by warm-up, then the untimed one. */
function rank(t: Exclude<BackendTrial, { kind: 'failed' }>): [number, number] {
  if (t.kind === 'timed') return [0, t.stepMs];
  if (t.kind === 'skipped') return [1, t.warmupMs ?? Infinity];
  return [2, 0];
}

/** One trial as the reason lists it. */
export function describeTrial(t: BackendTrial): string {
  if (t.kind === 'failed') return `${t.backend} failed (${t.why})`;
  const note = t.note === null ? '' : `, ${t.note}`;
  if (t.kind === 'timed') return `${t.backend} ${ms(t.stepMs)}/step${note}`;
  if (t.kind === 'skipped') return `${t.backend} skipped (${t.note === null ? '' : `${t.note}: `}${t.why})`;
  return `${t.backend} not timed${note}`;
}

/**
 * The fastest usable backend of `trials` (chain order; the earlier wins a tie) and why: each trial's ms per
 * step, skip or failure, and which one won, for `model`. Throws when no backend works.
 */
export function pickBackend(
  trials: readonly BackendTrial[],
  model: ModelPresetName,
  limits: CalibrationLimits = CALIBRATION,
): BackendChoice {
  const usable = trials.filter((t): t is Exclude<BackendTrial, { kind: 'failed' }> => t.kind !== 'failed');
  const all = trials.map(describeTrial).join('; ');
  const best = usable.reduce<(typeof usable)[number] | null>((a, t) => {
    if (a === null) return t;
    const [ra, rt] = [rank(a), rank(t)];
    return rt[0] < ra[0] || (rt[0] === ra[0] && rt[1] < ra[1]) ? t : a;
  }, null);
  if (best === null) throw new Error(`no usable tfjs backend: ${all}`);
  if (best.kind === 'untimed')
    return { backend: best.backend, reason: `the only backend that works here: ${all}` };
  const shape = `${limits.batchSize} × ${limits.maxLength} tokens`;
  return {
    backend: best.backend,
    reason: `fastest for model ${model} (timed at ${shape}): ${all}; chose ${best.backend}`,
  };
}

/** Names of software rasterisers and CPU devices in an adapter's info. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|\bcpu\b/i;

/**
 * 'software adapter (swiftshader)' (the name as the info spells it) when the adapter is a software one (named
 * so, or a fallback adapter), else null.
 */
export function softwareAdapter(info: AdapterFacts): string | null {
  for (const field of [info.vendor, info.architecture, info.device, info.description]) {
    const named = field === undefined ? null : SOFTWARE.exec(field);
    if (named !== null) return `software adapter (${named[0]})`;
  }
  return info.isFallbackAdapter === true ? 'software adapter (isFallbackAdapter)' : null;
}

/**
 * Times `model` on tfjs's current backend: one warm-up step, then `timedSteps` steps unless the warm-up says
 * to skip them (`skipAfterWarmup` against `best`, the best ms per step so far). Disposes what it made.
 */
export async function timeBackend(
  backend: BackendName,
  note: string | null,
  model: ModelPresetName,
  best: number | null,
  limits: CalibrationLimits = CALIBRATION,
): Promise<BackendTrial> {
  const run = benchRun({
    model,
    method: 'standard',
    k: 1,
    batchSize: limits.batchSize,
    maxLength: limits.maxLength,
  });
  try {
    let t0 = performance.now();
    await run.trainStep(); // reads its scalars back: the step has finished on the device
    const warmupMs = performance.now() - t0;
    const why = skipAfterWarmup(warmupMs, best, limits);
    if (why !== null) return { kind: 'skipped', backend, note, warmupMs, why };
    t0 = performance.now();
    for (let i = 0; i < limits.timedSteps; i++) await run.trainStep();
    return { kind: 'timed', backend, note, warmupMs, stepMs: (performance.now() - t0) / limits.timedSteps };
  } finally {
    run.dispose();
  }
}

/** Each backend of `chain` smoke-tested (backend.ts `useBackend`): untimed if it works, else why not. */
async function smokeTrials(chain: readonly BackendName[], loaders: BackendLoaders): Promise<BackendTrial[]> {
  const trials: BackendTrial[] = [];
  for (const backend of chain) {
    try {
      trials.push({ kind: 'untimed', backend, note: await useBackend(backend, loaders) });
    } catch (e) {
      trials.push({ kind: 'failed', backend, why: errorMessage(e) });
    }
  }
  return trials;
}

/** Times the untimed trials in place, fallbacks last (else in chain order), each against the best so far. */
async function timeTrials(
  trials: BackendTrial[],
  model: ModelPresetName,
  limits: CalibrationLimits,
): Promise<void> {
  const last = (t: BackendTrial | undefined) =>
    t !== undefined && t.kind !== 'failed' && isFallback(t) ? 1 : 0;
  const order = [...trials.keys()].sort((a, b) => last(trials[a]) - last(trials[b])); // a stable sort
  for (const i of order) {
    const t = trials[i];
    if (t?.kind !== 'untimed') continue;
    const why = skipUntimed(t, bestStepMs(trials));
    if (why !== null) {
      trials[i] = { kind: 'skipped', backend: t.backend, note: t.note, warmupMs: null, why };
      continue;
    }
    try {
      await tf.setBackend(t.backend);
      trials[i] = await timeBackend(t.backend, t.note, model, bestStepMs(trials), limits);
    } catch (e) {
      // It passed the smoke test but cannot train (a missing kernel, a lost device).
      trials[i] = { kind: 'failed', backend: t.backend, why: `training step: ${errorMessage(e)}` };
    }
  }
}

/**
 * Smoke-tests every backend of `chain`, times the ones that work (when more than one does) on `model`, and
 * leaves the fastest as tfjs's backend. Throws when none works.
 */
export async function calibrateBackends(
  chain: readonly BackendName[],
  loaders: BackendLoaders,
  model: ModelPresetName,
  limits: CalibrationLimits = CALIBRATION,
): Promise<BackendChoice> {
  const trials = await smokeTrials(chain, loaders);
  if (trials.filter((t) => t.kind !== 'failed').length > 1) await timeTrials(trials, model, limits);
  return checkedChoice(pickBackend(trials, model, limits));
}

/**
 * The worker's choice: `forced` alone (the `?backend=` / `--backend` option: no calibration), the chain's
 * first working backend when no model is given, else the fastest for `model` (`calibrateBackends`).
 */
export function chooseBackend(
  forced: BackendName | null,
  chain: readonly BackendName[],
  loaders: BackendLoaders,
  model: ModelPresetName | null,
): Promise<BackendChoice> {
  if (forced !== null || model === null) return initBackend(forced, chain, loaders);
  return calibrateBackends(chain, loaders, model);
}

import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import type { BackendLoaders } from './backend.ts';
import {
  CALIBRATION,
  bestStepMs,
  calibrateBackends,
  chooseBackend,
  pickBackend,
  skipAfterWarmup,
  skipUntimed,
  softwareAdapter,
  type BackendTrial,
  type CalibrationLimits,
} from './calibrate.ts';
import { TrainingRun } from './train/run.ts';

const limits: CalibrationLimits = {
  batchSize: 4,
  maxLength: 8,
  timedSteps: 2,
  skipFactor: 4,
  maxWarmupMs: 10_000,
};

const timed = (
  backend: BackendTrial['backend'],
  stepMs: number,
  note: string | null = null,
): BackendTrial => ({
  kind: 'timed',
  backend,
  note,
  warmupMs: stepMs * 2,
  stepMs,
});

describe('skipAfterWarmup', () => {
  it('times a backend whose warm-up is within skipFactor × the best step and the limit', () => {
    expect(skipAfterWarmup(400, 100, limits)).toBeNull(); // exactly 4 × 100: still timed
    expect(skipAfterWarmup(9_000, null, limits)).toBeNull(); // nothing timed yet: only the limit applies
  });

  it('skips one whose warm-up is over skipFactor × the best step so far', () => {
    expect(skipAfterWarmup(401, 100, limits)).toBe('warm-up 401 ms, over 4 × the best 100 ms/step');
  });

  it('skips one whose warm-up is over the fixed limit, best or not', () => {
    expect(skipAfterWarmup(10_001, null, limits)).toBe('warm-up 10,001 ms, over the 10,000 ms limit');
    expect(skipAfterWarmup(10_001, 5_000, limits)).toMatch(/over the 10,000 ms limit/);
  });
});

describe('skipUntimed', () => {
  const swiftshader = { backend: 'webgpu', note: 'software adapter (swiftshader)' } as const;

  it('skips a software adapter once another backend was timed, and times it when none was', () => {
    expect(skipUntimed(swiftshader, 69)).toBe('emulated on the CPU, not timed once another backend was');
    expect(skipUntimed(swiftshader, null)).toBeNull();
  });

  it("skips tfjs's cpu backend once another backend was timed", () => {
    expect(skipUntimed({ backend: 'cpu', note: null }, 69)).toBe(
      'plain JavaScript, not timed once another backend was',
    );
    expect(skipUntimed({ backend: 'cpu', note: null }, null)).toBeNull();
  });

  it('never skips a hardware GPU or wasm before its warm-up', () => {
    expect(skipUntimed({ backend: 'webgpu', note: null }, 69)).toBeNull();
    expect(skipUntimed({ backend: 'wasm', note: null }, 69)).toBeNull();
  });
});

describe('bestStepMs', () => {
  it('is the least ms per step of the timed trials, ignoring skipped, failed and untimed ones', () => {
    const trials: BackendTrial[] = [
      { kind: 'failed', backend: 'webgl', why: 'x' },
      { kind: 'skipped', backend: 'cpu', note: null, warmupMs: 5, why: 'y' },
      timed('webgpu', 300),
      timed('wasm', 120),
    ];
    expect(bestStepMs(trials)).toBe(120);
    expect(bestStepMs(trials.slice(0, 2))).toBeNull();
  });
});

describe('pickBackend', () => {
  it("picks wasm over a software webgpu adapter (the issue's 61 s vs 1.8 s) and lists every backend", () => {
    const choice = pickBackend(
      [
        timed('webgpu', 61_000, 'software adapter (swiftshader)'),
        { kind: 'failed', backend: 'webgl', why: 'not available here' },
        timed('wasm', 1_800),
        { kind: 'skipped', backend: 'cpu', note: null, warmupMs: 9_000, why: 'warm-up 9,000 ms, over 4 × …' },
      ],
      'tiny',
      limits,
    );
    expect(choice).toEqual({
      backend: 'wasm',
      reason:
        'fastest for model tiny (timed at 4 × 8 tokens): webgpu 61,000 ms/step, software adapter (swiftshader); ' +
        'webgl failed (not available here); wasm 1,800 ms/step; cpu skipped (warm-up 9,000 ms, over 4 × …); chose wasm',
    });
  });

  it('picks a fast GPU when it is the fastest', () => {
    expect(pickBackend([timed('webgpu', 20), timed('wasm', 90)], 'nano', limits).backend).toBe('webgpu');
  });

  it('keeps the earlier backend of the chain on a tie', () => {
    expect(pickBackend([timed('webgl', 50), timed('wasm', 50)], 'nano', limits).backend).toBe('webgl');
    expect(pickBackend([timed('wasm', 50), timed('webgl', 50)], 'nano', limits).backend).toBe('wasm');
  });

  it('never lets a skipped backend beat a timed one, and ranks skipped ones by warm-up when none was timed', () => {
    const skipped = (backend: BackendTrial['backend'], warmupMs: number): BackendTrial => ({
      kind: 'skipped',
      backend,
      note: null,
      warmupMs,
      why: 'slow',
    });
    expect(pickBackend([skipped('webgpu', 1), timed('cpu', 500)], 'nano', limits).backend).toBe('cpu');
    expect(pickBackend([skipped('webgpu', 12_000), skipped('wasm', 11_000)], 'nano', limits).backend).toBe(
      'wasm',
    );
    const untimed: BackendTrial = {
      kind: 'skipped',
      backend: 'webgpu',
      note: 'sw',
      warmupMs: null,
      why: 'x',
    };
    expect(pickBackend([untimed, skipped('cpu', 20_000)], 'nano', limits).backend).toBe('cpu');
  });

  it('says when only one backend works (nothing timed)', () => {
    const choice = pickBackend(
      [
        { kind: 'failed', backend: 'wasm', why: 'no wasm binary' },
        { kind: 'untimed', backend: 'cpu', note: null },
      ],
      'tiny',
      limits,
    );
    expect(choice).toEqual({
      backend: 'cpu',
      reason: 'the only backend that works here: wasm failed (no wasm binary); cpu not timed',
    });
  });

  it('throws with every failure when no backend works', () => {
    expect(() =>
      pickBackend(
        [
          { kind: 'failed', backend: 'webgpu', why: 'a' },
          { kind: 'failed', backend: 'cpu', why: 'b' },
        ],
        'tiny',
      ),
    ).toThrow('no usable tfjs backend: webgpu failed (a); cpu failed (b)');
  });
});

describe('softwareAdapter', () => {
  it("names SwiftShader, llvmpipe and CPU adapters by their info's words", () => {
    expect(softwareAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe(
      'software adapter (swiftshader)',
    );
    expect(softwareAdapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(
      'software adapter (llvmpipe)',
    );
    const angle =
      'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)';
    expect(softwareAdapter({ description: angle })).toBe('software adapter (SwiftShader)'); // WebGL's renderer
    expect(softwareAdapter({ device: 'Microsoft Basic Render Driver' })).toBe(
      'software adapter (Basic Render)',
    );
    expect(softwareAdapter({ architecture: 'cpu' })).toBe('software adapter (cpu)');
  });

  it('names a fallback adapter even when its info is blank', () => {
    expect(softwareAdapter({ isFallbackAdapter: true, vendor: '', architecture: '' })).toBe(
      'software adapter (isFallbackAdapter)',
    );
  });

  it('says nothing of a hardware adapter', () => {
    expect(
      softwareAdapter({ isFallbackAdapter: false, vendor: 'nvidia', architecture: 'ampere' }),
    ).toBeNull();
    expect(softwareAdapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' })).toBeNull();
    expect(softwareAdapter({})).toBeNull();
  });
});

describe('calibrateBackends on wasm, cpu and a stand-in webgpu', () => {
  const wasm = async () => {
    await import('@tensorflow/tfjs-backend-wasm');
  };
  const loaders: BackendLoaders = { wasm };

  // A stand-in 'webgpu' (a cpu backend instance with the cpu kernels; Node has no WebGPU here) for a second
  // non-fallback backend.
  beforeAll(() => {
    tf.copyRegisteredKernels('cpu', 'webgpu');
    tf.registerBackend('webgpu', () => tf.findBackendFactory('cpu')!() as tf.KernelBackend);
  });
  afterAll(() => tf.removeBackend('webgpu'));

  afterEach(async () => {
    vi.restoreAllMocks();
    await tf.setBackend('cpu');
  });

  it('times each backend, leaves the fastest as the backend, says why, and leaks no tensor', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    const choice = await calibrateBackends(['webgpu', 'wasm', 'cpu'], loaders, 'nano', {
      ...limits,
      skipFactor: 1e9,
    });
    expect(steps).toHaveBeenCalledTimes(2 * (1 + limits.timedSteps)); // a warm-up and 2 timed steps each
    expect(tf.getBackend()).toBe(choice.backend);
    expect(choice.reason).toMatch(
      /^fastest for model nano \(timed at 4 × 8 tokens\): webgpu [\d,]+ ms\/step; wasm [\d,]+ ms\/step; cpu skipped \(plain JavaScript, not timed once another backend was\); chose (webgpu|wasm)$/,
    );
    const [webgpuMs, wasmMs] = [...choice.reason.matchAll(/([\d,]+) ms\/step/g)].map((m) =>
      Number((m[1] as string).replace(/,/g, '')),
    );
    expect(choice.backend).toBe((webgpuMs as number) <= (wasmMs as number) ? 'webgpu' : 'wasm');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('times no step past the warm-up of a backend over the warm-up limit', async () => {
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    const choice = await calibrateBackends(['wasm', 'cpu'], loaders, 'nano', { ...limits, maxWarmupMs: 0 });
    expect(steps).toHaveBeenCalledTimes(2);
    expect(choice.reason).toMatch(
      /wasm skipped \(warm-up [\d,]+ ms, over the 0 ms limit\); cpu skipped \(warm-up/,
    );
  });

  it('times a software adapter and the cpu backend last, and not at all once another was timed', async () => {
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    const software: BackendLoaders = { webgpu: () => Promise.resolve('software adapter (test)'), wasm };
    const choice = await calibrateBackends(['webgpu', 'wasm', 'cpu'], software, 'nano', limits);
    expect(steps).toHaveBeenCalledTimes(1 + limits.timedSteps); // wasm's alone
    expect(choice.reason).toMatch(
      /: webgpu skipped \(software adapter \(test\): emulated on the CPU, not timed once another backend was\); wasm [\d,]+ ms\/step; cpu skipped \(plain JavaScript, not timed once another backend was\); chose wasm$/,
    );
  });

  it('counts a backend whose training step throws as failed, and picks among the others', async () => {
    // The first step calibration takes is webgpu's warm-up; the later ones train for real.
    vi.spyOn(TrainingRun.prototype, 'trainStep').mockRejectedValueOnce(new Error('no kernel Foo'));
    const choice = await calibrateBackends(['webgpu', 'wasm', 'cpu'], loaders, 'nano', limits);
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/: webgpu failed \(training step: no kernel Foo\); wasm [\d,]+ ms\/step;/);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('times a fallback when no other backend was timed', async () => {
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    const software: BackendLoaders = { webgpu: () => Promise.resolve('software adapter (test)') };
    const choice = await calibrateBackends(['webgpu', 'cpu'], software, 'nano', limits);
    expect(steps).toHaveBeenCalledTimes(1 + limits.timedSteps); // the software webgpu's
    expect(choice.reason).toMatch(/: webgpu [\d,]+ ms\/step, software adapter \(test\); cpu skipped \(plain/);
  });

  it('times nothing when only one backend passes the smoke test', async () => {
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    const choice = await calibrateBackends(
      ['wasm', 'cpu'],
      { wasm: () => Promise.reject(new Error('no wasm binary')) },
      'nano',
      limits,
    );
    expect(steps).not.toHaveBeenCalled();
    expect(choice).toEqual({
      backend: 'cpu',
      reason: 'the only backend that works here: wasm failed (no wasm binary); cpu not timed',
    });
  });

  it('does not calibrate a forced backend, nor without a model', async () => {
    const steps = vi.spyOn(TrainingRun.prototype, 'trainStep');
    expect(await chooseBackend('cpu', ['wasm', 'cpu'], loaders, 'nano')).toEqual({
      backend: 'cpu',
      reason: 'forced by the backend option (cpu)',
    });
    expect((await chooseBackend(null, ['wasm', 'cpu'], loaders, null)).reason).toBe(
      'wasm is the first choice',
    );
    expect(steps).not.toHaveBeenCalled();
  });

  it('calibrates at a small shape by default', () => {
    expect(CALIBRATION.batchSize * CALIBRATION.maxLength).toBeLessThanOrEqual(256);
    expect(CALIBRATION.timedSteps).toBeGreaterThanOrEqual(1);
  });
});

/**
 * Runs a test script on Dawn with SwiftShader (Vulkan on the CPU) in a child process and returns the last line it
 * prints, parsed as JSON. Vitest cannot load Dawn with SwiftShader in its own process: the Vulkan driver is found
 * through LD_LIBRARY_PATH and VK_ICD_FILENAMES, read when a process starts. Debian's chromium ships SwiftShader's
 * driver; CI installs it (.ci/run); without it the callers skip, saying why (`hasSwiftShader`, `SWIFTSHADER_ICD`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect } from 'vitest';

import { root } from './nano.ts';

const CHROMIUM_LIB = '/usr/lib/chromium';
export const SWIFTSHADER_ICD = `${CHROMIUM_LIB}/vk_swiftshader_icd.json`;
export const hasSwiftShader = existsSync(SWIFTSHADER_ICD);

/** `node --import tsx <script>` from the repo root on SwiftShader; its last stdout line as JSON, or a one-line error. */
export function runOnDawn<T>(script: string, timeoutMs: number): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, LD_LIBRARY_PATH: CHROMIUM_LIB, VK_ICD_FILENAMES: SWIFTSHADER_ICD },
    timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as T;
}

/**
 * A describe block over one Dawn child script's report: the script runs once (`runOnDawn`) before the block's tests,
 * which read the report through `report()`; skipped, saying why, where SwiftShader is missing.
 */
export function describeOnDawn<T>(script: string, timeoutMs: number, tests: (report: () => T) => void): void {
  describe.skipIf(!hasSwiftShader)(
    `on webgpu (Dawn on SwiftShader; skipped without ${SWIFTSHADER_ICD})`,
    () => {
      let report: T | undefined;
      beforeAll(() => {
        report = runOnDawn<T>(script, timeoutMs);
      }, timeoutMs + 20_000);
      tests(() => {
        if (report === undefined) throw new Error(`${script} gave no report`);
        return report;
      });
    },
  );
}

/** Expects each kernel registered for webgpu and for no cpu backend. */
export function expectWebgpuOnly(names: readonly string[]): void {
  for (const name of names) {
    expect(tf.getKernel(name, 'webgpu'), name).toBeDefined();
    expect(tf.getKernel(name, 'cpu'), name).toBeUndefined();
  }
}

/** A child's nano step against PyTorch float64 (`goldenStep`, test/helpers/golden-step.ts): its largest errors. */
export interface GoldenErrors {
  lossError: number;
  gradError: number;
}

/** Expects the standard and ALUM nano steps within alum.test.ts's bounds: 1e-4 of each gradient's scale, 1e-5 loss. */
export function expectGoldenSteps(steps: { standard: GoldenErrors; alum: GoldenErrors }): void {
  for (const [method, e] of Object.entries(steps)) {
    expect(e.gradError, `${method} gradients`).toBeLessThan(1e-4);
    expect(e.lossError, `${method} loss`).toBeLessThan(1e-5);
  }
}

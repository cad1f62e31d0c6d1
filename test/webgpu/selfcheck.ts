/**
 * Runs the WGSL self-check (src/core/train/wgsl-check.ts) on Dawn and prints one JSON line (a `SelfCheckReport`) for
 * src/core/train/wgsl-check.test.ts, which starts this script as a child process (test/helpers/dawn.ts says why).
 * Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/selfcheck.ts
 * First on the programs as they are, then with GELU's forward program replaced by one whose WGSL does not compile
 * (what a GPU's compiler that rejects a program does to it: Dawn reports an error no scope takes, and the program
 * writes nothing), through calibration and `initBackend`, as the page and the CLI choose a backend.
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/core/backend.ts';
import { calibrateBackends } from '../../src/core/calibrate.ts';
import { GELU } from '../../src/core/model/webgpu-activations.ts';
import { FlatProgram, runProgram, runsWgsl, withWgslOff, wgslOffReason } from '../../src/core/model/wgsl.ts';
import { wgslCheck, wgslCheckDifference } from '../../src/core/train/wgsl-check.ts';
import { nanoForwardKernels, startWebgpu } from './report.ts';

export interface SelfCheckReport {
  /** `wgslCheck` on the programs as they are (`ms`: its wall time, shader compilation included), and whether they stay on. */
  healthy: {
    ms: number;
    problem: string | null;
    runsWgsl: boolean;
    leakedTensors: number;
    worst: { name: string; rel: number };
  };
  /**
   * webgpu chosen with GELU's program broken, by calibration (which runs the check) and then by `initBackend`: each
   * choice's reason, whether the programs are off, and why.
   */
  broken: {
    calibrated: string;
    reason: string;
    runsWgsl: boolean;
    offReason: string | null;
    worst: { name: string; rel: number };
  };
  /** The nano forward pass's dispatching kernels by name: inside `withWgslOff`, after it, and after the broken check. */
  forwardOff: Record<string, number>;
  forwardOn: Record<string, number>;
  forwardAfter: Record<string, number>;
}

/** GELU's forward as a program whose WGSL does not compile (a barrier in non-uniform control flow). */
class BrokenGeluProgram extends FlatProgram {
  variableNames = ['x'];
  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          workgroupBarrier();
          setOutputAtIndex(index, x[index]);
        }
      }
    `;
  }
}

function breakGelu(): void {
  tf.unregisterKernel(GELU, 'webgpu');
  tf.registerKernel({
    kernelName: GELU,
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const x = args.inputs['x'] as tf.TensorInfo;
      return runProgram(new BrokenGeluProgram(tf.util.sizeFromShape(x.shape), 'alumBrokenGelu'), args);
    },
  });
}

async function main(): Promise<void> {
  await startWebgpu({ failOnWebgpuError: false });
  const before = tf.memory().numTensors;
  const start = performance.now();
  const problem = await wgslCheck();
  const ms = performance.now() - start;
  const leakedTensors = tf.memory().numTensors - before;
  const healthy = { ms, problem, runsWgsl: runsWgsl(), leakedTensors, worst: await wgslCheckDifference() };
  const forwardOff = await withWgslOff(nanoForwardKernels);
  const forwardOn = await nanoForwardKernels();

  breakGelu();
  const worst = await wgslCheckDifference();
  // Without loaders: Dawn is loaded already (a second load crashes Node).
  const calibrated = (await calibrateBackends(['webgpu'], {}, 'nano')).reason;
  const { reason } = await initBackend('webgpu', ['webgpu']);
  const broken = { calibrated, reason, runsWgsl: runsWgsl(), offReason: wgslOffReason(), worst };
  const report: SelfCheckReport = {
    healthy,
    broken,
    forwardOff,
    forwardOn,
    forwardAfter: await nanoForwardKernels(),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

/**
 * Checks `fastUploads` (src/core/model/webgpu-uploads.ts) on Dawn and prints one JSON line (an `UploadsReport`) for
 * src/core/model/webgpu-uploads.test.ts, which starts this script as a child process (test/helpers/dawn.ts says
 * why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/uploads.ts
 * Counts `device.createBuffer` calls over the same work before and after patching, reads uploaded values of
 * every dtype and several sizes back through a GPU program (buffers reused many times over), and runs the nano
 * model's golden step (`goldenStep`, test/helpers/golden-step.ts) on the patched backend.
 */
import * as tf from '@tensorflow/tfjs';

import { fastUploads } from '../../src/core/model/webgpu-uploads.ts';
import { makeRng } from '../../src/core/rng.ts';
import { goldenStep } from '../helpers/golden-step.ts';
import { startWebgpu } from './report.ts';

export interface UploadsReport {
  /** createBuffer calls over `work` (100 ops with a fresh scalar each) before and after the patch. */
  createBuffers: { before: number; after: number };
  patched: boolean;
  patchedAgain: boolean;
  /** Entries read back unequal to what was uploaded, over every round of `roundTrips`. */
  mismatches: number;
  roundTrips: number;
  standard: { lossError: number; gradError: number };
  alum: { lossError: number; gradError: number };
  leakedTensors: number;
}

/** Work that uploads: 100 ops on a GPU tensor, each with a JavaScript number (a fresh scalar tensor). */
async function work(x: tf.Tensor): Promise<void> {
  const y = tf.tidy(() => {
    let acc = x;
    for (let i = 0; i < 100; i++) acc = acc.mul(1 + i * 1e-3);
    return acc;
  });
  await y.data();
  y.dispose();
}

/** Uploads of float32, int32 and bool values of several sizes, each read back through a GPU program. */
async function roundTrips(rounds: number): Promise<number> {
  const rng = makeRng(5);
  let mismatches = 0;
  for (let r = 0; r < rounds; r++) {
    for (const n of [1, 3, 1000, 4099]) {
      const f = Float32Array.from({ length: n }, () => rng.normal());
      const i = Int32Array.from({ length: n }, () => rng.int(1000) - 500);
      const b = Uint8Array.from({ length: n }, () => rng.int(2));
      const [ft, it, bt] = [tf.tensor(f), tf.tensor(i, [n], 'int32'), tf.tensor(b, [n], 'bool')];
      // A GPU program reads each (the upload), and its output is read back: add 0, cast the bool to int32.
      const out = tf.tidy(() => [ft.add(0), it.add(0), bt.cast('int32').add(0)]);
      const got = await Promise.all(out.map((t) => t.data()));
      const want: ArrayLike<number>[] = [f, i, b];
      got.forEach((g, k) => {
        const w = want[k] as ArrayLike<number>;
        for (let j = 0; j < n; j++) if (g[j] !== w[j]) mismatches++;
      });
      tf.dispose([ft, it, bt, ...out]);
    }
  }
  return mismatches;
}

async function main(): Promise<void> {
  await startWebgpu();
  const backend = tf.backend() as unknown as { device: GPUDevice };
  let creates = 0;
  const create = backend.device.createBuffer.bind(backend.device);
  backend.device.createBuffer = (d: GPUBufferDescriptor) => {
    creates++;
    return create(d);
  };
  const x = tf.randomNormal([4096]); // above WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD: its ops run on the GPU
  await work(x); // warm: programs compiled, output buffers pooled
  const count = async (): Promise<number> => {
    creates = 0;
    await work(x);
    return creates;
  };
  const before = await count();
  const patched = fastUploads(tf.backend());
  const patchedAgain = fastUploads(tf.backend());
  await work(x);
  const after = await count();
  const tensors = tf.memory().numTensors;
  const rounds = 20;
  const mismatches = await roundTrips(rounds);
  const standard = await goldenStep('standard');
  const alum = await goldenStep('alum');
  const leakedTensors = tf.memory().numTensors - tensors;
  x.dispose();
  const report: UploadsReport = {
    createBuffers: { before, after },
    patched,
    patchedAgain,
    mismatches,
    roundTrips: rounds,
    standard,
    alum,
    leakedTensors,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();

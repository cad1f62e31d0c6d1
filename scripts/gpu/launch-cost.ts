/**
 * What launching the optimizer's flat-buffer work costs on webgpu, apart from its arithmetic: each operation on
 * tiny tensors (73 parts of 16 values, as many as `small` has parameters), repeated, in ms per call including the
 * final readback. Compares tfjs's own kernels with this repo's (src/core/model/webgpu-copy.ts,
 * src/core/train/webgpu-adamw.ts): a split of the flat weights into the parameters (SplitV: one Slice program per
 * part, against one copy kernel), a concatenation of the gradients (`concatTree`, against one copy
 * kernel) and one AdamW update of a 73-parameter group (the plain ops, against the three programs). A diagnostic for
 * docs/performance.md, not a benchmark of a step.
 *
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     npx tsx scripts/gpu/launch-cost.ts [--calls 200]
 *
 * Prints one JSON line: ms per call of each form, and the Dawn adapter.
 */
import process from 'node:process';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { nodeLoaders } from '../../src/cli/files.ts';
import { describeAdapter } from '../../src/core/bench/measure.ts';
import { variableFrom, type Params } from '../../src/core/model/params.ts';
import { concatByCopies, splitByCopies } from '../../src/core/model/webgpu-copy.ts';
import { AdamW, ADAMW_DEFAULTS, concatTree } from '../../src/core/train/adamw.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200' } } });
const calls = Number(values.calls);
const PARTS = 73;
const SIZE = 16;

/** ms per call of `work` (its result disposed), after 10 warm-up calls, synced by one readback at the end. */
async function msPerCall(work: () => tf.Tensor | tf.Tensor[] | void): Promise<number> {
  const once = () => {
    const out = work();
    if (out) tf.dispose(out);
  };
  for (let i = 0; i < 10; i++) once();
  await tf.zeros([1]).data();
  const start = performance.now();
  for (let i = 0; i < calls; i++) once();
  const probe = tf.zeros([1]);
  await probe.data();
  probe.dispose();
  return Number(((performance.now() - start) / calls).toFixed(3));
}

/** ms per AdamW update of PARTS parameters, fused or plain (gradients flat, the norm as a number). */
async function adamCost(fused: boolean): Promise<number> {
  const names = Array.from({ length: PARTS }, (_, i) => `p${i}.weight`);
  const params: Params = new Map(
    names.map((n) => [n, variableFrom(new Float32Array(SIZE).fill(0.5), [4, 4])]),
  );
  const opt = new AdamW(params, ADAMW_DEFAULTS, true, fused);
  const grads = new Map(names.map((n) => [n, tf.fill([4, 4], 0.01)]));
  opt.apply(grads, 1e-3);
  const flats = opt.flatten(grads);
  const ms = await msPerCall(() => opt.apply(flats, 1e-3, 0.5));
  tf.dispose([...flats.flats, ...grads.values()]);
  opt.dispose();
  params.forEach((p) => p.dispose());
  return ms;
}

async function main(): Promise<void> {
  await nodeLoaders.webgpu?.();
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start');
  const sizes = Array.from({ length: PARTS }, () => SIZE);
  const flat = tf.fill([PARTS * SIZE], 1);
  const parts = Array.from({ length: PARTS }, (_, i) => tf.fill([SIZE], i));
  const report = {
    adapter: (await describeAdapter('webgpu')).summary,
    calls,
    parts: PARTS,
    msPerCall: {
      splitV: await msPerCall(() => tf.split(flat, sizes)),
      splitByCopies: await msPerCall(() => splitByCopies(flat, sizes)),
      concatTree: await msPerCall(() => concatTree(parts)),
      concatByCopies: await msPerCall(() => concatByCopies(parts)),
      adamPlain: await adamCost(false),
      adamFused: await adamCost(true),
    },
  };
  tf.dispose([flat, ...parts]);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();

/**
 * `npm run bench`: ms per optimizer step of the real training loop (TrainingRun.trainStep, readback
 * included) for each backend this Node process can use, each model preset asked for, and standard vs ALUM
 * with K = 1 and 2. Speed goals live here, not in tests. Prints a markdown table and writes
 * bench-results.json. Options: --backends wasm,cpu,webgpu  --models nano,tiny  --steps N  --batch-size B
 * --max-length T. `webgpu` uses Dawn for Node (the `webgpu` package); here that is SwiftShader on the CPU:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npm run bench -- --backends webgpu
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { nodeLoaders } from '../src/cli/files.ts';
import { initBackend } from '../src/core/backend.ts';
import { modelConfigFor, resolveConfig, type BackendName, type ModelPresetName } from '../src/core/config.ts';
import { initParams } from '../src/core/model/params.ts';
import { makeRng } from '../src/core/rng.ts';
import { arraySplit, type EncodedSplit, type RowSplit } from '../src/core/data/dataset.ts';
import { TrainingRun } from '../src/core/train/run.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    models: { type: 'string', default: 'nano,tiny' },
    steps: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '32' },
    'max-length': { type: 'string', default: '64' },
  },
});

const VOCAB = 8000;
const steps = Number(values.steps);
const batchSize = Number(values['batch-size']);
const maxLength = Number(values['max-length']);

function randomSplit(count: number): RowSplit {
  const rng = makeRng(7);
  const n = count * maxLength;
  const split: EncodedSplit = {
    inputIds: new Int32Array(n),
    tokenTypeIds: new Int32Array(n),
    attentionMask: new Int32Array(n).fill(1),
    labels: new Int32Array(count).map(() => rng.int(2)),
    count,
    maxLength,
  };
  for (let i = 0; i < n; i++) split.inputIds[i] = 5 + rng.int(VOCAB - 5);
  return arraySplit(split);
}

const variants = [
  { label: 'standard', patch: { method: 'standard' } },
  { label: 'alum K=1', patch: { method: 'alum', k: 1 } },
  { label: 'alum K=2', patch: { method: 'alum', k: 2 } },
] as const;

const results: Record<string, unknown>[] = [];
console.log(`| backend | model | method | ms/step | steps/s | tokens/s | x standard | tensors after |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const backend of (values.backends ?? '').split(',') as BackendName[]) {
  try {
    await initBackend(backend, [backend], nodeLoaders);
  } catch (e) {
    console.log(`| ${backend} | - | unavailable: ${(e as Error).message.split('\n')[0]} | | | | | |`);
    continue;
  }
  for (const modelName of (values.models ?? '').split(',') as ModelPresetName[]) {
    let standardMs = NaN;
    for (const v of variants) {
      const config = resolveConfig({
        ...v.patch,
        model: modelName,
        batchSize,
        maxLength,
        steps: steps + 1,
        evalEvery: 0,
      });
      const model = modelConfigFor(modelName, VOCAB, 2);
      const run = new TrainingRun(
        config,
        model,
        initParams(model, makeRng(1)),
        randomSplit(batchSize * 2),
        randomSplit(8),
        ['a', 'b'],
      );
      await run.trainStep(); // warm-up: shader/kernel compilation
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) await run.trainStep();
      const ms = (performance.now() - t0) / steps;
      run.dispose();
      if (v.label === 'standard') standardMs = ms;
      const row = {
        backend,
        model: modelName,
        method: v.label,
        msPerStep: Number(ms.toFixed(1)),
        stepsPerSec: Number((1000 / ms).toFixed(2)),
        tokensPerSec: Math.round((batchSize * maxLength * 1000) / ms),
        ratioToStandard: Number((ms / standardMs).toFixed(2)),
        numTensorsAfter: tf.memory().numTensors,
        batchSize,
        maxLength,
      };
      results.push(row);
      console.log(
        `| ${backend} | ${modelName} | ${v.label} | ${row.msPerStep} | ${row.stepsPerSec} | ${row.tokensPerSec} | ${row.ratioToStandard} | ${row.numTensorsAfter} |`,
      );
    }
  }
}
writeFileSync(
  'bench-results.json',
  JSON.stringify({ date: new Date().toISOString(), steps, results }, null, 2) + '\n',
);

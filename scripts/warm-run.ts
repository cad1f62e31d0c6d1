/**
 * The measuring scripts' common start: the default task (public/data, from `npm run data`) on the Node
 * backend chain, and a run of the default tiny model trained with the standard method for `steps` steps, so
 * that what is measured next is measured on a model that is no longer random.
 */
import { readFileSync } from 'node:fs';

import { DEFAULT_DATA, DEFAULT_VOCAB, nodeLoaders } from '../src/cli/files.ts';
import { initBackend, NODE_CHAIN, type BackendChoice } from '../src/core/backend.ts';
import { resolveConfig, type TrainConfig } from '../src/core/config.ts';
import type { TrainingRun } from '../src/core/train/run.ts';
import { createRun, loadTask } from '../src/core/train/session.ts';

export async function warmRun(
  steps: number,
  patch: Partial<TrainConfig> = {},
): Promise<{ run: TrainingRun; choice: BackendChoice }> {
  const choice = await initBackend(null, NODE_CHAIN, nodeLoaders);
  const data = readFileSync(DEFAULT_DATA, 'utf8');
  const task = loadTask(data, readFileSync(DEFAULT_VOCAB, 'utf8'), DEFAULT_DATA, DEFAULT_VOCAB);
  const run = createRun(resolveConfig({ ...patch, method: 'standard', steps, evalEvery: 0 }), task);
  for (let i = 0; i < steps; i++) await run.trainStep();
  return { run, choice };
}

/**
 * The page's "Export PyTorch script": the folder of `core/export/torch.ts` as one zip. The script is the real
 * Python file, imported as text (Vite's `?raw`); the model, when the page has trained one, comes from the
 * worker's existing model download (the same zip, unpacked under `model/`), so the HF layout has one owner.
 */
import { unzipSync, zipSync } from 'fflate';

import type { TrainConfig } from './coreConfig.ts';
import { torchExportFiles, type ExportFile } from './coreConfig.ts';
import script from '../core/export/train_alum.py?raw';
import * as actions from './store/actions.ts';
import { activeRun, appStore } from './store/store.ts';

/** A fixed timestamp, so the same inputs give the same zip bytes (as the model download). */
const ZIP_MTIME = new Date('2020-04-29T00:00:00Z');

export interface TorchZipInput {
  config: TrainConfig;
  /** The model download's zip (config.json, model.safetensors, vocab.txt), when there is a trained model. */
  modelZip?: Uint8Array | undefined;
  /** The user's data file, when the page trains on one (written as data.<ext>, read by default). */
  data?: { name: string; text: string } | undefined;
}

/** The zip's entries, all under one folder `alum-torch/`. */
export function torchZip(input: TorchZipInput): Uint8Array {
  const model: ExportFile[] | undefined = input.modelZip
    ? Object.entries(unzipSync(input.modelZip)).map(([name, bytes]) => ({ name, bytes }))
    : undefined;
  const files = torchExportFiles({ script, config: input.config, model, data: input.data });
  return zipSync(
    Object.fromEntries(files.map((f) => [`alum-torch/${f.name}`, [f.bytes, { level: 6, mtime: ZIP_MTIME }]])),
  );
}

/**
 * The zip for the page's current state: the active run's config (the form's when there is no run), its model
 * through the worker's model download when it has one, and the user's data file when one is loaded.
 */
export async function exportTorchZip(): Promise<{ fileName: string; blob: Blob }> {
  const state = appStore.getState();
  const run = activeRun(state);
  const config = run?.config ?? state.staged;
  const modelZip =
    run !== null && run.info !== null
      ? new Uint8Array(await (await actions.exportModel()).blob.arrayBuffer())
      : undefined;
  const staged = state.stagedData;
  const data = staged !== null && staged.text !== '' ? { name: staged.name, text: staged.text } : undefined;
  const zip = torchZip({ config, modelZip, data });
  return { fileName: 'alum-torch.zip', blob: new Blob([zip.slice()], { type: 'application/zip' }) };
}

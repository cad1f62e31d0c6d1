/**
 * A run's model as one zip of its Hugging Face folder, for the page's "Download model" button. The weights are
 * snapshotted synchronously before any readback, so a step that runs meanwhile cannot mix two versions.
 * fflate builds the zip (stored, not deflated: float32 weights barely compress, and storing is instant).
 */
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';

import { hfFolderFiles } from '../core/model/hf.ts';
import type { TrainingRun } from '../core/train/run.ts';

/** A fixed timestamp, so the same weights always give the same zip bytes. */
const ZIP_MTIME = new Date('2020-04-29T00:00:00Z');

/** The HF folder of `run` as zip bytes; entries `config.json`, `model.safetensors`, `vocab.txt`. */
export async function exportRunZip(
  run: TrainingRun,
  vocabText: string,
  lowercase = true,
): Promise<Uint8Array> {
  const snapshot = new Map([...run.params].map(([name, v]) => [name, v.clone()] as const));
  try {
    const meta = { alum_config: JSON.stringify(run.config), steps_trained: String(run.step) };
    const labels = run.labels;
    const files = await hfFolderFiles(
      snapshot,
      run.model,
      labels,
      run.config.dropout,
      vocabText,
      meta,
      lowercase,
    );
    return zipSync(Object.fromEntries(files.map((f) => [f.name, [f.bytes, { level: 0, mtime: ZIP_MTIME }]])));
  } finally {
    tf.dispose([...snapshot.values()]);
  }
}

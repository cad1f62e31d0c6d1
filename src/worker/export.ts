/**
 * A run's model as one zip of its Hugging Face folder, for the page's "Download model" button. The weights are
 * snapshotted synchronously before any readback, so a step that runs meanwhile cannot mix two versions.
 * fflate builds the zip (stored, not deflated: float32 weights barely compress, and storing is instant).
 */
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';

import { hfFolderFiles, type HfFile } from '../core/model/hf.ts';
import type { TrainingRun } from '../core/train/run.ts';

/** A fixed timestamp, so the same weights always give the same zip bytes. */
const ZIP_MTIME = new Date('2020-04-29T00:00:00Z');

/**
 * The HF folder of `run` (a classifier, or a BertForMaskedLM for a masked-LM run): `config.json`,
 * `model.safetensors`, `vocab.txt`, from a synchronous snapshot of the weights.
 */
export async function runFolderFiles(
  run: TrainingRun,
  vocabText: string,
  lowercase = true,
): Promise<HfFile[]> {
  const snapshot = new Map([...run.params].map(([name, v]) => [name, v.clone()] as const));
  try {
    const meta = { alum_config: JSON.stringify(run.config), steps_trained: String(run.step) };
    return await hfFolderFiles(snapshot, run.model, run.labels, run.config.dropout, vocabText, meta, {
      lowercase,
      maskedLm: run.config.task === 'mlm',
    });
  } finally {
    tf.dispose([...snapshot.values()]);
  }
}

/** The HF folder of `run` as zip bytes. */
export async function exportRunZip(
  run: TrainingRun,
  vocabText: string,
  lowercase = true,
): Promise<Uint8Array> {
  const files = await runFolderFiles(run, vocabText, lowercase);
  return zipSync(Object.fromEntries(files.map((f) => [f.name, [f.bytes, { level: 0, mtime: ZIP_MTIME }]])));
}

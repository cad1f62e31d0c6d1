/**
 * The model under attack, queried with dropout off: encoding inputs as the run does (the tokenizer's
 * longest_first truncation, padding to the victim's maxLength, as `encodeSplit`) and class probabilities in batches (`forward`).
 */
import * as tf from '@tensorflow/tfjs';

import type { EncodedSplit, Example } from '../data/dataset.ts';
import { forward, NO_DROPOUT } from '../model/bert.ts';
import { batchTensors, disposeBatch, type Batch } from '../train/run.ts';
import type { AttackHooks, AttackRecord, Victim } from './types.ts';

/** Rows per forward pass when the attacks query many inputs at once. */
export const QUERY_BATCH = 32;

/** Token ids of one input without padding: [CLS] a [SEP] (b [SEP]). */
export interface Ids {
  inputIds: number[];
  tokenTypeIds: number[];
}

/** The victim's encoding of an example, unpadded (truncated to maxLength like training). */
export function encodeExample(v: Victim, ex: Pick<Example, 'text' | 'textPair'>): Ids {
  return v.tokenizer.encode(ex.text, ex.textPair, v.maxLength);
}

/** Unpadded rows padded into [rows.length, maxLength] arrays; `labels` [rows.length]. */
export function padRows(v: Victim, rows: readonly Ids[], labels: readonly number[]): EncodedSplit {
  const t = v.maxLength;
  const out: EncodedSplit = {
    inputIds: new Int32Array(rows.length * t).fill(v.tokenizer.padId),
    tokenTypeIds: new Int32Array(rows.length * t),
    attentionMask: new Int32Array(rows.length * t),
    labels: Int32Array.from(labels),
    count: rows.length,
    maxLength: t,
  };
  rows.forEach((r, i) => {
    if (r.inputIds.length > t) throw new Error(`input of ${r.inputIds.length} tokens exceeds maxLength ${t}`);
    out.inputIds.set(r.inputIds, i * t);
    out.tokenTypeIds.set(r.tokenTypeIds, i * t);
    out.attentionMask.fill(1, i * t, i * t + r.inputIds.length);
  });
  return out;
}

/** Tensors of rows with their labels (caller disposes with `disposeBatch`). */
export function rowsBatch(v: Victim, rows: readonly Ids[], labels: readonly number[]): Batch {
  const split = padRows(v, rows, labels);
  return batchTensors(
    split,
    rows.map((_, i) => i),
  );
}

/** Class probabilities of each row, dropout off, QUERY_BATCH rows per pass: one query per row. */
export async function probabilities(v: Victim, rows: readonly Ids[]): Promise<number[][]> {
  const out: number[][] = [];
  for (let start = 0; start < rows.length; start += QUERY_BATCH) {
    const part = rows.slice(start, start + QUERY_BATCH);
    const batch = rowsBatch(
      v,
      part,
      part.map(() => 0),
    );
    try {
      const probs = tf.tidy(() => tf.softmax(forward(v.params, v.model, batch, NO_DROPOUT))); // [b, C]
      const flat = await probs.data();
      probs.dispose();
      const c = v.model.numLabels;
      for (let i = 0; i < part.length; i++) out.push(Array.from(flat.subarray(i * c, (i + 1) * c)));
    } finally {
      disposeBatch(batch);
    }
  }
  return out;
}

/** The index of the lowest p(y) among `probs`, or -1 when none is below `below`. */
export function lowest(probs: readonly number[][], y: number, below: number): number {
  let best = -1;
  let value = below;
  probs.forEach((p, i) => {
    const py = p[y] as number;
    if (py < value) [best, value] = [i, py];
  });
  return best;
}

/** Index of the largest entry (the first on a tie, as tf.argMax). */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

/** Attacks `examples` one at a time, reporting progress after each and checking `shouldStop` before each. */
export async function eachExample(
  examples: readonly Example[],
  hooks: AttackHooks,
  one: (ex: Example, index: number) => Promise<AttackRecord>,
): Promise<AttackRecord[]> {
  const records: AttackRecord[] = [];
  for (const [i, ex] of examples.entries()) {
    if (hooks.shouldStop?.()) break;
    records.push(await one(ex, i));
    await hooks.onProgress?.(records.length, examples.length);
  }
  return records;
}

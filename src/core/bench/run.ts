/**
 * The training run a benchmark times: a model preset on random token ids (all real tokens), binary labels,
 * dropout and the rest at their defaults, never reaching its last step (so no dev evaluation or gradient split
 * runs inside a timed step). Shared by scripts/bench.ts and the kernel-count tests.
 */
import { modelConfigFor, resolveConfig, type ModelPresetName } from '../config.ts';
import { arraySplit, type EncodedSplit, type RowSplit } from '../data/dataset.ts';
import { initParams } from '../model/params.ts';
import { makeRng } from '../rng.ts';
import { TrainingRun } from '../train/run.ts';

/** Vocabulary of the random ids (about a small WordPiece vocabulary). */
export const BENCH_VOCAB = 8000;

export interface BenchShape {
  model: ModelPresetName;
  method: 'standard' | 'alum';
  /** Inner ascent steps (ALUM only). */
  k: number;
  batchSize: number;
  maxLength: number;
  vocab?: number;
}

/** `count` rows of `maxLength` random ids in [5, vocab), labels 0 or 1, seeded. */
export function randomSplit(count: number, maxLength: number, vocab = BENCH_VOCAB): RowSplit {
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
  for (let i = 0; i < n; i++) split.inputIds[i] = 5 + rng.int(vocab - 5);
  return arraySplit(split);
}

/** A run of `shape` on two batches of random rows (the caller disposes it). */
export function benchRun(shape: BenchShape): TrainingRun {
  const { batchSize, maxLength } = shape;
  const config = resolveConfig({
    method: shape.method,
    ...(shape.method === 'alum' ? { k: shape.k } : {}),
    model: shape.model,
    batchSize,
    maxLength,
    steps: 100_000,
    evalEvery: 0,
  });
  const vocab = shape.vocab ?? BENCH_VOCAB;
  const model = modelConfigFor(shape.model, vocab, 2);
  return new TrainingRun(
    config,
    model,
    initParams(model, makeRng(1)),
    randomSplit(batchSize * 2, maxLength, vocab),
    randomSplit(8, maxLength, vocab),
    ['a', 'b'],
  );
}

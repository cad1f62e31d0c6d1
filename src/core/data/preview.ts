/**
 * What the page shows of a data file before training: row and label counts (or, for regression, the targets'
 * range and mean) and how long the examples are in tokens of the run's tokenizer. Lengths are counted once,
 * untruncated, so the page computes the truncation rate for any max length without asking again.
 */
import type { ProblemType } from '../config.ts';
import type { Example, TaskData } from './dataset.ts';

/** Lengths above this are counted together (the largest max length a config allows is 512). */
export const PREVIEW_LENGTH_CAP = 512;

export interface DataPreview {
  /** Rows of the data (train + dev). */
  rows: number;
  trainExamples: number;
  devExamples: number;
  problemType: ProblemType;
  /** Classification: examples per label (train + dev), in label order. Null for regression. */
  labelCounts: { label: string; count: number }[] | null;
  /** Regression: the targets' range and mean (train + dev). Null for classification. */
  targets: { min: number; max: number; mean: number } | null;
  /**
   * `lengthCounts[n]`: examples whose encoding ([CLS], [SEP] and both segments, untruncated) has `n` tokens,
   * for n <= PREVIEW_LENGTH_CAP; the last entry counts all longer ones.
   */
  lengthCounts: number[];
}

/** What the preview needs of a tokenizer (a `WordPieceTokenizer`). */
export interface LengthTokenizer {
  encode(text: string, pair?: string): { inputIds: number[] };
}

/** The preview of a task's data with the run's tokenizer. */
export function dataPreview(data: TaskData, tok: LengthTokenizer): DataPreview {
  const all: Example[] = [...data.train, ...data.dev];
  const lengthCounts = new Array<number>(PREVIEW_LENGTH_CAP + 2).fill(0);
  for (const ex of all) {
    const n = tok.encode(ex.text, ex.textPair).inputIds.length;
    const i = Math.min(n, PREVIEW_LENGTH_CAP + 1);
    lengthCounts[i] = (lengthCounts[i] as number) + 1;
  }
  const regression = data.problemType === 'regression';
  return {
    rows: all.length,
    trainExamples: data.train.length,
    devExamples: data.dev.length,
    problemType: regression ? 'regression' : 'classification',
    labelCounts: regression ? null : countLabels(data.labels, all),
    targets: regression ? targetStats(all) : null,
    lengthCounts,
  };
}

function countLabels(labels: readonly string[], all: readonly Example[]): { label: string; count: number }[] {
  const counts = labels.map((label) => ({ label, count: 0 }));
  for (const ex of all) {
    const c = counts[ex.label];
    if (c) c.count += 1;
  }
  return counts;
}

function targetStats(all: readonly Example[]): { min: number; max: number; mean: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const ex of all) {
    min = Math.min(min, ex.label);
    max = Math.max(max, ex.label);
    sum += ex.label;
  }
  return { min, max, mean: all.length === 0 ? NaN : sum / all.length };
}

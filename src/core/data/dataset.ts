/**
 * A classification task as data: labelled (text, optional text pair) examples with a train/dev split,
 * the JSON file format of `public/data/*.json`, and batching into padded int32 model inputs.
 * Shape after GLUE's single-sentence / sentence-pair tasks (Wang et al. 2018).
 */
import type { ProblemType } from '../config.ts';
import { makeRng, shuffled } from '../rng.ts';

export interface Example {
  text: string;
  /** Second segment of a sentence-pair task (token type 1). */
  textPair?: string;
  /** Index into `TaskData.labels`; for regression, the real-valued target. */
  label: number;
}

export interface TaskData {
  name: string;
  /** One line of provenance: where the texts came from and how they were processed. */
  source: string;
  /** Label names; `Example.label` indexes this. Regression: `['LABEL_0']` (one output, HF's default id2label). */
  labels: string[];
  train: Example[];
  dev: Example[];
  /** Absent = classification. */
  problemType?: ProblemType;
}

/** Padded model inputs of a data split (or any list of examples), row-major [count, maxLength]. */
export interface EncodedSplit {
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  /** 1 for real tokens (including [CLS]/[SEP]), 0 for padding. */
  attentionMask: Int32Array;
  /** [count]: class ids, or float targets (Float32Array) for regression. */
  labels: Int32Array | Float32Array;
  count: number;
  maxLength: number;
}

/** What `encodeSplit` needs from a tokenizer (a `WordPieceTokenizer`). */
export interface SplitTokenizer {
  readonly padId: number;
  encode(text: string, pair?: string, maxLength?: number): { inputIds: number[]; tokenTypeIds: number[] };
}

function fail(origin: string, field: string, problem: string): never {
  throw new Error(`${origin}: ${field}: ${problem}`);
}

/** A short one-line rendering of a bad value for error messages. */
function show(value: unknown): string {
  const s = value === undefined ? 'undefined' : (JSON.stringify(value) ?? typeof value);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseExamples(v: unknown, origin: string, field: string, nLabels: number): Example[] {
  if (!Array.isArray(v)) fail(origin, field, `expected an array, got ${show(v)}`);
  return v.map((item: unknown, i): Example => {
    const at = `${field}[${i}]`;
    if (!isRecord(item)) fail(origin, at, `expected an object, got ${show(item)}`);
    const { text, textPair, label } = item;
    if (typeof text !== 'string') fail(origin, `${at}.text`, `expected a string, got ${show(text)}`);
    if (textPair !== undefined && typeof textPair !== 'string') {
      fail(origin, `${at}.textPair`, `expected a string, got ${show(textPair)}`);
    }
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= nLabels) {
      fail(origin, `${at}.label`, `expected an integer in [0, ${nLabels}), got ${show(label)}`);
    }
    return textPair === undefined ? { text, label } : { text, textPair, label };
  });
}

/**
 * Validates a task file (`{name, source, labels, train, dev}`); errors are one line naming `origin`
 * and the field, e.g. `spam.json: train[3].label: expected an integer in [0, 2), got 2`.
 */
export function parseTaskData(json: unknown, origin: string): TaskData {
  if (!isRecord(json)) fail(origin, '(root)', `expected an object, got ${show(json)}`);
  const { name, source, labels } = json;
  if (typeof name !== 'string' || name === '')
    fail(origin, 'name', `expected a non-empty string, got ${show(name)}`);
  if (typeof source !== 'string') fail(origin, 'source', `expected a string, got ${show(source)}`);
  if (!Array.isArray(labels) || labels.length < 2) {
    fail(origin, 'labels', `expected an array of at least 2 strings, got ${show(labels)}`);
  }
  labels.forEach((l: unknown, i) => {
    if (typeof l !== 'string') fail(origin, `labels[${i}]`, `expected a string, got ${show(l)}`);
    if (labels.indexOf(l) !== i) fail(origin, `labels[${i}]`, `duplicate label ${show(l)}`);
  });
  const train = parseExamples(json.train, origin, 'train', labels.length);
  const dev = parseExamples(json.dev, origin, 'dev', labels.length);
  if (train.length === 0) fail(origin, 'train', 'no examples');
  return { name, source, labels: labels as string[], train, dev };
}

/**
 * Tokenizes, truncates (longest_first) and pads `examples` into [B, maxLength] int32 arrays.
 * Padding uses `tok.padId`, token type 0 and mask 0.
 */
export function encodeSplit(
  tok: SplitTokenizer,
  examples: readonly Example[],
  maxLength: number,
  problemType: ProblemType = 'classification',
): EncodedSplit {
  const batchSize = examples.length;
  const inputIds = new Int32Array(batchSize * maxLength).fill(tok.padId);
  const tokenTypeIds = new Int32Array(batchSize * maxLength);
  const attentionMask = new Int32Array(batchSize * maxLength);
  const labels = problemType === 'regression' ? new Float32Array(batchSize) : new Int32Array(batchSize);
  examples.forEach((ex, b) => {
    const enc = tok.encode(ex.text, ex.textPair, maxLength);
    const row = b * maxLength;
    inputIds.set(enc.inputIds, row);
    tokenTypeIds.set(enc.tokenTypeIds, row);
    attentionMask.fill(1, row, row + enc.inputIds.length);
    labels[b] = ex.label;
  });
  return { inputIds, tokenTypeIds, attentionMask, labels, count: batchSize, maxLength };
}

/** A seeded Fisher-Yates shuffle of a copy (same seed, same order). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  return shuffled(items, makeRng(seed));
}

/**
 * Splits examples into train/dev keeping each label's share: per label (in label order), a seeded
 * shuffle puts `round(n * devFraction)` examples in dev; both sides are then shuffled once more so the
 * labels are interleaved. Deterministic in `seed`.
 */
export function stratifiedSplit(
  examples: readonly Example[],
  devFraction: number,
  seed: number,
): { train: Example[]; dev: Example[] } {
  if (!(devFraction >= 0 && devFraction < 1))
    throw new RangeError(`devFraction must be in [0, 1), got ${devFraction}`);
  const rng = makeRng(seed);
  const byLabel = new Map<number, Example[]>();
  for (const ex of examples) {
    const group = byLabel.get(ex.label);
    if (group === undefined) byLabel.set(ex.label, [ex]);
    else group.push(ex);
  }
  const train: Example[] = [];
  const dev: Example[] = [];
  for (const label of [...byLabel.keys()].sort((a, b) => a - b)) {
    const group = shuffled(byLabel.get(label) as Example[], rng);
    // At least one dev example per label when there are two or more (tiny user files still get a dev set).
    const nDev =
      devFraction > 0 && group.length > 1 ? Math.max(1, Math.round(group.length * devFraction)) : 0;
    // A loop, not push(...spread): a spread of a large file's rows overflows the call stack.
    group.forEach((ex, i) => (i < nDev ? dev : train).push(ex));
  }
  return { train: shuffled(train, rng), dev: shuffled(dev, rng) };
}

/**
 * A seeded random train/dev split for regression targets (no classes to stratify by): `round(n * devFraction)`
 * examples (at least one when there are two or more) go to dev. Deterministic in `seed`.
 */
export function randomSplit(
  examples: readonly Example[],
  devFraction: number,
  seed: number,
): { train: Example[]; dev: Example[] } {
  if (!(devFraction >= 0 && devFraction < 1))
    throw new RangeError(`devFraction must be in [0, 1), got ${devFraction}`);
  const all = shuffled(examples, makeRng(seed));
  const nDev = devFraction > 0 && all.length > 1 ? Math.max(1, Math.round(all.length * devFraction)) : 0;
  return { train: all.slice(nDev), dev: all.slice(0, nDev) };
}

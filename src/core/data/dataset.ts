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

/**
 * A split read by rows: `rows(indices)` gives the padded arrays of those rows ([indices.length, maxLength]),
 * so a run tokenises only the rows a batch needs. `labels` [count] is kept whole (4 bytes a row).
 */
export interface RowSplit {
  readonly count: number;
  readonly maxLength: number;
  /** [count]: class ids, or float targets (Float32Array) for regression. */
  readonly labels: Int32Array | Float32Array;
  rows(indices: readonly number[]): EncodedSplit;
}

/** Rows `indices` of padded arrays, copied: [indices.length, maxLength]. */
function pickRows(s: EncodedSplit, indices: readonly number[]): EncodedSplit {
  const t = s.maxLength;
  const b = indices.length;
  const out: EncodedSplit = {
    inputIds: new Int32Array(b * t),
    tokenTypeIds: new Int32Array(b * t),
    attentionMask: new Int32Array(b * t),
    labels: s.labels instanceof Float32Array ? new Float32Array(b) : new Int32Array(b),
    count: b,
    maxLength: t,
  };
  indices.forEach((row, i) => {
    out.inputIds.set(s.inputIds.subarray(row * t, (row + 1) * t), i * t);
    out.tokenTypeIds.set(s.tokenTypeIds.subarray(row * t, (row + 1) * t), i * t);
    out.attentionMask.set(s.attentionMask.subarray(row * t, (row + 1) * t), i * t);
    out.labels[i] = s.labels[row] as number;
  });
  return out;
}

/**
 * Padded arrays already in memory (packed MLM sequences, test data) as a RowSplit: `rows` is added to the same
 * object (no copy), so its arrays stay readable.
 */
export function arraySplit(s: EncodedSplit): EncodedSplit & RowSplit {
  if ('rows' in s && typeof s.rows === 'function') return s as EncodedSplit & RowSplit;
  return Object.assign(s, { rows: (indices: readonly number[]) => pickRows(s, indices) });
}

/** Rows kept encoded by `lazySplit` (a few batches; bounded memory whatever the split's size). */
export const ROW_CACHE_SIZE = 1024;

/**
 * A split tokenised on demand: `rows` encodes only the rows asked for (`encodeSplit`, the one encoder), keeping
 * the last ROW_CACHE_SIZE encoded rows. Memory: labels [count] plus the cache, not count x maxLength.
 */
export function lazySplit(
  tok: SplitTokenizer,
  examples: readonly Example[],
  maxLength: number,
  problemType: ProblemType = 'classification',
): RowSplit {
  const labels =
    problemType === 'regression' ? new Float32Array(examples.length) : new Int32Array(examples.length);
  examples.forEach((ex, i) => (labels[i] = ex.label));
  const cache = new Map<number, EncodedSplit>(); // row -> [1, maxLength], insertion order = age
  const one = (row: number): EncodedSplit => {
    let enc = cache.get(row);
    if (enc === undefined) {
      enc = encodeSplit(tok, [examples[row] as Example], maxLength, problemType);
      if (cache.size >= ROW_CACHE_SIZE) cache.delete(cache.keys().next().value as number);
      cache.set(row, enc);
    }
    return enc;
  };
  const rows = (indices: readonly number[]): EncodedSplit =>
    concatRows(indices.map(one), maxLength, problemType);
  return { count: examples.length, maxLength, labels, rows };
}

/** Single rows ([1, maxLength] each) stacked into [rows.length, maxLength]. */
function concatRows(parts: readonly EncodedSplit[], t: number, problemType: ProblemType): EncodedSplit {
  const b = parts.length;
  const out: EncodedSplit = {
    inputIds: new Int32Array(b * t),
    tokenTypeIds: new Int32Array(b * t),
    attentionMask: new Int32Array(b * t),
    labels: problemType === 'regression' ? new Float32Array(b) : new Int32Array(b),
    count: b,
    maxLength: t,
  };
  parts.forEach((p, i) => {
    out.inputIds.set(p.inputIds, i * t);
    out.tokenTypeIds.set(p.tokenTypeIds, i * t);
    out.attentionMask.set(p.attentionMask, i * t);
    out.labels[i] = p.labels[0] as number;
  });
  return out;
}

/** The rows `picked` of a split as a split of their own (row i is `split`'s row `picked[i]`). */
export function subsetSplit(split: RowSplit, picked: readonly number[]): RowSplit {
  const labels =
    split.labels instanceof Float32Array ? new Float32Array(picked.length) : new Int32Array(picked.length);
  picked.forEach((row, i) => (labels[i] = split.labels[row] as number));
  return {
    count: picked.length,
    maxLength: split.maxLength,
    labels,
    rows: (indices) => split.rows(indices.map((i) => picked[i] as number)),
  };
}

/** Dev splits above this many rows are evaluated on a fixed seeded sample of this many rows. */
export const DEV_EVAL_MAX = 2048;

/**
 * The rows a dev evaluation reads: all of them up to `max` rows; above that a fixed sample of `max` rows,
 * seeded (the same at every evaluation of a run), in ascending order. Null = every row.
 */
export function devSampleRows(count: number, seed: number, max = DEV_EVAL_MAX): number[] | null {
  if (count <= max) return null;
  const all = Array.from({ length: count }, (_, i) => i);
  return shuffled(all, makeRng(seed))
    .slice(0, max)
    .sort((a, b) => a - b);
}

/** A seeded Fisher-Yates shuffle of a copy (same seed, same order). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  return shuffled(items, makeRng(seed));
}

function checkDevFraction(devFraction: number): void {
  if (!(devFraction >= 0 && devFraction < 1))
    throw new RangeError(`devFraction must be in [0, 1), got ${devFraction}`);
}

/** How many of n examples go to dev: round(n * devFraction), at least one when there are two or more (tiny user
 * files still get a dev set). */
function devCount(n: number, devFraction: number): number {
  return devFraction > 0 && n > 1 ? Math.max(1, Math.round(n * devFraction)) : 0;
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
  checkDevFraction(devFraction);
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
    const nDev = devCount(group.length, devFraction);
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
  checkDevFraction(devFraction);
  const all = shuffled(examples, makeRng(seed));
  const nDev = devCount(all.length, devFraction);
  return { train: all.slice(nDev), dev: all.slice(0, nDev) };
}

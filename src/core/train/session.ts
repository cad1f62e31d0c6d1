/**
 * From text files to a ready TrainingRun: parse the task and vocabulary, make split views per max length that
 * tokenise rows when a batch reads them (`lazySplit`: no up-front pass over the data), build the model for the
 * config's size preset. Used by the worker and the CLI alike.
 */
import { modelConfigFor, type ModelConfig, type TrainConfig } from '../config.ts';
import {
  lazySplit,
  parseTaskData,
  randomSplit,
  stratifiedSplit,
  type Example,
  type TaskData,
} from '../data/dataset.ts';
import { readDataText, tablesToData, type ParseOptions, type RawTable } from '../data/parse.ts';
import { errorMessage } from '../errors.ts';
import { initParams, type Params } from '../model/params.ts';
import { makeRng } from '../rng.ts';
import { WordPieceTokenizer, type TokenizerOptions } from '../tokenizer/wordpiece.ts';
import type { RowSplit } from '../data/dataset.ts';
import {
  corpusTokenIds,
  firstSequences,
  maskingFor,
  MAX_DEV_SEQUENCES,
  packSequences,
  unigramBaseline,
} from '../data/corpus.ts';
import { isHeadParam } from '../model/hf.ts';
import { initMlmParams } from '../model/mlm.ts';
import { TrainingRun } from './run.ts';

export interface LoadedTask {
  data: TaskData;
  tokenizer: WordPieceTokenizer;
  /** Split views by max length (rows tokenised on demand, `lazySplit`). */
  encoded: Map<number, { train: RowSplit; dev: RowSplit }>;
}

export function loadTask(
  dataText: string,
  vocabText: string,
  dataOrigin: string,
  vocabOrigin: string,
): LoadedTask {
  let json: unknown;
  try {
    json = JSON.parse(dataText);
  } catch (e) {
    throw new Error(`${dataOrigin}: not valid JSON (${errorMessage(e)})`);
  }
  return taskFromData(parseTaskData(json, dataOrigin), vocabText, vocabOrigin);
}

export function taskFromData(data: TaskData, vocabText: string, vocabOrigin: string): LoadedTask {
  let tokenizer: WordPieceTokenizer;
  try {
    tokenizer = WordPieceTokenizer.fromVocabText(vocabText);
  } catch (e) {
    throw new Error(`${vocabOrigin}: ${errorMessage(e)}`);
  }
  return { data, tokenizer, encoded: new Map() };
}

/** Share of a user file's rows held out as the dev split (stratified, seeded). */
export const DEV_FRACTION = 0.1;

/**
 * A task from a data file's text: the built-in task JSON, or a user CSV/TSV/JSONL (by extension) split
 * 90/10, stratified and seeded. Errors are one line naming the file (and line, for user files).
 */
export function taskFromFile(
  fileName: string,
  text: string,
  vocabText: string,
  vocabOrigin: string,
  seed: number,
  options: ParseOptions & { dev?: { name: string; text: string } } = {},
): LoadedTask {
  if (/\.json$/i.test(fileName)) return loadTask(text, vocabText, fileName, vocabOrigin);
  const dev = options.dev ? readDataText(options.dev.name, options.dev.text) : null;
  return taskFromTables(readDataText(fileName, text), dev, vocabText, vocabOrigin, seed, options);
}

/**
 * A task from read tables (`readDataText`, or `readDataStream` in the worker): the user's dev table when
 * given, else a seeded 90/10 split (stratified for classification, random for regression).
 */
export function taskFromTables(
  trainTable: RawTable,
  devTable: RawTable | null,
  vocabText: string,
  vocabOrigin: string,
  seed: number,
  options: ParseOptions = {},
): LoadedTask {
  const { data, dev: userDev } = tablesToData(trainTable, devTable, options);
  const { labels, examples, problemType } = data;
  let split: { train: Example[]; dev: Example[] };
  if (userDev !== null) split = { train: examples, dev: userDev };
  else if (problemType === 'regression') split = randomSplit(examples, DEV_FRACTION, seed);
  else split = stratifiedSplit(examples, DEV_FRACTION, seed);
  const name = trainTable.file;
  const source = devTable === null ? name : `${name} (dev: ${devTable.file})`;
  const task: TaskData = { name, source, labels, ...split };
  if (problemType !== undefined) task.problemType = problemType;
  return taskFromData(task, vocabText, vocabOrigin);
}

export function encodedSplits(task: LoadedTask, maxLength: number): { train: RowSplit; dev: RowSplit } {
  let splits = task.encoded.get(maxLength);
  if (!splits) {
    splits = {
      train: lazySplit(task.tokenizer, task.data.train, maxLength, task.data.problemType),
      dev: lazySplit(task.tokenizer, task.data.dev, maxLength, task.data.problemType),
    };
    task.encoded.set(maxLength, splits);
  }
  return splits;
}

/** `make()`, disposing the checkpoint's `init.params` when it throws (a run owns them only once it is made). */
export function ownInit<R>(init: { params: Params } | null | undefined, make: () => R): R {
  try {
    return make();
  } catch (e) {
    init?.params.forEach((v) => v.dispose());
    throw e;
  }
}

/**
 * A new run on a task. `init` (from a checkpoint) replaces the seeded random initialisation; its model config
 * must then be passed as `model`.
 */
export function createRun(
  config: TrainConfig,
  task: LoadedTask,
  init?: { model: ModelConfig; params: Params },
): TrainingRun {
  const base =
    init?.model ?? modelConfigFor(config.model, task.tokenizer.vocab.length, task.data.labels.length);
  const { problemType: _, ...rest } = base;
  const model: ModelConfig =
    task.data.problemType === 'regression' ? { ...rest, problemType: 'regression' } : rest;
  if (model.vocabSize !== task.tokenizer.vocab.length) {
    throw new Error(
      `model vocab_size ${model.vocabSize} does not match the vocabulary's ${task.tokenizer.vocab.length} tokens`,
    );
  }
  if (config.maxLength > model.maxPositions) {
    throw new Error(
      `config field 'maxLength' (${config.maxLength}) exceeds the model's max_position_embeddings (${model.maxPositions})`,
    );
  }
  if (model.numLabels !== task.data.labels.length) {
    throw new Error(`the model has ${model.numLabels} labels but the data has ${task.data.labels.length}`);
  }
  const { train, dev } = encodedSplits(task, config.maxLength);
  const params = init?.params ?? initParams(model, makeRng(config.seed));
  return new TrainingRun(config, model, params, train, dev, task.data.labels);
}

/**
 * The task tokenised as a loaded model's vocabulary says (HF `do_lower_case`: cased or uncased); nothing is
 * encoded yet, so this only swaps the tokenizer. Task loaders build uncased tokenizers.
 */
export function withTokenizerOptions(task: LoadedTask, options: TokenizerOptions): LoadedTask {
  if ((options.lowercase ?? true) === task.tokenizer.lowercase) return task;
  return {
    ...task,
    tokenizer: WordPieceTokenizer.fromTokens(task.tokenizer.vocab, options),
    encoded: new Map(),
  };
}

/** A pre-training corpus: train and dev documents (one passage each), and where they came from. */
export interface Corpus {
  train: readonly string[];
  dev: readonly string[];
  /** Names for messages: the train and dev sources. */
  origin: string;
  devOrigin: string;
}

/**
 * BertForMaskedLM parameters from the seeded BERT init: the encoder of `initParams` without the pooler and
 * classifier (HF's BertForMaskedLM has neither), plus a fresh MLM head.
 */
export function initMlmModelParams(model: ModelConfig, seed: number): Params {
  const params = initParams(model, makeRng(seed));
  for (const [name, v] of [...params]) {
    if (isHeadParam(name)) {
      v.dispose();
      params.delete(name);
    }
  }
  return initMlmParams(model, makeRng((seed + 2) >>> 0), params);
}

/**
 * A masked-LM pre-training run (task `mlm`) on a corpus: its documents tokenised and packed into sequences of
 * `maxLength` (corpus.ts), masked per batch from the run's RNG. `init` (a checkpoint's encoder and MLM head,
 * all of `initMlmModelParams`'s names) replaces the seeded initialisation; its model config must be passed.
 */
export function createMlmRun(
  config: TrainConfig,
  tokenizer: WordPieceTokenizer,
  corpus: Corpus,
  init?: { model: ModelConfig; params: Params },
): TrainingRun {
  const model = init?.model ?? modelConfigFor(config.model, tokenizer.vocab.length, 2);
  if (model.vocabSize !== tokenizer.vocab.length) {
    throw new Error(
      `model vocab_size ${model.vocabSize} does not match the vocabulary's ${tokenizer.vocab.length} tokens`,
    );
  }
  if (config.maxLength > model.maxPositions) {
    throw new Error(
      `config field 'maxLength' (${config.maxLength}) exceeds the model's max_position_embeddings (${model.maxPositions})`,
    );
  }
  const train = packSequences(
    tokenizer,
    corpusTokenIds(tokenizer, corpus.train),
    config.maxLength,
    corpus.origin,
  );
  const dev = firstSequences(
    packSequences(tokenizer, corpusTokenIds(tokenizer, corpus.dev), config.maxLength, corpus.devOrigin),
    MAX_DEV_SEQUENCES,
  );
  const masking = maskingFor(tokenizer, config.maskRate, config.wholeWordMask);
  const params = init?.params ?? initMlmModelParams(model, config.seed);
  return new TrainingRun({ ...config, task: 'mlm' }, model, params, train, dev, [], masking);
}

/**
 * The unigram baseline of a masked-LM run on its dev slice (the same masked tokens as `evaluateMasked`):
 * accuracy of always predicting the most frequent train token, and the dev cross-entropy of the train unigram
 * distribution (corpus.ts `unigramBaseline`). Train tokens counted: real, non-special ones.
 */
export function mlmUnigramBaseline(run: TrainingRun): { accuracy: number; loss: number; top: number } {
  const masking = run.masking;
  if (!masking) throw new Error('mlmUnigramBaseline: not a masked-LM run');
  const { inputIds, attentionMask } = run.train.rows(Array.from({ length: run.train.count }, (_, i) => i));
  const stream = inputIds.filter((id, i) => attentionMask[i] === 1 && !masking.specialIds.has(id));
  const labels = run.devMasking().flatMap(({ masked }) => [...masked.labels]);
  return unigramBaseline(stream, Int32Array.from(labels), masking.randomRange, masking.vocabSize);
}

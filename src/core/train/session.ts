/**
 * From text files to a ready TrainingRun: parse the task and vocabulary, tokenise once per max length
 * (cached), build the model for the config's size preset. Used by the worker and the CLI alike.
 */
import { modelConfigFor, type ModelConfig, type TrainConfig } from '../config.ts';
import { encodeSplit, parseTaskData, stratifiedSplit, type TaskData } from '../data/dataset.ts';
import { parseDataFile } from '../data/parse.ts';
import { errorMessage } from '../errors.ts';
import { initParams, type Params } from '../model/params.ts';
import { makeRng } from '../rng.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import type { EncodedSplit } from '../data/dataset.ts';
import { TrainingRun } from './run.ts';

export interface LoadedTask {
  data: TaskData;
  tokenizer: WordPieceTokenizer;
  /** Encoded splits by max length. */
  encoded: Map<number, { train: EncodedSplit; dev: EncodedSplit }>;
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
): LoadedTask {
  if (/\.json$/i.test(fileName)) return loadTask(text, vocabText, fileName, vocabOrigin);
  const { labels, examples } = parseDataFile(fileName, text);
  const { train, dev } = stratifiedSplit(examples, DEV_FRACTION, seed);
  return taskFromData({ name: fileName, source: fileName, labels, train, dev }, vocabText, vocabOrigin);
}

export function encodedSplits(
  task: LoadedTask,
  maxLength: number,
): { train: EncodedSplit; dev: EncodedSplit } {
  let splits = task.encoded.get(maxLength);
  if (!splits) {
    splits = {
      train: encodeSplit(task.tokenizer, task.data.train, maxLength),
      dev: encodeSplit(task.tokenizer, task.data.dev, maxLength),
    };
    task.encoded.set(maxLength, splits);
  }
  return splits;
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
  const model =
    init?.model ?? modelConfigFor(config.model, task.tokenizer.vocab.length, task.data.labels.length);
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

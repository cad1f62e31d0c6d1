/**
 * `alum pretrain`: masked-LM pre-training (standard or ALUM) of a BERT on a text corpus, writing a Hugging Face
 * `BertForMaskedLM` folder and metrics.jsonl. `alum train --init DIR/model` then fine-tunes the result.
 *   --corpus builtin   public/data/corpus.txt, with corpus-dev.txt as the dev slice (`npm run data` writes both)
 *   --corpus FILE      one document per line; --corpus DIR: every .txt file in it (sorted), one document a line
 *   --dev FILE         the dev slice; else a seeded 2% of the documents is held out (corpus.ts)
 *   --init DIR         continue from a checkpoint: a BertForMaskedLM keeps its MLM head, a bare BertModel (or a
 *                      classifier) gets a fresh one
 *   --dtype float16    write model.safetensors in F16 (half the size; the loader reads F16)
 * Ctrl-C stops after the current step and saves what was trained, as `alum train` does.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { ModelConfig, TrainConfig } from '../core/config.ts';
import { corpusDocuments, splitCorpus } from '../core/data/corpus.ts';
import { errorMessage } from '../core/errors.ts';
import { encodeSafetensors } from '../core/io/safetensors.ts';
import { hfFolderFiles } from '../core/model/hf.ts';
import { describeLoad, maskedLmParams } from '../core/model/hf-load.ts';
import type { Params } from '../core/model/params.ts';
import { makeRng } from '../core/rng.ts';
import { WordPieceTokenizer } from '../core/tokenizer/wordpiece.ts';
import { createMlmRun, mlmUnigramBaseline, ownInit, type Corpus } from '../core/train/session.ts';
import { corpusTokenIds, maskingFor, packSequences } from '../core/data/corpus.ts';
import { maskedBatchTensors, disposeBatch } from '../core/train/run.ts';
import { traceStep } from '../core/train/trace.ts';
import { disposeParams } from '../core/model/params.ts';
import { InputError, loadModelDir, readVocab, REPO_ROOT, type Io } from './files.ts';
import {
  checkMaxLength,
  configFrom,
  finishLine,
  initDirOf,
  outDirFlag,
  parse,
  rejectModelWithInit,
  RUN_FLAGS,
  saveRun,
  startBackend,
  startOutDir,
  trainLoop,
  UsageError,
} from './main.ts';

export const BUILTIN_CORPUS = join(REPO_ROOT, 'public/data/corpus.txt');
export const BUILTIN_CORPUS_DEV = join(REPO_ROOT, 'public/data/corpus-dev.txt');

/**
 * The adversarial weight for pre-training: the paper's 10 (1 for fine-tuning), as the released script passes it
 * (namisan/mt-dnn@efe63ad2a680ae584455426a7749e4367db12752 alum/alum_train.sh line 27, `--adv_alpha 10`).
 */
export const PRETRAIN_ALPHA = 10;

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new InputError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(e)})`}`,
    );
  }
}

/** The documents of a corpus file, or of every .txt file of a folder (sorted by name). */
async function readDocuments(path: string): Promise<string[]> {
  const isDir = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) return asInput(async () => corpusDocuments(await readText(path), path));
  const names = (await readdir(path)).filter((n) => n.toLowerCase().endsWith('.txt')).sort();
  if (names.length === 0) throw new InputError(`${path}: no .txt files in this folder`);
  const docs: string[] = [];
  for (const n of names)
    docs.push(...(await asInput(async () => corpusDocuments(await readText(join(path, n)), join(path, n)))));
  return docs;
}

async function asInput<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof InputError ? e : new InputError(errorMessage(e));
  }
}

/** `--corpus builtin|FILE|DIR` and `--dev FILE`: train and dev documents. */
export async function readCorpus(corpus: string, dev: string | null, seed: number): Promise<Corpus> {
  const builtin = corpus === 'builtin';
  const trainPath = builtin ? BUILTIN_CORPUS : corpus;
  const devPath = dev ?? (builtin ? BUILTIN_CORPUS_DEV : null);
  if (builtin) {
    await stat(BUILTIN_CORPUS).catch(() => {
      throw new InputError(`${BUILTIN_CORPUS}: missing; run 'npm run data' to prepare the built-in corpus`);
    });
  }
  const docs = await readDocuments(trainPath);
  if (devPath !== null) {
    return { train: docs, dev: await readDocuments(devPath), origin: trainPath, devOrigin: devPath };
  }
  const split = await asInput(() => Promise.resolve().then(() => splitCorpus(docs, seed, trainPath)));
  return { ...split, origin: trainPath, devOrigin: `${trainPath} (held-out 2%)` };
}

/** A checkpoint folder as BertForMaskedLM parameters (core/model/hf-load.ts maskedLmParams). */
async function mlmInit(
  dir: string,
  seed: number,
): Promise<{ model: ModelConfig; params: Params; vocabText: string; lowercase: boolean; head: string }> {
  const loaded = await loadModelDir(dir, seed);
  try {
    const { params, head } = maskedLmParams(loaded, seed);
    return {
      model: loaded.model,
      params,
      vocabText: loaded.vocabText,
      lowercase: loaded.lowercase,
      head: `${describeLoad(loaded.report)}; ${head}`,
    };
  } catch (e) {
    throw new InputError(errorMessage(e));
  }
}

function dtypeFlag(v: unknown): 'float32' | 'float16' {
  if (v === undefined || v === 'float32') return 'float32';
  if (v === 'float16') return 'float16';
  throw new UsageError(`--dtype must be float32 or float16, got ${JSON.stringify(v)}`);
}

export async function pretrain(argv: string[], io: Io): Promise<number> {
  const values = parse(argv, {
    ...RUN_FLAGS,
    corpus: { type: 'string' },
    dtype: { type: 'string' },
  });
  const corpusFlag = values['corpus'];
  if (typeof corpusFlag !== 'string' || corpusFlag === '')
    throw new UsageError('missing --corpus (builtin, a file or a folder)');
  const dtype = dtypeFlag(values['dtype']);
  rejectModelWithInit(values);
  if (typeof values['task'] === 'string' && values['task'] !== 'mlm')
    throw new UsageError('--task must be mlm for pretrain');
  const config: TrainConfig = configFrom(values, { alpha: PRETRAIN_ALPHA, task: 'mlm' });
  const initDir = initDirOf(values, config);
  const outDir = outDirFlag(values, 'runs/pretrain-');
  const choice = await startBackend(values, io);

  const corpus = await readCorpus(
    corpusFlag,
    typeof values['dev'] === 'string' ? values['dev'] : null,
    config.seed,
  );
  const init = initDir === null ? null : await mlmInit(initDir, config.seed);
  if (init) io.err(`init: ${init.head}`);
  const vocabText = init ? init.vocabText : await readVocab(io.defaultVocab);
  const lowercase = init?.lowercase ?? true;
  const run = await asInput(() =>
    Promise.resolve().then(() =>
      ownInit(init, () => {
        const tokenizer = WordPieceTokenizer.fromVocabText(vocabText, { lowercase });
        return createMlmRun(
          config,
          tokenizer,
          corpus,
          init ? { model: init.model, params: init.params } : undefined,
        );
      }),
    ),
  );
  const baseline = mlmUnigramBaseline(run);
  io.err(
    `pretrain: ${run.paramCount.toLocaleString('en')} parameters, ${run.train.count} train / ${run.dev.count} dev sequences of ${config.maxLength} ` +
      `(${corpus.train.length} / ${corpus.dev.length} documents), ${config.method}${config.method === 'alum' ? ` alpha ${config.alpha}` : ''}, ` +
      `${config.steps} steps, lr ${config.lr} -> ${outDir}`,
  );
  io.err(
    `unigram baseline on dev: accuracy ${(baseline.accuracy * 100).toFixed(2)}%, loss ${baseline.loss.toFixed(4)}`,
  );
  const metricsFile = await startOutDir(outDir);
  let lastDev = null as { loss: number; accuracy: number } | null;
  const { last, secs, stopped } = await trainLoop(
    run,
    io,
    metricsFile,
    async (row) => {
      if (row.step === 1)
        Object.assign(row, { unigramAccuracy: baseline.accuracy, unigramLoss: baseline.loss });
      if (run.evalDue) Object.assign(row, await run.evaluateDev());
    },
    (row, elapsed) => {
      if (row.devLoss !== undefined) lastDev = { loss: row.devLoss, accuracy: row.devAccuracy ?? NaN };
      if (row.devLoss !== undefined || run.step % 10 === 0) {
        const secs = elapsed();
        io.err(
          `step ${run.step}/${config.steps} mlm-loss ${row.taskLoss.toFixed(4)} acc ${((row.trainAccuracy ?? NaN) * 100).toFixed(1)}% ` +
            `adv ${row.advLoss.toExponential(2)}` +
            (row.devLoss !== undefined
              ? ` dev-loss ${row.devLoss.toFixed(4)} dev-acc ${((row.devAccuracy ?? NaN) * 100).toFixed(2)}%`
              : '') +
            ` ${(run.step / secs).toFixed(2)} steps/s`,
        );
      }
    },
    async () => {
      // What was trained is kept even when a step fails or the run is interrupted.
      const meta = { alum_config: JSON.stringify(run.config), steps_trained: String(run.step) };
      const files = await hfFolderFiles(run.params, run.model, [], config.dropout, vocabText, meta, {
        maskedLm: true,
        dtype,
        lowercase,
      });
      const summary = {
        config: run.config,
        model: run.model,
        backend: choice.backend,
        steps: run.step,
        corpus: {
          train: corpus.origin,
          dev: corpus.devOrigin,
          trainSequences: run.train.count,
          devSequences: run.dev.count,
        },
        unigramBaseline: baseline,
        init: initDir,
        dtype,
      };
      await saveRun(outDir, files, summary);
    },
  );
  io.err(
    finishLine(
      stopped,
      last?.step ?? 0,
      secs,
      lastDev
        ? `dev masked-token accuracy ${(lastDev.accuracy * 100).toFixed(2)}% (unigram ${(baseline.accuracy * 100).toFixed(2)}%)`
        : 'dev not evaluated',
      outDir,
    ),
  );
  io.out(
    JSON.stringify({
      out: outDir,
      steps: last?.step ?? 0,
      seconds: Number(secs.toFixed(1)),
      devAccuracy: lastDev?.accuracy ?? null,
      devLoss: lastDev?.loss ?? null,
      unigramAccuracy: baseline.accuracy,
      unigramLoss: baseline.loss,
      msPerStep: last ? Number(((secs * 1000) / last.step).toFixed(1)) : null,
    }),
  );
  return stopped ? 130 : 0;
}

/**
 * `alum trace --task mlm`: one ALUM step of a BertForMaskedLM (`--model DIR`; a bare encoder gets a fresh head
 * from the seed) on the first `batchSize` packed sequences of a corpus file (`--data`), masked from `--seed`,
 * dropout off. The trace has `mlm_positions`, `mlm_labels` and the logits at the masked positions only.
 */
export async function traceMlm(
  config: TrainConfig,
  modelDir: string,
  dataFile: string,
  outFile: string,
  backend: string,
  io: Io,
): Promise<void> {
  const init = await mlmInit(modelDir, config.seed);
  try {
    checkMaxLength(config, init.model);
    const docs = await readDocuments(dataFile);
    const tok = WordPieceTokenizer.fromVocabText(init.vocabText, { lowercase: init.lowercase });
    const split = await asInput(() =>
      Promise.resolve().then(() => packSequences(tok, corpusTokenIds(tok, docs), config.maxLength, dataFile)),
    );
    const rows = Array.from({ length: Math.min(config.batchSize, split.count) }, (_, i) => i);
    const masking = { ...maskingFor(tok, config.maskRate, config.wholeWordMask) };
    const batch = maskedBatchTensors(split, rows, masking, makeRng(config.seed));
    try {
      const t = await traceStep(init.params, init.model, batch, { ...config, batchSize: rows.length });
      const meta = {
        ...t.metadata,
        mask_rate: String(config.maskRate),
        whole_word_mask: String(config.wholeWordMask),
        model: modelDir,
        data: dataFile,
        backend,
      };
      await writeFile(outFile, encodeSafetensors(t.tensors, meta));
      io.err(
        `trace: ${t.tensors.size} tensors, batch ${rows.length} x ${config.maxLength}, ${batch.labels.shape[0]} masked tokens, in ${outFile}`,
      );
    } finally {
      disposeBatch(batch);
    }
  } finally {
    disposeParams(init.params);
  }
}

/**
 * `alum`: the playground's core, headless in Node, for batch runs.
 *   alum train     fine-tune with ALUM (or standard) and write metrics.jsonl + an HF-layout model
 *   alum trace     run one ALUM step with dropout off and dump every intermediate to safetensors
 *   alum pretrain  masked-LM pre-training (standard or ALUM) on a corpus -> a BertForMaskedLM folder (pretrain.ts)
 *   alum tokenize  text lines in, JSON arrays of ids out
 *   alum export-torch  the same run as a PyTorch folder (train_alum.py for python, torchrun, accelerate)
 * Bad input exits with code 2 and one line `error: ...` naming the file, line or flag (stack with --debug).
 */
import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { initBackend, NODE_CHAIN } from '../core/backend.ts';
import {
  BACKENDS,
  CONFIG_KEYS,
  defaultLr,
  flagName,
  PRETRAINED_MODELS,
  resolveConfig,
  type BackendName,
  type Init,
  type ModelConfig,
  type TrainConfig,
} from '../core/config.ts';
import { encodeSplit } from '../core/data/dataset.ts';
import { errorMessage } from '../core/errors.ts';
import { hfFolderFiles } from '../core/model/hf.ts';
import type { MetricRow } from '../core/metrics.ts';
import { findPreset, PRESETS } from '../core/presets.ts';
import { encodeSafetensors } from '../core/io/safetensors.ts';
import { batchTensors, disposeBatch } from '../core/train/run.ts';
import { createRun, ownInit } from '../core/train/session.ts';
import { traceStep } from '../core/train/trace.ts';
import { makeRng, shuffled } from '../core/rng.ts';
import { describeLoad, withLabels } from '../core/model/hf-load.ts';
import { disposeParams, paramsFromArrays, type Params } from '../core/model/params.ts';
import {
  InputError,
  loadDataFile,
  loadModelDir,
  nodeLoaders,
  readVocab,
  REPO_ROOT,
  type DataFileOptions,
  type Io,
} from './files.ts';
import { exportTorch, runConfig } from './export-torch.ts';
import { pretrain, traceMlm } from './pretrain.ts';
import { evalCommand } from './eval.ts';

export class UsageError extends Error {}

const USAGE = `usage:
  alum train [--preset P] [--init DIR] [--data FILE] [--dev FILE] [--problem classification|regression]
             [--steps N] [--seed S] [--backend B] [--out DIR] [config flags]   (data formats: docs/data-formats.md)
  alum trace --model DIR --data FILE --seed S --out FILE.safetensors [--batch-size N] [--max-length T]
             [--method alum --k K --alpha A --eta E --epsilon X --sigma S --variant V --norm N
              --inner-loss L --inner-reduction R --detach-embedding true|false]
             (--task mlm: --model a BertForMaskedLM folder, --data a text corpus; mlm_positions, mlm_labels)
  alum pretrain --corpus builtin|FILE|DIR [--dev FILE] [--init DIR] [--model M] [--steps N]
             [--method alum|standard] [--mask-rate R] [--whole-word-mask true|false] [--dtype float32|float16]
             [--backend B] [--out DIR] [config flags]   (BertForMaskedLM in DIR/model; alpha defaults to 10)
  alum tokenize --vocab FILE          (reads lines on stdin, writes one JSON array of ids per line)
  alum export-torch --out DIR [--model DIR] [--run DIR] [--data FILE] [--dev FILE] [--preset P] [config flags]
             (train_alum.py + config.json + README.md for python, torchrun, accelerate; docs/torch-export.md)
  alum eval --model DIR --data FILE --attack pgd|random|hotflip|typo|drop [--epsilon E] [--k K] [--budget B]
             [--seed S] [--max-examples N] [--max-length T] [--dev FILE] [--records FILE] [--json]
             (attacks the dev split with a trained model; docs/robustness.md)
config flags: ${CONFIG_KEYS.map((k) => `--${flagName(k)}`).join(' ')}
presets: ${PRESETS.map((p) => p.name).join(', ')}
backends: ${BACKENDS.join(', ')} (default: wasm, falling back to cpu)`;

const configOptions = Object.fromEntries(CONFIG_KEYS.map((k) => [flagName(k), { type: 'string' as const }]));

export function parse(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }>) {
  try {
    return parseArgs({
      args: argv,
      // `extra` last: `trace --model DIR` takes a directory, not the size preset of the config field `model`.
      options: { ...configOptions, ...extra, debug: { type: 'boolean' }, help: { type: 'boolean' } },
      allowPositionals: false,
      strict: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
}

/** Config from a preset, then the config flags (kebab-case), validated with one-line errors. */
export function configFrom(
  values: Record<string, string | boolean | undefined>,
  base?: Partial<TrainConfig>,
  skip: readonly (keyof TrainConfig)[] = [],
): TrainConfig {
  const patch: Record<string, unknown> = { ...base };
  for (const key of CONFIG_KEYS) {
    if (skip.includes(key)) continue;
    const v = values[flagName(key)];
    if (key === 'init') {
      if (typeof v === 'string') patch[key] = initOf(v);
    } else if (typeof v === 'string') patch[key] = v;
  }
  try {
    return resolveConfig(patch);
  } catch (e) {
    const msg = errorMessage(e);
    throw new UsageError(
      msg.replace(/config field '(\w+)'/, (_m, k: string) => `--${flagName(k as keyof TrainConfig)}`),
    );
  }
}

export function backendFlag(v: unknown): BackendName | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || !(BACKENDS as readonly string[]).includes(v)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join('|')}, got ${JSON.stringify(v)}`);
  }
  return v as BackendName;
}

function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`missing --${name}`);
  return v;
}

/** The flags `train` and `pretrain` share: a checkpoint to start from, a dev file, the backend, the folder. */
export const RUN_FLAGS = {
  init: { type: 'string' },
  dev: { type: 'string' },
  backend: { type: 'string' },
  out: { type: 'string' },
} as const satisfies Record<string, { type: 'string' | 'boolean' }>;

/** Makes `outDir`/model and an empty `outDir`/metrics.jsonl; returns the latter's path. */
export async function startOutDir(outDir: string): Promise<string> {
  await mkdir(join(outDir, 'model'), { recursive: true });
  const metricsFile = join(outDir, 'metrics.jsonl');
  await writeFile(metricsFile, '');
  return metricsFile;
}

/** Writes the model folder's files under `outDir`/model and `summary` as `outDir`/run.json. */
export async function saveRun(
  outDir: string,
  files: readonly { name: string; bytes: Uint8Array }[],
  summary: unknown,
): Promise<void> {
  for (const f of files) await writeAtomic(join(outDir, 'model', f.name), f.bytes);
  await writeAtomic(join(outDir, 'run.json'), JSON.stringify(summary, null, 2) + '\n');
}

/** The last line of `train` and `pretrain` on stderr: done or stopped, steps, time, the dev result, where. */
export function finishLine(
  stopped: boolean,
  steps: number,
  secs: number,
  dev: string,
  outDir: string,
): string {
  return (
    `${stopped ? 'stopped' : 'done'}: ${steps} steps in ${secs.toFixed(1)} s; ` + dev + `; saved to ${outDir}`
  );
}

/** What the training loop needs of a run (a classifier's or a masked-LM's). */
interface LoopRun {
  readonly done: boolean;
  trainStep(): Promise<MetricRow>;
  dispose(): void;
}

/**
 * `train`'s and `pretrain`'s loop: a step at a time until the run is done or stopped (Ctrl-C). `evaluate` adds
 * what is due to the row, which is then appended to `metricsFile` (also when evaluating throws: rows are appended
 * as they are produced, so an interrupted run keeps its metrics); `report` sees each row, with the seconds since
 * the start on request. Whatever happens, `save` then writes what was trained and the run is disposed. Returns
 * the last row, the seconds taken, and whether the run stopped before its end.
 */
export async function trainLoop(
  run: LoopRun,
  io: Io,
  metricsFile: string,
  evaluate: (row: MetricRow) => Promise<unknown>,
  report: (row: MetricRow, elapsed: () => number) => void,
  save: () => Promise<void>,
): Promise<{ last: MetricRow | null; secs: number; stopped: boolean }> {
  let last: MetricRow | null = null;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  try {
    while (!run.done && !io.stopRequested()) {
      const row = await run.trainStep();
      last = row;
      try {
        await evaluate(row);
      } finally {
        await appendFile(metricsFile, JSON.stringify(row) + '\n');
      }
      report(row, elapsed);
    }
  } finally {
    await save();
    run.dispose();
  }
  return { last, secs: elapsed(), stopped: !run.done };
}

/** `--init pretrained|random|DIR` as the config's `init` (a folder is a loaded model). */
export function initOf(flag: string | undefined): Init {
  if (flag === undefined || flag === 'random') return 'random';
  return flag === 'pretrained' ? 'pretrained' : 'loaded';
}

/** The model folder a run starts from: `--init DIR`, the built-in pre-trained one, or null (random weights). */
export function initDirOf(values: Record<string, unknown>, config: TrainConfig): string | null {
  if (config.init === 'random') return null;
  if (config.init === 'loaded') return values['init'] as string;
  const folder = PRETRAINED_MODELS[config.model];
  if (folder === undefined) throw new UsageError(`--init pretrained: no built-in '${config.model}' model`);
  return join(REPO_ROOT, 'public', folder);
}

/** `--model` and `--init DIR` together are refused: the checkpoint's config.json sets the model size. */
export function rejectModelWithInit(values: Record<string, unknown>): void {
  if (initOf(values['init'] as string | undefined) === 'loaded' && typeof values['model'] === 'string') {
    throw new UsageError(
      "--model cannot be combined with --init: the checkpoint's config.json sets the model size",
    );
  }
}

/** `--out`, or `${prefix}` and the current time (`:` and `.` as `-`), resolved. */
export function outDirFlag(values: Record<string, unknown>, prefix: string): string {
  return resolve(
    typeof values['out'] === 'string'
      ? values['out']
      : `${prefix}${new Date().toISOString().replace(/[:.]/g, '-')}`,
  );
}

/** Starts `--backend` (or the first of the Node chain that works) and says which, and why, on stderr. */
export async function startBackend(
  values: Record<string, unknown>,
  io: Io,
): Promise<Awaited<ReturnType<typeof initBackend>>> {
  const choice = await initBackend(backendFlag(values['backend']), NODE_CHAIN, nodeLoaders);
  io.err(`backend: ${choice.backend} (${choice.reason})`);
  return choice;
}

/** Refuses a --max-length beyond the model's max_position_embeddings. */
export function checkMaxLength(config: TrainConfig, model: ModelConfig): void {
  if (config.maxLength > model.maxPositions) {
    throw new UsageError(
      `--max-length ${config.maxLength} exceeds the model's max_position_embeddings ${model.maxPositions}`,
    );
  }
}

/** Writes a file through a temporary name and a rename, so a kill never leaves a half-written file. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** `--dev FILE` and `--problem classification|regression` (auto when absent: docs/data-formats.md). */
function dataFlags(values: Record<string, string | boolean | undefined>): DataFileOptions {
  const out: DataFileOptions = {};
  const problem = values['problem'];
  if (problem !== undefined) {
    if (problem !== 'classification' && problem !== 'regression') {
      throw new UsageError(`--problem must be classification or regression, got ${JSON.stringify(problem)}`);
    }
    out.problemType = problem;
  }
  if (typeof values['dev'] === 'string') out.dev = values['dev'];
  return out;
}

async function train(argv: string[], io: Io): Promise<number> {
  const values = parse(argv, {
    ...RUN_FLAGS,
    preset: { type: 'string' },
    data: { type: 'string' },
    problem: { type: 'string' },
  });
  const dataOptions = dataFlags(values);
  const preset = typeof values['preset'] === 'string' ? findPreset(values['preset']) : findPreset('default');
  // From a checkpoint the default learning rate is a fine-tuning one; a preset or --lr still overrides it.
  const fineTune = { lr: defaultLr(initOf(values['init'] as string | undefined)) };
  const config = configFrom(values, { ...fineTune, ...preset.patch });
  if (config.task === 'mlm') throw new UsageError('--task mlm: masked-LM pre-training is `alum pretrain`');
  rejectModelWithInit(values);
  const outDir = outDirFlag(values, 'runs/');
  const choice = await startBackend(values, io);

  const initDir = initDirOf(values, config);
  const loaded = initDir === null ? null : await loadModelDir(initDir, config.seed);
  const vocabText = loaded ? loaded.vocabText : await readVocab(io.defaultVocab);
  const task = await loadDataFile(
    typeof values['data'] === 'string' ? values['data'] : io.defaultData,
    vocabText,
    config.seed,
    { lowercase: loaded?.lowercase ?? true },
    dataOptions,
  );
  const fitted = loaded && withLabels(loaded, task.data.labels, config.seed);
  if (fitted) io.err(`init: ${describeLoad(fitted.report)}`);
  const init = fitted && {
    model: fitted.model,
    params: paramsFromArrays(fitted.model, fitted.arrays, fitted.report.name),
  };
  let run;
  try {
    run = ownInit(init, () => createRun(config, task, init ?? undefined));
  } catch (e) {
    throw new InputError(errorMessage(e));
  }
  io.err(
    `run: ${run.paramCount.toLocaleString('en')} parameters, ${task.data.train.length} train / ${task.data.dev.length} dev examples, ` +
      `labels ${task.data.labels.join('/')}, preset ${preset.name}, ${config.steps} steps, lr ${config.lr}` +
      `${init && values['lr'] === undefined ? ' (fine-tuning default from a checkpoint)' : ''} -> ${outDir}`,
  );
  // Rows are appended as they are produced, so an interrupted run keeps its metrics.
  const metricsFile = await startOutDir(outDir);
  let lastDev = null as number | null;
  let lastPearson = null as number | null; // regression runs report correlations instead of accuracy
  const { last, secs, stopped } = await trainLoop(
    run,
    io,
    metricsFile,
    (row) => run.evaluateDueInto(row), // dev metrics, and evalMs (added to ms), when due
    (row, elapsed) => {
      if (row.devAccuracy !== undefined) lastDev = row.devAccuracy;
      if (row.devPearson !== undefined) lastPearson = row.devPearson;
      if (row.devAccuracy !== undefined || run.step % 10 === 0) {
        const secs = elapsed();
        io.err(
          `step ${run.step}/${config.steps} task ${row.taskLoss.toFixed(4)} adv ${row.advLoss.toExponential(2)} ` +
            `dLinf ${row.deltaLinf.toExponential(2)}` +
            (row.devAccuracy !== undefined ? ` dev-acc ${(row.devAccuracy * 100).toFixed(2)}%` : '') +
            (row.devPearson !== undefined ? ` dev-pearson ${row.devPearson.toFixed(4)}` : '') +
            ` ${(run.step / secs).toFixed(2)} steps/s`,
        );
      }
    },
    async () => {
      // What was trained is kept even when a step fails or the run is interrupted: the current weights are written.
      const meta = { alum_config: JSON.stringify(config), steps_trained: String(run.step) };
      const files = await hfFolderFiles(
        run.params,
        run.model,
        task.data.labels,
        config.dropout,
        vocabText,
        meta,
        { lowercase: loaded?.lowercase ?? true },
      );
      const summary = {
        config,
        model: run.model,
        preset: preset.name,
        backend: choice.backend,
        steps: run.step,
      };
      await saveRun(outDir, files, summary);
    },
  );
  io.err(
    finishLine(
      stopped,
      last?.step ?? 0,
      secs,
      lastPearson !== null
        ? `dev Pearson ${lastPearson.toFixed(4)}`
        : `dev accuracy ${lastDev === null ? 'not evaluated' : `${(lastDev * 100).toFixed(2)}%`}`,
      outDir,
    ),
  );
  io.out(
    JSON.stringify({
      out: outDir,
      steps: last?.step ?? 0,
      seconds: Number(secs.toFixed(1)),
      devAccuracy: lastDev,
    }),
  );
  return stopped ? 130 : 0;
}

async function trace(argv: string[], io: Io): Promise<number> {
  const values = parse(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
  });
  const modelDir = required(values, 'model');
  const dataFile = required(values, 'data');
  const outFile = required(values, 'out');
  if (typeof values['seed'] !== 'string') throw new UsageError('missing --seed');
  const config = configFrom(values, { batchSize: 4, maxLength: 32 }, ['model']);
  const choice = await initBackend(backendFlag(values['backend']), NODE_CHAIN, nodeLoaders);
  if (config.task === 'mlm') {
    // A masked-LM step: --model is a BertForMaskedLM folder, --data a text corpus (src/cli/pretrain.ts).
    await traceMlm(config, modelDir, dataFile, outFile, choice.backend, io);
    return 0;
  }
  const init = await loadModelDir(modelDir, config.seed);
  let params: Params | null = null;
  try {
    const task = await loadDataFile(dataFile, init.vocabText, config.seed, { lowercase: init.lowercase });
    checkMaxLength(config, init.model);
    if (init.model.numLabels !== task.data.labels.length) {
      throw new UsageError(
        `${dataFile}: ${task.data.labels.length} labels, but ${modelDir}/config.json has ${init.model.numLabels}`,
      );
    }
    params = paramsFromArrays(init.model, init.arrays, modelDir);
    const examples = [...task.data.train, ...task.data.dev];
    const picked = shuffled(examples, makeRng(config.seed)).slice(
      0,
      Math.min(config.batchSize, examples.length),
    );
    const split = encodeSplit(task.tokenizer, picked, config.maxLength, task.data.problemType);
    const batch = batchTensors(
      split,
      picked.map((_, i) => i),
    );
    try {
      const t = await traceStep(params, init.model, batch, { ...config, batchSize: picked.length });
      const meta = {
        ...t.metadata,
        model: basename(resolve(modelDir)),
        data: basename(dataFile),
        backend: choice.backend,
      };
      await writeFile(outFile, encodeSafetensors(t.tensors, meta));
      io.err(
        `trace: ${t.tensors.size} tensors, batch ${picked.length} x ${config.maxLength}, loss_total in ${outFile}`,
      );
    } finally {
      disposeBatch(batch);
    }
  } finally {
    if (params) disposeParams(params);
  }
  return 0;
}

async function tokenize(argv: string[], io: Io): Promise<number> {
  const values = parse(argv, { vocab: { type: 'string' } });
  const vocabFile = required(values, 'vocab');
  const { WordPieceTokenizer } = await import('../core/tokenizer/wordpiece.ts');
  let tok;
  try {
    tok = WordPieceTokenizer.fromVocabText(await readVocab(vocabFile));
  } catch (e) {
    throw new UsageError(`${vocabFile}: ${errorMessage(e)}`);
  }
  const input = await io.readStdin();
  const lines = input.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) io.out(JSON.stringify(tok.encode(line.replace(/\r$/, '')).inputIds));
  return 0;
}

async function exportTorchCommand(argv: string[], io: Io): Promise<number> {
  const values = parse(argv, {
    out: { type: 'string' },
    model: { type: 'string' },
    run: { type: 'string' },
    data: { type: 'string' },
    dev: { type: 'string' },
    preset: { type: 'string' },
  });
  const out = required(values, 'out');
  const runDir = typeof values['run'] === 'string' ? values['run'] : null;
  const base = runDir === null ? {} : await runConfig(runDir);
  const preset = typeof values['preset'] === 'string' ? findPreset(values['preset']).patch : {};
  const modelDir =
    typeof values['model'] === 'string' ? values['model'] : runDir === null ? null : join(runDir, 'model');
  // As `alum train --init`: from a checkpoint the default learning rate is the fine-tuning one.
  const fineTune = modelDir !== null && runDir === null ? { lr: defaultLr('loaded') } : {};
  const config = configFrom(values, { ...fineTune, ...base, ...preset }, ['model']);
  const dataFile = typeof values['data'] === 'string' ? values['data'] : null;
  const devFile = typeof values['dev'] === 'string' ? values['dev'] : null;
  const files = await exportTorch({ out, config, modelDir, dataFile, devFile }, io);
  io.err(`export-torch: ${files.join(', ')} in ${resolve(out)}`);
  return 0;
}

/** Runs the CLI; returns the exit code. Never throws. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  const debug = rest.includes('--debug');
  try {
    if (command === undefined || command === '--help' || command === 'help' || rest.includes('--help')) {
      io.out(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === 'train') return await train(rest, io);
    if (command === 'trace') return await trace(rest, io);
    if (command === 'tokenize') return await tokenize(rest, io);
    if (command === 'pretrain') return await pretrain(rest, io);
    if (command === 'export-torch') return await exportTorchCommand(rest, io);
    if (command === 'eval') return await evalCommand(rest, io);
    throw new UsageError(
      `unknown command '${command}' (train, pretrain, trace, tokenize, export-torch, eval)`,
    );
  } catch (e) {
    const message = errorMessage(e);
    io.err(`error: ${message}`);
    if (debug && e instanceof Error && e.stack) io.err(e.stack);
    // 2: the input (flags, files) is wrong; 1: anything else (a non-finite loss, no backend, a full disk).
    return e instanceof UsageError || e instanceof InputError ? 2 : 1;
  } finally {
    tf.disposeVariables();
  }
}

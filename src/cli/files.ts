/**
 * The CLI's file side: reading model directories, data files and vocabularies with one-line errors that
 * name the file, and the Node backend loaders (wasm by default, Dawn's `webgpu` package when asked).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BackendLoaders } from '../core/backend.ts';
import type { ProblemType } from '../core/config.ts';
import { modelFilesToRead } from '../core/model/hf-files.ts';
import { loadHfModel, type LoadedHfModel } from '../core/model/hf-load.ts';
import { errorMessage } from '../core/errors.ts';
import { taskFromFile, withTokenizerOptions, type LoadedTask } from '../core/train/session.ts';
import type { TokenizerOptions } from '../core/tokenizer/wordpiece.ts';

/** A problem with a file the user gave (missing, unreadable, malformed): exit code 2. */
export class InputError extends Error {}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  readStdin(): Promise<string>;
  /** True once the user asked to stop (Ctrl-C): training ends after the current step and saves. */
  stopRequested(): boolean;
  /** The built-in task and vocabulary (prepared by `npm run data`). */
  defaultData: string;
  defaultVocab: string;
}

/** The repository's root folder (the built-in data and models live under its public/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const DEFAULT_DATA = join(REPO_ROOT, 'public/data/spam-assassin.json');
export const DEFAULT_VOCAB = join(REPO_ROOT, 'public/data/vocab.txt');

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file`);
    if (code === 'EISDIR') throw new Error(`${file}: is a directory, expected a file`);
    throw new Error(`${file}: cannot read (${code ?? String(e)})`);
  }
}

async function readVocabText(file: string): Promise<string> {
  const text = await readText(file);
  if (file === DEFAULT_VOCAB && text.length === 0)
    throw new Error(`${file}: empty; run 'npm run data' first`);
  return text;
}

/** A task from a data file: the built-in JSON task format, or a user TSV/CSV/JSONL split 90/10 (seeded). */
async function loadDataFileUnchecked(
  file: string,
  vocabText: string,
  seed: number,
  tokenizer: TokenizerOptions,
  data: DataFileOptions,
): Promise<LoadedTask> {
  const text = await readText(file).catch((e: unknown) => {
    if (file === DEFAULT_DATA)
      throw new Error(`${file}: missing; run 'npm run data' to prepare the default task`);
    throw e;
  });
  const dev = data.dev === undefined ? undefined : { name: data.dev, text: await readText(data.dev) };
  const options = {
    ...(dev === undefined ? {} : { dev }),
    ...(data.problemType === undefined ? {} : { problemType: data.problemType }),
  };
  return withTokenizerOptions(taskFromFile(file, text, vocabText, 'vocab.txt', seed, options), tokenizer);
}

/** `--dev FILE` (the dev split instead of a seeded 90/10 split) and `--problem` (docs/data-formats.md). */
export interface DataFileOptions {
  dev?: string;
  problemType?: ProblemType;
}

/**
 * A Hugging Face model folder: config.json, vocab.txt or tokenizer.json, model.safetensors or
 * pytorch_model.bin (core/model/hf-load.ts reads them; this only reads the files that exist).
 */
async function loadModelDirUnchecked(dir: string, seed: number): Promise<LoadedHfModel> {
  const present = await readdir(dir).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    // A missing folder is reported by the first file it should hold.
    if (code === 'ENOENT') throw new Error(`${join(dir, 'config.json')}: no such file`);
    throw new Error(
      `${dir}: ${code === 'ENOTDIR' ? 'not a directory' : `cannot read (${code ?? String(e)})`}`,
    );
  });
  const files = new Map<string, Uint8Array>();
  for (const name of modelFilesToRead(present)) {
    try {
      files.set(name, new Uint8Array(await readFile(join(dir, name))));
    } catch (e) {
      throw new Error(`${join(dir, name)}: cannot read (${(e as { code?: string }).code ?? String(e)})`);
    }
  }
  return loadHfModel(files, { name: dir, seed });
}

/** Runs `f`, turning any failure into an InputError (a problem with the user's files, exit code 2). */
async function asInput<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof InputError ? e : new InputError(errorMessage(e));
  }
}

export const readVocab = (file: string): Promise<string> => asInput(() => readVocabText(file));

/** A task from a data file: the built-in JSON task format, or a user TSV/CSV/JSONL split 90/10 (seeded). */
export const loadDataFile = (
  file: string,
  vocabText: string,
  seed: number,
  tokenizer: TokenizerOptions = {},
  data: DataFileOptions = {},
): Promise<LoadedTask> => asInput(() => loadDataFileUnchecked(file, vocabText, seed, tokenizer, data));

/** A Hugging Face model folder (safetensors or torch.save weights, vocab.txt or tokenizer.json). */
export const loadModelDir = (dir: string, seed: number): Promise<LoadedHfModel> =>
  asInput(() => loadModelDirUnchecked(dir, seed));

/**
 * Dawn for Node (the `webgpu` package) as `navigator.gpu`, then tfjs's webgpu backend. `flags` are Dawn's
 * (`enable-dawn-features=allow_unsafe_apis` exposes timestamp queries). Needs a Vulkan driver (README, "Tests and
 * benchmarks").
 */
export async function loadDawn(flags: string[] = []): Promise<void> {
  const { create, globals } = (await import('webgpu')) as unknown as {
    create: (flags: string[]) => unknown;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create(flags) }, configurable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
}

export const nodeLoaders: BackendLoaders = {
  wasm: async () => {
    await import('@tensorflow/tfjs-backend-wasm');
  },
  webgpu: () => loadDawn(),
};

/**
 * The CLI's file side: reading model directories, data files and vocabularies with one-line errors that
 * name the file, and the Node backend loaders (wasm by default, Dawn's `webgpu` package when asked).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BackendLoaders } from '../core/backend.ts';
import type { ModelConfig } from '../core/config.ts';
import { decodeCheckpoint, fromHfConfig } from '../core/model/hf.ts';
import type { Params } from '../core/model/params.ts';
import { makeRng } from '../core/rng.ts';
import { errorMessage } from '../core/errors.ts';
import { taskFromFile, type LoadedTask } from '../core/train/session.ts';

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

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const DEFAULT_DATA = join(repoRoot, 'public/data/spam-assassin.json');
export const DEFAULT_VOCAB = join(repoRoot, 'public/data/vocab.txt');

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
async function loadDataFileUnchecked(file: string, vocabText: string, seed: number): Promise<LoadedTask> {
  const text = await readText(file).catch((e: unknown) => {
    if (file === DEFAULT_DATA)
      throw new Error(`${file}: missing; run 'npm run data' to prepare the default task`);
    throw e;
  });
  return taskFromFile(file, text, vocabText, 'vocab.txt', seed);
}

/** An HF-layout model directory: config.json, model.safetensors, vocab.txt. */
async function loadModelDirUnchecked(
  dir: string,
  seed: number,
): Promise<{ model: ModelConfig; labels: string[]; params: Params; vocabText: string }> {
  const configFile = join(dir, 'config.json');
  let json: unknown;
  const configText = await readText(configFile);
  try {
    json = JSON.parse(configText);
  } catch {
    throw new Error(`${configFile}: not valid JSON`);
  }
  const { model, labels } = fromHfConfig(json, configFile);
  const weightsFile = join(dir, 'model.safetensors');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(weightsFile));
  } catch {
    throw new Error(`${weightsFile}: no such file (only safetensors checkpoints are read)`);
  }
  const vocabText = await readText(join(dir, 'vocab.txt'));
  // A checkpoint without a classification head gets a fresh seeded one (BERT init, std 0.02).
  const rng = makeRng(seed);
  const params = decodeCheckpoint(bytes, model, weightsFile, (name, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (name.endsWith('.weight')) for (let i = 0; i < n; i++) values[i] = rng.normal() * 0.02;
    return values;
  });
  return { model, labels, params, vocabText };
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
export const loadDataFile = (file: string, vocabText: string, seed: number): Promise<LoadedTask> =>
  asInput(() => loadDataFileUnchecked(file, vocabText, seed));

/** An HF-layout model directory: config.json, model.safetensors, vocab.txt. */
export const loadModelDir = (dir: string, seed: number) => asInput(() => loadModelDirUnchecked(dir, seed));

export const nodeLoaders: BackendLoaders = {
  wasm: async () => {
    await import('@tensorflow/tfjs-backend-wasm');
  },
  webgpu: async () => {
    // Dawn for Node (the `webgpu` package). Needs a Vulkan driver (README, "Tests and benchmarks").
    const { create, globals } = (await import('webgpu')) as unknown as {
      create: (flags: string[]) => unknown;
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, globals);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
  },
};

/**
 * `alum export-torch --out DIR [--model DIR] [--run DIR] [--data FILE] [--preset P] [config flags]`: writes the
 * PyTorch folder of `core/export/torch.ts` (train_alum.py, config.json, README.md, the model under model/ and
 * the data file when given). `--run DIR` is an `alum train` output folder: its run.json config and its model/
 * are the starting point (flags still override). Without a model the default vocabulary is copied, and the
 * script starts from random weights of the config's model size.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { validateConfigPatch, type TrainConfig } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import { fromHfConfig } from '../core/model/hf.ts';
import { SCRIPT_NAME, torchExportFiles, type ExportFile } from '../core/export/torch.ts';
import { InputError, readVocab, type Io } from './files.ts';

/** The script's one copy: the Python file beside the export module. */
export const SCRIPT_PATH = fileURLToPath(new URL(`../core/export/${SCRIPT_NAME}`, import.meta.url));

const MODEL_FILES = ['config.json', 'model.safetensors', 'vocab.txt'] as const;

async function readOrFail(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new InputError(
      `${file}: ${code === 'ENOENT' ? `no such file (${what})` : `cannot read (${code})`}`,
    );
  }
}

/** The HF folder's three files, checked to exist. */
export async function readModelFolder(dir: string): Promise<ExportFile[]> {
  const out: ExportFile[] = [];
  for (const name of MODEL_FILES) {
    out.push({
      name,
      bytes: new Uint8Array(await readOrFail(join(dir, name), 'a Hugging Face model folder')),
    });
  }
  return out;
}

/** The config of an `alum train` run folder (run.json), as a patch. */
export async function runConfig(dir: string): Promise<Partial<TrainConfig>> {
  const file = join(dir, 'run.json');
  const text = (await readOrFail(file, 'an `alum train` output folder')).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError(`${file}: not valid JSON`);
  }
  const config = (json as { config?: unknown } | null)?.config;
  if (typeof config !== 'object' || config === null) throw new InputError(`${file}: no 'config' object`);
  try {
    return validateConfigPatch(config as Record<string, unknown>);
  } catch (e) {
    throw new InputError(`${file}: ${errorMessage(e)}`);
  }
}

/** The script refuses a maxLength beyond the model's positions: say so now, naming the flag and the file. */
function checkMaxLength(model: readonly ExportFile[], dir: string, config: TrainConfig): void {
  const file = join(dir, 'config.json');
  const bytes = model.find((f) => f.name === 'config.json')?.bytes ?? new Uint8Array();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InputError(`${file}: not valid JSON`);
  }
  let positions: number;
  try {
    positions = fromHfConfig(json, file).model.maxPositions;
  } catch (e) {
    throw new InputError(errorMessage(e));
  }
  if (config.maxLength > positions) {
    throw new InputError(
      `--max-length ${config.maxLength} exceeds ${file}'s max_position_embeddings ${positions}`,
    );
  }
}

export interface ExportTorchOptions {
  out: string;
  config: TrainConfig;
  modelDir: string | null;
  dataFile: string | null;
  /** A dev file instead of the 90/10 split (`--dev`, as `alum train`). */
  devFile?: string | null;
}

/** Writes the folder; returns the paths written, relative to `out`. */
export async function exportTorch(o: ExportTorchOptions, io: Io): Promise<string[]> {
  const script = (await readOrFail(SCRIPT_PATH, 'the exported script')).toString('utf8');
  const model = o.modelDir === null ? undefined : await readModelFolder(o.modelDir);
  if (model && o.modelDir !== null) checkMaxLength(model, o.modelDir, o.config);
  const vocabText = model ? undefined : await readVocab(io.defaultVocab);
  const data =
    o.dataFile === null
      ? undefined
      : { name: o.dataFile, text: (await readOrFail(o.dataFile, 'a data file')).toString('utf8') };
  const dev =
    o.devFile === null || o.devFile === undefined
      ? undefined
      : { name: o.devFile, text: (await readOrFail(o.devFile, 'a dev file')).toString('utf8') };
  let files: ExportFile[];
  try {
    files = torchExportFiles({ script, config: o.config, model, vocabText, data, dev });
  } catch (e) {
    throw new InputError(errorMessage(e));
  }
  const root = resolve(o.out);
  for (const f of files) {
    const path = join(root, f.name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.bytes);
  }
  return files.map((f) => f.name);
}

/**
 * The page's "Export PyTorch script": the folder of `core/export/torch.ts` as one zip. The script is the real
 * Python file, imported as text (Vite's `?raw`); the model, when the page has trained one, comes from the
 * worker's existing model download (the same zip, unpacked under `model/`), so the HF layout has one owner.
 */
import { unzipSync, Zip, ZipDeflate, ZipPassThrough, zipSync, type Zippable } from 'fflate';

import type { TrainConfig } from './coreConfig.ts';
import { torchExportFiles, type ExportFile } from './coreConfig.ts';
import script from '../core/export/train_alum.py?raw';
import * as actions from './store/actions.ts';
import { activeRun, appStore } from './store/store.ts';

/** A fixed timestamp, so the same inputs give the same zip bytes (as the model download). */
const ZIP_MTIME = new Date('2020-04-29T00:00:00Z');

export interface TorchZipInput {
  config: TrainConfig;
  /** The model download's zip (config.json, model.safetensors, vocab.txt), when there is a trained model. */
  modelZip?: Uint8Array | undefined;
  /**
   * The user's data file, when the page trains on one (written as data.<ext>, read by default): its text, or
   * for a file the page streamed (over 8 MB, no text kept) the File's bytes.
   */
  data?: { name: string; text: string; bytes?: Uint8Array | undefined } | undefined;
  /** The user's dev file, when one replaces the 90/10 split (written as dev.<ext>). */
  dev?: { name: string; text: string; bytes?: Uint8Array | undefined } | undefined;
}

/** Files above this are stored, not deflated: a data file of hundreds of MB is zipped in a moment. */
const STORE_ABOVE = 8 * 1024 * 1024;

/** The zip's entries, all under one folder `alum-torch/`. */
function entries(input: TorchZipInput): Zippable {
  const model: ExportFile[] | undefined = input.modelZip
    ? Object.entries(unzipSync(input.modelZip)).map(([name, bytes]) => ({ name, bytes }))
    : undefined;
  const files = torchExportFiles({ script, config: input.config, model, data: input.data, dev: input.dev });
  return Object.fromEntries(
    files.map((f) => [
      `alum-torch/${f.name}`,
      [f.bytes, { level: f.bytes.length > STORE_ABOVE ? 0 : 6, mtime: ZIP_MTIME }],
    ]),
  );
}

export function torchZip(input: TorchZipInput): Uint8Array {
  return zipSync(entries(input));
}

/** Bytes fed to the zip between two yields to the event loop (CRC and copying of 4 MB: a few ms). */
const CHUNK = 4 * 1024 * 1024;

/**
 * The same files as `torchZip` (streamed zip records, so not the same bytes), built in 4 MB pieces with a yield
 * to the event loop between pieces: the page stays responsive while a data file of hundreds of MB is zipped.
 */
export async function torchZipAsync(input: TorchZipInput): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const failures: Error[] = [];
  const zip = new Zip((err, chunk) => {
    if (err) failures.push(err);
    else parts.push(chunk);
  });
  for (const [name, value] of Object.entries(entries(input))) {
    const [bytes, opts] = value as [Uint8Array, { level: 0 | 6 }];
    const file = opts.level === 0 ? new ZipPassThrough(name) : new ZipDeflate(name, { level: 6 });
    file.mtime = ZIP_MTIME;
    zip.add(file);
    let at = 0;
    do {
      const end = Math.min(bytes.length, at + CHUNK);
      file.push(bytes.subarray(at, end), end === bytes.length);
      at = end;
      if (at < bytes.length) await new Promise((r) => setTimeout(r, 0));
    } while (at < bytes.length);
  }
  zip.end();
  if (failures[0] !== undefined) throw failures[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * The zip for the page's current state: the active run's config (the form's when there is no run), its model
 * through the worker's model download when it has one, and the user's data file when one is loaded.
 */
export async function exportTorchZip(): Promise<{ fileName: string; blob: Blob }> {
  const state = appStore.getState();
  const run = activeRun(state);
  const config = run?.config ?? state.staged;
  const modelZip =
    run !== null && run.info !== null
      ? new Uint8Array(await (await actions.exportModel()).blob.arrayBuffer())
      : undefined;
  const staged = state.stagedData;
  let data: TorchZipInput['data'];
  if (staged?.file !== undefined) {
    // A streamed file: its bytes, read asynchronously (the File is not held as text).
    data = { name: staged.name, text: '', bytes: new Uint8Array(await staged.file.arrayBuffer()) };
  } else if (staged !== null && staged.text !== '') data = { name: staged.name, text: staged.text };
  const d = staged?.dev;
  const dev = d && {
    name: d.name,
    text: d.text,
    bytes: d.file && new Uint8Array(await d.file.arrayBuffer()),
  };
  const bytes = await torchZipAsync({ config, modelZip, data, dev });
  return { fileName: 'alum-torch.zip', blob: new Blob([bytes.slice()], { type: 'application/zip' }) };
}

/**
 * The user's data files in the worker: text sent by the page, or a File read as a stream (large files), and an
 * optional dev file. One entry is cached, so the run created right after a check does not read a 200 MB file
 * twice. Parsing and errors are core's (`src/core/data/parse.ts`); this only moves bytes.
 */
import { readDataStream, readDataText, type RawTable } from '../core/data/parse.ts';
import { taskFromTables, type LoadedTask } from '../core/train/session.ts';
import type { UserData } from '../protocol/messages.ts';

/** Called while a file streams: its name, bytes read, total bytes, rows so far. */
export type DataProgress = (file: string, bytes: number, total: number, rows: number) => void;

type UserFile = { name: string; text: string; file?: Blob };

async function readTable(f: UserFile, onProgress?: DataProgress): Promise<RawTable> {
  if (f.file === undefined) return readDataText(f.name, f.text);
  const total = f.file.size;
  return readDataStream(f.name, f.file.stream(), (bytes, rows) => onProgress?.(f.name, bytes, total, rows));
}

function fileKey(f: UserFile): string | null {
  if (f.file === undefined) return null;
  const modified = (f.file as Blob & { lastModified?: number }).lastModified ?? 0;
  return `${f.name}\u0000${f.file.size}\u0000${modified}`;
}

let cache: { key: string; task: LoadedTask } | null = null;

/** The task of a user's data (and dev) file; streamed files are cached by name, size, date, seed and vocabulary. */
export async function loadUserTask(
  data: UserData,
  vocabText: string,
  vocabOrigin: string,
  seed: number,
  onProgress?: DataProgress,
): Promise<LoadedTask> {
  const keys = [fileKey(data), data.dev ? fileKey(data.dev) : ''];
  const key = keys.includes(null) ? null : [...keys, seed, vocabOrigin].join('\u0001');
  if (key !== null && cache?.key === key) return cache.task;
  const train = await readTable(data, onProgress);
  const dev = data.dev ? await readTable(data.dev, onProgress) : null;
  const task = taskFromTables(train, dev, vocabText, vocabOrigin, seed);
  if (key !== null) cache = { key, task };
  return task;
}

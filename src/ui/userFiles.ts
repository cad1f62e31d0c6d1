/**
 * A picked File as the worker's `UserData`: small files are read as text here, larger ones are handed over as
 * the File itself and streamed by the worker with progress (docs/data-formats.md, "Large files").
 */
import type { UserData } from '../protocol/messages.ts';

/** Files above this are streamed by the worker instead of being read as text in the page. */
export const STREAM_BYTES = 8 * 1024 * 1024;

export async function userFile(file: File): Promise<{ name: string; text: string; file?: Blob }> {
  if (file.size > STREAM_BYTES) return { name: file.name, text: '', file };
  return { name: file.name, text: await file.text() };
}

/** A data file and an optional dev file as one `UserData`. */
export async function userData(file: File, dev: File | null = null): Promise<UserData> {
  const main = await userFile(file);
  return dev === null ? main : { ...main, dev: await userFile(dev) };
}

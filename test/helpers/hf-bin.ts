// Test helpers: the Hugging Face checkpoints of scripts/golden/make_hf_checkpoint.py (test/fixtures/hf-bin/).
import { readdirSync, readFileSync } from 'node:fs';

import { root } from './nano.ts';

export const hfBinDir = `${root}test/fixtures/hf-bin`;

export function hfBinBytes(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(`${hfBinDir}/${relative}`));
}

/** A fixture folder's files as name -> bytes, optionally only `names`. */
export function hfBinFolder(dir: string, names?: readonly string[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(`${hfBinDir}/${dir}`)) {
    if (!names || names.includes(name)) files.set(name, hfBinBytes(`${dir}/${name}`));
  }
  return files;
}

export interface HfBatch {
  input_ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
}

export interface HfExpected {
  texts: [string, string | null][];
  uncased: HfBatch;
  cased: HfBatch;
  logits_f32: number[][];
  logits_f16: number[][];
  pwned_marker: string;
}

export const hfExpected = (): HfExpected =>
  JSON.parse(readFileSync(`${hfBinDir}/expected.json`, 'utf8')) as HfExpected;

/** dtypes.json: torch's values of each tensor of dtypes.safetensors / dtypes.bin (infinities as strings). */
export function hfDtypes(): Record<string, { shape: number[]; values: number[] }> {
  const raw = JSON.parse(readFileSync(`${hfBinDir}/dtypes.json`, 'utf8')) as Record<
    string,
    { shape: number[]; values: (number | string)[] }
  >;
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k, { shape: v.shape, values: v.values.map((x) => Number(x)) }]),
  );
}

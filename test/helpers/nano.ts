// Test helpers: the nano-bert fixture (written by scripts/golden/make_golden.py) and its golden values.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../../src/core/config.ts';
import type { BertInputs } from '../../src/core/model/bert.ts';
import { decodeCheckpoint, fromHfConfig } from '../../src/core/model/hf.ts';
import type { Params } from '../../src/core/model/params.ts';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const fixtureDir = `${root}test/fixtures/nano-bert`;

export function readJson<T = unknown>(relative: string): T {
  return JSON.parse(readFileSync(`${root}${relative}`, 'utf8')) as T;
}

export function loadNano(): { model: ModelConfig; labels: string[]; params: Params } {
  const { model, labels } = fromHfConfig(readJson('test/fixtures/nano-bert/config.json'), 'config.json');
  const bytes = new Uint8Array(readFileSync(`${fixtureDir}/model.safetensors`));
  return { model, labels, params: decodeCheckpoint(bytes, model, 'model.safetensors') };
}

type Nested = number | Nested[];

export interface NanoGolden {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  labels: number[];
  embedding_output: Nested;
  embed_abs_mean: number;
  logits_clean: number[][];
  loss_task: number;
  delta_init: Nested;
  hyper: { K: number; eta: number; epsilon: number; alpha: number; sigma: number };
  variants: Record<
    string,
    {
      delta_grad: Nested[];
      delta: Nested[];
      delta_final: Nested;
      logits_adv: number[][];
      loss_adv: number;
      loss_total: number;
      eff_perturb: number;
      inner_grad_norm: number;
      delta_linf_mean: number;
      delta_l2_mean: number;
      grads: Record<string, Nested>;
    }
  >;
  standard: { loss_task: number; grads: Record<string, Nested> };
}

export function nanoBatch(g: NanoGolden): BertInputs & { labels: tf.Tensor1D } {
  return {
    inputIds: tf.tensor2d(g.input_ids, undefined, 'int32'),
    tokenTypeIds: tf.tensor2d(g.token_type_ids, undefined, 'int32'),
    attentionMask: tf.tensor2d(g.attention_mask, undefined, 'int32'),
    labels: tf.tensor1d(g.labels, 'int32'),
  };
}

export function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

/** Largest |a - b| / (atol + rtol |b|) over all entries; <= 1 means close. */
export function closeness(
  actual: ArrayLike<number>,
  expected: readonly number[],
  atol: number,
  rtol: number,
): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const a = actual[i] as number;
    worst = Math.max(worst, Math.abs(a - e) / (atol + rtol * Math.abs(e)));
  }
  return worst;
}

// Test helpers: the nano-bert fixture (written by scripts/golden/make_golden.py) and its golden values.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

import type { ModelConfig } from '../../src/core/config.ts';
import type { BertInputs } from '../../src/core/model/bert.ts';
import { decodeCheckpoint, fromHfConfig } from '../../src/core/model/hf.ts';
import type { Params } from '../../src/core/model/params.ts';
import type { StepScalars } from '../../src/core/train/run.ts';

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
      kl_init: number;
      kl_adv: number;
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

/** The masked batch the masked-LM goldens share (scripts/golden/make_mlm_golden.py). */
export interface MlmBatchGolden {
  masked_input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  positions: number[];
  labels: number[];
}

/** A masked-LM golden's batch as tensors: the masked ids, and the masked positions and their labels. */
export function mlmGoldenBatch(
  g: MlmBatchGolden,
): BertInputs & { labels: tf.Tensor1D; mlmPositions: tf.Tensor1D } {
  return {
    inputIds: tf.tensor2d(g.masked_input_ids, undefined, 'int32'),
    tokenTypeIds: tf.tensor2d(g.token_type_ids, undefined, 'int32'),
    attentionMask: tf.tensor2d(g.attention_mask, undefined, 'int32'),
    labels: tf.tensor1d(g.labels, 'int32'),
    mlmPositions: tf.tensor1d(g.positions, 'int32'),
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

/**
 * Expects every entry of `actual` within `rel * scale + rtol * |expected|` of `expected`, where `scale` is the
 * largest |expected| (at least `floor`): golden tensors span many orders of magnitude, so the absolute part of
 * the tolerance follows each tensor's own scale. `what` names the tensor in the failure message.
 */
export function expectNear(
  actual: ArrayLike<number>,
  expected: readonly number[],
  what: string,
  { rel = 1e-4, rtol = 1e-3, floor = 0 }: { rel?: number; rtol?: number; floor?: number } = {},
): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), floor);
  expect(closeness(actual, expected, rel * scale, rtol), what).toBeLessThan(1);
}

/** The charted step metrics under the golden files' names (scripts/golden/make_golden.py). */
export interface GoldenStepMetrics {
  loss_task: number;
  loss_adv: number;
  loss_total: number;
  inner_grad_norm: number;
  delta_linf_mean: number;
  delta_l2_mean: number;
  eff_perturb: number;
  kl_init: number;
  kl_adv: number;
}

/**
 * Expects the step's read-back metrics to match a golden step (dropout off: dropoutKl 0, nothing skipped).
 * 1e-7 absolute: a KL of two nearly equal distributions is a difference of float32 log-probabilities.
 */
export function expectStepMetrics(
  got: StepScalars,
  want: GoldenStepMetrics,
  extra: Partial<StepScalars> = {},
): void {
  const expected: Partial<StepScalars> = {
    taskLoss: want.loss_task,
    advLoss: want.loss_adv,
    totalLoss: want.loss_total,
    innerGradNorm: want.inner_grad_norm,
    deltaLinf: want.delta_linf_mean,
    deltaL2: want.delta_l2_mean,
    effPerturb: want.eff_perturb,
    klInit: want.kl_init,
    klAdv: want.kl_adv,
    dropoutKl: 0,
    skippedNow: 0,
    ...extra,
  };
  for (const [name, value] of Object.entries(expected)) {
    expectNear([got[name as keyof StepScalars]], [value], name, { rel: 1e-5, rtol: 1e-4, floor: 1e-2 });
  }
}

/** A tensor's values as a plain array (async readback). */
export async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** A scalar tensor's value. */
export async function scalar(t: tf.Tensor): Promise<number> {
  return (await t.data())[0] as number;
}

// ALUM on the masked-LM head against the independent PyTorch float64 reference (test/golden/alum-mlm-cases.json,
// scripts/golden/make_mlm_golden.py; docs/alum-step.md "Masked-LM pre-training"): logits at the masked positions
// only, the masked-token cross-entropy, the KLs over those M rows; K = 1 and 2, `paper` and `mtdnn-2020`, kl and
// stable-kl, all three reductions, detach on and off. Checked: the inner gradient and delta after every inner step,
// the losses and metrics, and every parameter gradient (the tied word embedding included).
import { readFileSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  expectDeltaFinal,
  expectInnerSteps,
  expectLogitsAdv,
  expectParamGrads,
  runGoldenAlum,
  type GoldenAlumCase,
  type Nested,
} from '../../../test/helpers/golden-alum.ts';
import {
  expectNear,
  expectStepMetrics,
  flat,
  mlmGoldenBatch,
  readJson,
  root,
  values,
  type MlmBatchGolden,
} from '../../../test/helpers/nano.ts';
import { decodeSafetensors } from '../io/safetensors.ts';
import { fromHfConfig } from '../model/hf.ts';
import { WORD_EMBEDDINGS } from '../model/mlm.ts';
import { disposeParams, variableFrom, type Params } from '../model/params.ts';
import { disposeStepResult } from './alum.ts';
import { disposeBatch, readStepScalars, stepScalars } from './run.ts';

interface MlmCase extends GoldenAlumCase {
  logits_clean: Nested;
}

interface MlmAlumGolden extends MlmBatchGolden {
  delta_init: Nested;
  cases: MlmCase[];
}

const FIXTURE = 'test/fixtures/nano-bert-mlm';
const golden = readJson<MlmAlumGolden>('test/golden/alum-mlm-cases.json');
const { model } = fromHfConfig(readJson(`${FIXTURE}/config.json`), 'config.json');
const file = decodeSafetensors(new Uint8Array(readFileSync(`${root}${FIXTURE}/model.safetensors`)));
const params: Params = new Map();
for (const [name, t] of file.tensors) params.set(name, variableFrom(t.data as Float32Array, t.shape));

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(params));

function runCase(c: MlmCase) {
  const [b, t] = [golden.masked_input_ids.length, golden.masked_input_ids[0]?.length ?? 0];
  const batch = mlmGoldenBatch(golden);
  const deltaInit = tf.tensor3d(flat(golden.delta_init), [b, t, model.hiddenSize]);
  const result = runGoldenAlum(params, model, batch, c, deltaInit);
  return { batch, result };
}

describe('the ALUM-MLM golden', () => {
  it('covers K = 1 and 2, paper and mtdnn-2020, kl and stable-kl, every reduction, detach on and off', () => {
    const cs = golden.cases.map((c) => c.config);
    expect(new Set(cs.map((c) => c.k))).toEqual(new Set([1, 2]));
    expect(new Set(cs.map((c) => c.variant))).toEqual(new Set(['paper', 'mtdnn-2020']));
    expect(new Set(cs.map((c) => c.innerLoss))).toEqual(new Set(['kl', 'stable-kl']));
    expect(new Set(cs.map((c) => c.innerReduction))).toEqual(new Set(['sum', 'batchmean', 'elementmean']));
    expect(new Set(cs.map((c) => c.detachEmbedding))).toEqual(new Set([true, false]));
    for (const c of golden.cases) expect(c.config.alpha).toBe(10);
  });
});

describe.each(golden.cases)('ALUM-MLM case $name vs PyTorch float64', (c) => {
  it('logits at the masked positions only, inner gradients and deltas after every inner step match', async () => {
    const { batch, result } = runCase(c);
    const m = golden.positions.length;
    expect(result.logitsClean.shape).toEqual([m, model.vocabSize]);
    expectNear(await values(result.logitsClean), flat(c.logits_clean), 'logits_clean', { rel: 1e-5 });
    expect(result.deltaGrads).toHaveLength(c.config.k);
    await expectInnerSteps(result, c);
    await expectDeltaFinal(result, c);
    await expectLogitsAdv(result, c);
    disposeStepResult(result);
    disposeBatch(batch);
  });

  it('losses (masked-token CE, sym-KL over the masked rows) and the charted metrics match', async () => {
    const { batch, result } = runCase(c);
    const got = readStepScalars(await stepScalars(result, batch.attentionMask).data());
    // klInit (here 1e-5..1e-3) sums V = 40 float32 log-probability differences per masked row: 2.4e-7 off at
    // worst (3e-4 relative), above the shared 1e-7 + 1e-4 relative; it gets 1e-3 relative, the rest as shared.
    expectStepMetrics(got, c, { klInit: got.klInit });
    expectNear([got.klInit], [c.kl_init], 'klInit', { rel: 1e-3 });
    disposeStepResult(result);
    disposeBatch(batch);
  });

  it('every parameter gradient matches, the tied word embedding included', async () => {
    const { batch, result } = runCase(c);
    await expectParamGrads(result, c);
    expect(result.grads.has(WORD_EMBEDDINGS)).toBe(true);
    disposeStepResult(result);
    disposeBatch(batch);
  });
});

/**
 * A trace of one ALUM step with dropout off, as named arrays for a safetensors file: inputs, embedding
 * output, delta at init and after each inner step, the inner gradients, clean and adversarial logits, the
 * three losses, and the gradient of the total loss for every parameter under its HF name. The metadata
 * records every setting under the config names plus the numeric conventions, so a learner can recompute the
 * step in NumPy or PyTorch.
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig, TrainConfig } from '../config.ts';
import type { NamedArray } from '../io/safetensors.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import type { Params } from '../model/params.ts';
import { alumGradients, disposeStepResult, NORM_EPS, type AlumSettings } from './alum.ts';
import type { Batch } from './run.ts';

export interface Trace {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

async function f32(t: tf.Tensor): Promise<NamedArray> {
  return { dtype: 'F32', shape: t.shape.slice(), data: (await t.data()) as Float32Array };
}

async function i32(t: tf.Tensor): Promise<NamedArray> {
  return { dtype: 'I32', shape: t.shape.slice(), data: Int32Array.from(await t.data()) };
}

export type TraceSettings = AlumSettings &
  Pick<TrainConfig, 'sigma' | 'seed' | 'batchSize' | 'maxLength' | 'advDropout'>;

/** Runs one step (no optimizer update) and collects everything. The batch stays owned by the caller. */
export async function traceStep(
  params: Params,
  model: ModelConfig,
  batch: Batch,
  s: TraceSettings,
): Promise<Trace> {
  const [b, t] = batch.inputIds.shape;
  const deltaInit =
    s.method === 'alum'
      ? (tf.randomNormal([b, t, model.hiddenSize], 0, s.sigma, 'float32', s.seed) as tf.Tensor3D)
      : null;
  const r = alumGradients(params, model, batch, s, {
    dropout: { clean: NO_DROPOUT, inner: Array.from({ length: s.k }, () => NO_DROPOUT), adv: NO_DROPOUT },
    deltaInit,
    record: true,
  });
  try {
    const out = new Map<string, NamedArray>();
    out.set('input_ids', await i32(batch.inputIds));
    out.set('attention_mask', await i32(batch.attentionMask));
    out.set('token_type_ids', await i32(batch.tokenTypeIds));
    if (batch.mlmPositions) {
      // Masked LM: the flat positions b*T + t of the masked tokens [M] and their original ids [M]; the logits
      // below are at those positions only ([M, V]).
      out.set('mlm_positions', await i32(batch.mlmPositions));
      out.set('mlm_labels', await i32(batch.labels));
    } else {
      // Class ids as I32; regression targets (a float32 labels tensor) as F32, so 2.5 stays 2.5.
      out.set('labels', await (batch.labels.dtype === 'float32' ? f32 : i32)(batch.labels));
    }
    out.set('embedding_output', await f32(r.embedding));
    out.set('logits_clean', await f32(r.logitsClean));
    if (r.deltaInit) out.set('delta_init', await f32(r.deltaInit));
    for (let k = 0; k < r.deltaGrads.length; k++)
      out.set(`delta_grad.${k}`, await f32(r.deltaGrads[k] as tf.Tensor));
    for (let k = 0; k < r.deltaSteps.length; k++)
      out.set(`delta_step.${k}`, await f32(r.deltaSteps[k] as tf.Tensor));
    if (r.deltaFinal) out.set('delta_final', await f32(r.deltaFinal));
    if (r.logitsAdv) out.set('logits_adv', await f32(r.logitsAdv));
    out.set('loss_task', await f32(r.taskLoss));
    out.set('loss_adv', await f32(r.advLoss));
    out.set('loss_total', await f32(r.totalLoss));
    out.set('kl_init', await f32(r.klInit));
    out.set('kl_adv', await f32(r.klAdv));
    for (const [name, g] of r.grads) out.set(`grad.${name}`, await f32(g));
    const metadata: Record<string, string> = {
      task: batch.mlmPositions ? 'mlm' : 'classify',
      method: s.method,
      alpha: String(s.alpha),
      k: String(s.k),
      eta: String(s.eta),
      epsilon: String(s.epsilon),
      sigma: String(s.sigma),
      variant: s.variant,
      seed: String(s.seed),
      batchSize: String(b),
      maxLength: String(t),
      dropout: '0',
      inner_loss: s.innerLoss,
      inner_reduction: s.innerReduction,
      norm: s.norm,
      norm_eps: NORM_EPS[s.variant].toExponential(),
      detach_embedding: String(s.detachEmbedding),
      adv_dropout: s.advDropout,
      outer_loss: batch.mlmPositions
        ? 'symmetric KL, mean over the masked positions, stop-gradient on the target distribution of each KL'
        : 'symmetric KL, batch mean, stop-gradient on the target distribution of each KL',
      spec: 'docs/alum-step.md',
      skipped: String((await r.skipped.data())[0] === 1),
      attention_mask_value: '-10000',
    };
    return { tensors: out, metadata };
  } finally {
    disposeStepResult(r);
  }
}

/**
 * A trace of one training step with dropout off, as named arrays for a safetensors file: inputs, embedding
 * output, the perturbation at init and after each inner step, the inner gradients, the inner loss after each
 * inner step, clean and adversarial logits, the three losses, and the gradient of the total loss for every
 * parameter under its HF name. Every method with a perturbation is traced by its own step (`methodGradients`,
 * docs/alum-step.md "Relatives"): ALUM, and r3f (the noise, no inner step), fgm (one step), pgd (K steps),
 * freelb (K passes: `delta_step.t` is delta_{t+1}) and smart (ALUM's step; the EMA copy is the one given, by
 * default the current weights, as on the first SMART step, where the proximal term is 0). The metadata records
 * every setting under the config names plus the numeric conventions, so a learner can recompute the step in
 * NumPy or PyTorch.
 */
import * as tf from '@tensorflow/tfjs';

import type { Method, ModelConfig, TrainConfig } from '../config.ts';
import type { NamedArray } from '../io/safetensors.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import type { Params } from '../model/params.ts';
import {
  disposeStepResult,
  headLogits,
  NORM_EPS,
  stepInnerLoss,
  taskLoss,
  type AlumStepResult,
  type HeadInputs,
} from './alum.ts';
import {
  FREELB_MIN_NORM,
  hooksFor,
  initialPerturbation,
  methodGradients,
  type MethodSettings,
} from './methods.ts';
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

export type TraceSettings = MethodSettings &
  Pick<TrainConfig, 'sigma' | 'seed' | 'batchSize' | 'maxLength' | 'advDropout' | 'noiseType' | 'smartBeta'>;

/** The loss a method's inner steps climb, at logits z [B, C] or [M, V]: its hook's, ALUM's, or FreeLB's task loss. */
function innerObjective(
  s: MethodSettings,
  labels: tf.Tensor1D,
): (h: HeadInputs, z: tf.Tensor2D, zClean: tf.Tensor2D) => tf.Scalar {
  if (s.method === 'freelb') return (h, z) => taskLoss(h, z, labels);
  return hooksFor(s, labels).innerObjective ?? ((h, z, zClean) => stepInnerLoss(h, s, z, zClean));
}

/**
 * The inner loss at each recorded inner state (`delta_step.k` [B, T, H]), dropout off: what each inner step
 * reached. The last one is the step's own `kl_adv` (the adversarial pass runs at that state). For `mtdnn-2020`
 * the state is a_k, while the next gradient is taken at a_k + delta_0 (docs/alum-step.md). -> one scalar each
 */
function innerLossAfterSteps(
  r: AlumStepResult,
  head: HeadInputs,
  s: MethodSettings,
  labels: tf.Tensor1D,
): tf.Scalar[] {
  const objective = innerObjective(s, labels);
  return r.deltaSteps.map((d) =>
    tf.tidy(() =>
      objective(head, headLogits(head, r.embedding.add(d) as tf.Tensor3D, NO_DROPOUT), r.logitsClean),
    ),
  );
}

/** What the step computes, per method, for the metadata (docs/alum-step.md, "Relatives"); `mlm` on masked LM. */
function methodMetadata(s: TraceSettings, mlm: boolean): Record<string, string> {
  const where = mlm ? 'mean over the masked positions' : 'batch mean';
  const alumOuter = `symmetric KL, ${where}, stop-gradient on the target distribution of each KL`;
  const unused = 'unused';
  const table: Record<Method, Record<string, string>> = {
    standard: { outer_loss: 'none (standard training)' },
    alum: { outer_loss: alumOuter },
    smart: {
      outer_loss: `${alumOuter}; plus smart_mu * symmetric KL (no stop-gradient) against the EMA copy's logits`,
      smart_mu: String(s.smartMu),
      smart_beta: String(s.smartBeta),
      smart_ema:
        'the weights given (the CLI: the current weights, so the proximal term and its gradient are 0)',
    },
    r3f: {
      outer_loss: `symmetric KL, ${where}, no stop-gradient; no inner step (k unused)`,
      noise_type: s.noiseType,
      variant: unused,
      norm_eps: unused,
    },
    fgm: {
      outer_loss: `task loss at e + r, r = epsilon g / ||g||_2 per example (one step from 0; k, eta, sigma unused)`,
      variant: unused,
      norm_eps: '1e-6 inside the norm, 1e-12 on max |g|',
    },
    pgd: {
      outer_loss: `task loss at e + delta_K; inner steps on the task loss with variant paper`,
      variant: 'paper',
      norm_eps: NORM_EPS.paper.toExponential(),
    },
    freelb: {
      outer_loss: "mean of the K passes' task losses at delta_0..delta_{K-1}; delta_step.t is delta_{t+1}",
      variant: unused,
      norm_eps: FREELB_MIN_NORM.toExponential(),
    },
  };
  return table[s.method];
}

/**
 * Runs one step of `s.method` (no optimizer update) and collects everything. delta_0 is drawn from `s.seed` by
 * the method's own initialisation. `ema` is SMART's EMA copy (default: `params`, as on SMART's first step). The
 * batch stays owned by the caller.
 */
export async function traceStep(
  params: Params,
  model: ModelConfig,
  batch: Batch,
  s: TraceSettings,
  ema: Params = params,
): Promise<Trace> {
  const [b, t] = batch.inputIds.shape;
  const deltaInit = initialPerturbation(s, [b, t, model.hiddenSize], batch.attentionMask, () => s.seed);
  const dropout = {
    clean: NO_DROPOUT,
    inner: Array.from({ length: s.k }, () => NO_DROPOUT),
    adv: NO_DROPOUT,
  };
  const r = methodGradients(params, model, batch, s, { dropout, deltaInit, record: true }, ema);
  const head: HeadInputs = { params, model, attentionMask: batch.attentionMask };
  if (batch.mlmPositions) head.positions = batch.mlmPositions;
  const innerLosses: tf.Scalar[] = [];
  try {
    innerLosses.push(...innerLossAfterSteps(r, head, s, batch.labels));
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
    for (let k = 0; k < innerLosses.length; k++)
      out.set(`inner_loss.${k}`, await f32(innerLosses[k] as tf.Tensor));
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
      ...methodMetadata(s, batch.mlmPositions !== undefined),
      spec: 'docs/alum-step.md',
      skipped: String((await r.skipped.data())[0] === 1),
      attention_mask_value: '-10000',
    };
    return { tensors: out, metadata };
  } finally {
    tf.dispose(innerLosses);
    disposeStepResult(r);
  }
}

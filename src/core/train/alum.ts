/**
 * ALUM (Liu et al. 2020, arXiv 2004.08994, Algorithm 1) on the embedding-layer output of our BERT:
 *
 *   delta_0 ~ N(0, sigma^2), zero on padding                              (line 3)
 *   for k in 1..K:                                                         (line 4)
 *     g_k = d/d delta  sum_b KL(p_clean,b || p(e + delta))                  (line 5; p_clean constant)
 *     delta = variant update (see `updateDelta`), then zero on padding     (line 6)
 *   loss = CE(f(e), y) + alpha * symKL(f(e), f(e + delta_K))               (line 8)
 *
 * Paper symbol -> config name: alpha -> alpha, K -> k, eta -> eta, epsilon -> epsilon, sigma -> sigma
 * (mt-dnn's `--adv_noise_var`, which is really a standard deviation, ALUM.md §1.3).
 * Conventions that the trace metadata records: inner loss KL(clean || adversarial), summed over the batch
 * (mt-dnn); `normEps` added to the per-token max before dividing; the embedding is not detached in the
 * adversarial branch (mt-dnn HEAD), so the adversarial term also trains the embedding tables.
 * Differences from the released code, on purpose: padding is masked out of delta (mt-dnn bug B5) and a
 * non-finite inner gradient skips the adversarial term for the batch instead of crashing (bug B2).
 */
import * as tf from '@tensorflow/tfjs';

import type { Method, ModelConfig, Variant } from '../config.ts';
import { classify, embed, type BertInputs, type DropoutPass } from '../model/bert.ts';
import type { Params } from '../model/params.ts';
import { crossEntropy, klRows, symmetricKl } from './losses.ts';

export interface AlumSettings {
  method: Method;
  alpha: number;
  k: number;
  eta: number;
  epsilon: number;
  sigma: number;
  variant: Variant;
}

/** Guard added to the per-token max before dividing: mt-dnn's 1e-6, and a pure divide-by-zero guard for `paper`. */
export const NORM_EPS: Readonly<Record<Variant, number>> = {
  paper: 1e-12,
  'mtdnn-2020': 1e-6,
  'mtdnn-head': 1e-6,
};

export const INNER_LOSS = 'kl';
export const INNER_REDUCTION = 'sum';
export const DETACH_EMBEDDING = false;

/** Per-token L-inf norm: max over the hidden axis of |x|. x [B, T, H] -> [B, T, 1] */
export function tokenMaxAbs(x: tf.Tensor3D): tf.Tensor3D {
  return x.abs().max(-1, true);
}

/**
 * One inner-step update of delta for a variant (ALUM.md §2.4). All tensors [B, T, H]; mask [B, T, 1].
 * Returns the new delta (zero on padding) and |eta * g / den|, the gradient's share (mt-dnn `eff_perturb`).
 */
export function updateDelta(
  delta: tf.Tensor3D,
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  variant: Variant,
  eta: number,
  epsilon: number,
): { delta: tf.Tensor3D; eff: tf.Tensor3D } {
  return tf.tidy(() => {
    const normEps = NORM_EPS[variant];
    let den: tf.Tensor3D;
    let next: tf.Tensor3D;
    if (variant === 'paper') {
      // Normalised ascent step, then projection onto the L-inf ball of radius epsilon.
      den = tokenMaxAbs(g).add(normEps);
      next = delta.add(g.mul(eta).div(den)).clipByValue(-epsilon, epsilon) as tf.Tensor3D;
    } else if (variant === 'mtdnn-2020') {
      // mt-dnn 2020-04-28: eta * g / ||g||_inf per token; the initial noise is dropped.
      den = tokenMaxAbs(g).add(normEps);
      next = g.mul(eta).div(den) as tf.Tensor3D;
    } else {
      // mt-dnn HEAD: rescale (delta + eta g) onto the unit L-inf sphere per token (not a projection, I #224).
      const raw = delta.add(g.mul(eta)) as tf.Tensor3D;
      den = tokenMaxAbs(raw).add(normEps);
      next = raw.div(den) as tf.Tensor3D;
    }
    const eff = g.mul(eta).div(den).abs().mul(mask) as tf.Tensor3D;
    return { delta: next.mul(mask) as tf.Tensor3D, eff };
  });
}

/** Inner objective: sum_b KL(p_clean,b || p_adv,b) with the clean logits treated as a constant. -> scalar */
export function innerLoss(cleanLogits: tf.Tensor2D, advLogits: tf.Tensor2D): tf.Scalar {
  return klRows(cleanLogits, advLogits).sum();
}

/** Gradient of the inner loss w.r.t. delta at `delta`. e, delta [B, T, H] -> [B, T, H] */
export function deltaGradient(
  params: Params,
  model: ModelConfig,
  e: tf.Tensor3D,
  cleanLogits: tf.Tensor2D,
  attentionMask: tf.Tensor2D,
  delta: tf.Tensor3D,
  dropout: DropoutPass,
): tf.Tensor3D {
  // tf.grad differentiates only w.r.t. its argument: e, cleanLogits and the parameters are constants here.
  const f = (d: tf.Tensor) =>
    innerLoss(cleanLogits, classify(params, model, e.add(d) as tf.Tensor3D, attentionMask, dropout));
  return tf.grad(f)(delta) as tf.Tensor3D;
}

export interface AlumDropout {
  /** The clean pass; replayed exactly inside the outer gradient so p_clean is the same function twice. */
  clean: DropoutPass;
  /** One fresh pass per inner step. */
  inner: DropoutPass[];
  /** The final adversarial pass. */
  adv: DropoutPass;
}

export interface AlumStepResult {
  /** d loss_total / d parameter, by HF name. */
  grads: Map<string, tf.Tensor>;
  taskLoss: tf.Scalar;
  /** Outer symmetric KL (0 for `standard` or a skipped batch). */
  advLoss: tf.Scalar;
  totalLoss: tf.Scalar;
  /** Embedding-layer output of the clean pass [B, T, H]. */
  embedding: tf.Tensor3D;
  logitsClean: tf.Tensor2D;
  logitsAdv: tf.Tensor2D | null;
  deltaInit: tf.Tensor3D | null;
  /** Gradient of the inner loss at each inner step (only the last one unless `record`). */
  deltaGrads: tf.Tensor3D[];
  /** delta after each inner step (only when `record`). */
  deltaSteps: tf.Tensor3D[];
  deltaFinal: tf.Tensor3D | null;
  /** |eta g / den| of the last inner step [B, T, H], zero on padding. */
  eff: tf.Tensor3D | null;
  /** True when the inner gradient was not finite and the adversarial term was dropped for this batch. */
  skipped: boolean;
}

export interface AlumStepOptions {
  dropout: AlumDropout;
  /** delta_0 [B, T, H]; taken over by the step (disposed or returned as `deltaInit`). Null for `standard`. */
  deltaInit: tf.Tensor3D | null;
  /** Keep every inner step's gradient and delta (for traces). */
  record: boolean;
}

export function disposeStepResult(r: AlumStepResult): void {
  tf.dispose([...r.grads.values()]);
  tf.dispose([r.taskLoss, r.advLoss, r.totalLoss, r.embedding, r.logitsClean]);
  const maybe: (tf.Tensor | null)[] = [
    r.logitsAdv,
    r.deltaInit,
    r.deltaFinal,
    r.eff,
    ...r.deltaGrads,
    ...r.deltaSteps,
  ];
  tf.dispose(maybe.filter((t): t is tf.Tensor => t !== null));
}

/**
 * One ALUM (or standard) gradient computation on a batch. Returns tensors owned by the caller
 * (`disposeStepResult`). Async because the finiteness check of the inner gradient reads one number back.
 */
export async function alumGradients(
  params: Params,
  model: ModelConfig,
  batch: BertInputs & { labels: tf.Tensor1D },
  s: AlumSettings,
  opts: AlumStepOptions,
): Promise<AlumStepResult> {
  const adversarial = s.method === 'alum' && opts.deltaInit !== null;
  const deltaGrads: tf.Tensor3D[] = [];
  const deltaSteps: tf.Tensor3D[] = [];
  let delta: tf.Tensor3D | null = null;
  let eff: tf.Tensor3D | null = null;
  let skipped = false;
  let deltaInit: tf.Tensor3D | null = null;
  let mask3: tf.Tensor3D | null = null;
  let embedding: tf.Tensor3D | null = null;
  let cleanConst: tf.Tensor2D | null = null;
  let taskLoss: tf.Scalar | null = null;
  let advLoss: tf.Scalar | null = null;
  let logitsClean: tf.Tensor2D | null = null;
  let logitsAdv: tf.Tensor2D | null = null;
  let value: tf.Scalar;
  let grads: tf.NamedTensorMap;
  try {
    mask3 = tf.tidy(() => batch.attentionMask.toFloat().expandDims(-1) as tf.Tensor3D); // [B, T, 1]
    const m3 = mask3;

    // 1) Inner loop on a constant snapshot of the embedding output and clean logits (no parameter grads).
    embedding = embed(params, model, batch, opts.dropout.clean); // [B, T, H]
    const e0 = embedding;
    cleanConst = classify(params, model, e0, batch.attentionMask, opts.dropout.clean); // [B, C]
    const zc = cleanConst;
    if (adversarial && opts.deltaInit) {
      deltaInit = tf.tidy(() => (opts.deltaInit as tf.Tensor3D).mul(m3) as tf.Tensor3D);
      opts.deltaInit.dispose();
      delta = deltaInit.clone();
      for (let k = 0; k < s.k; k++) {
        const pass = opts.dropout.inner[k] ?? opts.dropout.adv;
        const g: tf.Tensor3D = deltaGradient(params, model, e0, zc, batch.attentionMask, delta, pass);
        deltaGrads.push(g);
        const upd = updateDelta(delta, g, m3, s.variant, s.eta, s.epsilon);
        delta.dispose();
        eff?.dispose();
        delta = upd.delta;
        eff = upd.eff;
        if (opts.record) deltaSteps.push(upd.delta.clone());
        else tf.dispose(deltaGrads.splice(0, deltaGrads.length - 1)); // keep only the last gradient
      }
      // One readback per step: a NaN/Inf anywhere in the ascent shows up in the last gradient or in delta.
      const check = tf.tidy(() => {
        const last = deltaGrads[deltaGrads.length - 1];
        const gSum = last ? last.abs().sum() : tf.scalar(0);
        return tf.stack([gSum, (delta as tf.Tensor3D).abs().sum()]);
      });
      const [gSum, dSum] = await check.data();
      check.dispose();
      skipped = !Number.isFinite(gSum) || !Number.isFinite(dSum);
    }
    const useAdv = adversarial && !skipped && delta !== null;
    const dFinal = delta;

    // 2) Gradient of task loss + alpha * symKL w.r.t. all parameters; the clean pass replays its dropout.
    const varList = [...params.values()];
    ({ value, grads } = tf.variableGrads(() => {
      const e = embed(params, model, batch, opts.dropout.clean);
      const zClean = classify(params, model, e, batch.attentionMask, opts.dropout.clean);
      const task = crossEntropy(zClean, batch.labels);
      taskLoss = tf.keep(task.clone());
      logitsClean = tf.keep(zClean.clone());
      if (!useAdv || !dFinal) return task;
      const zAdv = classify(
        params,
        model,
        e.add(dFinal) as tf.Tensor3D,
        batch.attentionMask,
        opts.dropout.adv,
      );
      const adv = symmetricKl(zClean, zAdv);
      advLoss = tf.keep(adv.clone());
      logitsAdv = tf.keep(zAdv.clone());
      return task.add(adv.mul(s.alpha)) as tf.Scalar;
    }, varList));
  } catch (e) {
    // A failing step (out of memory, a lost device, a kernel error) frees everything it made.
    const made: (tf.Tensor | null)[] = [
      mask3,
      embedding,
      cleanConst,
      deltaInit,
      delta,
      eff,
      taskLoss,
      advLoss,
    ];
    made.push(logitsClean, logitsAdv, ...deltaGrads, ...deltaSteps);
    if (opts.deltaInit && !opts.deltaInit.isDisposed) opts.deltaInit.dispose();
    tf.dispose(made.filter((t): t is tf.Tensor => t !== null && !t.isDisposed));
    throw e;
  }
  cleanConst.dispose();
  mask3.dispose();

  const byName = new Map<string, tf.Tensor>();
  for (const [name, v] of params) {
    const g = grads[v.name];
    byName.set(name, g ?? tf.zerosLike(v));
  }
  if (skipped) {
    // A skipped batch reports no perturbation: its delta was not finite and was not used.
    tf.dispose([delta, eff, ...deltaGrads, ...deltaSteps].filter((t): t is tf.Tensor3D => t !== null));
    deltaGrads.length = 0;
    deltaSteps.length = 0;
    delta = null;
    eff = null;
  }
  return {
    grads: byName,
    taskLoss: taskLoss as unknown as tf.Scalar,
    advLoss: (advLoss as tf.Scalar | null) ?? tf.scalar(0),
    totalLoss: value,
    embedding,
    logitsClean: logitsClean as unknown as tf.Tensor2D,
    logitsAdv,
    deltaInit,
    deltaGrads,
    deltaSteps,
    deltaFinal: delta,
    eff,
    skipped,
  };
}

/**
 * The ALUM step (Liu et al. 2020, arXiv 2004.08994, Algorithm 1) on the embedding-layer output of our BERT,
 * with every variant and option of docs/alum-step.md, which cites the paper and mt-dnn line by line:
 *
 *   e = embed(ids), z_c = f(e)                       clean pass, recorded for the parameter gradient
 *   delta_0 ~ N(0, sigma^2), zero on padding
 *   K inner steps: g_k = d innerLoss(f(e + x_k), z_c) / d x_k, then the variant's update  (`innerAscent`)
 *   loss = CE(z_c, y) + alpha * symKL(z_c, f(e' + sg delta_K)), e' = e or sg(e)             (`alumGradients`)
 *
 * The inner ascent runs inside the recording of the outer gradient: (K + 2) forward and (K + 2) backward passes
 * per step, and on every backend but wasm the clean rows run stacked with the first inner step's and with the
 * adversarial ones (`pairLogits`, `stacksPasses`): the kernels of K + 1 forward passes (docs/alum-step.md,
 * "Cost"). Paper symbol -> config name: alpha, K -> k, eta,
 * epsilon, sigma (mt-dnn's `--adv_noise_var`, which is a standard deviation).
 * The output head is the one varying part (`headLogits`, `taskLoss`, `stepInnerLoss`, `outerAdvLoss`); the inner loop
 * is shared:
 *   - classification: logits [B, C], cross-entropy task loss, the configured KL inside, sym-KL outside;
 *   - regression (`model.problemType === 'regression'`, one output): MSE task loss, MSE 'sum' inside and an MSE
 *     with no stop-gradient outside (docs/alum-step.md, "Regression");
 *   - masked LM (`batch.mlmPositions` given): logits at the M masked positions [M, V] (mlm.ts), the masked-token
 *     cross-entropy as task loss, and the KLs over those M rows only (docs/alum-step.md, "Masked-LM
 *     pre-training"). The perturbation is still on the whole embedding output [B, T, H], zero on padding.
 * Differences from the released code, on purpose: padding is masked out of delta (mt-dnn leaves noise there),
 * and a non-finite inner gradient drops the adversarial term for the batch instead of crashing (as fairseq's
 * ALUM criterion does; mt-dnn HEAD returns 0 where it expects three values).
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig, Norm, TrainConfig, Variant } from '../config.ts';
import { classify, embed, encode, type BertInputs, type Dropout, type DropoutPass } from '../model/bert.ts';
import { sameMasks, withSharedMasks } from '../model/dropout.ts';
import { maskedLmLoss, mlmLogits } from '../model/mlm.ts';
import type { Params } from '../model/params.ts';
import { runsWgsl } from '../model/wgsl.ts';
import {
  crossEntropy,
  innerLoss,
  mseBetween,
  mseLoss,
  mseSum,
  reduceRows,
  symmetricKl,
  symmetricKlParts,
} from './losses.ts';
import { detach, releaseAbandonedTape } from './tape.ts';
import { updateDeltaWebgpu } from './webgpu-delta.ts';

/** The settings the step reads: a view of the run's config. */
export type AlumSettings = Pick<
  TrainConfig,
  | 'method'
  | 'alpha'
  | 'k'
  | 'eta'
  | 'epsilon'
  | 'variant'
  | 'innerLoss'
  | 'innerReduction'
  | 'detachEmbedding'
  | 'norm'
>;

/**
 * Guard added to the per-token norm before dividing: mt-dnn's 1e-6 (`--adv_epsilon`), and a pure
 * divide-by-zero guard for `paper`. `paper-raw` does not divide.
 */
export const NORM_EPS: Readonly<Record<Variant, number>> = {
  paper: 1e-12,
  'paper-raw': 0,
  'mtdnn-2020': 1e-6,
  'mtdnn-head': 1e-6,
};

/** Per-token norm over the hidden axis: max |x| or sqrt(sum x^2). x [B, T, H] -> [B, T, 1] */
export function tokenNorm(x: tf.Tensor3D, norm: Norm): tf.Tensor3D {
  return tf.tidy(
    () => (norm === 'inf' ? x.abs().max(-1, true) : x.square().sum(-1, true).sqrt()) as tf.Tensor3D,
  );
}

/** Projection onto the per-token ball of radius epsilon: clip for L-inf, rescale for L2. [B, T, H] */
export function projectToBall(x: tf.Tensor3D, epsilon: number, norm: Norm): tf.Tensor3D {
  return tf.tidy(() => {
    if (norm === 'inf') return x.clipByValue(-epsilon, epsilon) as tf.Tensor3D;
    const scale = tf.scalar(epsilon).div(tf.maximum(tokenNorm(x, 'l2'), epsilon)); // [B, T, 1], <= 1
    return x.mul(scale) as tf.Tensor3D;
  });
}

/** The inner ascent's state: `delta` for every variant but `mtdnn-2020`, where it is the accumulated `a_k`. */
interface AscentState {
  delta0: tf.Tensor3D;
  current: tf.Tensor3D;
}

/** Where the k-th inner gradient is taken: the current delta, or a_{k-1} + delta_0 for `mtdnn-2020`. */
function ascentPoint(variant: Variant, s: AscentState): tf.Tensor3D {
  return variant === 'mtdnn-2020' ? (s.current.add(s.delta0) as tf.Tensor3D) : s.current.clone();
}

/**
 * One inner-step update (docs/alum-step.md, "Inner ascent"). current, g [B, T, H]; mask [B, T, 1].
 * Returns the new state (zero on padding) and |eta g / den|, the gradient's part (mt-dnn `eff_perturb`).
 * On webgpu two WGSL programs (webgpu-delta.ts); elsewhere `updateDeltaOps`.
 */
export function updateDelta(
  current: tf.Tensor3D,
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  s: Pick<AlumSettings, 'variant' | 'eta' | 'epsilon' | 'norm'>,
): { next: tf.Tensor3D; eff: tf.Tensor3D } {
  if (runsWgsl()) return updateDeltaWebgpu(current, g, mask, { ...s, normEps: NORM_EPS[s.variant] });
  return updateDeltaOps(current, g, mask, s);
}

/** `updateDelta` in plain tfjs ops: every backend's form, and the reference of the WGSL one. */
export function updateDeltaOps(
  current: tf.Tensor3D,
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  s: Pick<AlumSettings, 'variant' | 'eta' | 'epsilon' | 'norm'>,
): { next: tf.Tensor3D; eff: tf.Tensor3D } {
  return tf.tidy(() => {
    const step = g.mul(s.eta) as tf.Tensor3D; // eta g
    let part: tf.Tensor3D; // eta g / den, the gradient's part
    let next: tf.Tensor3D;
    switch (s.variant) {
      case 'paper': // normalised ascent, then projection onto the ball
        part = step.div(tokenNorm(g, s.norm).add(NORM_EPS.paper));
        next = projectToBall(current.add(part) as tf.Tensor3D, s.epsilon, s.norm);
        break;
      case 'paper-raw': // Algorithm 1, line 6, as printed: no normalisation
        part = step;
        next = projectToBall(current.add(step) as tf.Tensor3D, s.epsilon, s.norm);
        break;
      case 'mtdnn-2020': // a_k = a_{k-1} + eta g / (n(g) + 1e-6)
        part = step.div(tokenNorm(g, s.norm).add(NORM_EPS['mtdnn-2020']));
        next = current.add(part) as tf.Tensor3D;
        break;
      case 'mtdnn-head': {
        // rescale (delta + eta g) onto the unit sphere of the norm (not a projection)
        const raw = current.add(step) as tf.Tensor3D;
        const den = tokenNorm(raw, s.norm).add(NORM_EPS['mtdnn-head']);
        part = step.div(den);
        next = raw.div(den) as tf.Tensor3D;
        break;
      }
    }
    const eff = part.abs().mul(mask) as tf.Tensor3D;
    return { next: next.mul(mask) as tf.Tensor3D, eff };
  });
}

/** Dropout passes of one step: clean, one per inner step, and the adversarial pass (see `dropoutPlan`). */
export interface AlumDropout {
  clean: DropoutPass;
  inner: DropoutPass[];
  adv: DropoutPass;
}

/** Tensors of the inner ascent, owned by the caller. */
export interface InnerResult {
  /** delta_K (a_K for `mtdnn-2020`) [B, T, H], recorded: detach it before use in a loss. */
  deltaFinal: tf.Tensor3D;
  /** Gradient of each inner step (only the last one unless `record`) [B, T, H]. */
  deltaGrads: tf.Tensor3D[];
  /** The state after each inner step (only when `record`). */
  deltaSteps: tf.Tensor3D[];
  /** |eta g / den| of the last step [B, T, H], zero on padding; zeros when K = 0. */
  eff: tf.Tensor3D;
  /** Inner loss at the first point x_1 (NaN when K = 0: there is no inner pass). */
  klInit: tf.Scalar;
  /** sum |g_k| over all steps + sum |delta_K|: finite iff the whole ascent was. */
  checksum: tf.Scalar;
}

/**
 * A batch of the step. Classification/regression: labels [B]. Masked LM: `mlmPositions` int32 [M] (flat indices
 * b*T + t of the masked tokens, `maskTokens`), `labels` int32 [M] the original ids there, `inputIds` the
 * corrupted ids. `mlmPositions` must outlive the step (the head's backward pass reads it).
 */
export type StepBatch = BertInputs & { labels: tf.Tensor1D; mlmPositions?: tf.Tensor1D };

/** What the head needs besides the embedding output: weights, shape, mask, and the MLM positions (or none). */
export interface HeadInputs {
  params: Params;
  model: ModelConfig;
  attentionMask: tf.Tensor2D;
  /** Masked-LM positions [M]; absent: the classification/regression head. */
  positions?: tf.Tensor1D;
}

/**
 * The step's head on an embedding output: logits [B, C] (classifier), or [M, V] at the masked positions (MLM).
 * A list of passes: `e` is that many batches stacked on axis 0, `h` their stacked inputs (`stackHead`).
 */
export function headLogits(h: HeadInputs, e: tf.Tensor3D, pass: Dropout): tf.Tensor2D {
  const { params, model, attentionMask, positions } = h;
  if (!positions) return classify(params, model, e, attentionMask, pass);
  return tf.tidy(() => mlmLogits(params, model, encode(params, model, e, attentionMask, pass), positions));
}

/**
 * The head's inputs for two copies of the batch stacked on axis 0: the attention mask [2B, T], and the MLM
 * positions (flat indices b T + t) shifted into the second copy's rows [2M].
 */
export function stackHead(h: HeadInputs): HeadInputs {
  const [b, t] = h.attentionMask.shape;
  const stacked: HeadInputs = { ...h, attentionMask: tf.concat([h.attentionMask, h.attentionMask]) };
  const pos = h.positions;
  if (pos) stacked.positions = tf.tidy(() => tf.concat([pos, pos.add(b * t) as tf.Tensor1D]));
  return stacked;
}

/** Frees what `stackHead` made. */
function disposeStacked(stacked: HeadInputs): void {
  stacked.attentionMask.dispose();
  stacked.positions?.dispose();
}

/**
 * Two forward passes in one: the head on [a; b] stacked on the batch axis, a under `passes[0]`, b under
 * `passes[1]`. Each row gets what its own pass would give (every layer works row by row), and the kernels of
 * one pass run instead of two, forward and backward (docs/performance.md). stacked: `stackHead` of the step's
 * inputs; a, b [B, T, H] -> the logits of a and of b, each [B, C] (or [M, V]).
 */
export function pairLogits(
  stacked: HeadInputs,
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  passes: readonly [DropoutPass, DropoutPass],
): [tf.Tensor2D, tf.Tensor2D] {
  return tf.tidy(() => {
    const both = headLogits(stacked, tf.concat([a, b]) as tf.Tensor3D, passes); // [2B, C] or [2M, V]
    return tf.split(both, 2) as [tf.Tensor2D, tf.Tensor2D];
  });
}

export interface InnerInputs extends HeadInputs {
  /** Embedding output [B, T, H]: a constant of the ascent. */
  embedding: tf.Tensor3D;
  /**
   * The ascent's target, clean logits [B, C] or [M, V], given; or made by the first inner step, whose pass then
   * runs stacked with the clean pass (`pairLogits` on `stacked`, the clean rows under `cleanPass`).
   */
  target: { cleanLogits: tf.Tensor2D } | { stacked: HeadInputs; cleanPass: DropoutPass };
  /** attentionMask as float [B, T, 1]. */
  mask3: tf.Tensor3D;
}

/**
 * The inner ascent: K gradient steps on the perturbation, each through the encoder under its own dropout
 * pass. Only delta is differentiated (`tf.valueAndGrad` w.r.t. its argument), so the embedding, the clean
 * logits and the parameters are constants here.
 */
export function innerAscent(
  inp: InnerInputs,
  delta0: tf.Tensor3D,
  s: AlumSettings,
  passes: readonly DropoutPass[],
  record: boolean,
  hooks: StepHooks = {},
): InnerResult {
  const objective = hooks.innerObjective ?? ((h, z, zc) => stepInnerLoss(h, s, z, zc));
  const update = hooks.update ?? ((cur, g, mask) => updateDelta(cur, g, mask, s));
  const given = 'cleanLogits' in inp.target ? inp.target.cleanLogits : null;
  let made: tf.Tensor2D | null = null; // the clean logits of the first inner step's stacked pass (kept)
  const lossAt = (pass: DropoutPass) => (x: tf.Tensor) => {
    const point = inp.embedding.add(x) as tf.Tensor3D;
    const target = given ?? made;
    if (target) return objective(inp, headLogits(inp, point, pass), target);
    if ('cleanLogits' in inp.target) throw new Error('internal: no clean logits');
    const { stacked, cleanPass } = inp.target;
    const [zc, z] = pairLogits(stacked, inp.embedding, point, [cleanPass, pass]);
    made = tf.keep(zc);
    return objective(inp, z, zc);
  };
  const state: AscentState = {
    delta0,
    current: s.variant === 'mtdnn-2020' ? tf.zerosLike(delta0) : delta0.clone(),
  };
  const deltaGrads: tf.Tensor3D[] = [];
  const deltaSteps: tf.Tensor3D[] = [];
  let eff: tf.Tensor3D | null = null; // zeros when K = 0 (made at the end: no ZerosLike for K >= 1)
  let klInit: tf.Scalar = tf.scalar(NaN);
  let gradAbs: tf.Scalar | null = null; // sum |g_k| so far
  try {
    for (let k = 0; k < s.k; k++) {
      const pass = passes[k];
      if (!pass) throw new Error(`no dropout pass for inner step ${k + 1}`);
      const x = ascentPoint(s.variant, state);
      const { value, grad } = tf.valueAndGrad(lossAt(pass))(x);
      const g = grad as tf.Tensor3D; // [B, T, H]
      x.dispose();
      if (k === 0) {
        klInit.dispose();
        klInit = value;
      } else value.dispose();
      const upd = update(state.current, g, inp.mask3);
      const absSum = g.abs().sum() as tf.Scalar;
      const sum: tf.Scalar = gradAbs ? (gradAbs.add(absSum) as tf.Scalar) : absSum; // 0 + a = a: no Add at first
      if (gradAbs) absSum.dispose();
      tf.dispose([state.current, ...(eff ? [eff] : []), ...(gradAbs ? [gradAbs] : [])]);
      [state.current, eff, gradAbs] = [upd.next, upd.eff, sum];
      deltaGrads.push(g);
      if (record) deltaSteps.push(upd.next.clone());
      else tf.dispose(deltaGrads.splice(0, deltaGrads.length - 1)); // keep only the last gradient
    }
  } catch (e) {
    (made as tf.Tensor2D | null)?.dispose(); // kept past valueAndGrad's scope; the step's scope frees the rest
    throw e;
  }
  const deltaAbs = state.current.abs().sum() as tf.Scalar;
  const checksum = gradAbs ? (gradAbs.add(deltaAbs) as tf.Scalar) : deltaAbs;
  tf.dispose([...(gradAbs ? [gradAbs, deltaAbs] : []), ...(made ? [made] : [])]);
  return {
    deltaFinal: state.current,
    deltaGrads,
    deltaSteps,
    eff: eff ?? tf.zerosLike(delta0),
    klInit,
    checksum,
  };
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
  /** Clean (and adversarial) logits: [B, C], or [M, V] at the masked positions for MLM. */
  logitsClean: tf.Tensor2D;
  logitsAdv: tf.Tensor2D | null;
  deltaInit: tf.Tensor3D | null;
  /** Gradient of the inner loss at each inner step (only the last one unless `record`). */
  deltaGrads: tf.Tensor3D[];
  /** delta (a_k for `mtdnn-2020`) after each inner step (only when `record`). */
  deltaSteps: tf.Tensor3D[];
  /** The perturbation the adversarial pass used; zeros on a skipped batch. */
  deltaFinal: tf.Tensor3D | null;
  /** |eta g / den| of the last inner step [B, T, H], zero on padding and on a skipped batch. */
  eff: tf.Tensor3D | null;
  /** Inner loss at the first inner point, at the final adversarial pass, and the sym-KL the masks alone give. */
  klInit: tf.Scalar;
  klAdv: tf.Scalar;
  dropoutKl: tf.Scalar;
  /** 1 when the ascent was not finite and the adversarial term was dropped for this batch, else 0. */
  skipped: tf.Scalar;
}

export interface AlumStepOptions {
  dropout: AlumDropout;
  /** delta_0 [B, T, H]; taken over by the step (disposed or returned as `deltaInit`). Null for `standard`. */
  deltaInit: tf.Tensor3D | null;
  /** Keep every inner step's gradient and delta (for traces). */
  record: boolean;
  /** What a relative of ALUM changes in the step (methods.ts); absent: ALUM's step. */
  hooks?: StepHooks;
  /** Stack the clean pass with the first inner and with the adversarial pass (`pairLogits`); absent: `stacksPasses()`. */
  stack?: boolean;
}

/**
 * Whether a step stacks its passes (`pairLogits`): the clean rows run with the first inner step's (its target)
 * and again with the adversarial rows (the loss's), so ALUM K = 1 launches the kernels of two forward passes,
 * one gradient w.r.t. delta and one parameter backward pass instead of three, one and two, for more arithmetic
 * (four batches forward instead of three, two in the delta gradient instead of one). Every backend but wasm,
 * where a kernel launch costs next to nothing and the arithmetic is the time (docs/performance.md); the cpu
 * backend stacks, so the kernel counts measured on it stand for the GPU backends'.
 */
export function stacksPasses(): boolean {
  return tf.getBackend() !== 'wasm';
}

/**
 * The parts of the step a relative of ALUM replaces (src/core/train/methods.ts, docs/alum-step.md "Relatives");
 * each absent one keeps ALUM's. h: the head's inputs; z, zAdv [B, C] or [M, V]; zClean the clean logits.
 */
export interface StepHooks {
  /** The loss the inner ascent climbs at logits z (ALUM: the configured inner loss against sg z_c). -> scalar */
  innerObjective?: (h: HeadInputs, z: tf.Tensor2D, zClean: tf.Tensor2D) => tf.Scalar;
  /** The inner update of the perturbation (ALUM: `updateDelta`). current, g [B, T, H], mask [B, T, 1]. */
  update?: (
    current: tf.Tensor3D,
    g: tf.Tensor3D,
    mask: tf.Tensor3D,
  ) => { next: tf.Tensor3D; eff: tf.Tensor3D };
  /** The outer adversarial term before its weight alpha (ALUM: sym-KL with stop-gradient targets). -> scalar */
  outer?: (h: HeadInputs, zClean: tf.Tensor2D, zAdv: tf.Tensor2D) => tf.Scalar;
  /** A further term added to the total inside the recording (SMART's weighted proximal term). -> scalar */
  extra?: (h: HeadInputs, zClean: tf.Tensor2D) => tf.Scalar;
}

export function disposeStepResult(r: AlumStepResult): void {
  tf.dispose([...r.grads.values()]);
  tf.dispose([r.taskLoss, r.advLoss, r.totalLoss, r.embedding, r.logitsClean]);
  tf.dispose([r.klInit, r.klAdv, r.dropoutKl, r.skipped]);
  const maybe: (tf.Tensor | null)[] = [r.logitsAdv, r.deltaInit, r.deltaFinal, r.eff];
  tf.dispose([...maybe.filter((t): t is tf.Tensor => t !== null), ...r.deltaGrads, ...r.deltaSteps]);
}

/** Regression: the classifier head with one real output (never the MLM head). */
export const isRegression = (h: HeadInputs): boolean => !h.positions && h.model.problemType === 'regression';

/**
 * The task loss: cross-entropy of class logits [B, C], MSE of the one regression output [B, 1], or the mean
 * masked-token cross-entropy of MLM logits [M, V] against the original ids [M]. -> scalar
 */
export function taskLoss(h: HeadInputs, z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  if (h.positions) return maskedLmLoss(z, labels);
  return isRegression(h) ? mseLoss(z, labels) : crossEntropy(z, labels);
}

/** The inner loss: the configured KL over the rows ([B, C] or MLM's [M, V]), MSE 'sum' for regression. -> scalar */
export function stepInnerLoss(
  h: HeadInputs,
  s: Pick<AlumSettings, 'innerLoss' | 'innerReduction'>,
  zAdv: tf.Tensor2D,
  zClean: tf.Tensor2D,
): tf.Scalar {
  return isRegression(h) ? mseSum(zAdv, zClean) : innerLoss(s.innerLoss, s.innerReduction, zAdv, zClean);
}

/** The outer adversarial loss: sym-KL, mean over the rows (stop-gradient targets), or MSE with none. -> scalar */
function outerAdvLoss(h: HeadInputs, zClean: tf.Tensor2D, zAdv: tf.Tensor2D): tf.Scalar {
  return isRegression(h) ? mseBetween(zClean, zAdv) : symmetricKl(zClean, zAdv);
}

/**
 * The outer adversarial loss (before alpha) and the inner loss at the adversarial logits (`klAdv`). ALUM's own
 * sym-KL with the 'kl' inner loss: one `symmetricKlParts`, whose second direction's rows are that inner loss's
 * rows, so it is only reduced (the same values as computing it again). Otherwise the hooks' or the defaults.
 * zClean, zAdv [B, C] or [M, V] -> scalars.
 */
function outerLosses(
  h: HeadInputs,
  s: AlumSettings,
  hooks: StepHooks,
  zClean: tf.Tensor2D,
  zAdv: tf.Tensor2D,
): { adv: tf.Scalar; klAdv: tf.Scalar } {
  if (!hooks.outer && !hooks.innerObjective && !isRegression(h) && s.innerLoss === 'kl') {
    const { loss, toAdv } = symmetricKlParts(zClean, zAdv);
    const klAdv = reduceRows(toAdv, s.innerReduction, zAdv.shape[1]);
    toAdv.dispose();
    return { adv: loss, klAdv };
  }
  const objective = hooks.innerObjective ?? ((hi, z, zc) => stepInnerLoss(hi, s, z, zc));
  return { adv: (hooks.outer ?? outerAdvLoss)(h, zClean, zAdv), klAdv: objective(h, zAdv, zClean) };
}

/** `t` where every entry is finite and `ok` is 1, else 0 (no bool broadcast: every backend has these). */
function zeroUnless<T extends tf.Tensor>(t: T, ok: tf.Scalar): T {
  return tf.tidy(() => tf.where(tf.isFinite(t), t, tf.zerosLike(t)).mul(ok) as T);
}

/** The adversarial half of the closure's output (all kept, owned by the caller). */
interface AdversarialParts {
  inner: InnerResult;
  /** The perturbation the adversarial pass used: delta_K, or zeros when the ascent was not finite. */
  deltaUsed: tf.Tensor3D;
  logitsAdv: tf.Tensor2D;
  advLoss: tf.Scalar;
  klAdv: tf.Scalar;
  /** 1 when the ascent was finite, else 0. */
  ok: tf.Scalar;
}

/** What the outer gradient's closure hands back besides the loss (all kept, owned by the caller). */
interface OuterParts {
  embedding: tf.Tensor3D;
  logitsClean: tf.Tensor2D;
  taskLoss: tf.Scalar;
  adversarial: AdversarialParts | null;
}

/**
 * The adversarial term inside the outer recording: inner ascent from delta_0 (its first step stacked with a
 * clean pass that gives its target), then the clean and adversarial passes stacked in one (`pairLogits`), the
 * adversarial rows on (e or sg e) + sg delta_K. A non-finite ascent contributes delta = 0 and a zero-weighted
 * term, so no NaN reaches the update and nothing is read back. Returns the kept parts, the clean logits the
 * task loss and the outer gradient read (kept), and the weighted term (not kept).
 */
function adversarialTerm(
  inputs: InnerInputs,
  stacked: HeadInputs | null,
  delta0: tf.Tensor3D,
  s: AlumSettings,
  opts: AlumStepOptions,
  keep: <T extends tf.Tensor>(t: T) => T,
): { parts: AdversarialParts; zClean: tf.Tensor2D; term: tf.Scalar } {
  const hooks = opts.hooks ?? {};
  const inner = innerAscent(inputs, delta0, s, opts.dropout.inner, opts.record, hooks);
  [
    inner.deltaFinal,
    inner.eff,
    inner.klInit,
    inner.checksum,
    ...inner.deltaGrads,
    ...inner.deltaSteps,
  ].forEach(keep);
  // Detached: the outer gradient must not flow back through the inner ascent (it would also carry its NaNs).
  const ok = detach(tf.isFinite(inner.checksum).toFloat() as tf.Scalar);
  const deltaUsed = detach(zeroUnless(inner.deltaFinal, ok)); // [B, T, H], a constant of the outer loss
  const e = s.detachEmbedding ? detach(inputs.embedding) : inputs.embedding;
  const point = e.add(deltaUsed) as tf.Tensor3D;
  const given = 'cleanLogits' in inputs.target ? inputs.target.cleanLogits : null;
  const pair = [opts.dropout.clean, opts.dropout.adv] as const;
  const [zClean, zAdv] = // [B, C] each, or [M, V]
    given || !stacked
      ? [given ?? headLogits(inputs, inputs.embedding, pair[0]), headLogits(inputs, point, pair[1])]
      : pairLogits(stacked, inputs.embedding, point, pair);
  const losses = outerLosses(inputs, s, hooks, zClean, zAdv);
  const adv = losses.adv.mul(ok) as tf.Scalar;
  const klAdv = losses.klAdv.mul(ok) as tf.Scalar;
  const parts = {
    inner,
    deltaUsed: keep(deltaUsed),
    logitsAdv: keep(zAdv),
    advLoss: keep(adv),
    klAdv: keep(klAdv),
    ok: keep(ok),
  };
  return { parts, zClean: given ?? keep(zClean), term: adv.mul(s.alpha) as tf.Scalar };
}

/**
 * One ALUM (or standard) gradient computation on a batch: the clean pass, the inner ascent and the
 * adversarial pass inside one `tf.variableGrads`. Returns tensors owned by the caller (`disposeStepResult`).
 */
export function alumGradients(
  params: Params,
  model: ModelConfig,
  batch: StepBatch,
  s: AlumSettings,
  opts: AlumStepOptions,
): AlumStepResult {
  const delta0 = s.method === 'standard' ? null : opts.deltaInit;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    kept.push(t);
    return tf.keep(t);
  };
  const out: { parts?: OuterParts } = {};
  let mask3: tf.Tensor3D | null = null;
  let stacked: HeadInputs | null = null;
  try {
    assertBatchShapes(batch, delta0);
    const m3 = tf.tidy(() => batch.attentionMask.toFloat().expandDims(-1) as tf.Tensor3D); // [B, T, 1]
    mask3 = m3;
    const deltaInit = delta0 ? keep(tf.tidy(() => delta0.mul(m3) as tf.Tensor3D)) : null;
    const head: HeadInputs = { params, model, attentionMask: batch.attentionMask };
    if (batch.mlmPositions) head.positions = batch.mlmPositions;
    const st = deltaInit && (opts.stack ?? stacksPasses()) ? stackHead(head) : null;
    stacked = st;
    const { value, grads } = withSharedMasks(() =>
      tf.variableGrads(() => {
        const e = keep(embed(params, model, batch, opts.dropout.clean)); // [B, T, H]
        // Unstacked: the clean pass first, recorded, the ascent's target and the task loss's logits.
        const zFirst = st ? null : keep(headLogits(head, e, opts.dropout.clean)); // [B, C] or [M, V]
        if (!deltaInit) {
          const zClean = zFirst as tf.Tensor2D;
          const task = keep(taskLoss(head, zClean, batch.labels));
          out.parts = { embedding: e, logitsClean: zClean, taskLoss: task, adversarial: null };
          return task;
        }
        const target = zFirst
          ? { cleanLogits: zFirst }
          : { stacked: st as HeadInputs, cleanPass: opts.dropout.clean };
        const inputs: InnerInputs = { ...head, embedding: e, target, mask3: m3 };
        const adv = adversarialTerm(inputs, st, deltaInit, s, opts, keep);
        const task = keep(taskLoss(head, adv.zClean, batch.labels));
        out.parts = { embedding: e, logitsClean: adv.zClean, taskLoss: task, adversarial: adv.parts };
        const total = task.add(adv.term) as tf.Scalar;
        return opts.hooks?.extra ? (total.add(opts.hooks.extra(head, adv.zClean)) as tf.Scalar) : total;
      }, [...params.values()]),
    );
    if (!out.parts) throw new Error('internal: the outer gradient produced no parts');
    return collect({ params, head, s, opts, parts: out.parts, totalLoss: value, grads, deltaInit });
  } catch (e) {
    // A failing step (out of memory, a lost device, a kernel error) frees everything it made.
    releaseAbandonedTape();
    tf.dispose(kept.filter((t) => !t.isDisposed));
    throw e;
  } finally {
    mask3?.dispose();
    if (stacked) disposeStacked(stacked);
    opts.deltaInit?.dispose();
  }
}

/** One-line errors for inputs of the wrong shape, before the step allocates anything. */
function assertBatchShapes(batch: StepBatch, delta0: tf.Tensor | null): void {
  const [b, t] = batch.inputIds.shape;
  const shape = (x: tf.Tensor) => `[${x.shape.join(',')}]`;
  const same = (x: tf.Tensor) => x.shape.length === 2 && x.shape[0] === b && x.shape[1] === t;
  if (!same(batch.attentionMask))
    throw new Error(`attention mask shape ${shape(batch.attentionMask)} != ids [${b},${t}]`);
  if (!same(batch.tokenTypeIds))
    throw new Error(`token type ids shape ${shape(batch.tokenTypeIds)} != ids [${b},${t}]`);
  const pos = batch.mlmPositions;
  if (pos && (pos.shape.length !== 1 || batch.labels.shape[0] !== pos.shape[0]))
    throw new Error(`${batch.labels.shape[0]} labels for ${pos.shape.join('x')} masked positions`);
  if (pos && pos.shape[0] === 0) throw new Error('masked LM batch without masked positions (M = 0)');
  if (!pos && batch.labels.shape[0] !== b)
    throw new Error(`${batch.labels.shape[0]} labels for a batch of ${b}`);
  if (delta0 && (delta0.shape[0] !== b || delta0.shape[1] !== t)) {
    throw new Error(`initial perturbation shape ${shape(delta0)} does not start with [${b},${t}]`);
  }
}

interface CollectInput {
  params: Params;
  head: HeadInputs;
  s: AlumSettings;
  opts: AlumStepOptions;
  parts: OuterParts;
  totalLoss: tf.Scalar;
  grads: tf.NamedTensorMap;
  deltaInit: tf.Tensor3D | null;
}

/** Turns the closure's parts into the step result, adding the metrics that need no gradient. */
function collect(c: CollectInput): AlumStepResult {
  const byName = new Map<string, tf.Tensor>();
  for (const [name, v] of c.params) byName.set(name, c.grads[v.name] ?? tf.zerosLike(v));
  const { parts } = c;
  const base = {
    grads: byName,
    taskLoss: parts.taskLoss,
    totalLoss: c.totalLoss,
    embedding: parts.embedding,
    logitsClean: parts.logitsClean,
    deltaInit: c.deltaInit,
  };
  const a = parts.adversarial;
  if (!a) {
    const zero = () => tf.scalar(0);
    return {
      ...base,
      ...{ advLoss: zero(), klInit: zero(), klAdv: zero(), dropoutKl: zero(), skipped: zero() },
      ...{ logitsAdv: null, deltaGrads: [], deltaSteps: [], deltaFinal: null, eff: null },
    };
  }
  const { inner, ok } = a;
  const result: AlumStepResult = {
    ...base,
    advLoss: a.advLoss,
    logitsAdv: a.logitsAdv,
    deltaGrads: inner.deltaGrads,
    deltaSteps: inner.deltaSteps,
    deltaFinal: a.deltaUsed,
    // A skipped batch reports no perturbation: its values were not finite and were not used.
    eff: zeroUnless(inner.eff, ok),
    // With K = 0 the first inner point is the final one.
    klInit: c.s.k === 0 ? a.klAdv.clone() : zeroUnless(inner.klInit, ok),
    klAdv: a.klAdv,
    dropoutKl: dropoutDisagreement(c.head, parts, c.opts.dropout),
    skipped: tf.tidy(() => tf.scalar(1).sub(ok) as tf.Scalar),
  };
  tf.dispose([ok, inner.eff, inner.klInit, inner.checksum, inner.deltaFinal]);
  return result;
}

/**
 * Sym-KL between the clean logits and the adversarial pass at delta = 0: what the dropout masks alone
 * contribute. 0 without work when the masks are the same; else one forward pass, no gradient. -> scalar
 */
function dropoutDisagreement(head: HeadInputs, parts: OuterParts, dropout: AlumDropout): tf.Scalar {
  if (sameMasks(dropout.clean, dropout.adv)) return tf.scalar(0);
  return tf.tidy(() => outerAdvLoss(head, parts.logitsClean, headLogits(head, parts.embedding, dropout.adv)));
}

/**
 * ALUM's relatives as training methods, on the same perturbation point as ALUM (the embedding-layer output e,
 * [B, T, H]) and the same heads (classifier, regression, masked LM). Each is specified, with its source pinned to
 * a commit, in docs/alum-step.md ("Relatives"); scripts/golden/make_methods_golden.py recomputes each in float64.
 *
 *   r3f     CE(z_c) + alpha * symKL(z_c, f(e' + z)), z ~ U(-sigma, sigma) or N(0, sigma^2), NO stop-gradient
 *   fgm     CE(z_c) + alpha * CE(f(e + r)), r = epsilon g / ||g||_2 per example, g = d CE(f(e + x)) / d x at x = 0
 *   pgd     CE(z_c) + alpha * CE(f(e + delta_K)), K steps delta <- Pi_eps(delta + eta g / n(g)) on CE, random init
 *   freelb  (1/K) sum_t CE(f(e + delta_t)), t = 0..K-1, parameter gradients accumulated over the K passes
 *   smart   ALUM's loss + smartMu * symKL(z_c, f(e; theta_ema)), theta_ema an EMA (smartBeta) of the weights
 *
 * `r3f`, `fgm`, `pgd` and `smart` are ALUM's step (`alumGradients`) with some of its parts replaced (`StepHooks`);
 * `freelb` has its own loop (`freelbGradients`): its K passes are the loss, so it has no inner ascent apart from
 * the outer one. Config names: alpha = lambda (r3f), adv_reg_coeff (fgm), the adversarial weight (pgd),
 * lambda_s (smart); sigma = eps (r3f), adv_init_mag (freelb); epsilon = perturb_norm_length (fgm), the ball's
 * radius (pgd), adv_max_norm (freelb); eta = the step size (pgd), adv_lr (freelb); k = K (pgd, freelb, smart).
 */
import * as tf from '@tensorflow/tfjs';

import type { TrainConfig } from '../config.ts';
import { embed } from '../model/bert.ts';
import type { Params } from '../model/params.ts';
import { normalNoise } from '../model/random.ts';
import {
  alumGradients,
  headLogits,
  isRegression,
  projectToBall,
  taskLoss,
  type AlumSettings,
  type AlumStepOptions,
  type AlumStepResult,
  type HeadInputs,
  type StepBatch,
  type StepHooks,
} from './alum.ts';
import { klRows, mseBetween } from './losses.ts';
import { releaseAbandonedTape } from './tape.ts';

/** The settings a method's step reads: ALUM's, and SMART's proximal weight. */
export type MethodSettings = AlumSettings & Pick<TrainConfig, 'smartMu'>;

/** FreeLB's guard on the gradient norm: `torch.clamp(denorm, min=1e-8)`. */
export const FREELB_MIN_NORM = 1e-8;

/**
 * The perturbation a step starts from, [B, T, H] (zero on padding once the step masks it), drawing its seed from
 * `nextSeed` only when the method is random. Null for `standard`. attentionMask [B, T] (FreeLB scales by length).
 *   alum, smart: N(0, sigma^2)          r3f: U(-sigma, sigma) or N(0, sigma^2) (`noiseType`)
 *   fgm: 0                              pgd: U(-epsilon, epsilon), projected onto the per-token ball
 *   freelb: l2: U(-1, 1) sigma / sqrt(L_b H) (L_b the real tokens of row b); inf: U(-sigma, sigma)
 * Normal draws are Philox's (random.ts: on the GPU under webgpu), uniform ones tf.randomUniform's.
 */
export function initialPerturbation(
  cfg: Pick<TrainConfig, 'method' | 'sigma' | 'epsilon' | 'norm' | 'noiseType'>,
  shape: [number, number, number],
  attentionMask: tf.Tensor2D,
  nextSeed: () => number,
): tf.Tensor3D | null {
  const { sigma, epsilon } = cfg;
  switch (cfg.method) {
    case 'standard':
      return null;
    case 'fgm':
      return tf.zeros(shape);
    case 'alum':
    case 'smart':
      return normalNoise(shape, sigma, nextSeed()) as tf.Tensor3D;
    case 'r3f':
      return cfg.noiseType === 'normal'
        ? (normalNoise(shape, sigma, nextSeed()) as tf.Tensor3D)
        : tf.randomUniform(shape, -sigma, sigma, 'float32', nextSeed());
    case 'pgd': {
      const u = tf.randomUniform(shape, -epsilon, epsilon, 'float32', nextSeed());
      const inBall = projectToBall(u as tf.Tensor3D, epsilon, cfg.norm);
      u.dispose();
      return inBall;
    }
    case 'freelb':
      return freelbInit(cfg, shape, attentionMask, nextSeed());
  }
}

/** FreeLB's initial delta (run_glue_freelb.py, "initialize delta"). [B, T, H] */
function freelbInit(
  cfg: Pick<TrainConfig, 'sigma' | 'norm'>,
  shape: [number, number, number],
  attentionMask: tf.Tensor2D,
  seed: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const m3 = attentionMask.toFloat().expandDims(-1); // [B, T, 1]
    if (cfg.norm === 'inf') return tf.randomUniform(shape, -cfg.sigma, cfg.sigma, 'float32', seed).mul(m3);
    const dims = attentionMask.toFloat().sum(-1).mul(shape[2]).reshape([-1, 1, 1]); // L_b * H, [B, 1, 1]
    const mag = tf.scalar(cfg.sigma).div(dims.sqrt());
    return tf.randomUniform(shape, -1, 1, 'float32', seed).mul(m3).mul(mag);
  }) as tf.Tensor3D;
}

/**
 * Symmetric KL with NO stop-gradient, mean over the rows: (1/B) sum_b [KL(p_a || p_b) + KL(p_b || p_a)], both
 * sides differentiated (R3F's `_get_symm_kl`; SMART's l_s). Regression: mean (a - b)^2. [B, C] each -> scalar
 */
export function twoSidedDivergence(h: HeadInputs, a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  if (isRegression(h)) return mseBetween(a, b);
  return tf.tidy(() => klRows(a, b).add(klRows(b, a)).mean() as tf.Scalar);
}

/**
 * SMART's Bregman proximal term D(theta, theta_ema) = mean l_s(f(x; theta), f(x; theta_ema)): zEma is a
 * constant (the EMA copy is not trained), so the gradient reaches the live weights through both KLs. -> scalar
 */
export function proximalTerm(h: HeadInputs, zClean: tf.Tensor2D, zEma: tf.Tensor2D): tf.Scalar {
  return twoSidedDivergence(h, zClean, zEma);
}

/** Per-example norm over the tokens and hidden units, L2 or max |x|. x [B, T, H] -> [B, 1, 1] */
function exampleNorm(x: tf.Tensor3D, norm: 'l2' | 'inf'): tf.Tensor3D {
  return tf.tidy(
    () => (norm === 'inf' ? x.abs().max([1, 2], true) : x.square().sum([1, 2], true).sqrt()) as tf.Tensor3D,
  );
}

/**
 * FGM's perturbation r = epsilon * g / ||g||_2 per example, in the form of Miyato's `_scale_l2`
 * (tensorflow/models research/adversarial_text/adversarial_losses.py): a = max |g| + 1e-12,
 * ||g|| = a sqrt(sum (g / a)^2 + 1e-6). current is 0 (one step from 0); g [B, T, H], mask [B, T, 1].
 */
export function fgmUpdate(
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  epsilon: number,
): { next: tf.Tensor3D; eff: tf.Tensor3D } {
  return tf.tidy(() => {
    const a = exampleNorm(g, 'inf').add(1e-12); // [B, 1, 1]
    const n = g.div(a).square().sum([1, 2], true).add(1e-6).sqrt().mul(a); // [B, 1, 1]
    const next = g.mul(epsilon).div(n).mul(mask) as tf.Tensor3D;
    return { next, eff: next.abs() as tf.Tensor3D };
  });
}

/**
 * FreeLB's update (run_glue_freelb.py, "(3) update and clip"): delta + eta g / max(n(g), 1e-8) with n the
 * per-example L2 norm (`norm` l2) or max |g| (inf), then for epsilon > 0 the rescale to ||delta||_2 <= epsilon
 * (l2) or the clip to [-epsilon, epsilon] (inf). delta, g [B, T, H], mask [B, T, 1].
 */
export function freelbUpdate(
  delta: tf.Tensor3D,
  g: tf.Tensor3D,
  mask: tf.Tensor3D,
  s: Pick<AlumSettings, 'eta' | 'epsilon' | 'norm'>,
): { next: tf.Tensor3D; eff: tf.Tensor3D } {
  return tf.tidy(() => {
    const den = tf.maximum(exampleNorm(g, s.norm), FREELB_MIN_NORM); // [B, 1, 1]
    const step = g.mul(s.eta).div(den) as tf.Tensor3D;
    let next: tf.Tensor = delta.add(step);
    if (s.epsilon > 0 && s.norm === 'inf') next = next.clipByValue(-s.epsilon, s.epsilon);
    else if (s.epsilon > 0) {
      const n = exampleNorm(next as tf.Tensor3D, 'l2'); // [B, 1, 1]
      const scale = tf.where(n.greater(s.epsilon), tf.scalar(s.epsilon).div(n), tf.onesLike(n));
      next = next.mul(scale);
    }
    return { next: next.mul(mask) as tf.Tensor3D, eff: step.abs().mul(mask) as tf.Tensor3D };
  });
}

/** The task loss of the batch's labels at logits z, as the ascent objective or the outer term (fgm, pgd). */
function labelledLoss(labels: tf.Tensor1D) {
  return (h: HeadInputs, z: tf.Tensor2D): tf.Scalar => taskLoss(h, z, labels);
}

/** The hooks of the methods that are ALUM's step with parts replaced (docs/alum-step.md, "Relatives"). */
export function hooksFor(s: MethodSettings, labels: tf.Tensor1D): StepHooks {
  const ce = labelledLoss(labels);
  switch (s.method) {
    case 'r3f':
      return { outer: twoSidedDivergence };
    case 'fgm':
      return {
        innerObjective: ce,
        update: (_current, g, mask) => fgmUpdate(g, mask, s.epsilon),
        outer: (h, _zc, zAdv) => ce(h, zAdv),
      };
    case 'pgd':
      return { innerObjective: ce, outer: (h, _zc, zAdv) => ce(h, zAdv) };
    case 'standard':
    case 'alum':
    case 'freelb':
    case 'smart':
      return {};
  }
}

/** The settings ALUM's step runs under for a method: r3f has no ascent, fgm one step, pgd ALUM's `paper` update. */
function alumSettingsFor(s: MethodSettings): MethodSettings {
  if (s.method === 'r3f') return { ...s, k: 0 };
  if (s.method === 'fgm') return { ...s, k: 1 };
  if (s.method === 'pgd') return { ...s, variant: 'paper' };
  return s;
}

/**
 * One step's gradients under the configured method. `ema` is SMART's EMA copy of the weights (required for
 * `smart`, ignored otherwise). `opts.deltaInit` comes from `initialPerturbation` (taken over by the step).
 * Returns tensors owned by the caller (`disposeStepResult`).
 */
export function methodGradients(
  params: Params,
  model: HeadInputs['model'],
  batch: StepBatch,
  s: MethodSettings,
  opts: AlumStepOptions,
  ema: Params | null = null,
): AlumStepResult {
  switch (s.method) {
    case 'standard':
    case 'alum':
      return alumGradients(params, model, batch, s, opts);
    case 'freelb':
      return freelbGradients(params, model, batch, s, opts);
    case 'smart':
      return smartGradients(params, model, batch, s, opts, ema);
    case 'r3f':
    case 'fgm':
    case 'pgd': {
      const dropout = s.method === 'fgm' ? { ...opts.dropout, inner: [opts.dropout.clean] } : opts.dropout;
      const hooks = hooksFor(s, batch.labels);
      return alumGradients(params, model, batch, alumSettingsFor(s), { ...opts, dropout, hooks });
    }
  }
}

/** The head inputs of a batch for a set of weights. */
function headFor(params: Params, model: HeadInputs['model'], batch: StepBatch): HeadInputs {
  const head: HeadInputs = { params, model, attentionMask: batch.attentionMask };
  if (batch.mlmPositions) head.positions = batch.mlmPositions;
  return head;
}

/** SMART: ALUM's step plus smartMu * proximalTerm(z_c, f(x; theta_ema)), the EMA pass under the clean masks. */
function smartGradients(
  params: Params,
  model: HeadInputs['model'],
  batch: StepBatch,
  s: MethodSettings,
  opts: AlumStepOptions,
  ema: Params | null,
): AlumStepResult {
  if (!ema) {
    opts.deltaInit?.dispose();
    throw new Error("method 'smart' needs the EMA copy of the weights");
  }
  const emaHead = headFor(ema, model, batch);
  const zEma = tf.tidy(() =>
    headLogits(emaHead, embed(ema, model, batch, opts.dropout.clean), opts.dropout.clean),
  ); // [B, C] or [M, V], a constant: computed outside the recording
  try {
    const extra = (h: HeadInputs, zClean: tf.Tensor2D) =>
      proximalTerm(h, zClean, zEma).mul(s.smartMu) as tf.Scalar;
    return alumGradients(params, model, batch, s, { ...opts, hooks: { extra } });
  } finally {
    zEma.dispose();
  }
}

/** SMART's EMA copy of the weights: non-trainable variables holding the current values. */
export function createEma(params: Params): Params {
  const ema: Params = new Map();
  for (const [name, p] of params) ema.set(name, tf.variable(p, false));
  return ema;
}

/** theta_ema <- beta theta_ema + (1 - beta) theta (SMART, arXiv 1911.03437 Algorithm 1), after each update. */
export function updateEma(ema: Params, params: Params, beta: number): void {
  for (const [name, p] of params) {
    const e = ema.get(name);
    if (!e) throw new Error(`EMA copy has no parameter '${name}'`);
    const next = tf.tidy(() => e.mul(beta).add(p.mul(1 - beta)));
    e.assign(next);
    next.dispose();
  }
}

/**
 * FreeLB (Zhu et al. 2020, arXiv 1909.11764; zhuchen03/FreeLB run_glue_freelb.py): K passes at delta_0 ..
 * delta_{K-1}, all under the clean pass's dropout masks; pass t gives CE_t / K, its parameter gradient is
 * accumulated and its delta gradient g_t makes delta_{t+1} (`freelbUpdate`, not after the last pass). Each pass is
 * one forward and one backward (delta is a variable of the same gradient), plus one forward without gradient for
 * the clean task loss and logits of the metrics: (K + 1) F + K B.
 */
export function freelbGradients(
  params: Params,
  model: HeadInputs['model'],
  batch: StepBatch,
  s: MethodSettings,
  opts: AlumStepOptions,
): AlumStepResult {
  const k = s.k;
  const pass = opts.dropout.clean;
  const head = headFor(params, model, batch);
  const made: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => {
    made.push(t);
    return t;
  };
  try {
    if (k < 1) throw new Error("method 'freelb' needs k >= 1");
    if (!opts.deltaInit) throw new Error("method 'freelb' needs an initial perturbation");
    const mask3 = own(tf.tidy(() => batch.attentionMask.toFloat().expandDims(-1) as tf.Tensor3D));
    const deltaInit = own(tf.tidy(() => (opts.deltaInit as tf.Tensor3D).mul(mask3) as tf.Tensor3D));
    const acc = new Map<string, tf.Tensor>();
    const passLosses: tf.Scalar[] = [];
    const deltaGrads: tf.Tensor3D[] = [];
    const deltaSteps: tf.Tensor3D[] = [];
    let delta = deltaInit;
    let eff: tf.Tensor3D = own(tf.zerosLike(deltaInit));
    let logitsAdv: tf.Tensor2D | null = null;
    for (let t = 0; t < k; t++) {
      const last = t === k - 1;
      const dv = tf.variable(delta, true);
      let z: tf.Tensor2D | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const e = embed(params, model, batch, pass); // [B, T, H], recomputed as FreeLB does
        const zt = headLogits(head, e.add(dv) as tf.Tensor3D, pass);
        if (last) z = tf.keep(zt);
        return taskLoss(head, zt, batch.labels).div(k) as tf.Scalar;
      }, [...params.values(), dv]);
      const g = grads[dv.name] as tf.Tensor3D; // d (CE_t / K) / d delta_t, as FreeLB's delta.grad
      dv.dispose();
      passLosses.push(own(value));
      for (const [name, v] of params) {
        const gp = grads[v.name];
        if (!gp) continue;
        const prev = acc.get(name);
        acc.set(name, prev ? own(prev.add(gp)) : own(gp.clone()));
        gp.dispose();
      }
      if (last) {
        logitsAdv = z;
        deltaGrads.push(own(g));
        break;
      }
      if (opts.record) deltaGrads.push(own(g));
      const upd = freelbUpdate(delta, g, mask3, s);
      if (!opts.record) g.dispose();
      own(upd.next);
      own(upd.eff);
      if (opts.record) deltaSteps.push(upd.next);
      eff = upd.eff;
      delta = upd.next;
    }
    const e = embed(params, model, batch, pass);
    const logitsClean = tf.tidy(() => headLogits(head, e, pass));
    const result: AlumStepResult = {
      grads: new Map([...params].map(([name, v]) => [name, acc.get(name)?.clone() ?? tf.zerosLike(v)])),
      taskLoss: tf.tidy(() => taskLoss(head, logitsClean, batch.labels)),
      advLoss: tf.tidy(() => tf.addN(passLosses)) as tf.Scalar,
      totalLoss: tf.tidy(() => tf.addN(passLosses)) as tf.Scalar,
      embedding: e,
      logitsClean,
      logitsAdv: logitsAdv as tf.Tensor2D | null,
      deltaInit: deltaInit.clone(),
      deltaGrads: deltaGrads.map((x) => x.clone()),
      deltaSteps: deltaSteps.map((x) => x.clone()),
      deltaFinal: delta.clone(),
      eff: eff.clone(),
      klInit: (passLosses[0] as tf.Scalar).mul(k),
      klAdv: (passLosses[k - 1] as tf.Scalar).mul(k),
      dropoutKl: tf.scalar(0),
      skipped: tf.scalar(0),
    };
    return result;
  } catch (e) {
    releaseAbandonedTape(); // a pass that threw leaves its tape's saved tensors behind (tape.ts)
    throw e;
  } finally {
    tf.dispose(made);
    opts.deltaInit?.dispose();
  }
}

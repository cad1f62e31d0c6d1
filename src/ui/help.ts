/**
 * One-line meanings of every config field and metric, shown as `title` tooltips and table captions.
 * They restate the JSDoc of core/config.ts (TrainConfig) and protocol/messages.ts (MetricRow);
 * symbols follow ALUM (Liu et al. 2020) Algorithm 1.
 */
import type { TrainConfig } from '../core/config.ts';
import type { MetricRow } from '../protocol/messages.ts';

export const CONFIG_HELP: Readonly<Record<keyof TrainConfig, string>> = {
  method:
    'standard: task loss only; alum: task loss + alpha * symmetric KL at an adversarial embedding perturbation',
  alpha: 'Weight of the adversarial sym-KL term (paper: 1 for fine-tuning, 10 for pre-training)',
  k: 'Number of inner ascent steps K on the perturbation delta (all released code uses 1)',
  eta: 'Inner ascent step size eta',
  epsilon: 'Radius of the per-token delta ball in the chosen norm (used by paper and paper-raw)',
  sigma: 'Standard deviation of the initial noise delta ~ N(0, sigma^2) (mt-dnn: noise_var)',
  variant:
    'How the ascent step updates delta (n = per-token norm). paper: Pi_eps(delta + eta*g/n(g)); ' +
    'paper-raw: Pi_eps(delta + eta*g), Algorithm 1 as printed; mtdnn-2020: a += eta*g/(n(g) + 1e-6), g taken at a + noise, ' +
    'noise not kept; mtdnn-head: (delta + eta*g) rescaled to unit norm per token',
  innerLoss:
    "Inner loss of the ascent. kl: KL(p_clean || p_adv); stable-kl: mt-dnn's surrogate of KL(p_adv || p_clean)",
  innerReduction:
    'How the inner loss is reduced over the [batch, classes] terms: sum, batchmean (/B) or elementmean (/(B*C), mt-dnn 2020)',
  detachEmbedding:
    'true: the perturbed pass does not train the embedding tables, only the clean pass does (mt-dnn 2020, fairseq ALUM); false: both do (mt-dnn HEAD)',
  norm: 'Per-token norm of the ascent and the ball: inf (max over the hidden axis) or l2',
  advDropout:
    "Dropout in the inner and adversarial passes. same: the clean pass's masks (adv loss is 0 at delta = 0); " +
    'fresh: new masks (mt-dnn; part of the loss is then dropout disagreement); off: none',
  lr: 'Peak learning rate of AdamW (linear warm-up over the first 10% of steps, then linear decay)',
  batchSize: 'Examples per optimizer step',
  maxLength: 'Tokens per example including [CLS] and [SEP]; longer texts are truncated',
  model:
    'Model size preset (nano is for tests; tiny/mini/small follow BERT-tiny/mini/small). Applies on Reset',
  seed: 'Seed of every random draw: initialisation, batches, dropout, noise. Applies on Reset',
  steps: 'Total optimizer steps of the run (sets the LR schedule; training stops there)',
  dropout:
    'Dropout probability (hidden and attention) of the clean pass; advDropout says what the other passes use',
  weightDecay: 'Decoupled weight decay of AdamW, applied to matrices only (not biases, LayerNorm)',
  evalEvery: 'Evaluate dev accuracy every this many steps (0: only at the end)',
};

export const METRIC_HELP: Readonly<Record<keyof MetricRow, string>> = {
  step: 'Optimizer step',
  taskLoss: 'Cross-entropy of the clean forward pass',
  advLoss: 'Outer symmetric KL between clean and adversarial predictions (0 for standard or a skipped batch)',
  totalLoss: 'taskLoss + alpha * advLoss: what the optimizer minimised',
  innerGradNorm: 'L2 norm of the last inner-step gradient w.r.t. delta, over the whole batch',
  deltaLinf: 'Mean over real tokens of the per-token L-inf norm of the final delta',
  deltaL2: 'Mean over real tokens of the per-token L2 norm of the final delta',
  embedAbsMean: 'Mean |e| of the embedding output over real tokens (mt-dnn emb_val)',
  effPerturb: "Mean over real tokens of |eta * g| / den (mt-dnn eff_perturb): the gradient's share of delta",
  klInit: 'Inner loss at the first inner point (delta_0): where the ascent starts',
  klAdv: 'Inner loss of the final adversarial pass: where the ascent ended (klAdv - klInit is its gain)',
  dropoutKl:
    'Sym-KL between the clean and adversarial passes at delta = 0: what the dropout masks alone give',
  skipped: 'Batches so far whose adversarial term was skipped because the inner gradient was not finite',
  ms: 'Wall-clock milliseconds of this step (including readback)',
  lr: 'Learning rate used by this step',
  devAccuracy: 'Dev-set accuracy at the last evaluation',
  devPearson: 'Regression: Pearson correlation of dev predictions and targets at the last evaluation',
  devSpearman:
    'Regression: Spearman (rank) correlation of dev predictions and targets at the last evaluation',
  devMse: 'Regression: mean squared error on the dev set at the last evaluation',
};

/** Compact number for tables and the status line: 4 significant digits, exponent for tiny or huge values. */
export function formatNumber(x: number | undefined | null): string {
  if (x === undefined || x === null) return '—';
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(3);
  return x.toPrecision(4);
}

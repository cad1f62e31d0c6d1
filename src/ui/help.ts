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
  epsilon: 'L-inf radius of the delta ball (used by the paper variant)',
  sigma: 'Standard deviation of the initial noise delta ~ N(0, sigma^2) (mt-dnn: noise_var)',
  variant:
    'How the ascent step updates delta. paper: clip(delta + eta*g/max|g|, -eps, eps); ' +
    'mtdnn-2020: eta*g/(max|g| + normEps), noise dropped; mtdnn-head: (delta + eta*g) rescaled to unit L-inf per token',
  lr: 'Peak learning rate of AdamW (linear warm-up over the first 10% of steps, then linear decay)',
  batchSize: 'Examples per optimizer step',
  maxLength: 'Tokens per example including [CLS] and [SEP]; longer texts are truncated',
  model:
    'Model size preset (nano is for tests; tiny/mini/small follow BERT-tiny/mini/small). Applies on Reset',
  seed: 'Seed of every random draw: initialisation, batches, dropout, noise. Applies on Reset',
  steps: 'Total optimizer steps of the run (sets the LR schedule; training stops there)',
  dropout: 'Dropout probability in every pass (hidden and attention); each pass draws a fresh mask',
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
  skipped: 'Batches so far whose adversarial term was skipped because the inner gradient was not finite',
  ms: 'Wall-clock milliseconds of this step (including readback)',
  lr: 'Learning rate used by this step',
  devAccuracy: 'Dev-set accuracy at the last evaluation',
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

/**
 * The metrics stream: one row per optimizer step, the same names in the UI, the CLI's metrics.jsonl and
 * the automation API. Definitions: docs/alum-step.md. Pure types.
 */

/** One optimizer step's measurements: every quantity a chart needs. */
export interface MetricRow {
  step: number;
  /** Task loss of the clean forward pass: cross-entropy, or MSE for regression. */
  taskLoss: number;
  /** Outer symmetric KL (MSE for regression) between clean and adversarial predictions (0 for `standard` or a skipped batch). */
  advLoss: number;
  /** taskLoss + alpha * advLoss: what the optimizer minimised. */
  totalLoss: number;
  /** L2 norm of the last inner-step gradient w.r.t. delta, over the whole batch. */
  innerGradNorm: number;
  /** Mean over real (non-pad) tokens of the per-token L-inf norm of the final delta. */
  deltaLinf: number;
  /** Mean over real tokens of the per-token L2 norm of the final delta. */
  deltaL2: number;
  /** Mean |e| of the embedding output over real tokens (mt-dnn's `emb_val`). */
  embedAbsMean: number;
  /** Mean over real tokens of |eta * g| / den (mt-dnn's `eff_perturb`): the gradient's share of delta. */
  effPerturb: number;
  /** Inner loss at the first inner point (delta_0, or a_0 + delta_0): where the ascent starts. */
  klInit: number;
  /** Inner loss of the final adversarial pass: where the ascent ended. klAdv - klInit is what it gained. */
  klAdv: number;
  /** Sym-KL between the clean and adversarial passes at delta = 0: the part of advLoss the dropout masks give. */
  dropoutKl: number;
  /** Batches so far whose adversarial term was skipped because the inner gradient was not finite. */
  skipped: number;
  /** Wall-clock milliseconds of this step (including readback), plus `evalMs` on a row that evaluated. */
  ms: number;
  /** Of `ms`: the training step's share (forward, ascent, backward, update, readback). */
  trainMs?: number;
  /** Of `ms`: the dev evaluation's share, on rows where the dev set was evaluated. */
  evalMs?: number;
  /** Classification: accuracy of the clean pass's predictions on this step's batch (dropout on). */
  trainAccuracy?: number;
  /**
   * On the steps that evaluate: the L2 norm over all parameters of the task term's gradient, and of the
   * alpha-weighted adversarial term's (total minus task): which term drives the update.
   */
  taskGradNorm?: number;
  advGradNorm?: number;
  /** Learning rate used by this step. */
  lr: number;
  /** Dev-set accuracy, on rows where the dev set was evaluated (classification). */
  devAccuracy?: number;
  /** Regression: dev-set Pearson and Spearman correlation of predictions and targets, and their MSE. */
  devPearson?: number;
  devSpearman?: number;
  devMse?: number;
  /**
   * Masked LM (task `mlm`): `taskLoss` is the mean cross-entropy over the batch's masked tokens, `trainAccuracy`
   * the masked-token accuracy there, `devAccuracy` the dev slice's; these are the rest.
   * perplexity = exp(taskLoss); devLoss: masked-token loss on the dev slice (fixed masking seed).
   */
  perplexity?: number;
  devLoss?: number;
  /** Masked LM, on the first row only: always predicting the most frequent train token (dev accuracy), and
   * the dev cross-entropy of the train unigram distribution. */
  unigramAccuracy?: number;
  unigramLoss?: number;
}

/** The per-step measurements a training step computes on the backend (read back together, in this order). */
export const STEP_METRICS = [
  'taskLoss',
  'advLoss',
  'totalLoss',
  'innerGradNorm',
  'deltaLinf',
  'deltaL2',
  'embedAbsMean',
  'effPerturb',
  'klInit',
  'klAdv',
  'dropoutKl',
] as const satisfies readonly (keyof MetricRow)[];

/** The dev columns only regression runs write. */
export const REGRESSION_COLUMNS: readonly (keyof MetricRow)[] = ['devPearson', 'devSpearman', 'devMse'];

/** The columns only masked-LM runs (task `mlm`) write. */
export const MLM_COLUMNS: readonly (keyof MetricRow)[] = [
  'perplexity',
  'devLoss',
  'unigramAccuracy',
  'unigramLoss',
];

/** Column order for CSV export and the metrics table. */
export const METRIC_COLUMNS: readonly (keyof MetricRow)[] = [
  'step',
  ...STEP_METRICS,
  'skipped',
  'ms',
  'trainMs',
  'evalMs',
  'lr',
  'trainAccuracy',
  'taskGradNorm',
  'advGradNorm',
  'devAccuracy',
  ...REGRESSION_COLUMNS,
  ...MLM_COLUMNS,
];

/** The columns a classification run writes: every column but the regression-only and masked-LM ones. */
export const CLASSIFICATION_COLUMNS: readonly (keyof MetricRow)[] = METRIC_COLUMNS.filter(
  (c) => !REGRESSION_COLUMNS.includes(c) && !MLM_COLUMNS.includes(c),
);

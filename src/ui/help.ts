/**
 * One-line meanings of every config field and metric, shown as `title` tooltips and table captions.
 * They restate the JSDoc of core/config.ts (TrainConfig) and protocol/messages.ts (MetricRow);
 * symbols follow ALUM (Liu et al. 2020) Algorithm 1.
 */
import type { TrainConfig } from '../core/config.ts';
import type { MetricRow } from '../protocol/messages.ts';

export const CONFIG_HELP: Readonly<Record<keyof TrainConfig, string>> = {
  method:
    'standard: task loss only; alum: task loss + alpha * symmetric KL at an adversarial embedding perturbation; ' +
    'r3f: + alpha * sym-KL at random noise; fgm: + alpha * CE at one L2 gradient step; pgd: + alpha * CE after K ' +
    'projected steps; freelb: mean CE over K ascent passes, gradients accumulated; smart: alum + smartMu * sym-KL ' +
    'against an EMA copy of the weights',
  noiseType: 'r3f: the noise distribution, uniform U(-sigma, sigma) or normal N(0, sigma^2)',
  smartMu: 'smart: weight mu of the proximal term, the mean sym-KL between the model and its EMA copy',
  smartBeta:
    'smart: momentum beta of the EMA copy, ema <- beta * ema + (1 - beta) * weights after each update',
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
  task: 'classify: a labelled task (classification or regression); mlm: masked-LM pre-training on a text corpus',
  maskRate:
    "Masked LM: share of a sequence's eligible tokens to predict (BERT's masked_lm_prob; of those 80/10/10)",
  wholeWordMask: "Masked LM: mask all WordPieces of a word together (BERT's do_whole_word_mask)",
  init: 'Where the weights start: pretrained (the built-in model pre-trained by alum pretrain), random (seeded initialisation) or loaded (the model you loaded). Applies on Reset',
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
  ms: 'Wall-clock milliseconds of this step (including readback, and the dev evaluation on rows that have one)',
  trainMs: 'Of ms: the training step (forward, ascent, backward, update, readback)',
  evalMs: 'Of ms: the dev evaluation, on rows that have one',
  trainAccuracy: "Accuracy of the clean pass's predictions on this step's training batch (dropout on)",
  taskGradNorm: "On evaluation steps: L2 norm of the task term's gradient over all parameters",
  advGradNorm:
    "On evaluation steps: L2 norm of the alpha-weighted adversarial term's gradient (total minus task)",
  lr: 'Learning rate used by this step',
  devAccuracy: 'Dev-set accuracy at the last evaluation',
  devPearson: 'Regression: Pearson correlation of dev predictions and targets at the last evaluation',
  devSpearman:
    'Regression: Spearman (rank) correlation of dev predictions and targets at the last evaluation',
  devMse: 'Regression: mean squared error on the dev set at the last evaluation',
  perplexity: 'Masked LM: exp(taskLoss), the masked-token perplexity of this training batch',
  devLoss: 'Masked LM: masked-token cross-entropy on the held-out corpus slice (fixed masking seed)',
  unigramAccuracy:
    'Masked LM, first row: accuracy of always predicting the most frequent training token at masked positions',
  unigramLoss:
    "Masked LM, first row: cross-entropy of the training tokens' unigram distribution at masked positions",
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

/**
 * What the form shows under each field (a disclosure, reachable by keyboard and on touch): the human label
 * (the field's accessible name), the paper's symbol, the flag of the official code (namisan/mt-dnn
 * `train.py`, or the fairseq ALUM task, as docs/alum-step.md cites them), sensible values, and what happens
 * at the extremes. The meaning itself is CONFIG_HELP. Partial so that a new field compiles before its help
 * is written; help.test.ts requires every field to have one.
 */
export interface FieldHelp {
  label: string;
  /** The paper's symbol (Algorithm 1), or '—' when the paper has none. */
  symbol: string;
  /** Its name in the official code, or '—' when the playground adds it. */
  official: string;
  sensible: string;
  extremes: string;
}

export const FIELD_HELP: Readonly<Partial<Record<keyof TrainConfig, FieldHelp>>> = {
  method: {
    label: 'Training method',
    symbol: '—',
    official: 'mt-dnn --adv_train',
    sensible:
      'alum to see the perturbation; standard as the baseline; the relatives side by side with Compare',
    extremes:
      'standard ignores every ALUM setting below; docs/alum-step.md "Relatives" maps each knob per method',
  },
  noiseType: {
    label: 'R3F noise distribution',
    symbol: 'U(−ε, ε) or N(0, ε²) (R3F: ε = our sigma)',
    official: 'fairseq R3F --noise-type (default uniform)',
    sensible: 'uniform, the R3F default',
    extremes: 'normal has unbounded tails: a few entries exceed sigma',
  },
  smartMu: {
    label: 'SMART proximal weight',
    symbol: 'μ',
    official: 'SMART paper μ (arXiv 1911.03437, Eq. 3)',
    sensible: '1 (the paper)',
    extremes: '0 is ALUM with an EMA copy kept for nothing; large values freeze the model near its EMA copy',
  },
  smartBeta: {
    label: 'SMART EMA momentum',
    symbol: 'β',
    official: 'SMART paper β (arXiv 1911.03437, Algorithm 1)',
    sensible: '0.99',
    extremes: '0: the copy is the last weights; 1: the copy never moves from where smart started',
  },
  alpha: {
    label: 'Adversarial weight',
    symbol: 'α',
    official: 'mt-dnn --adv_alpha',
    sensible: '1 for fine-tuning, 10 for pre-training (the paper)',
    extremes: '0 is standard training with extra cost; 100 or more lets the KL term swamp the task loss',
  },
  k: {
    label: 'Inner ascent steps',
    symbol: 'K',
    official: 'mt-dnn --adv_k',
    sensible: '1 (all released code); 2-3 to watch the ascent converge',
    extremes: '0 keeps the random noise only; each extra step costs one more forward and backward pass',
  },
  eta: {
    label: 'Ascent step size',
    symbol: 'η',
    official: 'mt-dnn --adv_step_size',
    sensible: '1e-3 to 1e-2 (paper variant: equal to the radius)',
    extremes:
      'tiny: delta stays at its noise; huge: with projection delta sits on the ball, without it diverges',
  },
  epsilon: {
    label: 'Perturbation radius',
    symbol: 'ε',
    official: 'none (mt-dnn --adv_epsilon is only a divide-by-zero guard)',
    sensible: '1e-2, about 1% of the mean |embedding| (~0.8)',
    extremes: '0 removes the perturbation; near 1 it is as large as the embedding itself',
  },
  sigma: {
    label: 'Initial noise',
    symbol: 'σ',
    official: 'mt-dnn --adv_noise_var (a standard deviation despite the name)',
    sensible: '1e-3 here, 1e-5 in the released code',
    extremes: '0 starts the ascent where the gradient is zero; large noise is itself the perturbation',
  },
  variant: {
    label: 'Ascent update',
    symbol: 'Π_ε, g/‖g‖',
    official: 'mt-dnn perturbation.py (2020 or HEAD)',
    sensible: 'paper; the mt-dnn variants reproduce the released code',
    extremes: 'paper-raw moves delta by η·g, often far less than ε; mtdnn-head always gives unit-norm delta',
  },
  norm: {
    label: 'Perturbation norm',
    symbol: '‖·‖∞ or ‖·‖₂',
    official: 'mt-dnn --adv_p_norm',
    sensible: 'inf (per token, max over the hidden axis)',
    extremes: 'l2 spreads the same radius over all hidden units, so each moves less',
  },
  innerLoss: {
    label: 'Inner loss',
    symbol: 'ℓ (line 5)',
    official: 'fairseq ALUM KL / mt-dnn stable_kl',
    sensible: 'kl',
    extremes: 'stable-kl is a surrogate and can be negative',
  },
  innerReduction: {
    label: 'Inner loss reduction',
    symbol: '—',
    official: 'mt-dnn reduce (sum), fairseq batchmean',
    sensible: 'sum; with a normalised update it changes nothing but rounding',
    extremes: 'with paper-raw, elementmean shrinks the step by batch size x classes',
  },
  detachEmbedding: {
    label: 'Detach embedding in the adversarial pass',
    symbol: 'sg(e)',
    official: 'fairseq ALUM embed.detach() (mt-dnn HEAD: not detached)',
    sensible: 'false',
    extremes: 'true: the embedding tables learn from the clean pass only',
  },
  advDropout: {
    label: 'Dropout in the perturbed passes',
    symbol: '—',
    official: 'model in training mode (fresh masks) in the released code',
    sensible: 'same, so the adversarial loss is 0 at delta = 0',
    extremes: 'fresh: half or more of the adversarial loss is dropout disagreement, not the perturbation',
  },
  lr: {
    label: 'Learning rate',
    symbol: '—',
    official: 'mt-dnn --learning_rate',
    sensible: '1e-3 from random weights, 1e-4 to 3e-5 from a checkpoint',
    extremes: '1e-6 barely moves; 1e-1 diverges within a few steps',
  },
  batchSize: {
    label: 'Batch size',
    symbol: '—',
    official: 'mt-dnn --batch_size',
    sensible: '16 to 64',
    extremes: '1: noisy steps; hundreds at length 512 on small run out of memory',
  },
  steps: {
    label: 'Training steps',
    symbol: 'T (as steps, not epochs)',
    official: 'mt-dnn --epochs (in epochs)',
    sensible: '100 to 1,000 here; at most 100,000',
    extremes: 'few: the warm-up (10%) is most of the run; many: hours in a browser',
  },
  weightDecay: {
    label: 'Weight decay',
    symbol: '—',
    official: 'AdamW weight_decay',
    sensible: '0.01',
    extremes: '0: none; 1: weights shrink fast toward zero',
  },
  dropout: {
    label: 'Dropout',
    symbol: '—',
    official: 'mt-dnn --dropout_p',
    sensible: '0.1 (BERT)',
    extremes: '0: no dropout; 0.9: most units dropped, little learns',
  },
  evalEvery: {
    label: 'Evaluate dev every (steps)',
    symbol: '—',
    official: '—',
    sensible: '10 to 25',
    extremes: '0: only at the end; 1: every step, which slows training',
  },
  model: {
    label: 'Model size',
    symbol: 'f(·; θ)',
    official: 'BERT-tiny/mini/small (Turc et al. 2019)',
    sensible: 'tiny in a browser; nano for tests',
    extremes: 'small with a long batch can run out of GPU memory',
  },
  maxLength: {
    label: 'Maximum tokens per example',
    symbol: '—',
    official: 'mt-dnn --max_seq_len',
    sensible: '64 to 128 for emails',
    extremes: '4 sees almost nothing; 512 costs 8x the memory of 64',
  },
  task: {
    label: 'Task',
    symbol: '—',
    official: 'fairseq ALUM masked_lm task (pre-training) / mt-dnn task_def (fine-tuning)',
    sensible: 'classify for the spam task; mlm to pre-train on the corpus',
    extremes: 'mlm ignores the labels',
  },
  maskRate: {
    label: 'Mask rate',
    symbol: '—',
    official: 'BERT masked_lm_prob',
    sensible: '0.15 (BERT)',
    extremes: 'near 0: little to predict; 1: nothing left to read',
  },
  wholeWordMask: {
    label: 'Whole-word masking',
    symbol: '—',
    official: 'BERT do_whole_word_mask',
    sensible: 'false',
    extremes: 'true masks all pieces of a word together',
  },
  init: {
    label: 'Start from',
    symbol: 'θ₀',
    official: 'transformers from_pretrained / mt-dnn --init_checkpoint',
    sensible:
      'pretrained: ALUM fine-tuning as in the paper (lr 1e-3 for the built-in tiny, 1e-4 for a loaded BERT)',
    extremes: 'random weights: ALUM and standard training tie (nothing to keep robust yet)',
  },
  seed: {
    label: 'Random seed',
    symbol: '—',
    official: 'mt-dnn --seed',
    sensible: 'any whole number (decimal digits)',
    extremes: 'none: the same seed gives the same run',
  },
};

/** The field's human label (its accessible name); the config key when no help is written yet. */
export function fieldLabel(key: keyof TrainConfig): string {
  return FIELD_HELP[key]?.label ?? key;
}

/**
 * A training run as a value: config + model + optimizer + encoded data + RNG, stepped one batch at a time.
 * Knows nothing about workers, UIs or files (minGPT's Trainer); the worker and the CLI both drive it.
 * Every tensor it makes is freed before `trainStep` returns: tf.memory().numTensors is flat across steps.
 */
import * as tf from '@tensorflow/tfjs';

import { isLiveSetting, type AdvDropout, type ModelConfig, type TrainConfig } from '../config.ts';
import { arraySplit, devSampleRows, subsetSplit, type EncodedSplit, type RowSplit } from '../data/dataset.ts';
import { maskTokens, type MaskedTokens, type MaskingOptions } from '../data/masking.ts';
import { STEP_METRICS, type MetricRow } from '../metrics.ts';
import { forward, NO_DROPOUT, type DropoutPass } from '../model/bert.ts';
import { disposeParams, variableFrom, type Params } from '../model/params.ts';
import { makeRng, shuffled, type Rng } from '../rng.ts';
import {
  AdamW,
  ADAMW_DEFAULTS,
  disposeFlat,
  globalNorm,
  normFromSquares,
  sumOfSquares,
  type FlatGradients,
} from './adamw.ts';
import {
  alumGradients,
  disposeStepResult,
  type AlumDropout,
  type AlumSettings,
  type AlumStepResult,
  type StepBatch,
} from './alum.ts';
import { createEma, initialPerturbation, methodGradients, updateEma } from './methods.ts';
import { maskedLmLoss, mlmForward } from '../model/mlm.ts';
import { meanSquaredError, pearson, spearman } from './regression-metrics.ts';
import { lrAt } from './schedule.ts';

/** A batch: labels [B]; for masked LM also `mlmPositions` [M], with `labels` [M] (see `StepBatch`). */
export type Batch = StepBatch;

/** Tensors for rows `indices` of a split. Caller disposes (`disposeBatch`). */
export function batchTensors(split: RowSplit | EncodedSplit, indices: readonly number[]): Batch {
  const t = split.maxLength;
  const b = indices.length;
  const rows = asRowSplit(split).rows(indices); // [B, T] arrays, labels [B]
  const regression = split.labels instanceof Float32Array;
  return {
    inputIds: tf.tensor2d(rows.inputIds, [b, t], 'int32'),
    tokenTypeIds: tf.tensor2d(rows.tokenTypeIds, [b, t], 'int32'),
    attentionMask: tf.tensor2d(rows.attentionMask, [b, t], 'int32'),
    labels: tf.tensor1d(rows.labels, regression ? 'float32' : 'int32'), // [B]
  };
}

/** A split as a RowSplit: padded arrays get row access (`arraySplit`), a RowSplit is itself. */
export function asRowSplit(split: RowSplit | EncodedSplit): RowSplit {
  return 'rows' in split ? split : arraySplit(split);
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.inputIds, b.tokenTypeIds, b.attentionMask, b.labels]);
  b.mlmPositions?.dispose();
}

/**
 * The masked-LM batch of rows `indices`: BERT masking (`maskTokens`, drawing from `rng`) of the rows' ids, the
 * masked ids as input, the masked positions [M] and their original ids [M] as labels. Caller disposes.
 */
export function maskedBatchTensors(
  split: RowSplit | EncodedSplit,
  indices: readonly number[],
  masking: MaskingOptions,
  rng: Rng,
): Batch {
  const t = split.maxLength;
  const { inputIds: ids, attentionMask: mask } = asRowSplit(split).rows(indices); // [B, T]
  const m = maskTokens(ids, mask, t, masking, rng);
  const b = indices.length;
  return {
    inputIds: tf.tensor2d(m.inputIds, [b, t], 'int32'),
    tokenTypeIds: tf.zeros([b, t], 'int32'),
    attentionMask: tf.tensor2d(mask, [b, t], 'int32'),
    labels: tf.tensor1d(m.labels, 'int32'), // [M]
    mlmPositions: tf.tensor1d(m.positions, 'int32'), // [M]
  };
}

/** Seed of the dev slice's masking: fixed, so the dev masked-token metrics compare across steps and runs. */
export const DEV_MASK_SEED = 20200418;

/**
 * Dropout passes for one ALUM step (docs/alum-step.md, "Dropout in the adversarial passes"): the clean pass
 * draws its own masks; the inner and adversarial passes reuse them (`same`), draw new ones (`fresh`), or have
 * none (`off`). Seeds come from the run's RNG.
 */
export function dropoutPlan(rng: Rng, rate: number, k: number, mode: AdvDropout): AlumDropout {
  const clean: DropoutPass = { rate, seed: rng.seed() };
  const other = (): DropoutPass =>
    mode === 'same' ? clean : mode === 'off' ? NO_DROPOUT : { rate, seed: rng.seed() };
  return { clean, inner: Array.from({ length: k }, other), adv: other() };
}

/** The scalar metrics of a step (`readStepScalars` names them). */
export const STEP_SCALARS = [...STEP_METRICS, 'skippedNow'] as const;

export type StepScalars = Record<(typeof STEP_SCALARS)[number], number>;

/**
 * The scalars `stepScalars` stacks first, in order: the step's as they are, then what the inner gradient's norm and
 * the means are made of. After them come the `extra` scalars, then the three masked sums of `PER_TOKEN_SUMS`,
 * then the `tail` tensors. `readStepScalars` does the last divisions, products and square roots on the numbers
 * read back (float32 steps, as the kernels did them), which saves a kernel each.
 */
const STEP_RAW = [
  'taskLoss',
  'advLoss',
  'totalLoss',
  'klInit',
  'klAdv',
  'dropoutKl',
  'skippedNow',
  'lastGradSquares', // ||g_K||_2^2 (0 without an inner step)
  'effSum', // sum of |eta g / den| (0 without)
  'tokens', // real tokens
  'hidden', // H (a constant)
  'hasDelta', // 1 when the step has a final perturbation (else its metrics are 0), a constant
  'hasEff', // 1 when it has an effective perturbation, a constant
] as const;

/** The sums over real tokens `stepScalars` stacks after the extras: of sum_h |e|, max_h |delta| and ||delta||_2. */
const PER_TOKEN_SUMS = ['embedAbsSum', 'deltaLinfSum', 'deltaL2Sum'] as const;

/** Where `stepScalars`' `extra` values lie in what it stacks: from this index on, in order. */
export const STEP_EXTRA_AT = STEP_RAW.length;

/** Where `stepScalars`' `tail` starts in what it stacks, after `extras` extra scalars. */
export function stepTailAt(extras: number): number {
  return STEP_RAW.length + extras + PER_TOKEN_SUMS.length;
}

/**
 * The step's scalar metrics as one tensor (one readback per step, named by `readStepScalars`): the step's
 * scalars, `extra` (e.g. the gradient norm; from STEP_EXTRA_AT, in order), three per-token sums, and the
 * `tail` tensors flattened (from `stepTailAt`). The three per-token means are masked sums of one stacked
 * [3, B, T] (one Mul and one Sum, not three each).
 */
export function stepScalars(
  r: AlumStepResult,
  attentionMask: tf.Tensor2D,
  extra: readonly tf.Scalar[] = [],
  tail: readonly tf.Tensor[] = [],
): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = attentionMask.toFloat(); // [B, T]
    const zero = tf.scalar(0);
    const lastGrad = r.deltaGrads[r.deltaGrads.length - 1];
    const d = r.deltaFinal;
    const none = tf.zeros(mask.shape); // [B, T], no kernel
    const perToken = [
      r.embedding.abs().sum(-1),
      d ? d.abs().max(-1) : none,
      d ? d.square().sum(-1).sqrt() : none,
    ]; // [B, T] each, in PER_TOKEN_SUMS' order
    const sums = tf.stack(perToken).mul(mask).sum([1, 2]); // [3]
    const raw: Record<(typeof STEP_RAW)[number], tf.Tensor> = {
      taskLoss: r.taskLoss,
      advLoss: r.advLoss,
      totalLoss: r.totalLoss,
      klInit: r.klInit,
      klAdv: r.klAdv,
      dropoutKl: r.dropoutKl,
      skippedNow: r.skipped,
      lastGradSquares: lastGrad ? lastGrad.square().sum() : zero,
      effSum: r.eff ? r.eff.sum() : zero,
      tokens: mask.sum(),
      hidden: tf.scalar(r.embedding.shape[2]),
      hasDelta: tf.scalar(d ? 1 : 0),
      hasEff: tf.scalar(r.eff ? 1 : 0),
    };
    const scalars = tf.stack([...STEP_RAW.map((k) => raw[k]), ...extra]);
    return tf.concat([scalars, sums, ...tail.map((t) => t.toFloat().reshape([-1]))]) as tf.Tensor1D;
  });
}

/**
 * Names the values `stepScalars` read back (`extras` extra scalars among them), finishing the metrics in
 * float32 steps (Math.fround after each operation, as a float32 kernel rounds it: the cpu backend's bits; a
 * GPU's division or square root may be an ulp away): the means over real tokens, and the last inner
 * gradient's norm, zeroed on a skipped batch.
 */
export function readStepScalars(values: ArrayLike<number>, extras = 0): StepScalars {
  const f = Math.fround;
  const at = (i: number) => values[i] ?? NaN;
  const raw = Object.fromEntries(STEP_RAW.map((k, i) => [k, at(i)])) as Record<
    (typeof STEP_RAW)[number],
    number
  >;
  const sumsAt = STEP_RAW.length + extras;
  const [embedAbsSum, deltaLinfSum, deltaL2Sum] = PER_TOKEN_SUMS.map((_, i) => at(sumsAt + i)) as [
    number,
    number,
    number,
  ];
  const { tokens, hidden } = raw;
  return {
    taskLoss: raw.taskLoss,
    advLoss: raw.advLoss,
    totalLoss: raw.totalLoss,
    innerGradNorm: f(normFromSquares(raw.lastGradSquares) * f(1 - raw.skippedNow)),
    deltaLinf: raw.hasDelta ? f(deltaLinfSum / tokens) : 0,
    deltaL2: raw.hasDelta ? f(deltaL2Sum / tokens) : 0,
    embedAbsMean: f(f(embedAbsSum / tokens) / hidden),
    effPerturb: raw.hasEff ? f(raw.effSum / f(tokens * hidden)) : 0,
    klInit: raw.klInit,
    klAdv: raw.klAdv,
    dropoutKl: raw.dropoutKl,
    skippedNow: raw.skippedNow,
  };
}

/**
 * Share of rows whose argmax of the logits equals the label, as tf's ArgMax (the first maximal entry), Equal
 * and Mean (which divides each entry by B, then sums) give it on the cpu backend. logits [B, C] row-major,
 * labels [B] (class indices).
 */
export function accuracyOf(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  const b = labels.length;
  const share = Math.fround(1 / b);
  let sum = 0;
  for (let i = 0; i < b; i++) {
    let best = 0;
    for (let j = 1; j < numClasses; j++) {
      if ((logits[i * numClasses + j] as number) > (logits[i * numClasses + best] as number)) best = j;
    }
    if (best === labels[i]) sum += share;
  }
  return Math.fround(sum);
}

/**
 * The parameter-gradient norms of the task term and of the alpha-weighted adversarial term, [||grad task||_2,
 * ||grad (alpha adv)||_2] over all parameters: the task term's gradient from one `standard` pass of
 * alumGradients on the same batch with the same clean dropout masks (so the same clean pass), the adversarial
 * term's as `totalGrads` minus it (the total is the sum of the two). Costs one forward and backward pass.
 * Scalars; the caller disposes them.
 */
export function gradientSplit(
  params: Params,
  model: ModelConfig,
  batch: Batch,
  cfg: AlumSettings,
  clean: DropoutPass,
  totalGrads: ReadonlyMap<string, tf.Tensor>,
): [tf.Scalar, tf.Scalar] {
  const task = alumGradients(
    params,
    model,
    batch,
    { ...cfg, method: 'standard' },
    {
      dropout: { clean, inner: [], adv: clean },
      deltaInit: null,
      record: false,
    },
  );
  try {
    const taskNorm = globalNorm(task.grads.values());
    const advNorm = tf.tidy(() =>
      globalNorm([...totalGrads].map(([name, g]) => g.sub(task.grads.get(name) ?? tf.zerosLike(g)))),
    );
    return [taskNorm, advNorm];
  } finally {
    disposeStepResult(task);
  }
}

/** Share of rows whose argmax of `logits` [B, C] equals `labels` [B]: a scalar. */
function batchAccuracy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => logits.argMax(-1).equal(labels).toFloat().mean() as tf.Scalar);
}

export class TrainingRun<S extends RowSplit = RowSplit> {
  step = 0;
  skipped = 0;
  readonly rng: Rng;
  readonly optimizer: AdamW;
  private order: number[] = [];
  private cursor = 0;
  /**
   * SMART's EMA copy of the weights (methods.ts): made from the current weights on the first `smart` step,
   * updated after each `smart` update, dropped when a step runs under another method (switching back starts a
   * new copy from the weights then). Saved and restored by checkpoints.
   */
  private ema: Params | null = null;
  /** The training split (`S`: what the caller passed, with row access; arrays stay readable). */
  readonly train: S;
  readonly dev: RowSplit;
  /**
   * What a dev evaluation reads: the dev split, or above DEV_EVAL_MAX rows a fixed sample of that many rows,
   * seeded from the config's seed (`devSampleRows`).
   */
  readonly devEval: RowSplit;

  constructor(
    /** Replaced (never mutated) by `applyLiveSettings`; the rest stays as the run was created. */
    public config: TrainConfig,
    readonly model: ModelConfig,
    readonly params: Params,
    train: S | EncodedSplit,
    dev: RowSplit | EncodedSplit,
    readonly labels: readonly string[],
    /** Masked LM (task `mlm`): how batches are masked (`maskingFor` of corpus.ts); null for a labelled task. */
    readonly masking: MaskingOptions | null = null,
  ) {
    if (train.count < 1) throw new Error('training data: no examples');
    this.train = asRowSplit(train) as S;
    this.dev = asRowSplit(dev);
    const sample = devSampleRows(dev.count, config.seed);
    this.devEval = sample === null ? this.dev : subsetSplit(this.dev, sample);
    if (config.task === 'mlm' && masking === null) throw new Error("task 'mlm' needs masking options");
    // A different stream from the one that initialised the weights (seed + 1).
    this.rng = makeRng((config.seed + 1) >>> 0);
    this.optimizer = new AdamW(params, { ...ADAMW_DEFAULTS, weightDecay: config.weightDecay });
  }

  get paramCount(): number {
    let n = 0;
    this.params.forEach((v) => (n += v.size));
    return n;
  }

  /** Whether the task is a classification (train and dev accuracy), not a regression. */
  get classifies(): boolean {
    return this.model.problemType !== 'regression';
  }

  /**
   * Applies settings that need no rebuild (LIVE_SETTINGS) from the next step on; throws one line naming the
   * first other field that differs (those need a reset).
   */
  applyLiveSettings(next: TrainConfig): void {
    const fixed = (Object.keys(next) as (keyof TrainConfig)[]).find(
      (k) => !isLiveSetting(k) && next[k] !== this.config[k],
    );
    if (fixed !== undefined) throw new Error(`${fixed} cannot change during a run: press Reset to apply it`);
    this.config = next;
  }

  get done(): boolean {
    return this.step >= this.config.steps;
  }

  /** The next batch's row indices: epochs of a seeded permutation, wrapping so every batch is full. */
  nextIndices(): number[] {
    const out: number[] = [];
    while (out.length < this.config.batchSize) {
      if (this.cursor >= this.order.length) {
        this.order = shuffled(
          Array.from({ length: this.train.count }, (_, i) => i),
          this.rng,
        );
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++] as number);
    }
    return out;
  }

  /** Where the data order stands: the current epoch's permutation and the next position in it (checkpoints). */
  get dataPosition(): { order: readonly number[]; cursor: number } {
    return { order: this.order.slice(), cursor: this.cursor };
  }

  /** Restores a `dataPosition`: `order` must be a permutation of the training rows (or empty, before epoch 1). */
  setDataPosition(order: readonly number[], cursor: number, origin: string): void {
    const n = this.train.count;
    const seen = new Set<number>();
    const isPermutation =
      order.length === n &&
      order.every((i) => Number.isInteger(i) && i >= 0 && i < n && seen.size < seen.add(i).size);
    if (!(order.length === 0 || isPermutation)) {
      throw new Error(`${origin}: data order is not a permutation of the ${n} training examples`);
    }
    if (!Number.isInteger(cursor) || cursor < 0 || cursor > order.length) {
      throw new Error(`${origin}: data cursor ${cursor} is outside [0, ${order.length}]`);
    }
    this.order = order.slice();
    this.cursor = cursor;
  }

  /** Whether the dev set is due for evaluation after the step just taken: every `evalEvery` steps, and at the end. */
  get evalDue(): boolean {
    return this.evalDueAt(this.step);
  }

  /** Whether step `step` (1-based) evaluates: every `evalEvery` steps, and the last one. */
  evalDueAt(step: number): boolean {
    const every = this.config.evalEvery;
    return step > 0 && ((every > 0 && step % every === 0) || step >= this.config.steps);
  }

  /** The step's gradients on `batch` under `cfg`: fresh delta_0 and dropout seeds from the run's RNG. */
  /** The next training batch; for masked LM masked with the run's RNG (rate and whole-word from the config). */
  private nextBatch(): Batch {
    const indices = this.nextIndices();
    if (!this.masking) return batchTensors(this.train, indices);
    return maskedBatchTensors(this.train, indices, this.maskingOptions(), this.rng);
  }

  private gradients(cfg: TrainConfig, batch: Batch, plan?: (p: AlumDropout) => void): AlumStepResult {
    const shape: [number, number, number] = [cfg.batchSize, this.train.maxLength, this.model.hiddenSize];
    const deltaInit = initialPerturbation(cfg, shape, batch.attentionMask, () => this.rng.seed());
    const dropout = dropoutPlan(this.rng, cfg.dropout, cfg.k, cfg.advDropout);
    plan?.(dropout);
    if (cfg.method === 'smart' && !this.ema) this.ema = createEma(this.params);
    const opts = { dropout, deltaInit, record: false };
    return methodGradients(this.params, this.model, batch, cfg, opts, this.ema);
  }

  /** SMART's EMA copy as it stands (null when the run has none); checkpoints read it. */
  get emaParams(): Params | null {
    return this.ema;
  }

  /** Replaces the EMA copy by these values (a checkpoint's), or drops it (null). */
  restoreEma(values: ReadonlyMap<string, Float32Array> | null): void {
    if (this.ema) disposeParams(this.ema);
    this.ema = null;
    if (!values) return;
    const ema: Params = new Map();
    for (const [name, p] of this.params) {
      const v = values.get(name);
      if (!v) throw new Error(`EMA copy has no parameter '${name}'`);
      ema.set(name, variableFrom(v, p.shape, false));
    }
    this.ema = ema;
  }

  /** After an update: SMART moves its EMA copy towards the new weights; any other method drops the copy. */
  private afterUpdate(cfg: TrainConfig): void {
    if (cfg.method === 'smart' && this.ema) updateEma(this.ema, this.params, cfg.smartBeta);
    else if (cfg.method !== 'smart') this.restoreEma(null);
  }

  /**
   * The metrics a step under `cfg` (the run's config by default) gives on the next batch, without updating
   * the weights: to compare variants on the same model. Uses up a batch and RNG draws like a step.
   */
  async probe(cfg: TrainConfig = this.config): Promise<StepScalars> {
    const batch = this.nextBatch();
    let result: AlumStepResult | null = null;
    try {
      result = this.gradients({ ...cfg, batchSize: this.config.batchSize }, batch);
      const scalars = stepScalars(result, batch.attentionMask);
      const values = await scalars.data();
      scalars.dispose();
      return readStepScalars(values);
    } finally {
      if (result) disposeStepResult(result);
      disposeBatch(batch);
    }
  }

  /**
   * When the step just taken is due (`evalDue`), evaluates the dev set into its `row`, timed: `evalMs`, also
   * added to `ms`, so that the row's `ms` is the step's whole wall time (`trainMs` + `evalMs`).
   */
  async evaluateDueInto(row: MetricRow): Promise<void> {
    if (!this.evalDue) return;
    const started = performanceNow();
    Object.assign(row, await this.evaluateDev());
    row.evalMs = performanceNow() - started;
    row.ms += row.evalMs;
  }

  /** One optimizer step. Returns the step's metrics (no devAccuracy; see `evaluate` and `evalDue`). */
  async trainStep(): Promise<MetricRow> {
    const started = performanceNow();
    const cfg = this.config;
    const batch = this.nextBatch();
    const lr = lrAt(this.step, cfg.steps, cfg.lr);
    let result: AlumStepResult | null = null;
    let flatGrads: FlatGradients | null = null;
    let gradSquares: tf.Scalar | null = null;
    let trainHits: tf.Scalar | null = null;
    let split: [tf.Scalar, tf.Scalar] | null = null;
    try {
      let clean: DropoutPass = NO_DROPOUT;
      result = this.gradients(cfg, batch, (p) => (clean = p.clean));
      // Concatenated once: the global norm (read back for the finiteness check and the clip factor) and the update.
      flatGrads = this.optimizer.flatten(result.grads);
      gradSquares = sumOfSquares(flatGrads.flats);
      // A classifier's logits [B, C] are read back with the metrics and scored here; a masked LM's [M, V] on the device.
      const scoreHere = this.classifies && !this.masking;
      const onDevice = this.classifies && !scoreHere;
      trainHits = onDevice ? batchAccuracy(result.logitsClean, batch.labels) : tf.scalar(NaN);
      // On the steps that evaluate (about 10 per run): one more gradient pass, of the task term alone.
      if (this.evalDueAt(this.step + 1)) {
        split = gradientSplit(this.params, this.model, batch, cfg, clean, result.grads);
      }
      const extra = [gradSquares, trainHits, ...(split ?? [])];
      const tail = scoreHere ? [result.logitsClean, batch.labels] : [];
      const scalars = stepScalars(result, batch.attentionMask, extra, tail);
      const values = await scalars.data();
      scalars.dispose();
      const m = readStepScalars(values, extra.length);
      const gradNormValue = normFromSquares(values[STEP_EXTRA_AT] ?? NaN);
      const tailAt = stepTailAt(extra.length);
      const [b, c] = result.logitsClean.shape;
      const trainAccuracy = scoreHere
        ? accuracyOf(values.subarray(tailAt, tailAt + b * c), values.subarray(tailAt + b * c), c)
        : (values[STEP_EXTRA_AT + 1] ?? NaN);
      const gradSplit = split && {
        taskGradNorm: values[STEP_EXTRA_AT + 2] ?? NaN,
        advGradNorm: values[STEP_EXTRA_AT + 3] ?? NaN,
      };
      // Do not apply a non-finite update: the weights trained so far are kept intact.
      if (!Number.isFinite(m.totalLoss)) {
        throw new Error(
          `step ${this.step + 1}: loss is not finite (task ${m.taskLoss}, adv ${m.advLoss}); update skipped`,
        );
      }
      if (!Number.isFinite(gradNormValue)) {
        throw new Error(
          `step ${this.step + 1}: parameter gradient norm is not finite (${gradNormValue}); update skipped`,
        );
      }
      this.optimizer.apply(flatGrads, lr, gradNormValue);
      this.afterUpdate(cfg);
      if (m.skippedNow > 0) this.skipped += 1;
      this.step += 1;
      const { skippedNow: _, ...row } = m;
      const ms = performanceNow() - started;
      // Masked LM: taskLoss is the masked-token cross-entropy, trainAccuracy the masked-token accuracy.
      const mlm = this.masking ? { perplexity: Math.exp(m.taskLoss) } : {};
      const accuracy = { ...(this.classifies ? { trainAccuracy } : {}), ...mlm };
      return {
        step: this.step,
        ...row,
        skipped: this.skipped,
        lr,
        ms,
        trainMs: ms,
        ...accuracy,
        ...gradSplit,
      };
    } finally {
      if (flatGrads) disposeFlat(flatGrads);
      gradSquares?.dispose();
      tf.dispose(split ?? []);
      trainHits?.dispose();
      if (result) disposeStepResult(result);
      disposeBatch(batch);
    }
  }

  /** Accuracy on a split with dropout off, in batches of `batchSize` rows. */
  async evaluate(split: RowSplit = this.devEval, batchSize = 64): Promise<number> {
    if (split.count === 0) return NaN;
    let correct = 0;
    for (let start = 0; start < split.count; start += batchSize) {
      const rows = Array.from({ length: Math.min(batchSize, split.count - start) }, (_, i) => start + i);
      const batch = batchTensors(split, rows);
      try {
        const hits = tf.tidy(() =>
          forward(this.params, this.model, batch, NO_DROPOUT).argMax(-1).equal(batch.labels).toInt().sum(),
        );
        try {
          correct += (await hits.data())[0] ?? 0;
        } finally {
          hits.dispose();
        }
      } finally {
        disposeBatch(batch);
      }
    }
    return correct / split.count;
  }

  /**
   * The dev metrics of a row: accuracy for classification; Pearson, Spearman and MSE of the one output
   * against the targets for regression. Dropout off.
   */
  async evaluateDev(split: RowSplit = this.devEval): Promise<Partial<MetricRow>> {
    if (this.masking) {
      const { loss, accuracy } = await this.evaluateMasked(split);
      return { devLoss: loss, devAccuracy: accuracy };
    }
    if (this.model.problemType !== 'regression') return { devAccuracy: await this.evaluate(split) };
    const pred = await this.predictOutputs(split);
    const target = split.labels;
    return {
      devPearson: pearson(pred, target),
      devSpearman: spearman(pred, target),
      devMse: meanSquaredError(pred, target),
    };
  }

  /** Masking options of this run's masked-LM batches (rate and whole-word from the config). */
  private maskingOptions(): MaskingOptions {
    if (!this.masking) throw new Error('not a masked-LM run');
    return { ...this.masking, rate: this.config.maskRate, wholeWord: this.config.wholeWordMask };
  }

  /**
   * Masked LM: the dev slice's masking, in batches of `batchSize` rows, from a fixed seed (DEV_MASK_SEED): the
   * same tokens at every evaluation. Pure JS.
   */
  devMasking(split: RowSplit = this.devEval, batchSize = 64): { rows: number[]; masked: MaskedTokens }[] {
    const options = this.maskingOptions();
    const rng = makeRng(DEV_MASK_SEED);
    const t = split.maxLength;
    const out: { rows: number[]; masked: MaskedTokens }[] = [];
    for (let start = 0; start < split.count; start += batchSize) {
      const rows = Array.from({ length: Math.min(batchSize, split.count - start) }, (_, i) => start + i);
      const picked = split.rows(rows); // [b, T]
      const masked = maskTokens(picked.inputIds, picked.attentionMask, t, options, rng);
      out.push({ rows, masked });
    }
    return out;
  }

  /**
   * Masked LM: mean cross-entropy and accuracy over every masked token of a split (`devMasking`), dropout off.
   */
  async evaluateMasked(
    split: RowSplit = this.devEval,
    batchSize = 64,
  ): Promise<{ loss: number; accuracy: number }> {
    let nll = 0;
    let hits = 0;
    let n = 0;
    for (const { rows, masked } of this.devMasking(split, batchSize)) {
      const m = masked.positions.length;
      if (m === 0) continue;
      const [b, t] = [rows.length, split.maxLength];
      const mask = split.rows(rows).attentionMask; // [b, T]
      const sums = tf.tidy(() => {
        const labels = tf.tensor1d(masked.labels, 'int32'); // [M]
        const inputs = {
          inputIds: tf.tensor2d(masked.inputIds, [b, t], 'int32'),
          tokenTypeIds: tf.zeros([b, t], 'int32') as tf.Tensor2D,
          attentionMask: tf.tensor2d(mask, [b, t], 'int32'),
        };
        const z = mlmForward(
          this.params,
          this.model,
          inputs,
          tf.tensor1d(masked.positions, 'int32'),
          NO_DROPOUT,
        ); // [M, V]
        return tf.stack([maskedLmLoss(z, labels).mul(m), z.argMax(-1).equal(labels).toFloat().sum()]);
      });
      const [l, h] = await sums.data();
      sums.dispose();
      nll += l ?? NaN;
      hits += h ?? NaN;
      n += m;
    }
    return { loss: n ? nll / n : NaN, accuracy: n ? hits / n : NaN };
  }

  /** The first output of every row of a split (the regression prediction), dropout off, in batches. */
  async predictOutputs(split: RowSplit, batchSize = 64): Promise<Float32Array> {
    const out = new Float32Array(split.count);
    for (let start = 0; start < split.count; start += batchSize) {
      const rows = Array.from({ length: Math.min(batchSize, split.count - start) }, (_, i) => start + i);
      const batch = batchTensors(split, rows);
      try {
        const first = tf.tidy(() =>
          forward(this.params, this.model, batch, NO_DROPOUT).slice([0, 0], [-1, 1]).reshape([-1]),
        ); // [b]
        try {
          out.set(await first.data(), start);
        } finally {
          first.dispose();
        }
      } finally {
        disposeBatch(batch);
      }
    }
    return out;
  }

  dispose(): void {
    this.restoreEma(null);
    this.optimizer.dispose();
    disposeParams(this.params);
  }
}

function performanceNow(): number {
  return performance.now();
}

/**
 * A training run as a value: config + model + optimizer + encoded data + RNG, stepped one batch at a time.
 * Knows nothing about workers, UIs or files (minGPT's Trainer); the worker and the CLI both drive it.
 * Every tensor it makes is freed before `trainStep` returns: tf.memory().numTensors is flat across steps.
 */
import * as tf from '@tensorflow/tfjs';

import type { AdvDropout, ModelConfig, TrainConfig } from '../config.ts';
import type { EncodedSplit } from '../data/dataset.ts';
import { STEP_METRICS, type MetricRow } from '../metrics.ts';
import type { BertInputs } from '../model/bert.ts';
import { forward, NO_DROPOUT, type DropoutPass } from '../model/bert.ts';
import { disposeParams, type Params } from '../model/params.ts';
import { makeRng, shuffled, type Rng } from '../rng.ts';
import { AdamW, ADAMW_DEFAULTS, globalNorm } from './adamw.ts';
import { alumGradients, disposeStepResult, type AlumDropout, type AlumStepResult } from './alum.ts';
import { meanSquaredError, pearson, spearman } from './regression-metrics.ts';
import { lrAt } from './schedule.ts';

export type Batch = BertInputs & { labels: tf.Tensor1D };

/** Tensors for rows `indices` of a split. Caller disposes (`disposeBatch`). */
export function batchTensors(split: EncodedSplit, indices: readonly number[]): Batch {
  const t = split.maxLength;
  const b = indices.length;
  const ids = new Int32Array(b * t);
  const types = new Int32Array(b * t);
  const mask = new Int32Array(b * t);
  const regression = split.labels instanceof Float32Array;
  const labels = regression ? new Float32Array(b) : new Int32Array(b);
  indices.forEach((row, i) => {
    ids.set(split.inputIds.subarray(row * t, (row + 1) * t), i * t);
    types.set(split.tokenTypeIds.subarray(row * t, (row + 1) * t), i * t);
    mask.set(split.attentionMask.subarray(row * t, (row + 1) * t), i * t);
    labels[i] = split.labels[row] as number;
  });
  return {
    inputIds: tf.tensor2d(ids, [b, t], 'int32'),
    tokenTypeIds: tf.tensor2d(types, [b, t], 'int32'),
    attentionMask: tf.tensor2d(mask, [b, t], 'int32'),
    labels: tf.tensor1d(labels, regression ? 'float32' : 'int32'), // [B]
  };
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.inputIds, b.tokenTypeIds, b.attentionMask, b.labels]);
}

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

/** The scalar metrics of a step, in the order `stepScalars` stacks them (one readback per step). */
export const STEP_SCALARS = [...STEP_METRICS, 'skippedNow'] as const;

export type StepScalars = Record<(typeof STEP_SCALARS)[number], number>;

/** The step's scalar metrics as one tensor [STEP_SCALARS.length] (plus the gradient norm last, when given). */
export function stepScalars(
  r: AlumStepResult,
  attentionMask: tf.Tensor2D,
  gradNorm?: tf.Scalar,
): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = attentionMask.toFloat(); // [B, T]
    const tokens = mask.sum();
    const hidden = r.embedding.shape[2];
    const perToken = (x: tf.Tensor) => x.mul(mask).sum().div(tokens); // [B, T] -> mean over real tokens
    const zero = tf.scalar(0);
    const lastGrad = r.deltaGrads[r.deltaGrads.length - 1];
    const d = r.deltaFinal;
    const values: Record<(typeof STEP_SCALARS)[number], tf.Tensor> = {
      taskLoss: r.taskLoss,
      advLoss: r.advLoss,
      totalLoss: r.totalLoss,
      innerGradNorm: lastGrad ? lastGrad.square().sum().sqrt().mul(tf.scalar(1).sub(r.skipped)) : zero,
      deltaLinf: d ? perToken(d.abs().max(-1)) : zero,
      deltaL2: d ? perToken(d.square().sum(-1).sqrt()) : zero,
      embedAbsMean: perToken(r.embedding.abs().sum(-1)).div(hidden),
      effPerturb: r.eff ? r.eff.sum().div(tokens.mul(hidden)) : zero,
      klInit: r.klInit,
      klAdv: r.klAdv,
      dropoutKl: r.dropoutKl,
      skippedNow: r.skipped,
    };
    return tf.stack([...STEP_SCALARS.map((k) => values[k]), ...(gradNorm ? [gradNorm] : [])]) as tf.Tensor1D;
  });
}

/** Names the values `stepScalars` read back. */
export function readStepScalars(values: ArrayLike<number>): StepScalars {
  return Object.fromEntries(STEP_SCALARS.map((k, i) => [k, values[i] ?? NaN])) as StepScalars;
}

export class TrainingRun {
  step = 0;
  skipped = 0;
  readonly rng: Rng;
  readonly optimizer: AdamW;
  private order: number[] = [];
  private cursor = 0;

  constructor(
    readonly config: TrainConfig,
    readonly model: ModelConfig,
    readonly params: Params,
    readonly train: EncodedSplit,
    readonly dev: EncodedSplit,
    readonly labels: readonly string[],
  ) {
    if (train.count < 1) throw new Error('training data: no examples');
    // A different stream from the one that initialised the weights (seed + 1).
    this.rng = makeRng((config.seed + 1) >>> 0);
    this.optimizer = new AdamW(params, { ...ADAMW_DEFAULTS, weightDecay: config.weightDecay });
  }

  get paramCount(): number {
    let n = 0;
    this.params.forEach((v) => (n += v.size));
    return n;
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
    const every = this.config.evalEvery;
    return this.step > 0 && ((every > 0 && this.step % every === 0) || this.done);
  }

  /** The step's gradients on `batch` under `cfg`: fresh delta_0 and dropout seeds from the run's RNG. */
  private gradients(cfg: TrainConfig, batch: Batch): AlumStepResult {
    const shape: [number, number, number] = [cfg.batchSize, this.train.maxLength, this.model.hiddenSize];
    const deltaInit =
      cfg.method === 'alum' ? tf.randomNormal(shape, 0, cfg.sigma, 'float32', this.rng.seed()) : null;
    return alumGradients(this.params, this.model, batch, cfg, {
      dropout: dropoutPlan(this.rng, cfg.dropout, cfg.k, cfg.advDropout),
      deltaInit: deltaInit as tf.Tensor3D | null,
      record: false,
    });
  }

  /**
   * The metrics a step under `cfg` (the run's config by default) gives on the next batch, without updating
   * the weights: to compare variants on the same model. Uses up a batch and RNG draws like a step.
   */
  async probe(cfg: TrainConfig = this.config): Promise<StepScalars> {
    const batch = batchTensors(this.train, this.nextIndices());
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

  /** One optimizer step. Returns the step's metrics (no devAccuracy; see `evaluate` and `evalDue`). */
  async trainStep(): Promise<MetricRow> {
    const started = performanceNow();
    const cfg = this.config;
    const batch = batchTensors(this.train, this.nextIndices());
    const lr = lrAt(this.step, cfg.steps, cfg.lr);
    let result: AlumStepResult | null = null;
    let gradNorm: tf.Scalar | null = null;
    try {
      result = this.gradients(cfg, batch);
      gradNorm = globalNorm(result.grads.values()); // read back for the finiteness check, reused for clipping
      const scalars = stepScalars(result, batch.attentionMask, gradNorm);
      const values = await scalars.data();
      scalars.dispose();
      const m = readStepScalars(values);
      const gradNormValue = values[STEP_SCALARS.length] ?? NaN;
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
      this.optimizer.apply(result.grads, lr, gradNorm);
      if (m.skippedNow > 0) this.skipped += 1;
      this.step += 1;
      const { skippedNow: _, ...row } = m;
      return { step: this.step, ...row, skipped: this.skipped, lr, ms: performanceNow() - started };
    } finally {
      gradNorm?.dispose();
      if (result) disposeStepResult(result);
      disposeBatch(batch);
    }
  }

  /** Accuracy on a split with dropout off, in batches of `batchSize` rows. */
  async evaluate(split: EncodedSplit = this.dev, batchSize = 64): Promise<number> {
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
  async evaluateDev(split: EncodedSplit = this.dev): Promise<Partial<MetricRow>> {
    if (this.model.problemType !== 'regression') return { devAccuracy: await this.evaluate(split) };
    const pred = await this.predictOutputs(split);
    const target = split.labels;
    return {
      devPearson: pearson(pred, target),
      devSpearman: spearman(pred, target),
      devMse: meanSquaredError(pred, target),
    };
  }

  /** The first output of every row of a split (the regression prediction), dropout off, in batches. */
  async predictOutputs(split: EncodedSplit, batchSize = 64): Promise<Float32Array> {
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
    this.optimizer.dispose();
    disposeParams(this.params);
  }
}

function performanceNow(): number {
  return performance.now();
}

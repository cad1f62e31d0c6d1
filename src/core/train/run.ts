/**
 * A training run as a value: config + model + optimizer + encoded data + RNG, stepped one batch at a time.
 * Knows nothing about workers, UIs or files (minGPT's Trainer); the worker and the CLI both drive it.
 * Every tensor it makes is freed before `trainStep` returns: tf.memory().numTensors is flat across steps.
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig, TrainConfig } from '../config.ts';
import type { EncodedBatch } from '../data/dataset.ts';
import type { MetricRow } from '../metrics.ts';
import type { BertInputs } from '../model/bert.ts';
import { forward, NO_DROPOUT } from '../model/bert.ts';
import { disposeParams, type Params } from '../model/params.ts';
import { makeRng, shuffled, type Rng } from '../rng.ts';
import { AdamW, ADAMW_DEFAULTS, globalNorm } from './adamw.ts';
import { alumGradients, disposeStepResult, type AlumDropout, type AlumStepResult } from './alum.ts';
import { lrAt } from './schedule.ts';

/** Token ids of a data split, row-major [count, maxLength] (what `encodeBatch` produces). */
export type EncodedSplit = EncodedBatch;

export type Batch = BertInputs & { labels: tf.Tensor1D };

/** Tensors for rows `indices` of a split. Caller disposes (`disposeBatch`). */
export function batchTensors(split: EncodedSplit, indices: readonly number[]): Batch {
  const t = split.maxLength;
  const b = indices.length;
  const ids = new Int32Array(b * t);
  const types = new Int32Array(b * t);
  const mask = new Int32Array(b * t);
  const labels = new Int32Array(b);
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
    labels: tf.tensor1d(labels, 'int32'),
  };
}

export function disposeBatch(b: Batch): void {
  tf.dispose([b.inputIds, b.tokenTypeIds, b.attentionMask, b.labels]);
}

/** Dropout passes for one ALUM step, each with its own seed from the run's RNG. */
export function dropoutPlan(rng: Rng, rate: number, k: number): AlumDropout {
  const pass = () => ({ rate, seed: rng.seed() });
  return { clean: pass(), inner: Array.from({ length: k }, pass), adv: pass() };
}

/**
 * The scalar metrics of a step as one tensor (one readback):
 * [task, adv, total, innerGradNorm, deltaLinf, deltaL2, embedAbsMean, effPerturb(, gradNorm when given)]
 */
export function stepScalars(
  r: AlumStepResult,
  attentionMask: tf.Tensor2D,
  gradNorm?: tf.Scalar,
): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = attentionMask.toFloat(); // [B, T]
    const tokens = mask.sum();
    const hidden = r.embedding.shape[2];
    const perToken = (x: tf.Tensor2D) => x.mul(mask).sum().div(tokens); // mean over real tokens
    const zero = tf.scalar(0);
    const lastGrad = r.deltaGrads[r.deltaGrads.length - 1];
    const d = r.deltaFinal;
    return tf.stack([
      r.taskLoss,
      r.advLoss,
      r.totalLoss,
      lastGrad ? lastGrad.square().sum().sqrt() : zero,
      d ? perToken(d.abs().max(-1) as tf.Tensor2D) : zero,
      d ? perToken(d.square().sum(-1).sqrt() as tf.Tensor2D) : zero,
      perToken(r.embedding.abs().sum(-1) as tf.Tensor2D).div(hidden),
      r.eff ? r.eff.sum().div(tokens.mul(hidden)) : zero,
      ...(gradNorm ? [gradNorm] : []),
    ]) as tf.Tensor1D;
  });
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

  /** One optimizer step. Returns the step's metrics (no devAccuracy; see `evaluate`). */
  async trainStep(): Promise<MetricRow> {
    const started = performanceNow();
    const cfg = this.config;
    const batch = batchTensors(this.train, this.nextIndices());
    const shape: [number, number, number] = [cfg.batchSize, this.train.maxLength, this.model.hiddenSize];
    const lr = lrAt(this.step, cfg.steps, cfg.lr);
    let result: AlumStepResult | null = null;
    let gradNorm: tf.Scalar | null = null;
    try {
      const deltaInit =
        cfg.method === 'alum' ? tf.randomNormal(shape, 0, cfg.sigma, 'float32', this.rng.seed()) : null;
      result = await alumGradients(this.params, this.model, batch, cfg, {
        dropout: dropoutPlan(this.rng, cfg.dropout, cfg.k),
        deltaInit: deltaInit as tf.Tensor3D | null,
        record: false,
      });
      gradNorm = globalNorm(result.grads.values()); // read back for the finiteness check, reused for clipping
      const scalars = stepScalars(result, batch.attentionMask, gradNorm);
      const values = await scalars.data();
      scalars.dispose();
      const [task, adv, total] = [values[0] ?? NaN, values[1] ?? NaN, values[2] ?? NaN];
      const gradNormValue = values[8] ?? NaN;
      // Do not apply a non-finite update: the weights trained so far are kept intact.
      if (!Number.isFinite(total)) {
        throw new Error(
          `step ${this.step + 1}: loss is not finite (task ${task}, adv ${adv}); update skipped`,
        );
      }
      if (!Number.isFinite(gradNormValue)) {
        throw new Error(
          `step ${this.step + 1}: parameter gradient norm is not finite (${gradNormValue}); update skipped`,
        );
      }
      this.optimizer.apply(result.grads, lr, gradNorm);
      if (result.skipped) this.skipped += 1;
      this.step += 1;
      return {
        step: this.step,
        taskLoss: task,
        advLoss: adv,
        totalLoss: total,
        innerGradNorm: values[3] ?? 0,
        deltaLinf: values[4] ?? 0,
        deltaL2: values[5] ?? 0,
        embedAbsMean: values[6] ?? 0,
        effPerturb: values[7] ?? 0,
        skipped: this.skipped,
        lr,
        ms: performanceNow() - started,
      };
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

  dispose(): void {
    this.optimizer.dispose();
    disposeParams(this.params);
  }
}

function performanceNow(): number {
  return performance.now();
}

/**
 * Attacks in embedding space, at the point ALUM perturbs in training (the embedding-layer output e, bert.ts):
 *   pgd     projected gradient ascent of CE(f(e + delta), y) over the per-token ball ||delta_t|| <= epsilon
 *           (Madry et al. 2018, arXiv 1706.06083): a random start uniform in the cube [-epsilon, epsilon]^H
 *           (projected onto the ball), then K steps of the training's own `paper` update (alum.ts `updateDelta`:
 *           delta + eta g / ||g||_t, then `projectToBall`), so attack and training share one threat model;
 *   random  the control: noise of the same size, uniform directions scaled to ||delta_t|| = epsilon exactly.
 * Both are zero on padding. Not text attacks: no input token changes (docs/robustness.md).
 */
import * as tf from '@tensorflow/tfjs';

import type { Example } from '../data/dataset.ts';
import { classify, embed, NO_DROPOUT } from '../model/bert.ts';
import { makeRng } from '../rng.ts';
import { projectToBall, tokenNorm, updateDelta } from '../train/alum.ts';
import { crossEntropy } from '../train/losses.ts';
import type { Batch } from '../train/run.ts';
import { disposeBatch } from '../train/run.ts';
import { argmax, encodeExample, QUERY_BATCH, rowsBatch } from './victim.ts';
import type { AttackHooks, AttackRecord, AttackSettings, Victim } from './types.ts';

type Kind = 'pgd' | 'random';
type BallSettings = Pick<AttackSettings, 'epsilon' | 'k' | 'eta' | 'norm'>;

/** PGD on the embedding output e [B, T, H] for labels [B]; mask3 [B, T, 1]. -> delta [B, T, H] */
function pgdDelta(
  v: Victim,
  e: tf.Tensor3D,
  batch: Batch,
  mask3: tf.Tensor3D,
  s: BallSettings,
  seed: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const cube = tf.randomUniform(e.shape, -s.epsilon, s.epsilon, 'float32', seed) as tf.Tensor3D;
    let delta = projectToBall(cube, s.epsilon, s.norm).mul(mask3) as tf.Tensor3D; // random start
    const loss = (d: tf.Tensor) =>
      crossEntropy(
        classify(v.params, v.model, e.add(d) as tf.Tensor3D, batch.attentionMask, NO_DROPOUT),
        batch.labels,
      );
    const step = { variant: 'paper' as const, eta: s.eta, epsilon: s.epsilon, norm: s.norm };
    for (let k = 0; k < s.k; k++) {
      const g = tf.grad(loss)(delta) as tf.Tensor3D; // [B, T, H]
      const { next, eff } = updateDelta(delta, g, mask3, step);
      tf.dispose([g, eff, delta]);
      delta = next;
    }
    return delta;
  });
}

/** Uniform noise on the per-token sphere of radius epsilon (zero on padding). -> [B, T, H] */
function randomDelta(e: tf.Tensor3D, mask3: tf.Tensor3D, s: BallSettings, seed: number): tf.Tensor3D {
  return tf.tidy(() => {
    const u = tf.randomUniform(e.shape, -1, 1, 'float32', seed) as tf.Tensor3D;
    return u.div(tokenNorm(u, s.norm)).mul(s.epsilon).mul(mask3) as tf.Tensor3D;
  });
}

/** The attack's perturbation of a batch's embedding output e [B, T, H]. Caller disposes. */
export function embeddingDelta(
  v: Victim,
  e: tf.Tensor3D,
  batch: Batch,
  s: BallSettings,
  kind: Kind,
  seed: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const mask3 = batch.attentionMask.toFloat().expandDims(-1) as tf.Tensor3D; // [B, T, 1]
    return kind === 'pgd' ? pgdDelta(v, e, batch, mask3, s, seed) : randomDelta(e, mask3, s, seed);
  });
}

/** Clean and attacked probabilities [B, C] and the per-token perturbation norms [B, T] of one batch. */
function attackBatch(v: Victim, batch: Batch, s: BallSettings, kind: Kind, seed: number) {
  return tf.tidy(() => {
    const e = embed(v.params, v.model, batch, NO_DROPOUT); // [B, T, H]
    const delta = embeddingDelta(v, e, batch, s, kind, seed);
    const mask = batch.attentionMask;
    return {
      clean: tf.softmax(classify(v.params, v.model, e, mask, NO_DROPOUT)), // [B, C]
      adv: tf.softmax(classify(v.params, v.model, e.add(delta) as tf.Tensor3D, mask, NO_DROPOUT)), // [B, C]
      norms: tokenNorm(delta, s.norm).squeeze([2]), // [B, T]
    };
  });
}

/** pgd (kind `pgd`) or its same-size random control (`random`) on `examples`, QUERY_BATCH at a time. */
export async function embeddingAttack(
  kind: Kind,
  v: Victim,
  examples: readonly Example[],
  s: AttackSettings,
  hooks: AttackHooks,
): Promise<AttackRecord[]> {
  const rng = makeRng(s.seed);
  const records: AttackRecord[] = [];
  const queries = kind === 'pgd' ? s.k + 2 : 2; // clean, K gradient passes, attacked
  for (let start = 0; start < examples.length; start += QUERY_BATCH) {
    if (hooks.shouldStop?.()) break;
    const part = examples.slice(start, start + QUERY_BATCH);
    const ids = part.map((ex) => encodeExample(v, ex));
    const batch = rowsBatch(
      v,
      ids,
      part.map((ex) => ex.label),
    );
    try {
      const out = attackBatch(v, batch, s, kind, rng.seed());
      const [clean, adv, norms] = await Promise.all([out.clean.data(), out.adv.data(), out.norms.data()]);
      tf.dispose([out.clean, out.adv, out.norms]);
      const c = v.model.numLabels;
      part.forEach((ex, i) => {
        const len = ids[i]?.inputIds.length ?? 0;
        const tokenNorms = Array.from(norms.subarray(i * v.maxLength, i * v.maxLength + len));
        const cleanProbs = Array.from(clean.subarray(i * c, (i + 1) * c));
        const attackedProbs = Array.from(adv.subarray(i * c, (i + 1) * c));
        records.push({
          index: start + i,
          label: ex.label,
          ...texts(ex),
          ids: ids[i]?.inputIds ?? [],
          attackedIds: ids[i]?.inputIds ?? [],
          changed: tokenNorms.flatMap((n, t) => (n > 0 ? [t] : [])),
          units: len,
          cleanPrediction: argmax(cleanProbs),
          cleanProbs,
          attackedPrediction: argmax(attackedProbs),
          attackedProbs,
          queries,
          perturbationNorm: Math.max(0, ...tokenNorms),
        });
      });
    } finally {
      disposeBatch(batch);
    }
    await hooks.onProgress?.(records.length, examples.length);
  }
  return records;
}

/** The record's text fields: an embedding attack leaves the text as it is. */
function texts(ex: Example): Pick<AttackRecord, 'text' | 'textPair' | 'attackedText' | 'attackedTextPair'> {
  return ex.textPair === undefined
    ? { text: ex.text, attackedText: ex.text }
    : { text: ex.text, textPair: ex.textPair, attackedText: ex.text, attackedTextPair: ex.textPair };
}

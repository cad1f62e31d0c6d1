/**
 * HotFlip (Ebrahimi et al. 2018, arXiv 1712.06751), token level, white-box, over the model's own vocabulary:
 * the first-order change of the loss when token x_i becomes w is (E_w - E_{x_i}) . dL/dE_{x_i}, with E the
 * word-embedding table and L = CE(f(x), y). Greedy: each round scores every (position, token) pair with one
 * gradient pass, re-checks the `beam` best with a real forward pass each, and keeps the one that lowers p(y)
 * most; it stops when the label flips, when no candidate lowers p(y), or at `budget` changed positions.
 * [CLS], [SEP] and [PAD] are never changed, no special token is ever put in, and no position changes twice.
 */
import * as tf from '@tensorflow/tfjs';

import type { Example } from '../data/dataset.ts';
import { classify, embed, NO_DROPOUT } from '../model/bert.ts';
import { param, type Params } from '../model/params.ts';
import { crossEntropy } from '../train/losses.ts';
import { disposeBatch } from '../train/run.ts';
import { SPECIAL_TOKENS } from '../tokenizer/wordpiece.ts';
import { argmax, eachExample, encodeExample, lowest, probabilities, rowsBatch, type Ids } from './victim.ts';
import type { AttackFn, AttackRecord, AttackSettings, Victim } from './types.ts';

const WORD_TABLE = 'bert.embeddings.word_embeddings.weight';

/**
 * dL/dE_{x_t} for each position t of one input: the gradient of CE(f(ids), y) with respect to the word vectors
 * the embedding layer looks up. Through `embed` itself: its table is replaced by the T looked-up rows and the
 * ids by 0..T-1, which gives the same output and a gradient row per position (a token seen twice gets two).
 * -> [T, H]
 */
export function wordVectorGradient(v: Victim, row: Ids, label: number): tf.Tensor2D {
  const batch = rowsBatch(v, [row], [label]);
  try {
    return tf.tidy(() => {
      const t = v.maxLength;
      const rows = tf.gather(param(v.params, WORD_TABLE), batch.inputIds.reshape([t])); // [T, H]
      const positions = tf.range(0, t, 1, 'int32').reshape([1, t]) as tf.Tensor2D;
      const loss = (table: tf.Tensor) => {
        const p: Params = new Map(v.params);
        p.set(WORD_TABLE, table as tf.Variable); // read-only use: embed only looks rows up
        const e = embed(p, v.model, { ...batch, inputIds: positions }, NO_DROPOUT); // [1, T, H]
        return crossEntropy(classify(v.params, v.model, e, batch.attentionMask, NO_DROPOUT), batch.labels);
      };
      return tf.grad(loss)(rows) as tf.Tensor2D;
    });
  } finally {
    disposeBatch(batch);
  }
}

/**
 * First-order scores s[t, w] = (E_w - E_{x_t}) . g_t for g = `wordVectorGradient` [T, H]: the loss increase
 * predicted for putting token w at position t. -> [T, V]
 */
export function flipScores(v: Victim, row: Ids, g: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const table = param(v.params, WORD_TABLE); // [V, H]
    const ids = tf.tensor1d(padIds(v, row), 'int32'); // [T]
    const gain = tf.matMul(g, table, false, true); // [T, V]: E_w . g_t
    const here = tf.gather(table, ids).mul(g).sum(-1, true); // [T, 1]: E_{x_t} . g_t
    return gain.sub(here) as tf.Tensor2D;
  });
}

function padIds(v: Victim, row: Ids): number[] {
  const out = new Array<number>(v.maxLength).fill(v.tokenizer.padId);
  row.inputIds.forEach((id, i) => (out[i] = id));
  return out;
}

/** Ids never put in: the special tokens. */
function bannedTokens(v: Victim): Set<number> {
  const ids = SPECIAL_TOKENS.map((t) => v.tokenizer.tokenToId(t)).filter((i): i is number => i !== undefined);
  return new Set(ids);
}

/** Positions that may change: real tokens that are not [CLS]/[SEP]/[PAD] and not changed before. */
function openPositions(v: Victim, row: Ids, changed: ReadonlySet<number>): number[] {
  const fixed = new Set([v.tokenizer.clsId, v.tokenizer.sepId, v.tokenizer.padId]);
  return row.inputIds.flatMap((id, t) => (fixed.has(id) || changed.has(t) ? [] : [t]));
}

/** The `beam` best (position, token) pairs by score among the allowed ones. */
async function bestFlips(
  v: Victim,
  row: Ids,
  label: number,
  positions: readonly number[],
  beam: number,
): Promise<{ t: number; w: number }[]> {
  const g = wordVectorGradient(v, row, label);
  const scores = flipScores(v, row, g);
  g.dispose();
  const s = await scores.data(); // [T, V]
  scores.dispose();
  const vocab = v.model.vocabSize;
  const banned = bannedTokens(v);
  const best: { t: number; w: number; score: number }[] = []; // the top `beam`, best first
  // Higher score first; ties by position then token id, so the order is fixed whatever the scan order.
  const before = (a: { t: number; w: number; score: number }, b: typeof a) =>
    a.score > b.score || (a.score === b.score && (a.t < b.t || (a.t === b.t && a.w < b.w)));
  for (const t of positions) {
    for (let w = 0; w < vocab; w++) {
      if (banned.has(w) || w === row.inputIds[t]) continue;
      const c = { t, w, score: s[t * vocab + w] as number };
      if (best.length === beam && !before(c, best[beam - 1] as typeof c)) continue;
      let i = Math.min(best.length, beam - 1);
      while (i > 0 && before(c, best[i - 1] as typeof c)) i--;
      best.splice(i, 0, c);
      if (best.length > beam) best.pop();
    }
  }
  return best;
}

/** One example: greedy flips until the label changes or the budget is spent. */
async function attackOne(v: Victim, ex: Example, index: number, s: AttackSettings): Promise<AttackRecord> {
  const original = encodeExample(v, ex);
  const [cleanProbs = []] = await probabilities(v, [original]);
  let queries = 1;
  const cleanPrediction = argmax(cleanProbs);
  let row: Ids = { inputIds: original.inputIds.slice(), tokenTypeIds: original.tokenTypeIds };
  let probs = cleanProbs;
  const changed = new Set<number>();
  if (cleanPrediction === ex.label) {
    while (changed.size < s.budget && argmax(probs) === ex.label) {
      const positions = openPositions(v, row, changed);
      if (positions.length === 0) break;
      const flips = await bestFlips(v, row, ex.label, positions, s.beam);
      queries += 1; // the gradient pass
      if (flips.length === 0) break;
      const tried = flips.map(({ t, w }) => ({
        ...row,
        inputIds: row.inputIds.map((id, i) => (i === t ? w : id)),
      }));
      const got = await probabilities(v, tried);
      queries += tried.length;
      const best = lowest(got, ex.label, probs[ex.label] as number);
      if (best < 0) break; // no candidate lowers p(y)
      row = tried[best] as Ids;
      probs = got[best] as number[];
      changed.add((flips[best] as { t: number }).t);
    }
  }
  // The ids are what was attacked; the texts are their decoding (the originals when nothing changed).
  const attacked = changed.size === 0 ? ex : decodeSegments(v, row);
  return {
    index,
    label: ex.label,
    text: ex.text,
    ...(ex.textPair === undefined ? {} : { textPair: ex.textPair }),
    ids: original.inputIds,
    attackedText: attacked.text,
    ...(attacked.textPair === undefined ? {} : { attackedTextPair: attacked.textPair }),
    attackedIds: row.inputIds,
    changed: [...changed].sort((a, b) => a - b),
    units: openPositions(v, original, new Set()).length,
    cleanPrediction,
    cleanProbs,
    attackedPrediction: argmax(probs),
    attackedProbs: probs,
    queries,
  };
}

/** The text (token type 0) and text pair (type 1) of ids, decoded without special tokens. */
function decodeSegments(v: Victim, row: Ids): { text: string; textPair?: string } {
  const part = (type: number) => row.inputIds.filter((_, i) => row.tokenTypeIds[i] === type);
  const text = v.tokenizer.decode(part(0), true);
  return row.tokenTypeIds.includes(1) ? { text, textPair: v.tokenizer.decode(part(1), true) } : { text };
}

/** HotFlip on each example (`AttackFn`). */
export const hotflipAttack: AttackFn = (v, examples, s, hooks) =>
  eachExample(examples, hooks, (ex, i) => attackOne(v, ex, i, s));

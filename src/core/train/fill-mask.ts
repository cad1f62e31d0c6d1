/**
 * Fill the mask: a sentence with [MASK] tokens through a masked LM (encoder + MLM head, no dropout), and the
 * top-k vocabulary entries with their probabilities at each [MASK]. The page's fill-mask box and its e2e test
 * use it; it reads the weights only (the run's RNG, data order and state are untouched).
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import { NO_DROPOUT } from '../model/bert.ts';
import { mlmForward } from '../model/mlm.ts';
import type { Params } from '../model/params.ts';
import type { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';

export interface FillMaskCandidate {
  token: string;
  probability: number;
}

export interface FillMaskResult {
  /** The sentence's tokens as the model reads them ([CLS] ... [SEP]). */
  tokens: string[];
  /** For each [MASK], in order: its index in `tokens` and the top-k candidates, most probable first. */
  slots: { index: number; candidates: FillMaskCandidate[] }[];
}

/** Largest number of candidates a slot may ask for. */
export const MAX_TOP_K = 50;

/** Tokenises `text` (which must hold at least one [MASK]) into single-row inputs, truncated at `maxLength`. */
function maskedInputs(
  tokenizer: WordPieceTokenizer,
  text: string,
  maxLength: number,
): { ids: number[]; masks: number[] } {
  const ids = tokenizer.encode(text, undefined, maxLength).inputIds;
  const masks = ids.flatMap((id, i) => (id === tokenizer.maskId ? [i] : []));
  if (masks.length === 0) {
    const cut = tokenizer.encode(text).inputIds.includes(tokenizer.maskId);
    throw new Error(
      cut
        ? `fill-mask: every [MASK] is beyond the first ${maxLength} tokens`
        : 'fill-mask: the text has no [MASK] token (type [MASK] where a word should be predicted)',
    );
  }
  return { ids, masks };
}

/** The masked LM's top-`topK` predictions at each [MASK] of `text` (no dropout). */
export async function fillMask(
  params: Params,
  model: ModelConfig,
  tokenizer: WordPieceTokenizer,
  text: string,
  maxLength: number,
  topK = 5,
): Promise<FillMaskResult> {
  if (!Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K)
    throw new Error(`fill-mask: top-k must be an integer in [1, ${MAX_TOP_K}], got ${topK}`);
  const { ids, masks } = maskedInputs(tokenizer, text, maxLength);
  const t = ids.length;
  const { values, indices } = tf.tidy(() => {
    const inputs = {
      inputIds: tf.tensor2d([ids], [1, t], 'int32'),
      tokenTypeIds: tf.zeros([1, t], 'int32') as tf.Tensor2D,
      attentionMask: tf.ones([1, t], 'int32') as tf.Tensor2D,
    };
    const positions = tf.tensor1d(masks, 'int32'); // flat indices b*T + t with b = 0
    const probs = tf.softmax(mlmForward(params, model, inputs, positions, NO_DROPOUT)); // [M, V]
    return tf.topk(probs, Math.min(topK, model.vocabSize)); // [M, k] each
  });
  try {
    const p = (await values.array()) as number[][];
    const k = (await indices.array()) as number[][];
    return {
      tokens: ids.map((id) => tokenizer.vocab[id] ?? '[UNK]'),
      slots: masks.map((index, m) => ({
        index,
        candidates: (k[m] ?? []).map((id, j) => ({
          token: tokenizer.vocab[id] ?? '[UNK]',
          probability: p[m]?.[j] ?? 0,
        })),
      })),
    };
  } finally {
    tf.dispose([values, indices]);
  }
}

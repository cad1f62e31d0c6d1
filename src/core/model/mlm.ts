/**
 * The masked-language-model head of Hugging Face `BertForMaskedLM` (`BertOnlyMLMHead` in modeling_bert.py) on the
 * encoder of bert.ts, for masked-LM pre-training (Devlin et al. 2019, section 3.1 "Task #1: Masked LM"):
 *   transform:  x -> LayerNorm(gelu(x W_t^T + b_t))     cls.predictions.transform.{dense, LayerNorm}
 *   decoder:    y -> y E^T + b                          E = bert.embeddings.word_embeddings.weight (TIED: no
 *                                                       separate decoder matrix), b = cls.predictions.bias [V]
 * The head has no dropout (HF's has none). It runs on the masked positions only (flat indices b*T + t); HF scores
 * every position and ignores label -100, which gives the same mean loss over the masked tokens.
 * Golden-tested against scripts/golden/make_mlm_golden.py (test/golden/nano-mlm.json).
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import type { Rng } from '../rng.ts';
import { embed, encode, gelu, layerNorm, linear, type BertInputs, type DropoutPass } from './bert.ts';
import { param, variableFrom, type ParamSpec, type Params } from './params.ts';

/** The tied decoder matrix [V, H]: the input word embeddings. */
export const WORD_EMBEDDINGS = 'bert.embeddings.word_embeddings.weight';
/** The decoder's own parameter: its bias [V]. */
export const MLM_BIAS = 'cls.predictions.bias';
const TRANSFORM = 'cls.predictions.transform';

/** The head's parameters (HF names, PyTorch layout), in a stable order. The decoder weight is tied: not listed. */
export function mlmParamSpecs(c: ModelConfig): ParamSpec[] {
  const h = c.hiddenSize;
  return [
    { name: `${TRANSFORM}.dense.weight`, shape: [h, h], init: 'normal' },
    { name: `${TRANSFORM}.dense.bias`, shape: [h], init: 'zeros' },
    { name: `${TRANSFORM}.LayerNorm.weight`, shape: [h], init: 'ones' },
    { name: `${TRANSFORM}.LayerNorm.bias`, shape: [h], init: 'zeros' },
    { name: MLM_BIAS, shape: [c.vocabSize], init: 'zeros' },
  ];
}

/**
 * Adds a freshly initialised head to `params` (BERT init: weights ~ N(0, std^2), biases 0, LayerNorm 1/0) and
 * returns the same map. Throws if a head parameter is already there (its variable would leak).
 */
export function initMlmParams(c: ModelConfig, rng: Rng, params: Params = new Map(), std = 0.02): Params {
  for (const spec of mlmParamSpecs(c)) {
    if (params.has(spec.name)) throw new Error(`initMlmParams: parameter '${spec.name}' already exists`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.init === 'ones') values.fill(1);
    if (spec.init === 'normal') for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
    params.set(spec.name, variableFrom(values, spec.shape));
  }
  return params;
}

/**
 * Adds the head's variables to `params` from named arrays (e.g. a decoded `BertForMaskedLM` checkpoint; its tied
 * `cls.predictions.decoder.*` entries, if any, are not read). Checks names and sizes; on error adds nothing.
 */
export function addMlmParamsFromArrays(
  params: Params,
  c: ModelConfig,
  arrays: Map<string, Float32Array>,
  origin: string,
): Params {
  const specs = mlmParamSpecs(c);
  for (const spec of specs) {
    const values = arrays.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!values) throw new Error(`${origin}: missing parameter '${spec.name}'`);
    if (values.length !== size) {
      throw new Error(
        `${origin}: parameter '${spec.name}' has ${values.length} values, expected shape [${spec.shape.join(',')}]`,
      );
    }
    if (params.has(spec.name)) throw new Error(`${origin}: parameter '${spec.name}' already exists`);
  }
  for (const spec of specs)
    params.set(spec.name, variableFrom(arrays.get(spec.name) as Float32Array, spec.shape));
  return params;
}

/**
 * rows [M] of table [N, H] -> [M, H], with a scatter-add gradient (ScatterNd): tfjs' builtin Gather gradient is
 * UnsortedSegmentSum, which the wasm backend lacks (as `embeddingLookup` in bert.ts, for a 1-D index). `rows` is
 * read by the backward pass: it must outlive it (the caller's tensor, not one made inside a tidy).
 */
function gatherRows(table: tf.Tensor2D, rows: tf.Tensor1D): tf.Tensor2D {
  const gather = tf.customGrad(((t: tf.Tensor) => ({
    value: tf.gather(t, rows),
    gradFunc: (dy: tf.Tensor) => tf.scatterND(rows.expandDims(-1), dy, t.shape),
  })) as Parameters<typeof tf.customGrad>[0]);
  return gather(table) as tf.Tensor2D;
}

/**
 * MLM logits at the masked positions. hidden [B, T, H] (the encoder's last hidden states, `encode`), positions
 * int32 [M] (flat indices b*T + t, each once) -> [M, V]. `positions` must outlive a backward pass through this.
 */
export function mlmLogits(
  params: Params,
  cfg: ModelConfig,
  hidden: tf.Tensor3D,
  positions: tf.Tensor1D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t, h] = hidden.shape;
    const x = gatherRows(hidden.reshape([b * t, h]) as tf.Tensor2D, positions); // [M, H]
    const y = layerNorm(
      params,
      `${TRANSFORM}.LayerNorm`,
      gelu(linear(params, `${TRANSFORM}.dense`, x)),
      cfg.layerNormEps,
    ); // [M, H]
    // The tied decoder through `linear` (its backend-fast x W^T): a view naming E and b as one Linear layer.
    const decoder: Params = new Map([
      ['decoder.weight', param(params, WORD_EMBEDDINGS)],
      ['decoder.bias', param(params, MLM_BIAS)],
    ]);
    return linear(decoder, 'decoder', y) as tf.Tensor2D; // [M, V]
  });
}

/**
 * Embeddings -> encoder -> MLM head: logits [M, V] at the masked positions of `inputs` (whose input ids are the
 * masked ones). Dropout as in `classify` (embedding sites from dropout.seed, encoder sites from dropout.seed + 1000).
 */
export function mlmForward(
  params: Params,
  cfg: ModelConfig,
  inputs: BertInputs,
  positions: tf.Tensor1D,
  dropout: DropoutPass,
): tf.Tensor2D {
  return tf.tidy(() => {
    const e = embed(params, cfg, inputs, dropout);
    const hidden = encode(params, cfg, e, inputs.attentionMask, dropout);
    return mlmLogits(params, cfg, hidden, positions);
  });
}

/**
 * Masked-LM loss: mean cross-entropy of logits [M, V] against the original ids labels int32 [M] -> scalar (HF's
 * `CrossEntropyLoss` with ignore_index -100: the mean over the masked tokens). M must be at least 1.
 */
export function maskedLmLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [m, v] = logits.shape;
  if (m === 0) throw new Error('maskedLmLoss: no masked positions (M = 0)');
  if (labels.shape[0] !== m) throw new Error(`maskedLmLoss: ${labels.shape[0]} labels for ${m} logit rows`);
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits); // [M, V]
    return tf.oneHot(labels.toInt(), v).mul(logp).sum(-1).neg().mean() as tf.Scalar;
  });
}

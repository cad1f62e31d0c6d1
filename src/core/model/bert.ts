/**
 * A BERT encoder for sequence classification with Hugging Face semantics (word + position + token-type
 * embeddings, LayerNorm eps 1e-12, post-LN blocks, erf GELU, masked attention, tanh pooler, classifier).
 * Split in two so ALUM can perturb the embedding-layer output and reuse the same rest of the network:
 *   embed(ids) -> e [B, T, H]          (the perturbation point: docs/alum-step.md, "Notation")
 *   classify(e + delta, mask) -> logits [B, C]
 * References: huggingface/transformers `modeling_bert.py`; Devlin et al. 2019.
 *
 * Dropout (dropout.ts): every dropout site draws its mask from `seed + siteIndex`, so a pass can be replayed exactly
 * (advDropout `same` gives the inner and adversarial passes the clean pass's masks) while other passes draw new ones.
 * The encoder and head also run on batches stacked from several parts, each under its own dropout pass
 * (`Dropout` a list): one pass of kernels for several forward passes (alum.ts).
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import { DropoutSites, type DropoutPass } from './dropout.ts';
import {
  attentionContext,
  attentionScores,
  geluFused,
  layerNormFused,
  linearFused,
  maskedSoftmax,
  mm,
} from './fused.ts';
import { param, type Params } from './params.ts';

export { NO_DROPOUT, type DropoutPass } from './dropout.ts';

/** Dropout of a forward pass: one pass, or one per part of a batch stacked from equal parts on axis 0. */
export type Dropout = DropoutPass | readonly DropoutPass[];

/** Additive attention-mask value for padding keys (original BERT). */
const MASK_NEG = -10000;

/** Model inputs, all int32 [B, T]. */
export interface BertInputs {
  inputIds: tf.Tensor2D;
  tokenTypeIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
}

/**
 * Tables of at most this many rows (token types: 2) take their gradient as a one-hot matMul instead of a
 * scatter-add: every token adds into one of few rows, and WebGPU's ScatterNd adds float32 by compare-and-swap
 * loops, so 2,048 tokens on two rows took 8 to 18 ms of a `small` step on the H200 (one-hot matMul: under 1 ms).
 */
export const ONE_HOT_GRAD_ROWS = 64;

/**
 * Embedding lookup whose gradient is a scatter-add (ScatterNd) instead of tfjs' UnsortedSegmentSum, which
 * the wasm backend lacks (tfjs-backend-wasm 4.22 registers no UnsortedSegmentSum kernel), or for a small table
 * onehot(ids)^T dy (`ONE_HOT_GRAD_ROWS`). table [V, H], ids int32 [B, T] -> [B, T, H].
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor2D): tf.Tensor3D {
  const [rows, h] = table.shape;
  const lookup = tf.customGrad(((t: tf.Tensor) => {
    const value = tf.gather(t, ids); // [B, T, H]
    const gradFunc = (dy: tf.Tensor) =>
      rows <= ONE_HOT_GRAD_ROWS
        ? tf.matMul(tf.oneHot(ids.reshape([-1]), rows), dy.reshape([-1, h]), true, false) // [V, N] x [N, H]
        : tf.scatterND(ids.expandDims(-1), dy, t.shape); // [V, H]
    return { value, gradFunc };
  }) as Parameters<typeof tf.customGrad>[0]);
  return lookup(table) as tf.Tensor3D;
}

/**
 * y = x W^T + b for x [..., in], W [out, in] (PyTorch layout), b [out] -> [..., out]. One fused MatMul + bias
 * kernel (`linearFused`) except on wasm, whose transposed MatMul is slow (`plainMatMul`).
 */
export function linear(params: Params, name: string, x: tf.Tensor): tf.Tensor {
  const w = param(params, `${name}.weight`);
  const b = param(params, `${name}.bias`);
  const [outDim, inDim] = w.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, inDim]) as tf.Tensor2D; // [N, in]
  const y =
    tf.getBackend() === 'wasm' ? mm(x2, w, true).add(b) : linearFused(x2, w as tf.Tensor2D, b as tf.Tensor1D); // [N, out]
  return y.reshape([...lead, outDim]);
}

/**
 * LayerNorm over the last axis with learned scale and shift, variance biased (as torch.nn.LayerNorm), with a
 * hand-written gradient (`layerNormFused`), of x or of the residual sum x + residual. x [..., H] -> [..., H].
 */
export function layerNorm(
  params: Params,
  name: string,
  x: tf.Tensor,
  eps: number,
  residual?: tf.Tensor,
): tf.Tensor {
  return layerNormFused(x, param(params, `${name}.weight`), param(params, `${name}.bias`), eps, residual);
}

/** GELU, exact erf form (BERT's `hidden_act: "gelu"`): 0.5 x (1 + erf(x / sqrt 2)); `geluFused`'s gradient. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluFused(x);
}

/** Embedding-layer output: LayerNorm(word + position + token type), then dropout. -> [B, T, H] */
export function embed(
  params: Params,
  cfg: ModelConfig,
  inputs: BertInputs,
  dropout: DropoutPass,
): tf.Tensor3D {
  return tf.tidy(() => {
    const sites = new DropoutSites([dropout]);
    const [, seqLen] = inputs.inputIds.shape;
    const words = embeddingLookup(
      param(params, 'bert.embeddings.word_embeddings.weight') as tf.Tensor2D,
      inputs.inputIds,
    );
    const positions = param(params, 'bert.embeddings.position_embeddings.weight').slice([0, 0], [seqLen, -1]); // [T, H]
    const typeTable = param(params, 'bert.embeddings.token_type_embeddings.weight') as tf.Tensor2D;
    const types = embeddingLookup(typeTable, inputs.tokenTypeIds); // [B, T, H]
    // LayerNorm of (words + positions) + types [B, T, H], the last sum made inside it.
    const normed = layerNorm(
      params,
      'bert.embeddings.LayerNorm',
      words.add(positions),
      cfg.layerNormEps,
      types,
    );
    return sites.apply(normed) as tf.Tensor3D;
  });
}

/** Additive mask [B, 1, 1, T]: 0 for real tokens, -10000 for padding keys. */
export function attentionBias(attentionMask: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, t] = attentionMask.shape;
    return tf.sub(1, attentionMask.toFloat()).mul(MASK_NEG).reshape([b, 1, 1, t]);
  });
}

function selfAttention(
  params: Params,
  cfg: ModelConfig,
  prefix: string,
  x: tf.Tensor3D,
  bias: tf.Tensor4D,
  sites: DropoutSites,
): tf.Tensor3D {
  const heads = cfg.numHeads;
  const dh = x.shape[2] / heads;
  const q = linear(params, `${prefix}.query`, x) as tf.Tensor3D; // [B, T, H]: A heads of dh side by side
  const k = linear(params, `${prefix}.key`, x) as tf.Tensor3D;
  const v = linear(params, `${prefix}.value`, x) as tf.Tensor3D;
  const probs = sites.apply(maskedSoftmax(attentionScores(q, k, heads), Math.sqrt(dh), bias)); // [B, A, T, T]
  return attentionContext(probs as tf.Tensor4D, v, heads); // [B, T, H]
}

/** One post-LN transformer block. x [B, T, H] -> [B, T, H]. */
function encoderLayer(
  params: Params,
  cfg: ModelConfig,
  i: number,
  x: tf.Tensor3D,
  bias: tf.Tensor4D,
  sites: DropoutSites,
): tf.Tensor3D {
  const p = `bert.encoder.layer.${i}`;
  const eps = cfg.layerNormEps;
  const context = selfAttention(params, cfg, `${p}.attention.self`, x, bias, sites);
  const attnOut = sites.apply(linear(params, `${p}.attention.output.dense`, context));
  const h1 = layerNorm(params, `${p}.attention.output.LayerNorm`, attnOut, eps, x); // of attnOut + x: [B, T, H]
  const inter = gelu(linear(params, `${p}.intermediate.dense`, h1)); // [B, T, I]
  const out = sites.apply(linear(params, `${p}.output.dense`, inter)); // [B, T, H]
  return layerNorm(params, `${p}.output.LayerNorm`, out, eps, h1) as tf.Tensor3D; // of out + h1
}

/** Dropout sites of the layers after the embedding, seeded apart from `embed`'s (site numbers from 1000). */
function encoderSites(dropout: Dropout): DropoutSites {
  return new DropoutSites('rate' in dropout ? [dropout] : dropout, 1000);
}

function encodeWith(
  params: Params,
  cfg: ModelConfig,
  e: tf.Tensor3D,
  attentionMask: tf.Tensor2D,
  sites: DropoutSites,
): tf.Tensor3D {
  const bias = attentionBias(attentionMask);
  let h = e;
  for (let i = 0; i < cfg.numLayers; i++) h = encoderLayer(params, cfg, i, h, bias, sites);
  return h;
}

/**
 * The encoder stack from an embedding-layer output (possibly perturbed): the last hidden states, before the
 * pooler (what `BertForMaskedLM`'s head reads). e [B, T, H], attentionMask int32 [B, T] -> [B, T, H].
 */
export function encode(
  params: Params,
  cfg: ModelConfig,
  e: tf.Tensor3D,
  attentionMask: tf.Tensor2D,
  dropout: Dropout,
): tf.Tensor3D {
  return tf.tidy(() => encodeWith(params, cfg, e, attentionMask, encoderSites(dropout)));
}

/**
 * Encoder + pooler + classifier from an embedding-layer output (possibly perturbed).
 * e [B, T, H], attentionMask int32 [B, T] -> logits [B, C].
 */
export function classify(
  params: Params,
  cfg: ModelConfig,
  e: tf.Tensor3D,
  attentionMask: tf.Tensor2D,
  dropout: Dropout,
): tf.Tensor2D {
  return tf.tidy(() => {
    const sites = encoderSites(dropout);
    const h = encodeWith(params, cfg, e, attentionMask, sites); // [B, T, H]
    const [b, , hid] = h.shape;
    const cls = h.slice([0, 0, 0], [b, 1, hid]).reshape([b, hid]); // [B, H]
    const pooled = tf.tanh(linear(params, 'bert.pooler.dense', cls)); // [B, H]
    return linear(params, 'classifier', sites.apply(pooled)) as tf.Tensor2D; // [B, C]
  });
}

/** Full forward pass: logits [B, C]. */
export function forward(
  params: Params,
  cfg: ModelConfig,
  inputs: BertInputs,
  dropout: DropoutPass,
): tf.Tensor2D {
  return tf.tidy(() =>
    classify(params, cfg, embed(params, cfg, inputs, dropout), inputs.attentionMask, dropout),
  );
}

/**
 * Checkpoints in the Hugging Face layout, the one format the playground reads and writes:
 *   config.json        BertConfig for BertForSequenceClassification
 *   model.safetensors  parameters under their HF names, PyTorch layout, F32
 *   vocab.txt          WordPiece vocabulary
 * Pure: JSON/bytes in and out. File and network access belong to the CLI and the worker.
 */
import type * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../io/safetensors.ts';
import { paramsFromArrays, paramSpecs, type Params } from './params.ts';

export interface HfBertConfig {
  architectures: string[];
  model_type: 'bert';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: 'gelu';
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  initializer_range: number;
  pad_token_id: number;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  problem_type: 'single_label_classification';
}

export function toHfConfig(c: ModelConfig, labels: readonly string[], dropout: number): HfBertConfig {
  return {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'gelu',
    hidden_dropout_prob: dropout,
    attention_probs_dropout_prob: dropout,
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    initializer_range: 0.02,
    pad_token_id: 0,
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    problem_type: 'single_label_classification',
  };
}

/** Reads a BertConfig JSON; one-line errors name the file and field. Returns the shape and label names. */
export function fromHfConfig(
  json: unknown,
  origin = 'config.json',
): { model: ModelConfig; labels: string[] } {
  if (typeof json !== 'object' || json === null) throw new Error(`${origin}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const int = (field: string, fallback?: number): number => {
    const v = o[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${origin}: field '${field}' must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (o['model_type'] !== undefined && o['model_type'] !== 'bert') {
    throw new Error(`${origin}: field 'model_type' must be "bert", got ${JSON.stringify(o['model_type'])}`);
  }
  const act = o['hidden_act'] ?? 'gelu';
  if (act !== 'gelu')
    throw new Error(`${origin}: field 'hidden_act' must be "gelu" (erf GELU), got ${JSON.stringify(act)}`);
  let labels: string[];
  const id2label = o['id2label'];
  if (id2label !== undefined) {
    if (typeof id2label !== 'object' || id2label === null)
      throw new Error(`${origin}: field 'id2label' must be an object`);
    const entries = Object.entries(id2label as Record<string, unknown>);
    labels = entries.map((_, i) => {
      const name = (id2label as Record<string, unknown>)[String(i)];
      if (typeof name !== 'string')
        throw new Error(`${origin}: field 'id2label' must map 0..n-1 to names (missing ${i})`);
      return name;
    });
  } else {
    const n = int('num_labels', 2);
    labels = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  }
  const eps = o['layer_norm_eps'] ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0))
    throw new Error(`${origin}: field 'layer_norm_eps' must be a positive number`);
  const model: ModelConfig = {
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    numLayers: int('num_hidden_layers'),
    numHeads: int('num_attention_heads'),
    intermediateSize: int('intermediate_size'),
    maxPositions: int('max_position_embeddings', 512),
    typeVocabSize: int('type_vocab_size', 2),
    numLabels: labels.length,
    layerNormEps: eps,
  };
  if (model.hiddenSize % model.numHeads !== 0) {
    throw new Error(
      `${origin}: hidden_size ${model.hiddenSize} is not divisible by num_attention_heads ${model.numHeads}`,
    );
  }
  return { model, labels };
}

/** Reads the current parameter values (async readback, fine on webgpu) into named F32 arrays. */
export async function paramsToArrays(
  params: ReadonlyMap<string, tf.Tensor>,
): Promise<Map<string, NamedArray>> {
  const out = new Map<string, NamedArray>();
  for (const [name, v] of params) {
    out.set(name, { dtype: 'F32', shape: v.shape.slice(), data: (await v.data()) as Float32Array });
  }
  return out;
}

export async function encodeCheckpoint(
  params: ReadonlyMap<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  return encodeSafetensors(await paramsToArrays(params), { format: 'pt', ...metadata });
}

/**
 * Builds variables from safetensors bytes for a model config. Accepts a checkpoint without a classifier
 * head (e.g. a BertModel or pre-training checkpoint): the missing `bert.pooler`/`classifier` parameters are
 * then initialised by `initMissing`. Unknown extra tensors (e.g. MLM heads) are ignored.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  model: ModelConfig,
  origin: string,
  initMissing?: (name: string, shape: number[]) => Float32Array,
): Params {
  const file = decodeSafetensors(bytes, origin);
  const arrays = new Map<string, Float32Array>();
  for (const spec of paramSpecs(model)) {
    // Checkpoints saved from BertModel have no `bert.` prefix.
    const t = file.tensors.get(spec.name) ?? file.tensors.get(spec.name.replace(/^bert\./, ''));
    if (t) {
      if (t.dtype !== 'F32')
        throw new Error(`${origin}: parameter '${spec.name}' must be F32, got ${t.dtype}`);
      const shape = t.shape.join(',');
      if (shape !== spec.shape.join(',')) {
        throw new Error(
          `${origin}: parameter '${spec.name}' has shape [${shape}], config says [${spec.shape.join(',')}]`,
        );
      }
      arrays.set(spec.name, t.data as Float32Array);
    } else if (initMissing && (spec.name.startsWith('classifier.') || spec.name.startsWith('bert.pooler.'))) {
      arrays.set(spec.name, initMissing(spec.name, spec.shape));
    }
  }
  return paramsFromArrays(model, arrays, origin);
}

/** One file of a Hugging Face model folder. */
export interface HfFile {
  name: 'config.json' | 'model.safetensors' | 'vocab.txt';
  bytes: Uint8Array;
}

/**
 * The Hugging Face folder of a trained classifier, as `BertForSequenceClassification.from_pretrained` reads it:
 * config.json (with id2label), model.safetensors (HF names, F32, `metadata` in its header) and vocab.txt.
 * The CLI writes these files and the page zips them: one owner for the layout.
 */
export async function hfFolderFiles(
  params: ReadonlyMap<string, tf.Tensor>,
  model: ModelConfig,
  labels: readonly string[],
  dropout: number,
  vocabText: string,
  metadata: Record<string, string>,
): Promise<HfFile[]> {
  const utf8 = new TextEncoder();
  const config = JSON.stringify(toHfConfig(model, labels, dropout), null, 2) + '\n';
  return [
    { name: 'config.json', bytes: utf8.encode(config) },
    { name: 'model.safetensors', bytes: await encodeCheckpoint(params, metadata) },
    { name: 'vocab.txt', bytes: utf8.encode(vocabText.endsWith('\n') ? vocabText : vocabText + '\n') },
  ];
}

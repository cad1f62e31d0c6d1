/**
 * Checkpoints in the Hugging Face layout, the one format the playground reads and writes:
 *   config.json        BertConfig for BertForSequenceClassification
 *   model.safetensors  parameters under their HF names, PyTorch layout, F32
 *   vocab.txt          WordPiece vocabulary
 * Pure: JSON/bytes in and out. File and network access belong to the CLI and the worker.
 */
import type * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  floatToHalf,
  toFloat32,
  type NamedArray,
} from '../io/safetensors.ts';
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
  problem_type: 'single_label_classification' | 'regression';
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
    problem_type: c.problemType === 'regression' ? 'regression' : 'single_label_classification',
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
  // HF: `problem_type: "regression"` trains its one output with MSELoss; anything else is classification here.
  if (o['problem_type'] === 'regression') model.problemType = 'regression';
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

/** How a checkpoint's tensors map onto the model's parameters (`matchCheckpoint`). */
export interface CheckpointMatch {
  /** HF parameter name -> float32 values, for every parameter found with the right shape. */
  arrays: Map<string, Float32Array>;
  /** Parameters the checkpoint lacks: heads (`bert.pooler.*`, `classifier.*`), which can be initialised fresh. */
  missingHead: string[];
  /** Encoder and embedding parameters the checkpoint lacks: the model cannot be built without them. */
  missingEncoder: string[];
  /** Tensors with a parameter's name but another shape, as `name [got] != [want]`. */
  misShaped: string[];
  /** Checkpoint tensors that are no parameter of BertForSequenceClassification (MLM heads, buffers...). */
  unexpected: string[];
}

/** A parameter whose absence is not fatal: a pre-training or BertModel checkpoint has no classification head. */
export function isHeadParam(name: string): boolean {
  return name.startsWith('classifier.') || name.startsWith('bert.pooler.');
}

/**
 * A checkpoint key under our parameter names: BertModel checkpoints have no `bert.` prefix, and checkpoints
 * converted from the original TensorFlow BERT name LayerNorm's parameters `gamma`/`beta` (transformers
 * `modeling_utils.py` renames them the same way when it loads).
 */
export function canonicalParamName(key: string): string {
  const k = key
    .replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight')
    .replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
  return /^(embeddings|encoder|pooler)\./.test(k) ? `bert.${k}` : k;
}

/** Matches named checkpoint arrays (any float dtype, widened to float32) to the model's parameters. */
export function matchCheckpoint(
  tensors: ReadonlyMap<string, NamedArray>,
  model: ModelConfig,
  origin: string,
): CheckpointMatch {
  const byName = new Map<string, [string, NamedArray]>();
  const unexpected: string[] = [];
  const specs = new Map(paramSpecs(model).map((s) => [s.name, s.shape]));
  for (const [key, t] of tensors) {
    const name = canonicalParamName(key);
    if (!specs.has(name) || byName.has(name)) unexpected.push(key);
    else byName.set(name, [key, t]);
  }
  const m: CheckpointMatch = {
    arrays: new Map(),
    missingHead: [],
    missingEncoder: [],
    misShaped: [],
    unexpected,
  };
  for (const [name, shape] of specs) {
    const found = byName.get(name);
    if (!found) {
      (isHeadParam(name) ? m.missingHead : m.missingEncoder).push(name);
    } else if (found[1].shape.join(',') !== shape.join(',')) {
      m.misShaped.push(`${found[0]} [${found[1].shape.join(',')}] != [${shape.join(',')}]`);
    } else {
      m.arrays.set(name, toFloat32(found[1], `${origin}: tensor '${found[0]}'`));
    }
  }
  return m;
}

/** The one-line error for a match that cannot build the model, or null: mis-shaped and missing encoder tensors. */
export function matchError(m: CheckpointMatch, origin: string, headsOptional: boolean): string | null {
  const missing = headsOptional ? m.missingEncoder : [...m.missingEncoder, ...m.missingHead];
  if (m.misShaped.length > 0)
    return `${origin}: ${m.misShaped.length} tensor(s) do not match config.json's shapes: ${m.misShaped.join('; ')}`;
  if (missing.length > 0) return `${origin}: missing ${missing.length} tensor(s): ${missing.join(', ')}`;
  return null;
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
  const m = matchCheckpoint(decodeSafetensors(bytes, origin).tensors, model, origin);
  const error = matchError(m, origin, initMissing !== undefined);
  if (error !== null) throw new Error(error);
  const shapes = new Map(paramSpecs(model).map((s) => [s.name, s.shape]));
  for (const name of m.missingHead)
    m.arrays.set(name, (initMissing as NonNullable<typeof initMissing>)(name, shapes.get(name) as number[]));
  return paramsFromArrays(model, m.arrays, origin);
}

/** One file of a Hugging Face model folder. */
export interface HfFile {
  name: 'config.json' | 'model.safetensors' | 'vocab.txt' | 'tokenizer_config.json';
  bytes: Uint8Array;
}

/** What kind of folder `hfFolderFiles` writes, and how. */
export interface FolderOptions {
  /** false: a cased vocabulary (tokenizer_config.json says `do_lower_case: false`). Default true. */
  lowercase?: boolean;
  /** A `BertForMaskedLM` (encoder and `cls.predictions.*`, no labels) instead of a classifier. */
  maskedLm?: boolean;
  /** `float16` halves the file (the loader reads F16); default `float32`. */
  dtype?: 'float32' | 'float16';
}

/**
 * The Hugging Face folder of a trained model, as `from_pretrained` reads it: config.json, model.safetensors (HF
 * names, `metadata` in its header) and vocab.txt, and for a cased vocabulary tokenizer_config.json with
 * `do_lower_case: false`. A classifier is a `BertForSequenceClassification` with id2label. A masked LM
 * (`maskedLm`) is a `BertForMaskedLM` with NO decoder weight: it is tied to the word embeddings, as
 * transformers' save_pretrained writes a tied model (it drops the tied copy and re-ties on load).
 * The CLI writes these files and the page zips them: one owner for the layout.
 */
export async function hfFolderFiles(
  params: ReadonlyMap<string, tf.Tensor>,
  model: ModelConfig,
  labels: readonly string[],
  dropout: number,
  vocabText: string,
  metadata: Record<string, string>,
  options: FolderOptions = {},
): Promise<HfFile[]> {
  const utf8 = new TextEncoder();
  const arrays = await paramsToArrays(params);
  if (options.dtype === 'float16') {
    for (const [k, a] of arrays) {
      arrays.set(k, {
        dtype: 'F16',
        shape: a.shape,
        data: Uint16Array.from(a.data as Float32Array, floatToHalf),
      });
    }
  }
  const files: HfFile[] = [
    {
      name: 'config.json',
      bytes: utf8.encode(JSON.stringify(folderConfig(model, labels, dropout, options), null, 2) + '\n'),
    },
    { name: 'model.safetensors', bytes: encodeSafetensors(arrays, { format: 'pt', ...metadata }) },
    { name: 'vocab.txt', bytes: utf8.encode(vocabText.endsWith('\n') ? vocabText : vocabText + '\n') },
  ];
  // A cased vocabulary says so (BertTokenizer lowercases by default); uncased folders stay three files.
  if (options.lowercase === false) {
    const tc = JSON.stringify({ do_lower_case: false, tokenizer_class: 'BertTokenizer' }, null, 2) + '\n';
    files.push({ name: 'tokenizer_config.json', bytes: utf8.encode(tc) });
  }
  return files;
}

/** config.json: a classifier's, or a masked LM's (no labels, tied word embeddings). */
function folderConfig(
  model: ModelConfig,
  labels: readonly string[],
  dropout: number,
  options: FolderOptions,
): Record<string, unknown> {
  if (!options.maskedLm) return { ...toHfConfig(model, labels, dropout) };
  const { id2label: _a, label2id: _b, problem_type: _c, ...hf } = toHfConfig(model, [], dropout);
  return { ...hf, architectures: ['BertForMaskedLM'], tie_word_embeddings: true };
}

/**
 * Loading a Hugging Face BERT from the files of its folder, given as name -> bytes: the one code path of the
 * CLI's `--init DIR` (src/cli/files.ts reads the folder) and the page's "Load model" (the worker gets the
 * picked files). Pure: no file system, no tfjs variables (the caller makes them with `paramsFromArrays`).
 *   config.json                              BertConfig (shape, labels); `torch_dtype` is informational
 *   tokenizer.json | vocab.txt               the WordPiece vocabulary; cased or uncased from tokenizer.json's
 *                                            BertNormalizer, else tokenizer_config.json's do_lower_case, else
 *                                            uncased (BertTokenizer's default)
 *   model.safetensors | pytorch_model.bin    F32, F16 or BF16 weights (safetensors first, as transformers does)
 * Names: `bert.`-prefixed or not, LayerNorm `gamma/beta` or `weight/bias` (hf.ts `canonicalParamName`).
 * A missing pooler or classifier is initialised fresh and reported; unexpected tensors are reported and ignored;
 * missing encoder tensors and wrong shapes are an error listing them.
 */
import type { ModelConfig } from '../config.ts';
import { decodeSafetensors, toFloat32, type NamedArray } from '../io/safetensors.ts';
import { decodeTorchBin } from '../io/torchbin.ts';
import { makeRng } from '../rng.ts';
import { parseTokenizerJson } from '../tokenizer/tokenizer-json.ts';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { errorMessage } from '../errors.ts';
import { canonicalParamName, fromHfConfig, isHeadParam, matchCheckpoint, matchError } from './hf.ts';
import { addMlmParamsFromArrays, initMlmParams, mlmParamSpecs } from './mlm.ts';
import { paramsFromArrays, paramSpecs, type Params } from './params.ts';

/** What a load did, for the CLI's log line and the page's run list. */
export interface HfLoadReport {
  /** The model's name: the folder's. */
  name: string;
  weights: 'model.safetensors' | 'pytorch_model.bin';
  /** The weights' dtypes, e.g. ['F16'] (converted to float32). */
  dtypes: string[];
  tokenizer: 'tokenizer.json' | 'vocab.txt';
  lowercase: boolean;
  /** Parameters read from the checkpoint. */
  loaded: number;
  /** Head parameters the checkpoint lacked, initialised fresh (BERT init, seeded). */
  initialised: string[];
  /** Checkpoint tensors that are not parameters of BertForSequenceClassification, ignored. */
  ignored: string[];
  /** What fitting the classifier to the data's labels did (`withLabels`), when it changed or reinterpreted it. */
  labels?: string;
}

export interface LoadedHfModel {
  model: ModelConfig;
  labels: string[];
  /** Every parameter of `model`, by HF name, float32. */
  arrays: Map<string, Float32Array>;
  /** The vocabulary as vocab.txt text (from tokenizer.json when that is the source). */
  vocabText: string;
  /** HF `do_lower_case`: pass to WordPieceTokenizer. */
  lowercase: boolean;
  /**
   * The checkpoint's masked-LM head (`cls.predictions.*` of BertForMaskedLM, the tied decoder weight aside), float32
   * by name, and the head parameters it lacks; for pre-training to continue from it. Not part of `arrays`.
   */
  mlmHead: { arrays: Map<string, Float32Array>; missing: string[] };
  report: HfLoadReport;
}

export { MODEL_FILES } from './hf-files.ts';

/** Files by base name; a name given twice (two folders picked together) is an error. */
function byBaseName(files: Iterable<[string, Uint8Array]>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [path, bytes] of files) {
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (out.has(base)) throw new Error(`${path}: two files named ${base} were given; pick one model's files`);
    out.set(base, bytes);
  }
  return out;
}

function text(bytes: Uint8Array, origin: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${origin}: not valid UTF-8 text`);
  }
}

function json(bytes: Uint8Array, origin: string): unknown {
  try {
    return JSON.parse(text(bytes, origin));
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(`${origin}: not valid JSON`);
    throw e;
  }
}

interface Vocabulary {
  tokens: string[];
  lowercase: boolean;
  source: HfLoadReport['tokenizer'];
}

function readVocabulary(files: Map<string, Uint8Array>, at: (f: string) => string): Vocabulary {
  const tj = files.get('tokenizer.json');
  if (tj) {
    const { tokens, lowercase } = parseTokenizerJson(text(tj, at('tokenizer.json')), at('tokenizer.json'));
    return { tokens, lowercase, source: 'tokenizer.json' };
  }
  const vt = files.get('vocab.txt');
  if (!vt) throw new Error(`${at('vocab.txt')}: missing (the model needs vocab.txt or tokenizer.json)`);
  const lines = text(vt, at('vocab.txt'))
    .replace(/^\ufeff/, '')
    .split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let lowercase = true;
  const tc = files.get('tokenizer_config.json');
  if (tc) {
    const o = json(tc, at('tokenizer_config.json')) as Record<string, unknown> | null;
    const v = o !== null && typeof o === 'object' ? o['do_lower_case'] : undefined;
    if (v !== undefined && typeof v !== 'boolean')
      throw new Error(`${at('tokenizer_config.json')}: field 'do_lower_case' must be true or false`);
    lowercase = v ?? true;
  }
  return {
    tokens: lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
    lowercase,
    source: 'vocab.txt',
  };
}

function readWeights(
  files: Map<string, Uint8Array>,
  at: (f: string) => string,
): { weights: HfLoadReport['weights']; tensors: Map<string, NamedArray> } {
  const st = files.get('model.safetensors');
  if (st)
    return { weights: 'model.safetensors', tensors: decodeSafetensors(st, at('model.safetensors')).tensors };
  const bin = files.get('pytorch_model.bin');
  if (bin) return { weights: 'pytorch_model.bin', tensors: decodeTorchBin(bin, at('pytorch_model.bin')) };
  const sharded = files.has('model.safetensors.index.json') || files.has('pytorch_model.bin.index.json');
  throw new Error(
    `${at('model.safetensors')}: missing (the model needs model.safetensors or pytorch_model.bin${sharded ? '; sharded checkpoints are not supported' : ''})`,
  );
}

/** BERT's init for a fresh head: weights N(0, 0.02^2) from the run's seed, biases 0. */
function freshHead(names: readonly string[], model: ModelConfig, seed: number): Map<string, Float32Array> {
  const rng = makeRng(seed);
  const shapes = new Map(paramSpecs(model).map((s) => [s.name, s.shape]));
  const out = new Map<string, Float32Array>();
  for (const name of names) {
    const n = (shapes.get(name) as number[]).reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (name.endsWith('.weight')) for (let i = 0; i < n; i++) values[i] = rng.normal() * 0.02;
    out.set(name, values);
  }
  return out;
}

/** The MLM head's tensors among a checkpoint's (legacy names accepted), widened to float32; shapes checked. */
function mlmHeadOf(
  tensors: ReadonlyMap<string, NamedArray>,
  model: ModelConfig,
  origin: string,
): LoadedHfModel['mlmHead'] {
  const byName = new Map([...tensors].map(([key, t]) => [canonicalParamName(key), [key, t] as const]));
  const arrays = new Map<string, Float32Array>();
  const missing: string[] = [];
  for (const spec of mlmParamSpecs(model)) {
    const found = byName.get(spec.name);
    if (!found) {
      missing.push(spec.name);
      continue;
    }
    const [key, t] = found;
    if (t.shape.join(',') !== spec.shape.join(',')) {
      throw new Error(
        `${origin}: tensor '${key}' has shape [${t.shape.join(',')}], expected [${spec.shape.join(',')}]`,
      );
    }
    arrays.set(spec.name, toFloat32(t, `${origin}: tensor '${key}'`));
  }
  return { arrays, missing };
}

/**
 * Reads a Hugging Face BERT from its files (name -> bytes; folder paths are cut to base names). `name` is the
 * model's name and prefixes file names in messages; `seed` draws a missing head. One Error line on bad input.
 */
export function loadHfModel(
  input: Iterable<[string, Uint8Array]>,
  { name, seed }: { name: string; seed: number },
): LoadedHfModel {
  const files = byBaseName(input);
  const at = (f: string): string => (name === '' ? f : `${name}/${f}`);
  const configBytes = files.get('config.json');
  if (!configBytes) throw new Error(`${at('config.json')}: missing (a Hugging Face model folder has one)`);
  const { model, labels } = fromHfConfig(json(configBytes, at('config.json')), at('config.json'));
  const vocab = readVocabulary(files, at);
  try {
    WordPieceTokenizer.fromTokens(vocab.tokens); // its special tokens must be there: refuse now, not at the run
  } catch (e) {
    throw new Error(`${at(vocab.source)}: ${errorMessage(e)}`);
  }
  if (vocab.tokens.length !== model.vocabSize) {
    throw new Error(
      `${at(vocab.source)}: ${vocab.tokens.length} tokens, but config.json's vocab_size is ${model.vocabSize}`,
    );
  }
  const { weights, tensors } = readWeights(files, at);
  const match = matchCheckpoint(tensors, model, at(weights));
  const error = matchError(match, at(weights), true);
  if (error !== null) throw new Error(error);
  const loaded = match.arrays.size;
  for (const [k, v] of freshHead(match.missingHead, model, seed)) match.arrays.set(k, v);
  return {
    model,
    labels,
    arrays: match.arrays,
    vocabText: vocab.tokens.join('\n') + '\n',
    lowercase: vocab.lowercase,
    mlmHead: mlmHeadOf(tensors, model, at(weights)),
    report: {
      name,
      weights,
      dtypes: [
        ...new Set([...tensors].filter(([k]) => !match.unexpected.includes(k)).map(([, t]) => t.dtype)),
      ].sort(),
      tokenizer: vocab.source,
      lowercase: vocab.lowercase,
      loaded,
      initialised: match.missingHead,
      ignored: match.unexpected,
    },
  };
}

/** The report as one line: "nano (pytorch_model.bin, F16, uncased): 37 tensors; classifier.* initialised; ignored: ...". */
export function describeLoad(r: HfLoadReport): string {
  const parts = [
    `${r.name || 'model'} (${r.weights}, ${r.dtypes.join('/')}, ${r.lowercase ? 'uncased' : 'cased'} ${r.tokenizer}): ${r.loaded} tensors loaded`,
  ];
  if (r.initialised.length > 0) parts.push(`missing head initialised fresh: ${r.initialised.join(', ')}`);
  if (r.ignored.length > 0) parts.push(`ignored: ${r.ignored.join(', ')}`);
  if (r.labels !== undefined) parts.push(r.labels);
  return parts.join('; ');
}

/**
 * The model for a task with `labels` (the one policy of the CLI's `--init` and the page's "Load model"):
 *   - a checkpoint without a classifier (BertModel, BertForMaskedLM) gets a fresh head for these labels;
 *   - its own classifier over the same label names, in another order: the classifier's rows are permuted so
 *     that row i scores the data's label i;
 *   - its own classifier over as many labels with other names: kept by position (reported when the names are
 *     not HF's generic LABEL_i);
 *   - its own classifier over another number of labels: replaced by a fresh one (transformers'
 *     `ignore_mismatched_sizes=True`), reported.
 * The returned model's labels are the data's. `report.labels` says what was done (absent when nothing).
 */
export function withLabels(loaded: LoadedHfModel, labels: readonly string[], seed: number): LoadedHfModel {
  const own = !loaded.report.initialised.includes('classifier.weight');
  const from = loaded.labels;
  const fitted = (arrays: Map<string, Float32Array>, note: string | undefined, model = loaded.model) => ({
    ...loaded,
    model,
    labels: labels.slice(),
    arrays,
    report: note === undefined ? loaded.report : { ...loaded.report, labels: note },
  });
  if (own && labels.length === from.length) {
    const order = labels.map((l) => from.indexOf(l));
    if (order.every((i, j) => i === j)) return fitted(loaded.arrays, undefined);
    if (order.every((i) => i >= 0)) {
      const note = `classifier rows reordered to the data's labels (${labels.join(', ')})`;
      return fitted(permuteClassifier(loaded.arrays, order, loaded.model.hiddenSize), note);
    }
    const generic = from.every((l, i) => l === `LABEL_${i}`);
    const note = `classifier kept by position: the model's ${from.join(', ')} are the data's ${labels.join(', ')}`;
    return fitted(loaded.arrays, generic ? undefined : note);
  }
  const model = { ...loaded.model, numLabels: labels.length };
  const arrays = new Map(loaded.arrays);
  for (const [k, v] of freshHead(['classifier.weight', 'classifier.bias'], model, seed)) arrays.set(k, v);
  const note = own
    ? `classifier replaced by a fresh one: the model has ${from.length} labels (${from.join(', ')}), the data ${labels.length}`
    : undefined;
  return fitted(arrays, note, model);
}

/** classifier.weight [C, H] rows and classifier.bias [C] entries taken in `order` (new row j = old row order[j]). */
function permuteClassifier(
  arrays: ReadonlyMap<string, Float32Array>,
  order: readonly number[],
  hidden: number,
): Map<string, Float32Array> {
  const w = arrays.get('classifier.weight') as Float32Array;
  const b = arrays.get('classifier.bias') as Float32Array;
  const out = new Map(arrays);
  out.set(
    'classifier.weight',
    Float32Array.from(order.flatMap((i) => [...w.subarray(i * hidden, (i + 1) * hidden)])),
  );
  out.set('classifier.bias', Float32Array.from(order.map((i) => b[i] as number)));
  return out;
}

/**
 * A loaded checkpoint as BertForMaskedLM parameters (tf.Variables): its encoder (pooler and classifier dropped,
 * HF's BertForMaskedLM has neither) and its MLM head (`cls.predictions.*`) when it has all of it, else a fresh
 * seeded one. `head` says which. The CLI's `pretrain --init` and the page's pre-training stage share it.
 */
export function maskedLmParams(loaded: LoadedHfModel, seed: number): { params: Params; head: string } {
  const params = paramsFromArrays(loaded.model, loaded.arrays, loaded.report.name);
  for (const [name, v] of [...params]) {
    if (isHeadParam(name)) {
      v.dispose();
      params.delete(name);
    }
  }
  const specs = mlmParamSpecs(loaded.model);
  const found = specs.length - loaded.mlmHead.missing.length;
  try {
    if (loaded.mlmHead.missing.length === 0) {
      addMlmParamsFromArrays(params, loaded.model, loaded.mlmHead.arrays, loaded.report.name);
      return { params, head: 'MLM head loaded' };
    }
    initMlmParams(loaded.model, makeRng((seed + 2) >>> 0), params);
  } catch (e) {
    params.forEach((v) => v.dispose());
    throw e;
  }
  const head =
    found === 0
      ? 'no MLM head: a fresh one'
      : `partial MLM head (${found}/${specs.length} tensors): a fresh one`;
  return { params, head };
}

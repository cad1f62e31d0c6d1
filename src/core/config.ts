/**
 * The one config vocabulary of the playground: UI controls, URL query, `window.alum.setConfig`,
 * CLI flags (kebab-case of the same names) and trace metadata all use these names.
 *
 * References: ALUM (Liu et al. 2020, arXiv 2004.08994) Algorithm 1; namisan/mt-dnn
 * `mt_dnn/perturbation.py` (variants, see ../shared/ALUM.md §2.4); BERT (Devlin et al. 2019).
 * Pure data: no tfjs here, so the UI may import these types and values.
 */

export type Method = 'standard' | 'alum';
/**
 * How the inner ascent step updates delta (ALUM.md §2.4):
 * - `paper`: delta <- clip(delta + eta * g / max|g|_token, -epsilon, epsilon)
 * - `mtdnn-2020`: delta <- eta * g / (max|g|_token + normEps) (the initial noise is dropped)
 * - `mtdnn-head`: delta <- (delta + eta * g) / (max|delta + eta * g|_token + normEps) (unit L-inf per token)
 */
export type Variant = 'paper' | 'mtdnn-2020' | 'mtdnn-head';
export type ModelPresetName = 'nano' | 'tiny' | 'mini' | 'small';
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export const METHODS: readonly Method[] = ['standard', 'alum'];
export const VARIANTS: readonly Variant[] = ['paper', 'mtdnn-2020', 'mtdnn-head'];
export const MODEL_PRESET_NAMES: readonly ModelPresetName[] = ['nano', 'tiny', 'mini', 'small'];
export const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Everything that defines a training run. Field names are the public vocabulary. */
export interface TrainConfig {
  /** `standard`: task loss only; `alum`: task loss + alpha * symmetric KL at an adversarial delta. */
  method: Method;
  /** Weight of the adversarial sym-KL term (paper: 1 for fine-tuning, 10 for pre-training). */
  alpha: number;
  /** Number of inner ascent steps K (all released code uses 1). */
  k: number;
  /** Inner ascent step size eta. */
  eta: number;
  /** L-inf radius of the delta ball (used by the `paper` variant). */
  epsilon: number;
  /** Standard deviation of the initial noise delta ~ N(0, sigma^2) (mt-dnn calls it `noise_var`). */
  sigma: number;
  variant: Variant;
  /** Peak learning rate of AdamW (linear warm-up over the first 10% of steps, then linear decay). */
  lr: number;
  batchSize: number;
  /** Tokens per example including [CLS] and [SEP]; longer texts are truncated. */
  maxLength: number;
  /** Model size preset. */
  model: ModelPresetName;
  seed: number;
  /** Total optimizer steps of the run (sets the LR schedule; training stops there). */
  steps: number;
  /** Dropout probability in every pass (hidden and attention); each pass draws a fresh mask. */
  dropout: number;
  /** Decoupled weight decay of AdamW, applied to matrices only (not biases, LayerNorm). */
  weightDecay: number;
  /** Evaluate dev accuracy every this many steps (0: only at the end). */
  evalEvery: number;
}

export const DEFAULT_CONFIG: Readonly<TrainConfig> = {
  method: 'alum',
  alpha: 1,
  k: 1,
  eta: 1e-3,
  epsilon: 1e-2,
  sigma: 1e-5,
  variant: 'paper',
  lr: 1e-3,
  batchSize: 32,
  maxLength: 64,
  model: 'tiny',
  seed: 1,
  steps: 150,
  dropout: 0.1,
  weightDecay: 0.01,
  evalEvery: 25,
};

/** BERT architecture, with the Hugging Face `BertConfig` meanings (see `model/hf.ts` for the JSON names). */
export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  numLabels: number;
  layerNormEps: number;
}

export interface ModelPreset {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
}

/** Size presets: `nano` is for tests; the rest follow the BERT-{tiny,mini,small} shapes of Turc et al. 2019. */
export const MODEL_PRESETS: Readonly<Record<ModelPresetName, ModelPreset>> = {
  nano: { hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 64 },
  tiny: { hiddenSize: 128, numLayers: 2, numHeads: 2, intermediateSize: 512 },
  mini: { hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024 },
  small: { hiddenSize: 512, numLayers: 4, numHeads: 8, intermediateSize: 2048 },
};

export function modelConfigFor(
  preset: ModelPresetName,
  vocabSize: number,
  numLabels: number,
  maxPositions = 512,
): ModelConfig {
  const p = MODEL_PRESETS[preset];
  return { ...p, vocabSize, numLabels, maxPositions, typeVocabSize: 2, layerNormEps: 1e-12 };
}

/** Number of trainable parameters of a BERT-for-sequence-classification with this shape. */
export function countParams(c: ModelConfig): number {
  const h = c.hiddenSize;
  const emb = (c.vocabSize + c.maxPositions + c.typeVocabSize) * h + 2 * h;
  const i = c.intermediateSize;
  // Q, K, V, attention output; attention LayerNorm; intermediate; output; output LayerNorm
  const layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
  const pooler = h * h + h;
  const classifier = h * c.numLabels + c.numLabels;
  return emb + c.numLayers * layer + pooler + classifier;
}

type NumericKey = { [K in keyof TrainConfig]: TrainConfig[K] extends number ? K : never }[keyof TrainConfig];

interface NumberRule {
  min: number;
  max: number;
  integer: boolean;
}

/** Allowed ranges. `validateConfig` turns a violation into a one-line error naming the field. */
export const NUMBER_RULES: Readonly<Record<NumericKey, NumberRule>> = {
  alpha: { min: 0, max: 1000, integer: false },
  k: { min: 0, max: 20, integer: true },
  eta: { min: 0, max: 100, integer: false },
  epsilon: { min: 0, max: 100, integer: false },
  sigma: { min: 0, max: 10, integer: false },
  lr: { min: 0, max: 1, integer: false },
  batchSize: { min: 1, max: 1024, integer: true },
  maxLength: { min: 4, max: 512, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true },
  steps: { min: 1, max: 10_000_000, integer: true },
  dropout: { min: 0, max: 0.9, integer: false },
  weightDecay: { min: 0, max: 1, integer: false },
  evalEvery: { min: 0, max: 10_000_000, integer: true },
};

export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof TrainConfig)[];

function isNumericKey(key: keyof TrainConfig): key is NumericKey {
  return key in NUMBER_RULES;
}

/**
 * Checks a partial config coming from outside (URL, CLI, automation API, a file). Returns the typed patch,
 * or throws an Error whose message is one line naming the field and the problem.
 */
export function validateConfigPatch(patch: Record<string, unknown>): Partial<TrainConfig> {
  const out: Partial<Record<keyof TrainConfig, unknown>> = {};
  for (const [rawKey, value] of Object.entries(patch)) {
    if (!(CONFIG_KEYS as string[]).includes(rawKey)) {
      throw new Error(`unknown config field '${rawKey}' (known: ${CONFIG_KEYS.join(', ')})`);
    }
    const key = rawKey as keyof TrainConfig;
    if (isNumericKey(key)) {
      const rule = NUMBER_RULES[key];
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) {
        throw new Error(`config field '${key}' must be a finite number, got ${JSON.stringify(value)}`);
      }
      if (rule.integer && !Number.isInteger(n))
        throw new Error(`config field '${key}' must be an integer, got ${n}`);
      if (n < rule.min || n > rule.max) {
        throw new Error(`config field '${key}' must be in [${rule.min}, ${rule.max}], got ${n}`);
      }
      out[key] = n;
    } else {
      const allowed: readonly string[] =
        key === 'method' ? METHODS : key === 'variant' ? VARIANTS : MODEL_PRESET_NAMES;
      if (typeof value !== 'string' || !allowed.includes(value)) {
        throw new Error(
          `config field '${key}' must be one of ${allowed.join('|')}, got ${JSON.stringify(value)}`,
        );
      }
      out[key] = value;
    }
  }
  return out as Partial<TrainConfig>;
}

/** A full config from defaults plus a validated patch; also checks cross-field rules. */
export function resolveConfig(
  patch: Record<string, unknown> = {},
  base: TrainConfig = DEFAULT_CONFIG,
): TrainConfig {
  const cfg: TrainConfig = { ...base, ...validateConfigPatch(patch) };
  const preset = MODEL_PRESETS[cfg.model];
  if (preset.hiddenSize % preset.numHeads !== 0)
    throw new Error(`model '${cfg.model}': hidden size not divisible by heads`);
  return cfg;
}

/** Kebab-case CLI flag for a config field (`batchSize` -> `batch-size`). */
export function flagName(key: keyof TrainConfig): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

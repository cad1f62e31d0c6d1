/**
 * The one config vocabulary of the playground: UI controls, URL query, `window.alum.setConfig`,
 * CLI flags (kebab-case of the same names) and trace metadata all use these names.
 *
 * Every option of the ALUM step is specified in docs/alum-step.md (with its source in the paper, arXiv
 * 2004.08994, or in namisan/mt-dnn at a pinned commit). BERT: Devlin et al. 2019.
 * Pure data: no tfjs here, so the UI may import these types and values.
 */

/**
 * The training method (docs/alum-step.md, "Relatives"): `standard` (task loss only), `alum`, and ALUM's
 * relatives on the same embedding-output perturbation: `r3f` (random noise, no ascent), `fgm` (one L2 step on the
 * task loss), `pgd` (K projected steps on the task loss), `freelb` (K steps, parameter gradients accumulated) and
 * `smart` (ALUM's term + a Bregman proximal term against an EMA copy of the weights).
 */
export type Method = 'standard' | 'alum' | 'r3f' | 'fgm' | 'pgd' | 'freelb' | 'smart';
/** Distribution of R3F's noise: U(-sigma, sigma) or N(0, sigma^2) (fairseq `--noise-type`). */
export type NoiseType = 'uniform' | 'normal';
/**
 * How the inner ascent step updates delta (docs/alum-step.md, "Inner ascent"); n(x) is the per-token norm:
 * - `paper`: delta <- Pi_eps(delta + eta * g / n(g)) (normalised ascent, then projection onto the ball)
 * - `paper-raw`: delta <- Pi_eps(delta + eta * g) (Algorithm 1 of the paper as printed)
 * - `mtdnn-2020`: a <- a + eta * g / (n(g) + 1e-6), g taken at a + delta_0; the noise is not in the result
 * - `mtdnn-head`: delta <- (delta + eta * g) / (n(delta + eta * g) + 1e-6) (unit norm per token)
 */
export type Variant = 'paper' | 'paper-raw' | 'mtdnn-2020' | 'mtdnn-head';
/** `kl`: KL(p_clean || p_adv); `stable-kl`: mt-dnn's surrogate of KL(p_adv || p_clean). */
export type InnerLoss = 'kl' | 'stable-kl';
/** How the inner loss's [B, C] terms are reduced: summed, divided by B, or divided by B * C. */
export type InnerReduction = 'sum' | 'batchmean' | 'elementmean';
/** Per-token norm of the ascent (max over the hidden axis, or L2 over it); mt-dnn's `adv_p_norm`. */
export type Norm = 'inf' | 'l2';
/** Dropout masks of the inner and adversarial passes: the clean pass's (`same`), new ones, or none. */
export type AdvDropout = 'same' | 'fresh' | 'off';
export type ModelPresetName = 'nano' | 'tiny' | 'mini' | 'small';
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
/** What a run trains: a classifier (or regressor) on a labelled task, or a masked LM on a text corpus. */
export type Task = 'classify' | 'mlm';
/**
 * Where a run's weights start: the built-in pre-trained model of its size (public/models/<model>/, made by
 * `alum pretrain`: PRETRAINED_MODELS), the seeded random initialisation, or a model the user loaded.
 */
export type Init = 'pretrained' | 'random' | 'loaded';

export const METHODS: readonly Method[] = ['standard', 'alum', 'r3f', 'fgm', 'pgd', 'freelb', 'smart'];
export const NOISE_TYPES: readonly NoiseType[] = ['uniform', 'normal'];
export const VARIANTS: readonly Variant[] = ['paper', 'paper-raw', 'mtdnn-2020', 'mtdnn-head'];
export const INNER_LOSSES: readonly InnerLoss[] = ['kl', 'stable-kl'];
export const INNER_REDUCTIONS: readonly InnerReduction[] = ['sum', 'batchmean', 'elementmean'];
export const NORMS: readonly Norm[] = ['inf', 'l2'];
export const ADV_DROPOUTS: readonly AdvDropout[] = ['same', 'fresh', 'off'];
export const MODEL_PRESET_NAMES: readonly ModelPresetName[] = ['nano', 'tiny', 'mini', 'small'];
export const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
export const TASKS: readonly Task[] = ['classify', 'mlm'];
export const INITS: readonly Init[] = ['pretrained', 'random', 'loaded'];

/** The shipped pre-trained models (Hugging Face folders under public/, each with a model card README.md). */
export const PRETRAINED_MODELS: Readonly<Partial<Record<ModelPresetName, string>>> = {
  tiny: 'models/tiny',
};

/** Everything that defines a training run. Field names are the public vocabulary. */
export interface TrainConfig {
  /** `standard`: task loss only; `alum`: task loss + alpha * symmetric KL at an adversarial delta; relatives: see Method. */
  method: Method;
  /** r3f: the noise distribution, U(-sigma, sigma) or N(0, sigma^2). */
  noiseType: NoiseType;
  /** smart: weight mu of the Bregman proximal term (mean sym-KL against the EMA copy of the weights). */
  smartMu: number;
  /** smart: momentum beta of the EMA copy, theta_ema <- beta theta_ema + (1 - beta) theta after each update. */
  smartBeta: number;
  /** Weight of the adversarial sym-KL term (paper: 1 for fine-tuning, 10 for pre-training). */
  alpha: number;
  /** Number of inner ascent steps K (all released code uses 1). */
  k: number;
  /** Inner ascent step size eta. */
  eta: number;
  /** Radius of the per-token delta ball in the chosen norm (used by `paper` and `paper-raw`). */
  epsilon: number;
  /** Standard deviation of the initial noise delta ~ N(0, sigma^2) (mt-dnn calls it `noise_var`). */
  sigma: number;
  variant: Variant;
  innerLoss: InnerLoss;
  innerReduction: InnerReduction;
  /** Stop the perturbed pass's gradient at the embedding output (the tables then learn from the term via the clean pass only). */
  detachEmbedding: boolean;
  norm: Norm;
  advDropout: AdvDropout;
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
  /** Dropout probability (hidden and attention) of the clean pass; `advDropout` says what the others use. */
  dropout: number;
  /** Decoupled weight decay of AdamW, applied to matrices only (not biases, LayerNorm). */
  weightDecay: number;
  /** Evaluate dev accuracy every this many steps (0: only at the end). */
  evalEvery: number;
  /** `classify`: labelled task (classification or regression); `mlm`: masked-LM pre-training on a corpus. */
  task: Task;
  /** MLM: share of a sequence's eligible tokens to predict (BERT's masked_lm_prob; of those 80/10/10). */
  maskRate: number;
  /** MLM: mask all WordPieces of a word together (BERT's do_whole_word_mask). */
  wholeWordMask: boolean;
  /** Where the weights start (`loaded`: from the model the user picked; the CLI's `--init DIR`). */
  init: Init;
}

/**
 * Settings a run takes between two steps without a rebuild (TrainingRun.applyLiveSettings; the page applies
 * them mid-run): none changes a tensor's shape, the weights or the data. The others need a reset.
 */
export const LIVE_SETTINGS = [
  'lr',
  'alpha',
  'eta',
  'epsilon',
  'sigma',
  'k',
  'variant',
  'method',
  'noiseType',
  'smartMu',
  'smartBeta',
] as const;

export function isLiveSetting(key: string): key is (typeof LIVE_SETTINGS)[number] {
  return (LIVE_SETTINGS as readonly string[]).includes(key);
}

export const DEFAULT_CONFIG: Readonly<TrainConfig> = {
  method: 'alum',
  noiseType: 'uniform',
  smartMu: 1,
  smartBeta: 0.99,
  alpha: 1,
  k: 1,
  eta: 1e-2,
  epsilon: 1e-2,
  sigma: 1e-3,
  variant: 'paper',
  innerLoss: 'kl',
  innerReduction: 'sum',
  detachEmbedding: false,
  norm: 'inf',
  advDropout: 'same',
  lr: 1e-3,
  batchSize: 32,
  maxLength: 64,
  model: 'tiny',
  seed: 1,
  steps: 150,
  dropout: 0.1,
  weightDecay: 0.01,
  evalEvery: 15, // about 10 dev evaluations over the default 150 steps: enough points for a curve
  task: 'classify',
  maskRate: 0.15,
  wholeWordMask: false,
  init: 'random',
};

/**
 * Default peak learning rate when a run starts from a loaded checkpoint (fine-tuning) instead of random
 * weights: 1e-4, from the grid the BERT authors searched for the compact BERTs (tiny to base) that our size
 * presets follow: "learning rates: 3e-4, 1e-4, 5e-5, 3e-5" (google-research/bert README @acb3079, section
 * "BERT Miniatures"; Turc et al. 2019). DEFAULT_CONFIG.lr (1e-3) is a from-scratch rate for tiny models.
 */
export const FINETUNE_LR = 1e-4;

/**
 * The default peak learning rate for a run that starts from `init`: the one owner of that choice. A loaded
 * checkpoint gets FINETUNE_LR. The built-in `tiny` gets the from-scratch rate, 1e-3: measured, fine-tuning it for
 * 150 steps at 1e-4 underfits both built-in tasks (92.2% spam, 28.1% SOTU, below random weights' 95.9% and
 * 35.4%), while at 1e-3 it beats random weights on both (docs/results/pretrain.md, pretrain-lr1e-3.md).
 */
export function defaultLr(init: Init): number {
  return init === 'loaded' ? FINETUNE_LR : DEFAULT_CONFIG.lr;
}

/**
 * The page's defaults: a run fine-tunes the built-in pre-trained model (at its default rate, `defaultLr`), so a
 * new user sees what ALUM is for. The CLI keeps DEFAULT_CONFIG (random weights unless `--init` says otherwise).
 */
export const PAGE_DEFAULT_CONFIG: Readonly<TrainConfig> = {
  ...DEFAULT_CONFIG,
  init: 'pretrained',
  lr: defaultLr('pretrained'),
};

/**
 * A form edit with what follows from it: a new `init` brings its default learning rate (unless the edit sets
 * `lr`, or `lr` was changed by hand), and a model size without a built-in pre-trained model turns
 * `init: 'pretrained'` into `random`. The page's one owner of these couplings; the CLI's flags are explicit.
 */
export function withInitFollowing(
  patch: Record<string, unknown>,
  before: TrainConfig,
): Record<string, unknown> {
  const out = { ...patch };
  const model = (patch.model ?? before.model) as ModelPresetName;
  if (out.init === undefined && before.init === 'pretrained' && PRETRAINED_MODELS[model] === undefined) {
    out.init = 'random';
  }
  const init = out.init as Init | undefined;
  if (
    init !== undefined &&
    init !== before.init &&
    out.lr === undefined &&
    before.lr === defaultLr(before.init)
  ) {
    out.lr = defaultLr(init);
  }
  return out;
}

/**
 * A config saved by an earlier version (a saved run, its checkpoint): fields added since take their defaults,
 * and `init`, added with the built-in model, is `loaded` when the run was made from a model the user loaded,
 * else `random` (the only two starts there were).
 */
export function withSavedDefaults(saved: Partial<TrainConfig>, fromLoadedModel: boolean): TrainConfig {
  return { ...DEFAULT_CONFIG, init: fromLoadedModel ? 'loaded' : 'random', ...saved };
}

/**
 * The page's defaults for a run of model size `model` (the size itself stays PAGE_DEFAULT_CONFIG's):
 * PAGE_DEFAULT_CONFIG where a built-in pre-trained model of that size exists, else random weights at the
 * from-scratch rate (so `?model=nano` alone is a valid page). The URL stores only what differs from these
 * (src/ui/urlConfig.ts).
 */
export function pageDefaults(model: ModelPresetName): TrainConfig {
  if (PRETRAINED_MODELS[model] !== undefined) return { ...PAGE_DEFAULT_CONFIG };
  return { ...PAGE_DEFAULT_CONFIG, init: 'random', lr: defaultLr('random') };
}

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
  /** HF `problem_type`: absent = classification; `regression` has one output trained with MSE. */
  problemType?: ProblemType;
}

/** What the classifier head predicts: class logits, or one real number (HF `problem_type: "regression"`). */
export type ProblemType = 'classification' | 'regression';

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

/** Largest `steps` (and `evalEvery`): see NUMBER_RULES. */
export const MAX_STEPS = 100_000;

interface NumberRule {
  min: number;
  max: number;
  integer: boolean;
}

/**
 * Allowed ranges. `validateConfigPatch` turns a violation into a one-line error naming the field; this table
 * is the one owner of every numeric rule (the form, the URL, the CLI and the automation API all go through it).
 * `steps` and `evalEvery` stop at MAX_STEPS (100,000): the warm-up is 10% of `steps`, so a larger run would
 * warm up for over 10,000 steps, and at 32 examples a step 100,000 steps already pass over the default task's
 * ~5,000 training emails 600 times (hours of a tiny model in a browser); a typo like 1e7 is refused, not run.
 */
export const NUMBER_RULES: Readonly<Record<NumericKey, NumberRule>> = {
  alpha: { min: 0, max: 1000, integer: false },
  k: { min: 0, max: 20, integer: true },
  eta: { min: 0, max: 100, integer: false },
  epsilon: { min: 0, max: 100, integer: false },
  sigma: { min: 0, max: 10, integer: false },
  smartMu: { min: 0, max: 1000, integer: false },
  smartBeta: { min: 0, max: 1, integer: false },
  lr: { min: 0, max: 1, integer: false },
  batchSize: { min: 1, max: 1024, integer: true },
  maxLength: { min: 4, max: 512, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true },
  steps: { min: 1, max: MAX_STEPS, integer: true },
  dropout: { min: 0, max: 0.9, integer: false },
  weightDecay: { min: 0, max: 1, integer: false },
  evalEvery: { min: 0, max: MAX_STEPS, integer: true },
  maskRate: { min: 0.01, max: 1, integer: false },
};

export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof TrainConfig)[];

function isNumericKey(key: keyof TrainConfig): key is NumericKey {
  return key in NUMBER_RULES;
}

type ChoiceKey = { [K in keyof TrainConfig]: TrainConfig[K] extends string ? K : never }[keyof TrainConfig];
type BooleanKey = { [K in keyof TrainConfig]: TrainConfig[K] extends boolean ? K : never }[keyof TrainConfig];

/** Allowed values of every string-valued field. */
export const CHOICES: Readonly<{ [K in ChoiceKey]: readonly TrainConfig[K][] }> = {
  method: METHODS,
  noiseType: NOISE_TYPES,
  variant: VARIANTS,
  innerLoss: INNER_LOSSES,
  innerReduction: INNER_REDUCTIONS,
  norm: NORMS,
  advDropout: ADV_DROPOUTS,
  model: MODEL_PRESET_NAMES,
  task: TASKS,
  init: INITS,
};

function isChoiceKey(key: keyof TrainConfig): key is ChoiceKey {
  return key in CHOICES;
}

/** `true`/`false` as booleans or strings (URL, CLI flag, form), nothing else. */
function parseBoolean(key: BooleanKey, value: unknown): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`config field '${key}' must be true or false, got ${JSON.stringify(value)}`);
}

/** Decimal notation only (`0x10`, `0b1`, `Infinity` are not numbers here): digits, one point, an exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
/** Integer fields take plain decimal digits only (`16`, not `0x10`, `1e1` or `16.0`). */
const DECIMAL_INTEGER = /^[+-]?\d+$/;

function parseNumber(key: NumericKey, value: unknown): number {
  const rule = NUMBER_RULES[key];
  if (typeof value === 'string') return parseNumberText(key, value);
  const n = value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new Error(`config field '${key}' must be a finite number, got ${JSON.stringify(value)}`);
  }
  if (rule.integer && !Number.isInteger(n))
    throw new Error(`config field '${key}' must be an integer, got ${n}`);
  if (n < rule.min || n > rule.max) {
    throw new Error(`config field '${key}' must be in [${rule.min}, ${rule.max}], got ${n}`);
  }
  return n;
}

/** A number typed as text (URL, CLI flag, form): decimal notation only, then the field's range. */
function parseNumberText(key: NumericKey, text: string): number {
  const t = text.trim();
  if (t === '') throw new Error(`config field '${key}' is empty`);
  if (NUMBER_RULES[key].integer && !DECIMAL_INTEGER.test(t)) {
    const what = DECIMAL.test(t) ? 'an integer in decimal digits' : 'a decimal integer';
    throw new Error(`config field '${key}' must be ${what}, got ${JSON.stringify(text)}`);
  }
  if (!DECIMAL.test(t)) {
    throw new Error(
      `config field '${key}' must be a finite number in decimal notation, got ${JSON.stringify(text)}`,
    );
  }
  return parseNumber(key, Number(t));
}

function parseChoice(key: ChoiceKey, value: unknown): string {
  const allowed: readonly string[] = CHOICES[key];
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new Error(
      `config field '${key}' must be one of ${allowed.join('|')}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
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
    if (isNumericKey(key)) out[key] = parseNumber(key, value);
    else if (isChoiceKey(key)) out[key] = parseChoice(key, value);
    else out[key] = parseBoolean(key, value);
  }
  return out as Partial<TrainConfig>;
}

/** A full config from defaults plus a validated patch; also checks cross-field rules. */
export function resolveConfig(
  patch: Record<string, unknown> = {},
  base: TrainConfig = DEFAULT_CONFIG,
): TrainConfig {
  const cfg: TrainConfig = { ...base, ...validateConfigPatch(patch) };
  if (cfg.method === 'freelb' && cfg.k < 1)
    throw new Error("method 'freelb' needs k >= 1 (its K ascent passes are its loss)");
  const preset = MODEL_PRESETS[cfg.model];
  if (preset.hiddenSize % preset.numHeads !== 0)
    throw new Error(`model '${cfg.model}': hidden size not divisible by heads`);
  if (cfg.init === 'pretrained' && PRETRAINED_MODELS[cfg.model] === undefined) {
    const shipped = Object.keys(PRETRAINED_MODELS).join(', ');
    throw new Error(
      `config field 'init': no built-in pre-trained '${cfg.model}' model (built in: ${shipped}); use init random, or model ${shipped}`,
    );
  }
  return cfg;
}

/** Kebab-case CLI flag for a config field (`batchSize` -> `batch-size`). */
export function flagName(key: keyof TrainConfig): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** What the form's fields say: the config they give (null while any is invalid), and each field's error. */
export interface FieldCheck {
  config: TrainConfig | null;
  errors: Partial<Record<keyof TrainConfig, string>>;
}

/**
 * Checks the texts of a form's fields over `base`: each field alone (one error line per bad field), then the
 * cross-field rules of resolveConfig. `config` is null whenever any field is invalid, so nothing trains on
 * the last valid values while a field shows something else.
 */
export function checkConfigFields(
  texts: Partial<Record<keyof TrainConfig, string>>,
  base: TrainConfig = DEFAULT_CONFIG,
): FieldCheck {
  const errors: Partial<Record<keyof TrainConfig, string>> = {};
  let patch: Partial<TrainConfig> = {};
  for (const [key, text] of Object.entries(texts) as [keyof TrainConfig, string][]) {
    try {
      patch = { ...patch, ...validateConfigPatch({ [key]: text }) };
    } catch (e) {
      errors[key] = e instanceof Error ? e.message : String(e);
    }
  }
  if (Object.keys(errors).length > 0) return { config: null, errors };
  try {
    return { config: resolveConfig(patch, base), errors };
  } catch (e) {
    return { config: null, errors: { model: e instanceof Error ? e.message : String(e) } };
  }
}

/**
 * The robustness lab's vocabulary: the model under attack (a `Victim`), the settings of an attack, what it
 * records per example and the summary over a dev sample. Plain data only: records and summaries are
 * structured-clone safe and are printed as JSON by `alum eval` (snake_case summary keys are that JSON's).
 * Method notes and sources: docs/robustness.md.
 */
import type { ModelConfig, Norm } from '../config.ts';
import type { Example } from '../data/dataset.ts';
import type { Params } from '../model/params.ts';
import type { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';

export const ATTACKS = ['pgd', 'random', 'hotflip', 'typo', 'drop'] as const;
export type AttackName = (typeof ATTACKS)[number];

/** A trained classifier as the attacks see it: weights, shape, its tokenizer and the input length. */
export interface Victim {
  params: Params;
  model: ModelConfig;
  tokenizer: WordPieceTokenizer;
  /** Tokens per input including [CLS]/[SEP] (longer texts are truncated, shorter ones padded). */
  maxLength: number;
}

/** Every knob of every attack; `resolveAttackSettings` fills the defaults of the one chosen. */
export interface AttackSettings {
  attack: AttackName;
  /** pgd/random: radius of the per-token ball on the embedding-layer output. */
  epsilon: number;
  /** pgd: ascent steps K. */
  k: number;
  /** pgd: step size (default 2.5 epsilon / K, Madry et al. 2018). */
  eta: number;
  /** pgd/random: per-token norm of the ball (L-inf by default). */
  norm: Norm;
  /** hotflip: max tokens changed; typo: max words edited; drop: max words removed. Per example. */
  budget: number;
  /** Seeds pgd's random start, random's noise and typo's candidate sample. */
  seed: number;
  /** hotflip: candidates re-checked with a real forward pass per round (best first-order scores). */
  beam: number;
  /** typo: most candidate spellings tried per word (a seeded sample when a word has more). */
  maxCandidates: number;
}

/**
 * Progress and cancel: `onProgress` after each example (or batch), `shouldStop` checked before each. The attack
 * awaits what `onProgress` returns, so a caller can yield there (a worker lets a cancel message in).
 */
export interface AttackHooks {
  onProgress?: (done: number, total: number) => void | Promise<void>;
  shouldStop?: () => boolean;
}

/** One attacked example. Probabilities are softmax of the logits, dropout off. */
export interface AttackRecord {
  /** Row of the attacked sample. */
  index: number;
  label: number;
  text: string;
  textPair?: string;
  /** The encoded input without padding ([CLS] ... [SEP]). */
  ids: number[];
  attackedText: string;
  attackedTextPair?: string;
  attackedIds: number[];
  /** Token positions (pgd, random, hotflip) or word indices (typo, drop) the attack changed. */
  changed: number[];
  /** How many tokens or words `changed` is a share of (real tokens; words of the text). */
  units: number;
  cleanPrediction: number;
  cleanProbs: number[];
  attackedPrediction: number;
  attackedProbs: number[];
  /** Model forward passes spent on this example (a gradient pass counts as one). */
  queries: number;
  /** pgd/random: the largest per-token norm of the perturbation (<= epsilon). */
  perturbationNorm?: number;
}

export interface AttackSummary {
  attack: AttackName;
  clean_accuracy: number;
  attacked_accuracy: number;
  /** Share of the originally correct examples whose prediction the attack changed (0 when none was correct). */
  success_rate: number;
  /** Mean share of tokens or words changed, over the originally correct (attacked) examples. */
  changed: number;
  /** Mean model forward passes per example, over all examples. */
  queries: number;
  n: number;
  time_ms: number;
  /** True when `shouldStop` ended the attack early: the numbers cover the first `n` examples. */
  cancelled: boolean;
  settings: AttackSettings;
}

export interface AttackResult {
  summary: AttackSummary;
  records: AttackRecord[];
}

/** An attack on a list of examples. */
export type AttackFn = (
  victim: Victim,
  examples: readonly Example[],
  settings: AttackSettings,
  hooks: AttackHooks,
) => Promise<AttackRecord[]>;

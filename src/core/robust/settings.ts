/**
 * The robustness lab's settings: each attack's defaults and the one check of a settings patch. Pure (no
 * tensors), so the page's lab form uses the same defaults and errors as `alum eval` and the worker.
 */
import { ATTACKS, type AttackName, type AttackSettings } from './types.ts';

/** Budgets by attack: HotFlip 2 tokens, typo 1 word (Pruthi et al.'s and TextAttack's default), drop 3 words. */
export const DEFAULT_BUDGET: Readonly<Record<AttackName, number>> = {
  pgd: 0,
  random: 0,
  hotflip: 2,
  typo: 1,
  drop: 3,
};

/**
 * epsilon 0.1 of the embedding-layer output, whose entries are LayerNorm outputs of size about 1 (mean |e| is
 * printed by `alum train`'s charts): ten times ALUM's training default 1e-2. K 10 steps.
 */
export const DEFAULT_EPSILON = 0.1;
export const DEFAULT_K = 10;
/** The epsilons of the accuracy-against-epsilon curve. */
export const CURVE_EPSILONS: readonly number[] = [0, 0.01, 0.03, 0.1, 0.3, 1];

/** Madry et al.'s step for K steps in a ball of radius epsilon: 2.5 epsilon / K. */
export function defaultEta(epsilon: number, k: number): number {
  return k > 0 ? (2.5 * epsilon) / k : 0;
}

/** Settings with every default filled in; one-line errors naming the field for bad values. */
export function resolveAttackSettings(
  attack: AttackName,
  patch: Partial<Omit<AttackSettings, 'attack'>> = {},
): AttackSettings {
  if (!(ATTACKS as readonly string[]).includes(attack)) {
    throw new Error(`attack must be one of ${ATTACKS.join('|')}, got ${JSON.stringify(attack)}`);
  }
  const epsilon = patch.epsilon ?? DEFAULT_EPSILON;
  const k = patch.k ?? DEFAULT_K;
  const s: AttackSettings = {
    attack,
    epsilon,
    k,
    eta: patch.eta ?? defaultEta(epsilon, k),
    norm: patch.norm ?? 'inf',
    budget: patch.budget ?? DEFAULT_BUDGET[attack],
    seed: patch.seed ?? 1,
    beam: patch.beam ?? 8,
    maxCandidates: patch.maxCandidates ?? 32,
  };
  const check = (field: keyof AttackSettings, ok: boolean, rule: string) => {
    if (!ok) throw new Error(`${field} must be ${rule}, got ${JSON.stringify(s[field])}`);
  };
  const int = (x: number, min: number) => Number.isInteger(x) && x >= min;
  check('epsilon', Number.isFinite(s.epsilon) && s.epsilon >= 0, 'a number >= 0');
  check('eta', Number.isFinite(s.eta) && s.eta >= 0, 'a number >= 0');
  check('k', int(s.k, 0), 'an integer >= 0');
  check('budget', int(s.budget, 0), 'an integer >= 0');
  check('seed', int(s.seed, 0) && s.seed < 2 ** 32, 'an integer in [0, 2^32)');
  check('beam', int(s.beam, 1), 'an integer >= 1');
  check('maxCandidates', int(s.maxCandidates, 1), 'an integer >= 1');
  check('norm', s.norm === 'inf' || s.norm === 'l2', 'inf or l2');
  return s;
}

/**
 * The robustness lab's entry point: `runAttack(victim, examples, settings, hooks)` runs one attack (pgd, random,
 * hotflip, typo, drop) on a list of labelled examples and returns per-example records and the summary that the
 * page, `alum eval --json` and the robustness experiment report. `pgdCurve` gives accuracy against epsilon for
 * pgd and its random control. Method notes and sources: docs/robustness.md.
 */
import type { Example } from '../data/dataset.ts';
import { embeddingAttack } from './pgd.ts';
import { hotflipAttack } from './hotflip.ts';
import { dropAttack, typoAttack } from './word-attacks.ts';
import { CURVE_EPSILONS, resolveAttackSettings } from './settings.ts';
import {
  type AttackFn,
  type AttackHooks,
  type AttackName,
  type AttackRecord,
  type AttackResult,
  type AttackSettings,
  type AttackSummary,
  type Victim,
} from './types.ts';

export * from './types.ts';
export * from './settings.ts';

const RUNNERS: Readonly<Record<AttackName, AttackFn>> = {
  pgd: (v, ex, s, h) => embeddingAttack('pgd', v, ex, s, h),
  random: (v, ex, s, h) => embeddingAttack('random', v, ex, s, h),
  hotflip: hotflipAttack,
  typo: typoAttack,
  drop: dropAttack,
};

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The summary of an attack's records (see `AttackSummary` for each field's definition). */
export function summarise(
  records: readonly AttackRecord[],
  settings: AttackSettings,
  timeMs: number,
  cancelled: boolean,
): AttackSummary {
  const correct = records.filter((r) => r.cleanPrediction === r.label);
  const flipped = correct.filter((r) => r.attackedPrediction !== r.label);
  const n = records.length;
  return {
    attack: settings.attack,
    clean_accuracy: n === 0 ? 0 : correct.length / n,
    attacked_accuracy: n === 0 ? 0 : records.filter((r) => r.attackedPrediction === r.label).length / n,
    success_rate: correct.length === 0 ? 0 : flipped.length / correct.length,
    changed: mean(correct.map((r) => (r.units === 0 ? 0 : r.changed.length / r.units))),
    queries: mean(records.map((r) => r.queries)),
    n,
    time_ms: timeMs,
    cancelled,
    settings,
  };
}

/** Runs one attack on `examples` (classification models only). */
export async function runAttack(
  v: Victim,
  examples: readonly Example[],
  settings: AttackSettings,
  hooks: AttackHooks = {},
): Promise<AttackResult> {
  if (v.model.problemType === 'regression')
    throw new Error('attacks need a classification model, not regression');
  const started = performance.now();
  const records = await RUNNERS[settings.attack](v, examples, settings, hooks);
  const cancelled = records.length < examples.length;
  return { records, summary: summarise(records, settings, performance.now() - started, cancelled) };
}

/** pgd and its random control at each epsilon (other settings from `base`): accuracy against epsilon. */
export async function pgdCurve(
  v: Victim,
  examples: readonly Example[],
  base: Partial<Omit<AttackSettings, 'attack' | 'epsilon' | 'eta'>>,
  epsilons: readonly number[] = CURVE_EPSILONS,
  hooks: AttackHooks = {},
): Promise<{ epsilon: number; pgd: AttackSummary; random: AttackSummary }[]> {
  const out = [];
  for (const epsilon of epsilons) {
    const pgd = await runAttack(v, examples, resolveAttackSettings('pgd', { ...base, epsilon }), hooks);
    const random = await runAttack(v, examples, resolveAttackSettings('random', { ...base, epsilon }), hooks);
    out.push({ epsilon, pgd: pgd.summary, random: random.summary });
    if (pgd.summary.cancelled || random.summary.cancelled) break;
  }
  return out;
}

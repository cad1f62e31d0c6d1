/**
 * Run accounting from a run's metric rows, pure: speed, time left, the end-of-run summary, and the warnings
 * the page shows (big perturbation, diverging loss, collapsed perturbation, skipped batches).
 */
import type { MetricRow } from '../../protocol/messages.ts';
import { METHOD_KNOBS } from '../advice.ts';
import type { TrainConfig } from '../coreConfig.ts';

/** Rows the speed is averaged over (the latest ones). */
export const SPEED_WINDOW = 20;

/**
 * Steps per second of wall time over the latest rows, leaving out step 1 (it carries the backend's shader
 * compilation) and counting dev evaluations (each row's `ms` holds its evaluation). Null before step 2.
 */
export function stepsPerSecond(rows: readonly MetricRow[]): number | null {
  const recent = rows.filter((r) => r.step > 1).slice(-SPEED_WINDOW);
  const ms = recent.reduce((sum, r) => sum + r.ms, 0);
  return recent.length === 0 || ms <= 0 ? null : (1000 * recent.length) / ms;
}

/** Seconds left at the current speed (evaluations included, on average); null while unknown. */
export function secondsLeft(rows: readonly MetricRow[], step: number, steps: number): number | null {
  const speed = stepsPerSecond(rows);
  return speed === null ? null : Math.max(0, steps - step) / speed;
}

/** `1 h 2 min`, `3 min 4 s`, `5 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export interface RunSummary {
  steps: number;
  /** Sum of every row's wall time (training and evaluation), seconds. */
  wallSeconds: number;
  finalDev: number | null;
  /** The step with the best dev metric (highest accuracy or Pearson), and that value. */
  best: { step: number; value: number } | null;
  devMetric: 'devAccuracy' | 'devPearson';
  skipped: number;
  finalTaskLoss: number | null;
}

export function runSummary(rows: readonly MetricRow[]): RunSummary {
  const devMetric = rows.some((r) => r.devPearson !== undefined) ? 'devPearson' : 'devAccuracy';
  const evaluated = rows.filter((r) => r[devMetric] !== undefined && Number.isFinite(r[devMetric]));
  const best = evaluated.reduce<{ step: number; value: number } | null>((b, r) => {
    const v = r[devMetric] as number;
    return b === null || v > b.value ? { step: r.step, value: v } : b;
  }, null);
  const last = rows[rows.length - 1];
  return {
    steps: last?.step ?? 0,
    wallSeconds: rows.reduce((s, r) => s + r.ms, 0) / 1000,
    finalDev: evaluated.length === 0 ? null : (evaluated[evaluated.length - 1]?.[devMetric] ?? null),
    best,
    devMetric,
    skipped: last?.skipped ?? 0,
    finalTaskLoss: last?.taskLoss ?? null,
  };
}

export interface RunWarning {
  kind: 'big-delta' | 'diverging' | 'collapsed' | 'skipped';
  message: string;
}

/** The total loss counts as diverging above this multiple of the run's first task loss. */
export const DIVERGENCE_FACTOR = 10;

/**
 * What is wrong with the run now, judged from its latest row (and its first, for divergence). The perturbation's
 * warnings hold for every method that perturbs (all but standard; deltaLinf is the perturbation the outer pass
 * used: r3f's noise, fgm's r, pgd's delta_K, freelb's last delta), each with what to change for that method.
 */
export function runWarnings(rows: readonly MetricRow[], config: TrainConfig): RunWarning[] {
  const last = rows[rows.length - 1];
  const first = rows[0];
  if (last === undefined || first === undefined) return [];
  const out: RunWarning[] = [];
  const perturbs = config.method !== 'standard';
  const knobs = METHOD_KNOBS[config.method];
  if (perturbs && last.deltaLinf > last.embedAbsMean) {
    out.push({
      kind: 'big-delta',
      message: `The perturbation is big: per-token ‖δ‖∞ ${last.deltaLinf.toPrecision(3)} is above the mean |embedding| ${last.embedAbsMean.toPrecision(3)}, so the adversarial pass sees different inputs rather than nearby ones (${config.method}: ${knobs.size}).`,
    });
  }
  if (!Number.isFinite(last.totalLoss) || last.totalLoss > DIVERGENCE_FACTOR * first.taskLoss) {
    out.push({
      kind: 'diverging',
      message: `The loss diverges: total loss ${last.totalLoss.toPrecision(4)} at step ${last.step}, from a task loss of ${first.taskLoss.toPrecision(3)} at step ${first.step} (lower ${knobs.loss}).`,
    });
  }
  if (perturbs && last.step > 1 && last.deltaLinf === 0) {
    out.push({
      kind: 'collapsed',
      message: `The perturbation collapsed to 0 at step ${last.step}: the adversarial term does nothing (its curves sit on the bottom of the log axis).`,
    });
  }
  if (last.skipped > 0) {
    out.push({
      kind: 'skipped',
      message: `${last.skipped} batch${last.skipped === 1 ? '' : 'es'} had a non-finite inner gradient: their adversarial term was skipped.`,
    });
  }
  return out;
}

/**
 * The robustness lab's pure helpers: which words an attack changed (a word-level diff of the original and the
 * attacked text, so every attack is shown the same way), the records as CSV, and the accuracy-against-epsilon
 * curves of the embedding attacks. No tensors here.
 */
import type { AttackRecord } from '../core/robust/types.ts';
import type { AttackEntry } from './store/store.ts';

/** A word of a diff: its text, and whether it differs from the other side. */
export interface DiffWord {
  text: string;
  changed: boolean;
}

const words = (s: string): string[] => s.split(/\s+/u).filter((w) => w !== '');

/**
 * Both sides of a word-level diff (longest common subsequence of whitespace-separated words): the words of `a`
 * not in the common subsequence are `changed` on the left, those of `b` on the right.
 */
export function wordDiff(a: string, b: string): { left: DiffWord[]; right: DiffWord[] } {
  const x = words(a);
  const y = words(b);
  // lcs[i][j]: LCS length of x[i:] and y[j:].
  const lcs = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      const next = lcs[i + 1] as number[];
      row[j] =
        x[i] === y[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  const left: DiffWord[] = [];
  const right: DiffWord[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      left.push({ text: x[i++] as string, changed: false });
      right.push({ text: y[j++] as string, changed: false });
    } else if (j >= y.length || (i < x.length && (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      left.push({ text: x[i++] as string, changed: true });
    } else {
      right.push({ text: y[j++] as string, changed: true });
    }
  }
  return { left, right };
}

/** RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled. */
function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const RECORD_COLUMNS = [
  'index',
  'label',
  'text',
  'attacked_text',
  'clean_prediction',
  'clean_probability',
  'attacked_prediction',
  'attacked_probability',
  'flipped',
  'changed',
  'units',
  'queries',
] as const;

/** The records as CSV with a header: label names from `labels`, each prediction's probability. */
export function recordsCsv(records: readonly AttackRecord[], labels: readonly string[]): string {
  const name = (i: number) => labels[i] ?? String(i);
  const rows = records.map((r) =>
    [
      r.index,
      name(r.label),
      r.textPair === undefined ? r.text : `${r.text} [SEP] ${r.textPair}`,
      r.attackedTextPair === undefined ? r.attackedText : `${r.attackedText} [SEP] ${r.attackedTextPair}`,
      name(r.cleanPrediction),
      r.cleanProbs[r.cleanPrediction] ?? NaN,
      name(r.attackedPrediction),
      r.attackedProbs[r.attackedPrediction] ?? NaN,
      r.cleanPrediction !== r.attackedPrediction ? 1 : 0,
      r.changed.length,
      r.units,
      r.queries,
    ].map(csvField),
  );
  return [RECORD_COLUMNS.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}

/** One line of an accuracy-against-epsilon chart: a run's pgd or random attacks, by epsilon. */
export interface EpsilonCurve {
  label: string;
  attack: 'pgd' | 'random';
  points: { epsilon: number; accuracy: number }[];
}

/**
 * The embedding attacks' accuracy against epsilon, one curve per (run, attack, step) with at least two
 * epsilons; the latest result wins for a repeated epsilon.
 */
export function epsilonCurves(entries: readonly AttackEntry[]): EpsilonCurve[] {
  const curves = new Map<string, EpsilonCurve>();
  for (const e of entries) {
    const attack = e.summary.attack;
    if ((attack !== 'pgd' && attack !== 'random') || e.summary.cancelled) continue;
    const label = `${e.runName} @ step ${e.step}: ${attack === 'pgd' ? 'PGD' : 'random noise'}`;
    const c = curves.get(label) ?? { label, attack, points: [] };
    const eps = e.summary.settings.epsilon;
    c.points = [
      ...c.points.filter((p) => p.epsilon !== eps),
      { epsilon: eps, accuracy: e.summary.attacked_accuracy },
    ];
    curves.set(label, c);
  }
  return [...curves.values()]
    .filter((c) => c.points.length >= 2)
    .map((c) => ({ ...c, points: [...c.points].sort((a, b) => a.epsilon - b.epsilon) }));
}

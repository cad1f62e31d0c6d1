// The robustness lab's pure helpers: the word diff that highlights what an attack changed, the records' CSV,
// and the accuracy-against-epsilon curves.
import { describe, expect, it } from 'vitest';

import type { AttackRecord, AttackSummary } from '../core/robust/types.ts';
import { epsilonCurves, RECORD_COLUMNS, recordsCsv, wordDiff } from './robustness.ts';
import type { AttackEntry } from './store/store.ts';

const changedWords = (ws: { text: string; changed: boolean }[]) =>
  ws.filter((w) => w.changed).map((w) => w.text);

describe('wordDiff', () => {
  it('marks a substituted word on both sides, and nothing else', () => {
    const d = wordDiff('free money now', 'free mnoey now');
    expect(changedWords(d.left)).toEqual(['money']);
    expect(changedWords(d.right)).toEqual(['mnoey']);
    expect(d.left.map((w) => w.text).join(' ')).toBe('free money now');
  });

  it('marks dropped words on the left only, and an unchanged text not at all', () => {
    const d = wordDiff('win a free prize today', 'win prize today');
    expect(changedWords(d.left)).toEqual(['a', 'free']);
    expect(changedWords(d.right)).toEqual([]);
    expect(changedWords(wordDiff('same  text', 'same text').left)).toEqual([]);
  });

  it('handles empty sides', () => {
    expect(wordDiff('', '')).toEqual({ left: [], right: [] });
    expect(changedWords(wordDiff('', 'new').right)).toEqual(['new']);
  });
});

const record = (over: Partial<AttackRecord>): AttackRecord => ({
  index: 0,
  label: 1,
  text: 'free money, now',
  ids: [2, 5, 3],
  attackedText: 'free "mnoey" now',
  attackedIds: [2, 6, 3],
  changed: [1],
  units: 3,
  cleanPrediction: 1,
  cleanProbs: [0.1, 0.9],
  attackedPrediction: 0,
  attackedProbs: [0.7, 0.3],
  queries: 12,
  ...over,
});

describe('recordsCsv', () => {
  it('writes one quoted row per record, with label names and each prediction probability', () => {
    const csv = recordsCsv(
      [record({}), record({ index: 4, attackedPrediction: 1, attackedProbs: [0.4, 0.6] })],
      ['ham', 'spam'],
    );
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe(RECORD_COLUMNS.join(','));
    expect(lines[1]).toBe('0,spam,"free money, now","free ""mnoey"" now",spam,0.9,ham,0.7,1,1,3,12');
    expect(lines[2]).toBe('4,spam,"free money, now","free ""mnoey"" now",spam,0.9,spam,0.6,0,1,3,12');
  });
});

const summary = (attack: AttackSummary['attack'], epsilon: number, acc: number): AttackSummary => ({
  attack,
  clean_accuracy: 0.9,
  attacked_accuracy: acc,
  success_rate: 0,
  changed: 0,
  queries: 1,
  n: 10,
  time_ms: 1,
  cancelled: false,
  settings: {
    attack,
    epsilon,
    k: 10,
    eta: 0.025,
    norm: 'inf',
    budget: 0,
    seed: 1,
    beam: 8,
    maxCandidates: 32,
  },
});
const entry = (s: AttackSummary, step = 10): AttackEntry => ({
  id: `${s.attack}${s.settings.epsilon}`,
  runId: 'r',
  runName: 'alum',
  step,
  labels: ['ham', 'spam'],
  summary: s,
  records: [],
});

describe('epsilonCurves', () => {
  it('draws one curve per run, step and attack with two or more epsilons, sorted, latest result winning', () => {
    const curves = epsilonCurves([
      entry(summary('pgd', 0.1, 0.5)),
      entry(summary('pgd', 0, 0.9)),
      entry(summary('random', 0.1, 0.88)),
      entry(summary('pgd', 0.1, 0.4)),
      entry(summary('hotflip', 0, 0.3)),
      entry(summary('pgd', 0.3, 0.2), 20),
    ]);
    expect(curves).toEqual([
      {
        label: 'alum @ step 10: PGD',
        attack: 'pgd',
        points: [
          { epsilon: 0, accuracy: 0.9 },
          { epsilon: 0.1, accuracy: 0.4 },
        ],
      },
    ]);
  });
});

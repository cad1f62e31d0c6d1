// The robustness lab on a hand-built model whose answers are known (test/helpers/robust.ts: label 1 iff the
// input holds the trigger word `good`): the flips that must be found, budgets, budget 0, the epsilon ball,
// epsilon 0 = clean, determinism for a seed, summaries, progress and cancel, and no tensor leaks.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TOY_EXAMPLES, TOY_VOCAB, TRIGGER, toyVictim } from '../../../test/helpers/robust.ts';
import { disposeParams } from '../model/params.ts';
import { embed, NO_DROPOUT } from '../model/bert.ts';
import { disposeBatch } from '../train/run.ts';
import {
  ATTACKS,
  pgdCurve,
  resolveAttackSettings,
  runAttack,
  summarise,
  type AttackName,
  type AttackRecord,
} from './attack.ts';
import { embeddingDelta } from './pgd.ts';
import { encodeExample, rowsBatch } from './victim.ts';
import { visibleWords } from './word-attacks.ts';
import { WordSeq } from './words.ts';

const victim = toyVictim();
const triggerId = TOY_VOCAB.indexOf(TRIGGER);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => disposeParams(victim.params));

const attack = (name: AttackName, text: string, label: number, patch = {}) =>
  runAttack(victim, [{ text, label }], resolveAttackSettings(name, patch)).then(
    (r) => r.records[0] as AttackRecord,
  );

describe('hotflip', () => {
  it('puts the trigger in to flip a label-0 input: the one token of the vocabulary that can', async () => {
    const r = await attack('hotflip', 'the cat sat', 0, { budget: 1 });
    expect(r.attackedPrediction).toBe(1);
    expect(r.changed).toHaveLength(1);
    const t = r.changed[0] as number;
    expect(r.attackedIds[t]).toBe(triggerId);
    expect(r.attackedIds.filter((id, i) => id !== r.ids[i])).toEqual([triggerId]);
    expect(r.attackedText.split(' ')).toContain(TRIGGER);
  });

  it('takes the trigger out of a label-1 input, at its position', async () => {
    const r = await attack('hotflip', 'the good cat', 1, { budget: 1 });
    expect(r.changed).toEqual([2]); // [CLS] the good cat [SEP]
    expect(r.attackedIds[2]).not.toBe(triggerId);
    expect(r.attackedPrediction).toBe(0);
  });

  it('never exceeds its budget, and needs all of it for three triggers', async () => {
    for (const budget of [1, 2]) {
      const r = await attack('hotflip', 'good good good', 1, { budget });
      expect(r.changed.length).toBeLessThanOrEqual(budget);
      expect(r.attackedPrediction).toBe(1);
    }
    const r = await attack('hotflip', 'good good good', 1, { budget: 3 });
    expect(r.changed).toEqual([1, 2, 3]);
    expect(r.attackedPrediction).toBe(0);
  });

  it('never touches [CLS], [SEP] or padding, though [CLS] would score best on a label-0 input', async () => {
    for (const [text, label] of [
      ['good good good', 1],
      ['the cat sat', 0],
    ] as const) {
      const r = await attack('hotflip', text, label, { budget: 5 });
      const last = r.ids.length - 1;
      expect(r.changed.length).toBeGreaterThan(0);
      expect(r.changed.every((t) => t > 0 && t < last)).toBe(true);
      expect([r.attackedIds[0], r.attackedIds[last]]).toEqual([
        victim.tokenizer.clsId,
        victim.tokenizer.sepId,
      ]);
    }
  });
});

describe('typo', () => {
  it('misspells the trigger (inner characters only) and flips the label', async () => {
    const r = await attack('typo', 'the good cat', 1);
    expect(r.changed).toEqual([1]); // words: the good cat
    const word = r.attackedText.split(' ')[1] as string;
    expect(word).not.toBe(TRIGGER);
    expect([word[0], word[word.length - 1]]).toEqual(['g', 'd']);
    expect(r.attackedPrediction).toBe(0);
  });

  it('edits no word under 4 letters', async () => {
    const r = await attack('typo', 'the cat sat on a mat', 0, { budget: 3 });
    expect(r.changed).toEqual([]);
    expect(r.attackedText).toBe('the cat sat on a mat');
  });

  it('edits at most `budget` words, never one twice', async () => {
    for (const budget of [1, 2]) {
      const r = await attack('typo', 'good good good', 1, { budget });
      expect(r.changed).toHaveLength(budget); // every edit lowers p(1); one trigger is left, so no flip
      expect(new Set(r.changed).size).toBe(r.changed.length);
      expect(r.attackedPrediction).toBe(1);
    }
  });
});

describe('visibleWords', () => {
  it('marks the words whose first piece survives truncation, longest_first for a pair', () => {
    const short = { ...victim, maxLength: 6 }; // 4 tokens of text
    expect(visibleWords(short, WordSeq.of({ text: 'the cat sat on the mat' }))).toEqual([
      ...[true, true, true, true],
      ...[false, false],
    ]);
    const pair = WordSeq.of({ text: 'the cat sat', textPair: 'on the mat' });
    expect(visibleWords({ ...victim, maxLength: 7 }, pair)).toEqual([true, true, false, true, true, false]);
  });

  it('keeps the word attacks inside the window: a trigger past it is never touched', async () => {
    const short = { ...victim, maxLength: 6 };
    const ex = { text: 'the cat sat on good good', label: 0 };
    for (const name of ['typo', 'drop'] as const) {
      const [r] = (await runAttack(short, [ex], resolveAttackSettings(name, { budget: 3 }))).records;
      expect(r?.units).toBe(4);
      expect(r?.changed.every((i) => i < 4)).toBe(true);
    }
  });
});

describe('drop', () => {
  it('removes the trigger and flips the label', async () => {
    const r = await attack('drop', 'the good cat', 1);
    expect(r.changed).toEqual([1]);
    expect(r.attackedText.split(/\s+/)).toEqual(['the', 'cat']);
    expect(r.attackedPrediction).toBe(0);
    expect(r.queries).toBe(1 + 3); // the clean prediction, then one round: each of the 3 words left out
  });

  it('stops at its budget', async () => {
    const r = await attack('drop', 'good good good', 1, { budget: 2 });
    expect(r.changed).toHaveLength(2);
    expect(r.attackedPrediction).toBe(1);
    expect(r.queries).toBe(1 + 3 + 2); // the clean prediction, then rounds over 3 and 2 words
  });
});

describe('every attack', () => {
  it.each(['hotflip', 'typo', 'drop'] as const)(
    '%s returns the sentence unchanged at budget 0',
    async (name) => {
      const { records } = await runAttack(victim, TOY_EXAMPLES, resolveAttackSettings(name, { budget: 0 }));
      for (const [i, r] of records.entries()) {
        const ex = TOY_EXAMPLES[i];
        expect(r.attackedText).toBe(ex?.text);
        expect(r.attackedIds).toEqual(r.ids);
        expect(r.changed).toEqual([]);
        expect(r.attackedProbs).toEqual(r.cleanProbs);
      }
    },
  );

  it.each(ATTACKS)('%s gives the same records for the same seed, and leaks no tensor', async (name) => {
    const s = resolveAttackSettings(name, { seed: 7, epsilon: 0.5, k: 3, maxCandidates: 5, budget: 2 });
    await runAttack(victim, TOY_EXAMPLES, s); // warm-up: tfjs caches some tensors on first use
    const before = tf.memory().numTensors;
    const a = await runAttack(victim, TOY_EXAMPLES, s);
    expect(tf.memory().numTensors).toBe(before);
    const b = await runAttack(victim, TOY_EXAMPLES, s);
    expect(b.records).toEqual(a.records);
  });

  it('reports progress per example and stops when asked, summarising what it did', async () => {
    const seen: [number, number][] = [];
    const { summary, records } = await runAttack(victim, TOY_EXAMPLES, resolveAttackSettings('drop'), {
      onProgress: (done, total) => {
        seen.push([done, total]);
      },
      shouldStop: () => seen.length >= 2,
    });
    expect(seen).toEqual([
      [1, 4],
      [2, 4],
    ]);
    expect(records).toHaveLength(2);
    expect(summary).toMatchObject({ n: 2, cancelled: true });
  });
});

describe('pgd and random', () => {
  it('epsilon 0 gives exactly the clean predictions', async () => {
    for (const name of ['pgd', 'random'] as const) {
      const { records, summary } = await runAttack(
        victim,
        TOY_EXAMPLES,
        resolveAttackSettings(name, { epsilon: 0 }),
      );
      expect(records.map((r) => r.attackedProbs)).toEqual(records.map((r) => r.cleanProbs));
      expect(summary.attacked_accuracy).toBe(summary.clean_accuracy);
      expect(records.every((r) => r.changed.length === 0 && r.perturbationNorm === 0)).toBe(true);
    }
  });

  it('never leaves the epsilon ball, is zero on padding, and random sits on its sphere', async () => {
    const rows = TOY_EXAMPLES.map((ex) => encodeExample(victim, ex));
    const batch = rowsBatch(
      victim,
      rows,
      TOY_EXAMPLES.map((ex) => ex.label),
    );
    const epsilon = 0.3;
    for (const norm of ['inf', 'l2'] as const) {
      const s = resolveAttackSettings('pgd', { epsilon, k: 5, eta: 1, norm }); // eta > epsilon: projection binds
      for (const kind of ['pgd', 'random'] as const) {
        const n = tf.tidy(() => {
          const e = embed(victim.params, victim.model, batch, NO_DROPOUT);
          const d = embeddingDelta(victim, e, batch, s, kind, 3);
          return norm === 'inf' ? d.abs().max(-1) : d.square().sum(-1).sqrt(); // [B, T]
        });
        const norms = (await n.array()) as number[][];
        n.dispose();
        norms.forEach((row, b) =>
          row.forEach((x, t) => {
            const real = t < (rows[b]?.inputIds.length ?? 0);
            if (!real) expect(x).toBe(0);
            else if (kind === 'random') expect(x).toBeCloseTo(epsilon, 6);
            else expect(x).toBeLessThanOrEqual(epsilon * (1 + 1e-6));
          }),
        );
      }
    }
    disposeBatch(batch);
  });

  it('flips every example at a large epsilon, which the same-size random noise does not', async () => {
    const pgd = await runAttack(victim, TOY_EXAMPLES, resolveAttackSettings('pgd', { epsilon: 1 }));
    const random = await runAttack(victim, TOY_EXAMPLES, resolveAttackSettings('random', { epsilon: 1 }));
    expect(pgd.summary.attacked_accuracy).toBe(0);
    expect(random.summary.attacked_accuracy).toBeGreaterThan(0.5);
    expect(pgd.records.every((r) => r.queries === 12)).toBe(true); // clean + K = 10 gradient passes + attacked
  });

  it('the curve starts at the clean accuracy and pgd never beats random by being weaker', async () => {
    const curve = await pgdCurve(victim, TOY_EXAMPLES, { k: 5 }, [0, 0.3, 1]);
    expect(curve.map((c) => c.epsilon)).toEqual([0, 0.3, 1]);
    expect(curve[0]?.pgd.attacked_accuracy).toBe(1);
    for (const c of curve) expect(c.pgd.attacked_accuracy).toBeLessThanOrEqual(c.random.attacked_accuracy);
  });
});

describe('summarise', () => {
  it('computes the rates from the records (hand-counted)', () => {
    const rec = (
      label: number,
      clean: number,
      attacked: number,
      changed: number[],
      units: number,
      queries: number,
    ) =>
      ({
        label,
        cleanPrediction: clean,
        attackedPrediction: attacked,
        changed,
        units,
        queries,
      }) as AttackRecord;
    const s = summarise(
      [rec(1, 1, 0, [1], 4, 3), rec(0, 0, 0, [], 5, 5), rec(1, 0, 0, [2], 2, 1), rec(0, 0, 1, [1, 2], 4, 7)],
      resolveAttackSettings('drop'),
      12,
      false,
    );
    // correct: rows 0, 1, 3; flipped among them: rows 0 and 3; changed over those three: 1/4, 0, 2/4
    expect(s).toMatchObject({ clean_accuracy: 0.75, attacked_accuracy: 0.25, n: 4, time_ms: 12 });
    expect(s.success_rate).toBeCloseTo(2 / 3, 12);
    expect(s.changed).toBeCloseTo(0.25, 12);
    expect(s.queries).toBe(4);
  });

  it('refuses bad settings with one line naming the field', () => {
    expect(() => resolveAttackSettings('pgd', { epsilon: -1 })).toThrow(
      'epsilon must be a number >= 0, got -1',
    );
    expect(() => resolveAttackSettings('typo', { budget: 1.5 })).toThrow('budget must be an integer >= 0');
    expect(() => resolveAttackSettings('nope' as AttackName)).toThrow(
      'attack must be one of pgd|random|hotflip|typo|drop',
    );
  });

  it('defaults eta to 2.5 epsilon / K', () => {
    expect(resolveAttackSettings('pgd', { epsilon: 0.2, k: 5 }).eta).toBeCloseTo(0.1, 12);
  });
});

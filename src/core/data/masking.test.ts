// BERT masking (create_masked_lm_predictions of google-research/bert): the count rule, 80/10/10 within
// binomial bounds, specials and padding never chosen, labels, determinism and whole-word groups.
import { describe, expect, it } from 'vitest';

import { makeRng } from '../rng.ts';
import { maskTokens, numToPredict, roundHalfEven, type MaskingOptions } from './masking.ts';

// A BERT-base-like vocabulary: [PAD]=0, [unused*]=1..99, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
const PAD = 0;
const UNK = 100;
const CLS = 101;
const SEP = 102;
const MASK = 103;
const V = 30522;
const LO = 999; // first ordinary token: the random replacements are drawn from [LO, V)
const specialIds = new Set([PAD, UNK, CLS, SEP, MASK]);
const opts: MaskingOptions = { vocabSize: V, specialIds, maskId: MASK, randomRange: [LO, V] };

/** B random sequences of length T: [CLS] words... [SEP] then padding; some with an [UNK]. Flat ids and mask. */
function randomBatch(seed: number, B: number, T: number, minLen = 3) {
  const rng = makeRng(seed);
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = minLen + rng.int(T - minLen + 1); // real tokens incl. [CLS] and [SEP]
    for (let t = 0; t < len; t++) {
      const i = b * T + t;
      mask[i] = 1;
      ids[i] = t === 0 ? CLS : t === len - 1 ? SEP : rng.uniform() < 0.02 ? UNK : LO + rng.int(V - LO);
    }
  }
  return { ids, mask };
}

function eligibleCount(ids: Int32Array, mask: Int32Array, b: number, T: number): number {
  let n = 0;
  for (let t = 0; t < T; t++) {
    const i = b * T + t;
    if (mask[i] === 1 && !specialIds.has(ids[i] as number)) n++;
  }
  return n;
}

/** |k - n p| <= 4 sqrt(n p (1 - p)): a binomial count within 4 sigma of its mean. */
function expectBinomial(k: number, n: number, p: number, what: string): void {
  expect(Math.abs(k - n * p), `${what}: ${k} of ${n}, p ${p}`).toBeLessThanOrEqual(
    4 * Math.sqrt(n * p * (1 - p)),
  );
}

describe('numToPredict (BERT: max(1, round(rate * n)), Python rounding)', () => {
  it('rounds half to even, as Python 3 round', () => {
    expect([0.5, 1.5, 2.5, 3.5, 4.5, 2.4, 2.6, 7].map(roundHalfEven)).toEqual([0, 2, 2, 4, 4, 2, 3, 7]);
  });

  it('is max(1, round(rate * eligible)), capped by maxPredictions and eligible; 0 for nothing eligible', () => {
    expect(numToPredict(0, 0.15)).toBe(0);
    expect(numToPredict(1, 0.15)).toBe(1);
    expect(numToPredict(3, 0.15)).toBe(1); // round(0.45) = 0 -> at least 1
    expect(numToPredict(10, 0.15)).toBe(2); // 1.5 -> 2
    expect(numToPredict(30, 0.15)).toBe(4); // 4.5 -> 4 (half to even)
    expect(numToPredict(126, 0.15)).toBe(19); // 18.9
    expect(numToPredict(126, 0.15, 5)).toBe(5);
    expect(numToPredict(2, 1)).toBe(2);
  });
});

describe('maskTokens', () => {
  it('labels are the original ids at sorted flat positions; only chosen tokens change; input untouched', () => {
    const T = 32;
    const { ids, mask } = randomBatch(1, 50, T);
    const copy = ids.slice();
    const out = maskTokens(ids, mask, T, opts, makeRng(7));
    expect(ids).toEqual(copy);
    expect(out.positions.length).toBe(out.labels.length);
    for (let k = 1; k < out.positions.length; k++)
      expect(out.positions[k] as number).toBeGreaterThan(out.positions[k - 1] as number);
    const chosen = new Set(out.positions);
    out.positions.forEach((p, k) => expect(out.labels[k]).toBe(ids[p]));
    ids.forEach((id, i) => {
      if (!chosen.has(i)) expect(out.inputIds[i]).toBe(id);
    });
    for (let b = 0; b < 50; b++) {
      const inRow = out.positions.filter((p) => Math.floor(p / T) === b).length;
      expect(inRow).toBe(numToPredict(eligibleCount(ids, mask, b, T), 0.15));
    }
  });

  it('never chooses specials or padding, and every nonempty sequence gets M >= 1', () => {
    for (let seed = 0; seed < 20; seed++) {
      const T = 16;
      const { ids, mask } = randomBatch(100 + seed, 40, T, 2); // some rows are [CLS] [SEP] only
      const out = maskTokens(ids, mask, T, { ...opts, rate: 0.3 }, makeRng(seed));
      for (const p of out.positions) {
        expect(mask[p]).toBe(1);
        expect(specialIds.has(ids[p] as number)).toBe(false);
      }
      for (let b = 0; b < 40; b++) {
        const m = out.positions.filter((p) => Math.floor(p / T) === b).length;
        const n = eligibleCount(ids, mask, b, T);
        expect(m >= 1).toBe(n >= 1);
        if (n === 0) expect(m).toBe(0);
      }
      for (let i = 0; i < ids.length; i++) if (mask[i] === 0) expect(out.inputIds[i]).toBe(PAD);
    }
  });

  it('replaces 80% by [MASK], keeps 10% and randomises 10% (4 sigma over ~36k positions)', () => {
    const T = 128;
    const { ids, mask } = randomBatch(2, 2200, T, 100);
    const out = maskTokens(ids, mask, T, opts, makeRng(11));
    const n = out.positions.length;
    expect(n).toBeGreaterThan(36000);
    let masked = 0;
    let kept = 0;
    let random = 0;
    let randomSum = 0;
    out.positions.forEach((p) => {
      const now = out.inputIds[p] as number;
      if (now === MASK) masked++;
      else if (now === ids[p]) kept++;
      else {
        random++;
        randomSum += now;
        expect(now >= LO && now < V).toBe(true);
      }
    });
    const collide = 0.1 / (V - LO); // a random draw equal to the original counts as kept
    expectBinomial(masked, n, 0.8, '[MASK]');
    expectBinomial(kept, n, 0.1 + collide, 'kept');
    expectBinomial(random, n, 0.1 - collide, 'random');
    expectBinomial(kept, kept + random, 0.5 + collide * 5, 'kept of the unmasked'); // BERT's rng.random() < 0.5
    // uniform on [LO, V): mean (LO + V - 1) / 2, sd (V - LO) / sqrt(12)
    const sd = (V - LO) / Math.sqrt(12);
    expect(Math.abs(randomSum / random - (LO + V - 1) / 2)).toBeLessThan((4 * sd) / Math.sqrt(random));
  });

  it('chooses every eligible position of a sequence equally often (no bias from the shuffle)', () => {
    const T = 20;
    const rows = 2000;
    // every row: [CLS] 18 words [SEP]; 18 * 0.15 = 2.7 -> 3 chosen per row
    const ids = new Int32Array(rows * T);
    const mask = new Int32Array(rows * T).fill(1);
    for (let b = 0; b < rows; b++)
      for (let t = 0; t < T; t++) ids[b * T + t] = t === 0 ? CLS : t === T - 1 ? SEP : LO + t;
    const out = maskTokens(ids, mask, T, opts, makeRng(5));
    expect(out.positions.length).toBe(rows * 3);
    const hits = new Array<number>(T).fill(0);
    for (const p of out.positions) hits[p % T] = (hits[p % T] as number) + 1;
    expect(hits[0]).toBe(0);
    expect(hits[T - 1]).toBe(0);
    for (let t = 1; t < T - 1; t++) expectBinomial(hits[t] as number, rows, 3 / 18, `position ${t}`);
  });

  it('is deterministic from the seed, and another seed gives another masking', () => {
    const T = 32;
    const { ids, mask } = randomBatch(3, 30, T);
    const a = maskTokens(ids, mask, T, opts, makeRng(42));
    const b = maskTokens(ids, mask, T, opts, makeRng(42));
    const c = maskTokens(ids, mask, T, opts, makeRng(43));
    expect(b).toEqual(a);
    expect(c.positions).not.toEqual(a.positions);
  });

  it('respects maxPredictions and rate', () => {
    const T = 64;
    const { ids, mask } = randomBatch(4, 30, T, 40);
    const out = maskTokens(ids, mask, T, { ...opts, rate: 0.5, maxPredictions: 7 }, makeRng(1));
    for (let b = 0; b < 30; b++) {
      const m = out.positions.filter((p) => Math.floor(p / T) === b).length;
      expect(m).toBe(Math.min(7, numToPredict(eligibleCount(ids, mask, b, T), 0.5)));
    }
  });

  describe('whole-word masking', () => {
    // Ordinary ids: even = a word start, odd = a '##' continuation piece.
    const isContinuation = (id: number) => id >= LO && id % 2 === 1;
    const wwm: MaskingOptions = { ...opts, wholeWord: true, isContinuation };

    /** Rows of words of 1-3 pieces between [CLS] and [SEP], then padding; the word index of every position. */
    function wordBatch(seed: number, B: number, T: number) {
      const rng = makeRng(seed);
      const ids = new Int32Array(B * T);
      const mask = new Int32Array(B * T);
      const word = new Int32Array(B * T).fill(-1);
      let w = 0;
      for (let b = 0; b < B; b++) {
        const limit = 4 + rng.int(T - 4);
        let t = 0;
        ids[b * T] = CLS;
        mask[b * T] = 1;
        t = 1;
        while (t < limit - 1) {
          const pieces = Math.min(1 + rng.int(3), limit - 1 - t);
          for (let k = 0; k < pieces; k++, t++) {
            const start = LO + 1 + 2 * rng.int(1000); // even: LO is odd
            ids[b * T + t] = k === 0 ? start : start + 1;
            mask[b * T + t] = 1;
            word[b * T + t] = w;
          }
          w++;
        }
        ids[b * T + t] = SEP;
        mask[b * T + t] = 1;
      }
      return { ids, mask, word };
    }

    it('masks all pieces of a word together, never more than the target count (but at least one word)', () => {
      const T = 48;
      const B = 300;
      const { ids, mask, word } = wordBatch(9, B, T);
      const out = maskTokens(ids, mask, T, wwm, makeRng(3));
      const chosen = new Set(out.positions);
      const size = new Map<number, number>();
      const hit = new Map<number, number>();
      word.forEach((w, i) => {
        if (w < 0) return;
        size.set(w, (size.get(w) ?? 0) + 1);
        if (chosen.has(i)) hit.set(w, (hit.get(w) ?? 0) + 1);
      });
      let multiPieceHits = 0;
      for (const [w, h] of hit) {
        expect(h, `word ${w}`).toBe(size.get(w));
        if (h > 1) multiPieceHits++;
      }
      expect(multiPieceHits).toBeGreaterThan(50); // the test sees multi-piece words
      for (let b = 0; b < B; b++) {
        const m = out.positions.filter((p) => Math.floor(p / T) === b).length;
        const target = numToPredict(eligibleCount(ids, mask, b, T), 0.15);
        expect(m).toBeGreaterThanOrEqual(1);
        if (m > target) {
          // the fallback: one word taken whole because every word exceeded the target
          const words = new Set(
            out.positions.filter((p) => Math.floor(p / T) === b).map((p) => word[p] as number),
          );
          expect(words.size).toBe(1);
        }
      }
    });

    it('takes a whole word when every word is longer than the target (M >= 1)', () => {
      // [CLS] w ##a [SEP]: 2 eligible, target max(1, round(0.3)) = 1, the only group has 2 pieces
      const ids = Int32Array.from([CLS, LO + 1, LO + 2, SEP]);
      const out = maskTokens(ids, [1, 1, 1, 1], 4, wwm, makeRng(0));
      expect(Array.from(out.positions)).toEqual([1, 2]);
      expect(Array.from(out.labels)).toEqual([LO + 1, LO + 2]);
      // per WordPiece the same row gets exactly one
      expect(maskTokens(ids, [1, 1, 1, 1], 4, opts, makeRng(0)).positions.length).toBe(1);
    });

    it('a continuation after a special or padding starts its own group', () => {
      // [CLS] ##x [SEP] ##y: both continuations follow specials -> two single-piece groups
      const ids = Int32Array.from([CLS, LO + 2, SEP, LO + 4, PAD]);
      const out = maskTokens(ids, [1, 1, 1, 1, 0], 5, { ...wwm, rate: 0.5 }, makeRng(0));
      expect(out.positions.length).toBe(1); // round(0.5 * 2) = 1: one group of one piece
    });
  });

  it('rejects bad input with one-line errors', () => {
    const ids = Int32Array.from([CLS, LO, SEP, PAD]);
    const m = [1, 1, 1, 0];
    const r = makeRng(0);
    expect(() => maskTokens(ids, m, 3, opts, r)).toThrow(/4 ids do not split into sequences of length 3/);
    expect(() => maskTokens(ids, [1, 1], 4, opts, r)).toThrow(/attention mask has 2 entries for 4 ids/);
    expect(() => maskTokens(ids, m, 4, { ...opts, rate: 0 }, r)).toThrow(/rate must be in \(0, 1\]/);
    expect(() => maskTokens(ids, m, 4, { ...opts, randomRange: [100, V] }, r)).toThrow(
      /holds the special id 100/,
    );
    expect(() => maskTokens(ids, m, 4, { ...opts, randomRange: [LO, V + 1] }, r)).toThrow(/nonempty range/);
    expect(() => maskTokens(ids, m, 4, { ...opts, maxPredictions: 0 }, r)).toThrow(/maxPredictions/);
    expect(() => maskTokens(ids, m, 4, { ...opts, wholeWord: true }, r)).toThrow(/needs isContinuation/);
    expect(() => maskTokens(Int32Array.from([CLS, V, SEP, PAD]), m, 4, opts, r)).toThrow(
      /id 30522 is not in/,
    );
  });
});

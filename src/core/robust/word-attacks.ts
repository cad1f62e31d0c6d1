/**
 * Black-box word-level attacks that only read the class probabilities (TextAttack's greedy word-importance
 * search, Morris et al. 2020, arXiv 2005.05909):
 *   typo  words ranked by leave-one-out importance (how much p(y) drops when the word is removed), then in that
 *         order the best typo of each word (`typos`, at most `maxCandidates` of them, a seeded sample) is kept
 *         when it lowers p(y); `budget` words edited at most, none twice (Pruthi et al. 2019; DeepWordBug).
 *   drop  greedy word deletion (Feng et al. 2018, arXiv 1804.07781, used as an attack): each round removes the
 *         word whose removal lowers p(y) most, until the label flips, nothing lowers p(y), or `budget` words.
 * Both stop as soon as the prediction is no longer y. Examples the model already gets wrong are not attacked.
 */
import type { Example } from '../data/dataset.ts';
import { makeRng, shuffled, type Rng } from '../rng.ts';
import { longestFirst } from '../tokenizer/wordpiece.ts';
import { argmax, eachExample, encodeExample, lowest, probabilities } from './victim.ts';
import { typos, WordSeq } from './words.ts';
import type { AttackFn, AttackRecord, AttackSettings, Victim } from './types.ts';

/** Probabilities of each word sequence (one query each). */
function predict(v: Victim, seqs: readonly WordSeq[]): Promise<number[][]> {
  return probabilities(
    v,
    seqs.map((s) => encodeExample(v, s.render())),
  );
}

/**
 * Which words the model sees: those whose first wordpiece survives truncation to maxLength (the tokenizer's
 * longest_first rule for a pair). Words past the window are never edited: their edits change nothing.
 * Pieces are counted separator by separator and word by word, as the basic tokenizer splits at both.
 */
export function visibleWords(v: Victim, seq: WordSeq): boolean[] {
  const starts = seq.parts.map((p) => {
    let n = 0;
    return p.words.map((w, j) => {
      n += v.tokenizer.tokenize(p.seps[j] ?? '').length;
      const at = n;
      n += v.tokenizer.tokenize(w).length;
      return { at, empty: w === '' };
    });
  });
  const lengths = seq.parts.map(
    (p) => v.tokenizer.tokenize(p.seps.map((sep, j) => sep + (p.words[j] ?? '')).join('')).length,
  );
  const [a = 0, b] = lengths;
  const keep =
    b === undefined ? [Math.max(0, Math.min(a, v.maxLength - 2))] : longestFirst(a, b, v.maxLength - 3);
  return starts.flatMap((words, s) => words.map(({ at, empty }) => !empty && at < (keep[s] ?? 0)));
}

/** What an attack on one example did: the final words, the changed word indices, the queries spent. */
interface Outcome {
  seq: WordSeq;
  probs: number[];
  changed: number[];
  queries: number;
}

type WordSearch = (
  v: Victim,
  start: WordSeq,
  probs: number[],
  y: number,
  s: AttackSettings,
  rng: Rng,
) => Promise<Outcome>;

/**
 * Queries the candidate word sequences and moves `out` to the one that lowers p(y) most below its current value
 * (`lowest`), counting the queries. Returns that candidate's index, or -1 when none lowers it (`out` unchanged).
 */
async function takeBest(v: Victim, out: Outcome, seqs: WordSeq[], y: number): Promise<number> {
  const got = await predict(v, seqs);
  out.queries += seqs.length;
  const best = lowest(got, y, out.probs[y] as number);
  if (best >= 0) {
    out.seq = seqs[best] as WordSeq;
    out.probs = got[best] as number[];
  }
  return best;
}

/** The per-example rng: seeded by the attack's seed and the example's row, whatever else is attacked. */
function exampleRng(seed: number, index: number): Rng {
  return makeRng((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
}

/** typo: leave-one-out ranking of the editable words, then the best typo of each in turn. */
const typoSearch: WordSearch = async (v, start, probs, y, s, rng) => {
  const words = start.words;
  const seen = visibleWords(v, start);
  const editable = words.flatMap((w, i) => (seen[i] && typos(w).length > 0 ? [i] : []));
  const out: Outcome = { seq: start, probs, changed: [], queries: 0 };
  if (s.budget === 0 || editable.length === 0) return out;
  const without = await predict(
    v,
    editable.map((i) => start.with(i, '')),
  );
  out.queries += editable.length;
  // Most important first (lowest p(y) without the word); ties by position.
  const order = editable
    .map((i, j) => ({ i, py: (without[j] as number[])[y] as number }))
    .sort((a, b) => a.py - b.py || a.i - b.i)
    .map((r) => r.i);
  for (const i of order) {
    if (out.changed.length >= s.budget || argmax(out.probs) !== y) break;
    const all = typos(words[i] as string);
    const cands = all.length > s.maxCandidates ? shuffled(all, rng).slice(0, s.maxCandidates) : all;
    const seqs = cands.map((c) => out.seq.with(i, c));
    if ((await takeBest(v, out, seqs, y)) >= 0) out.changed.push(i);
  }
  return out;
};

/** drop: remove, each round, the word whose removal lowers p(y) most. */
const dropSearch: WordSearch = async (v, start, probs, y, s) => {
  const out: Outcome = { seq: start, probs, changed: [], queries: 0 };
  while (out.changed.length < s.budget && argmax(out.probs) === y) {
    const live = visibleWords(v, out.seq).flatMap((seen, i) => (seen ? [i] : []));
    if (live.length === 0) break;
    const seqs = live.map((i) => out.seq.with(i, ''));
    const best = await takeBest(v, out, seqs, y);
    if (best < 0) break;
    out.changed.push(live[best] as number);
  }
  return out;
};

async function attackOne(
  v: Victim,
  ex: Example,
  index: number,
  s: AttackSettings,
  search: WordSearch,
): Promise<AttackRecord> {
  const start = WordSeq.of(ex);
  const ids = encodeExample(v, ex).inputIds;
  const [cleanProbs = []] = await probabilities(v, [encodeExample(v, ex)]);
  const cleanPrediction = argmax(cleanProbs);
  const out =
    cleanPrediction === ex.label
      ? await search(v, start, cleanProbs, ex.label, s, exampleRng(s.seed, index))
      : { seq: start, probs: cleanProbs, changed: [], queries: 0 };
  const attacked = out.seq.render();
  const record: AttackRecord = {
    index,
    label: ex.label,
    text: ex.text,
    ids,
    attackedText: attacked.text,
    attackedIds: encodeExample(v, attacked).inputIds,
    changed: out.changed.slice().sort((a, b) => a - b),
    units: visibleWords(v, start).filter(Boolean).length,
    cleanPrediction,
    cleanProbs,
    attackedPrediction: argmax(out.probs),
    attackedProbs: out.probs,
    queries: 1 + out.queries,
  };
  if (ex.textPair !== undefined) record.textPair = ex.textPair;
  if (attacked.textPair !== undefined) record.attackedTextPair = attacked.textPair;
  return record;
}

export const typoAttack: AttackFn = (v, examples, s, hooks) =>
  eachExample(examples, hooks, (ex, i) => attackOne(v, ex, i, s, typoSearch));
export const dropAttack: AttackFn = (v, examples, s, hooks) =>
  eachExample(examples, hooks, (ex, i) => attackOne(v, ex, i, s, dropSearch));

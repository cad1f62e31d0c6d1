/**
 * Word-level edits of an example's text (and text pair): words are maximal runs of letters and digits; what
 * lies between them (spaces, punctuation) is kept as it is. A `WordSeq` holds the current words and renders the
 * texts back, so an edit is a replacement of word i (a removal is the empty string).
 * The typo transformations of Pruthi et al. 2019 (arXiv 1905.11268) and DeepWordBug (Gao et al. 2018, arXiv
 * 1801.04354), as in TextAttack's `pruthi_2019` recipe: only inner characters change (the first and the last
 * stay), only words of 4 or more letters; adjacent swap, deletion, insertion, QWERTY-neighbour substitution.
 */
import type { Example } from '../data/dataset.ts';

const WORD = /[\p{L}\p{N}]+/gu;

/** One segment split into words and the separators around them: seps.length === words.length + 1. */
interface Segment {
  words: string[];
  seps: string[];
}

export class WordSeq {
  private constructor(private readonly segments: Segment[]) {}

  static of(ex: Pick<Example, 'text' | 'textPair'>): WordSeq {
    const texts = ex.textPair === undefined ? [ex.text] : [ex.text, ex.textPair];
    return new WordSeq(texts.map(split));
  }

  /** Words of all segments, in order (the index every edit uses). */
  get words(): string[] {
    return this.segments.flatMap((s) => s.words);
  }

  /** Each segment's words and the separators around them (seps.length === words.length + 1). */
  get parts(): readonly { readonly words: readonly string[]; readonly seps: readonly string[] }[] {
    return this.segments;
  }

  /** A copy with word `i` replaced by `word` ('' removes it). */
  with(i: number, word: string): WordSeq {
    let k = i;
    const segments = this.segments.map((s) => {
      const words = s.words.slice();
      if (k >= 0 && k < words.length) words[k] = word;
      k -= s.words.length;
      return { words, seps: s.seps };
    });
    if (i < 0 || i >= this.words.length) throw new RangeError(`word ${i} of ${this.words.length}`);
    return new WordSeq(segments);
  }

  /** The example's texts with the current words. */
  render(): { text: string; textPair?: string } {
    const [a = '', b] = this.segments.map((s) => s.seps.map((sep, j) => sep + (s.words[j] ?? '')).join(''));
    return b === undefined ? { text: a } : { text: a, textPair: b };
  }
}

function split(text: string): Segment {
  const words: string[] = [];
  const seps: string[] = [];
  let last = 0;
  for (const m of text.matchAll(WORD)) {
    seps.push(text.slice(last, m.index));
    words.push(m[0]);
    last = m.index + m[0].length;
  }
  seps.push(text.slice(last));
  return { words, seps };
}

/** Shortest word the typo attack edits (Pruthi et al.: inner characters of words of 4+ letters). */
export const MIN_TYPO_LENGTH = 4;

const KEY_ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];

/**
 * QWERTY neighbours of a lower-case letter: the keys beside it on its row, the two above (same index and the
 * next, rows being offset to the right going up) and the two below (the previous index and the same).
 */
export function keyboardNeighbours(c: string): string[] {
  const r = KEY_ROWS.findIndex((row) => row.includes(c));
  if (r < 0) return [];
  const i = (KEY_ROWS[r] as string).indexOf(c);
  const at = (row: number, j: number) => KEY_ROWS[row]?.[j] ?? '';
  return [at(r, i - 1), at(r, i + 1), at(r - 1, i), at(r - 1, i + 1), at(r + 1, i - 1), at(r + 1, i)].filter(
    (k) => k !== '',
  );
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** `c` in the case of `like`. */
function caseOf(c: string, like: string): string {
  return like === like.toUpperCase() && like !== like.toLowerCase() ? c.toUpperCase() : c;
}

/**
 * Every distinct typo of `word` (sorted), or none when it is shorter than MIN_TYPO_LENGTH or not all letters:
 * swap of two adjacent inner characters, deletion of an inner character, insertion of a letter between two
 * characters, substitution of an inner character by a QWERTY neighbour. Never `word` itself.
 */
export function typos(word: string): string[] {
  const ch = Array.from(word);
  const n = ch.length;
  if (n < MIN_TYPO_LENGTH || !/^\p{L}+$/u.test(word)) return [];
  const out = new Set<string>();
  const join = (xs: string[]) => xs.join('');
  for (let i = 1; i < n - 2; i++) {
    const s = ch.slice();
    [s[i], s[i + 1]] = [s[i + 1] as string, s[i] as string];
    out.add(join(s));
  }
  for (let i = 1; i < n - 1; i++) out.add(join([...ch.slice(0, i), ...ch.slice(i + 1)]));
  for (let i = 1; i < n; i++) {
    for (const c of LETTERS)
      out.add(join([...ch.slice(0, i), caseOf(c, ch[i - 1] as string), ...ch.slice(i)]));
  }
  for (let i = 1; i < n - 1; i++) {
    const here = ch[i] as string;
    for (const k of keyboardNeighbours(here.toLowerCase())) {
      out.add(join([...ch.slice(0, i), caseOf(k, here), ...ch.slice(i + 1)]));
    }
  }
  out.delete(word);
  return [...out].sort();
}

/**
 * Trains a WordPiece vocabulary the way Hugging Face `tokenizers` `WordPieceTrainer` does: BPE merges
 * over word frequencies (words from the same `basicTokenize` the tokenizer uses), where every piece after
 * a word's first character carries the `##` prefix, so the merges read as WordPiece tokens.
 * Deterministic: the most frequent pair wins, ties go to the smaller (left, right) token strings.
 * Differences from HF: words with a character outside the alphabet, or longer than 100 chars, are
 * skipped (WordPiece maps them to [UNK] whole, so their merges would be wasted; HF silently drops the
 * character); the alphabet is sorted by code point; `minFrequency` defaults to 2.
 * References: huggingface/tokenizers `tokenizers/src/models/bpe/trainer.rs` (BpeTrainer::do_train),
 * `models/wordpiece/trainer.rs`; Sennrich et al. 2016 (BPE).
 */
import { basicTokenize } from './basic.ts';
import { MAX_CHARS_PER_WORD, SPECIAL_TOKENS } from './wordpiece.ts';

export interface TrainVocabOptions {
  /** Total vocabulary size, special tokens included. */
  vocabSize: number;
  /** Stop merging when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
  /** Keep only the most frequent characters (default 1000); words with other characters are skipped. */
  maxAlphabet?: number;
}

const PREFIX = '##';
/** Pair key = left * KEY_BASE + right (ids < 2^21, so keys stay exact doubles). */
const KEY_BASE = 2 ** 21;

/** Symbol pair in the merge queue; `count` may be stale (checked when popped). */
interface QueueEntry {
  count: number;
  left: number;
  right: number;
}

/**
 * A WordPiece vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK], then the alphabet (single chars, then `##`
 * chars, each by code point), then merged tokens in merge order. At most `vocabSize` tokens.
 * Every training word within the alphabet tokenizes without [UNK].
 */
export function trainWordPieceVocab(texts: Iterable<string>, opts: TrainVocabOptions): string[] {
  const { vocabSize, minFrequency = 2, maxAlphabet = 1000 } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < SPECIAL_TOKENS.length || vocabSize >= KEY_BASE) {
    throw new RangeError(`trainWordPieceVocab: vocabSize must be an integer in [5, 2^21), got ${vocabSize}`);
  }

  // 1. Word frequencies.
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const word of basicTokenize(text)) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts.keys()]
    .filter((w) => [...w].length <= MAX_CHARS_PER_WORD)
    .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

  // 2. Alphabet: the maxAlphabet most frequent chars (ties by code point).
  const charCounts = new Map<string, number>();
  for (const w of words) {
    const c = wordCounts.get(w) as number;
    for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + c);
  }
  const byCodePoint = (x: string, y: string): number =>
    (x.codePointAt(0) as number) - (y.codePointAt(0) as number);
  const alphabet = new Set(
    [...charCounts.entries()]
      .sort((x, y) => y[1] - x[1] || byCodePoint(x[0], y[0]))
      .slice(0, maxAlphabet)
      .map(([ch]) => ch),
  );
  const kept = words.filter((w) => [...w].every((ch) => alphabet.has(ch)));

  // 3. Initial vocabulary: specials, chars, ##chars (only those that occur after a word's first char).
  const id2w: string[] = [...SPECIAL_TOKENS];
  const inner = new Set<string>();
  for (const w of kept) for (const ch of [...w].slice(1)) inner.add(ch);
  for (const ch of [...alphabet].sort(byCodePoint)) id2w.push(ch);
  for (const ch of [...inner].sort(byCodePoint)) id2w.push(PREFIX + ch);
  if (id2w.length > vocabSize) {
    throw new RangeError(
      `trainWordPieceVocab: vocabSize ${vocabSize} is smaller than the ${id2w.length} special and alphabet ` +
        'tokens; raise vocabSize or lower maxAlphabet',
    );
  }
  const w2id = new Map<string, number>();
  id2w.forEach((w, i) => w2id.set(w, i));

  // 4. Words as symbol ids; pair counts and where each pair occurs.
  const symbols: number[][] = kept.map((w) =>
    [...w].map((ch, i) => w2id.get(i === 0 ? ch : PREFIX + ch) as number),
  );
  const counts = kept.map((w) => wordCounts.get(w) as number);
  const pairCounts = new Map<number, number>();
  /** Word indices that contain (or once contained) the pair; may repeat or be stale. */
  const pairWords = new Map<number, number[]>();
  const addPairs = (wi: number, sign: 1 | -1, onlyWith = -1): void => {
    const s = symbols[wi] as number[];
    const c = (counts[wi] as number) * sign;
    for (let j = 0; j + 1 < s.length; j++) {
      const left = s[j] as number;
      const right = s[j + 1] as number;
      const key = left * KEY_BASE + right;
      const n = (pairCounts.get(key) ?? 0) + c;
      if (n === 0) pairCounts.delete(key);
      else pairCounts.set(key, n);
      if (sign > 0 && (onlyWith < 0 || left === onlyWith || right === onlyWith)) {
        const list = pairWords.get(key);
        if (list === undefined) pairWords.set(key, [wi]);
        else if (list[list.length - 1] !== wi) list.push(wi);
      }
    }
  };
  for (let wi = 0; wi < symbols.length; wi++) addPairs(wi, 1);

  const queue = new MaxHeap((x: QueueEntry, y: QueueEntry) => {
    if (x.count !== y.count) return x.count > y.count;
    const xl = id2w[x.left] as string;
    const yl = id2w[y.left] as string;
    if (xl !== yl) return xl < yl;
    return (id2w[x.right] as string) < (id2w[y.right] as string);
  });
  const push = (key: number, count: number): void =>
    queue.push({ count, left: Math.floor(key / KEY_BASE), right: key % KEY_BASE });
  for (const [key, count] of pairCounts) push(key, count);

  // 5. Merge the best pair until the vocabulary is full.
  const seen = new Int32Array(symbols.length).fill(-1);
  let step = 0;
  while (id2w.length < vocabSize) {
    const top = queue.pop();
    if (top === undefined) break;
    const key = top.left * KEY_BASE + top.right;
    const current = pairCounts.get(key) ?? 0;
    if (current !== top.count) {
      // Stale. Counts of existing pairs only fall, so re-queue the lower count; a higher one is queued.
      if (current > 0 && current < top.count) push(key, current);
      continue;
    }
    if (top.count < minFrequency) break;
    const leftTok = id2w[top.left] as string;
    const rightTok = id2w[top.right] as string;
    const merged = leftTok + (rightTok.startsWith(PREFIX) ? rightTok.slice(PREFIX.length) : rightTok);
    let id = w2id.get(merged);
    if (id === undefined) {
      id = id2w.length;
      id2w.push(merged);
      w2id.set(merged, id);
    }
    step++;
    const grown = new Set<number>();
    for (const wi of pairWords.get(key) ?? []) {
      if (seen[wi] === step) continue;
      seen[wi] = step;
      const s = symbols[wi] as number[];
      let hit = false;
      for (let j = 0; j + 1 < s.length && !hit; j++) hit = s[j] === top.left && s[j + 1] === top.right;
      if (!hit) continue;
      addPairs(wi, -1);
      const next: number[] = [];
      for (let j = 0; j < s.length; j++) {
        if (j + 1 < s.length && s[j] === top.left && s[j + 1] === top.right) {
          next.push(id);
          j++;
        } else {
          next.push(s[j] as number);
        }
      }
      symbols[wi] = next;
      addPairs(wi, 1, id);
      for (let j = 0; j + 1 < next.length; j++) {
        if (next[j] === id || next[j + 1] === id)
          grown.add((next[j] as number) * KEY_BASE + (next[j + 1] as number));
      }
    }
    pairWords.delete(key);
    for (const k of grown) {
      const c = pairCounts.get(k);
      if (c !== undefined) push(k, c);
    }
  }
  return id2w;
}

/** Binary max-heap under `before(a, b)` = "a comes out first". */
class MaxHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i] as T, a[p] as T)) break;
      [a[i], a[p]] = [a[p] as T, a[i] as T];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l] as T, a[m] as T)) m = l;
        if (r < a.length && this.before(a[r] as T, a[m] as T)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as T, a[i] as T];
        i = m;
      }
    }
    return top;
  }
}

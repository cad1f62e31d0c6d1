/**
 * BERT WordPiece tokenizer matching Hugging Face transformers 5 `BertTokenizer(vocab, do_lower_case=...)`
 * (uncased by default): special tokens in the raw text are kept whole (the added-tokens split, before any
 * normalization), the rest goes through `basicTokenize` and then greedy longest-match-first WordPiece with
 * `##` continuations. `encode` adds [CLS]/[SEP] and token types like the BERT post-processor and truncates
 * like `truncation='longest_first'`.
 * Since transformers 5, `BertTokenizer` is the Rust `tokenizers` pipeline, which differs from the Python
 * (transformers 4) one on unassigned code points, NFC, final sigma, Unicode versions (see basic.ts) and on
 * how 'longest_first' splits an odd budget (see `longestFirst`).
 * References: huggingface/tokenizers `normalizers/bert.rs`, `pre_tokenizers/bert.rs`, `models/wordpiece`,
 * `utils/truncation.rs`; google-research/bert `tokenization.py`. Reference ids from transformers 5.17:
 * test/golden/bert-tokenizer/ (checked by hf-parity.test.ts).
 *
 * Written by hand rather than through `@huggingface/tokenizers` 0.2.0: that package tests `is_chinese_char`
 * on UTF-16 code units, so ideographs outside the BMP (CJK Ext. B..E) are not split off; it also treats an
 * empty pair as no pair and has no truncation.
 */
import { basicTokenize } from './basic.ts';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

/** Longer words become [UNK] (HF `max_input_chars_per_word`), counted in code points. */
export const MAX_CHARS_PER_WORD = 100;
/** Raw text is cut at every special token before normalization. */
const SPECIAL_SPLIT = /(\[(?:PAD|UNK|CLS|SEP|MASK)\])/;
const CONTINUATION = '##';
/** Bound on the word -> ids memo (emails repeat words a lot; the memo just gets cleared when full). */
const CACHE_LIMIT = 200_000;

export interface TokenizerOptions {
  /** HF `do_lower_case` (default true): strip accents and lowercase before WordPiece. */
  lowercase?: boolean;
}

/** Token ids of one encoded input: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, unpadded. */
export interface Encoded {
  inputIds: number[];
  /** 0 for [CLS], a and the first [SEP]; 1 for b and the last [SEP]. */
  tokenTypeIds: number[];
}

/**
 * How many tokens a and b keep under HF `truncation='longest_first'` when `budget` tokens (maxLength less
 * the 3 specials) must hold both; transformers 5 runs Rust `truncate_encodings` here. A side that fits in
 * half the budget is kept whole and the other gets the rest; otherwise both get half, and an odd budget's
 * last token goes to the longer side, to b on a tie. One exception: when both sides are longer than the whole
 * budget, the odd token goes to a. That is what transformers 5.17 gives (reference case 500: 21 and 148
 * tokens, budget 13 -> 7 and 6) although the `truncate_encodings` source we could read gives 6 and 7; the
 * rule is inferred from that one case (a tie over the budget, which the Rust tests give to b, is a guess).
 * The transformers 4 Python code gave a the odd token whenever both sides were cut: 7 and 6 also for 7 and
 * 176 tokens, where transformers 5.17 gives 6 and 7 (reference cases 503, 506, 507).
 */
export function longestFirst(lenA: number, lenB: number, budget: number): [number, number] {
  if (lenA + lenB <= budget) return [lenA, lenB];
  const shorter = Math.min(lenA, lenB);
  if (shorter <= budget - shorter) return lenA <= lenB ? [lenA, budget - lenA] : [budget - lenB, lenB];
  const half = Math.floor(budget / 2);
  const odd = budget - 2 * half;
  const oddToA = shorter > budget || lenA > lenB;
  return oddToA ? [half + odd, half] : [half, half + odd];
}

export class WordPieceTokenizer {
  /** id -> token (vocab.txt line). */
  readonly vocab: readonly string[];
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  /** HF `do_lower_case`. */
  readonly lowercase: boolean;
  private readonly ids: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, readonly number[]>();

  private constructor(vocab: readonly string[], options: TokenizerOptions) {
    const ids = new Map<string, number>();
    // Like HF `load_vocab`: a duplicated token maps to its last line.
    vocab.forEach((token, i) => ids.set(token, i));
    const special = (token: SpecialToken): number => {
      const id = ids.get(token);
      if (id === undefined) throw new Error(`vocab: missing special token ${token}`);
      return id;
    };
    this.vocab = vocab;
    this.ids = ids;
    this.lowercase = options.lowercase ?? true;
    this.padId = special('[PAD]');
    this.unkId = special('[UNK]');
    this.clsId = special('[CLS]');
    this.sepId = special('[SEP]');
    this.maskId = special('[MASK]');
  }

  /** Parses a BERT vocab.txt (one token per line, id = line index; CRLF and a final newline allowed). */
  static fromVocabText(text: string, options: TokenizerOptions = {}): WordPieceTokenizer {
    const lines = text.replace(/^\ufeff/, '').split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(
      lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      options,
    );
  }

  /** Builds a tokenizer from a token list (e.g. the output of `trainWordPieceVocab`). */
  static fromTokens(tokens: readonly string[], options: TokenizerOptions = {}): WordPieceTokenizer {
    return new WordPieceTokenizer(tokens.slice(), options);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The id of `token`, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Wordpieces of `text`, without [CLS]/[SEP]. */
  tokenize(text: string): string[] {
    return this.textIds(text).map((id) => this.vocab[id] as string);
  }

  /**
   * `[CLS] a [SEP]`, or `[CLS] a [SEP] b [SEP]` when `pair` is given (an empty pair still adds its [SEP]).
   * With `maxLength`, tokens are dropped from the end as HF `truncation='longest_first'` does (see
   * `longestFirst`). Not padded. maxLength 2 cuts a single text to `[CLS] [SEP]` (Rust truncates to a
   * budget of 0; transformers 4 logged an error and did not truncate).
   */
  encode(text: string, pair?: string, maxLength?: number): Encoded {
    let a = this.textIds(text);
    let b = pair === undefined ? null : this.textIds(pair);
    const nSpecial = b === null ? 2 : 3;
    if (maxLength !== undefined) {
      if (!Number.isInteger(maxLength) || maxLength < nSpecial) {
        throw new RangeError(`encode: maxLength must be an integer >= ${nSpecial}, got ${maxLength}`);
      }
      const budget = maxLength - nSpecial;
      if (b === null) {
        a = a.slice(0, budget);
      } else {
        const [keepA, keepB] = longestFirst(a.length, b.length, budget);
        a = a.slice(0, keepA);
        b = b.slice(0, keepB);
      }
    }
    const inputIds = [this.clsId, ...a, this.sepId];
    const tokenTypeIds = new Array<number>(inputIds.length).fill(0);
    if (b !== null) {
      inputIds.push(...b, this.sepId);
      for (let i = 0; i <= b.length; i++) tokenTypeIds.push(1);
    }
    return { inputIds, tokenTypeIds };
  }

  /**
   * Tokens joined by spaces with `##` continuations glued back (HF `convert_tokens_to_string`); [PAD] is
   * always dropped, the other special tokens too when `skipSpecialTokens`. WordPiece is not invertible
   * (case and accents are gone when lowercasing, spacing around punctuation always).
   */
  decode(ids: readonly number[], skipSpecialTokens = false): string {
    const special = new Set([this.clsId, this.sepId, this.maskId, this.unkId]);
    const tokens: string[] = [];
    for (const id of ids) {
      if (id === this.padId || (skipSpecialTokens && special.has(id))) continue;
      tokens.push(this.vocab[id] ?? (this.vocab[this.unkId] as string));
    }
    return tokens.join(' ').replaceAll(' ##', '').trim();
  }

  /** Ids of the wordpieces of `text` (no specials added; special tokens in the text are kept). */
  private textIds(text: string): number[] {
    const out: number[] = [];
    // split() with a capture group: odd indices are the special tokens.
    const parts = text.split(SPECIAL_SPLIT);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (i % 2 === 1) {
        out.push(this.ids.get(part) as number);
        continue;
      }
      if (part === '') continue;
      for (const word of basicTokenize(part, this.lowercase)) {
        for (const id of this.wordIds(word)) out.push(id);
      }
    }
    return out;
  }

  /** Greedy longest-match-first WordPiece of one basic token; [UNK] if it cannot be fully split. */
  private wordIds(word: string): readonly number[] {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const ids = this.splitWord(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private splitWord(word: string): number[] {
    // offsets[k]: UTF-16 index of the k-th code point, so substrings never split a surrogate pair.
    const offsets: number[] = [];
    for (let i = 0; i < word.length;) {
      offsets.push(i);
      i += (word.codePointAt(i) as number) > 0xffff ? 2 : 1;
    }
    const n = offsets.length;
    offsets.push(word.length);
    if (n > MAX_CHARS_PER_WORD) return [this.unkId];
    const pieces: number[] = [];
    let start = 0;
    while (start < n) {
      let end = n;
      let found: number | undefined;
      while (start < end) {
        const sub = word.slice(offsets[start], offsets[end]);
        found = this.ids.get(start > 0 ? CONTINUATION + sub : sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.unkId];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }
}

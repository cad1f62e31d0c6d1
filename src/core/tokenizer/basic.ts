/**
 * BERT's "basic" (pre-WordPiece) tokenization for uncased models: what Hugging Face
 * `BasicTokenizer(do_lower_case=True)` does before WordPiece.
 *   clean (drop NUL, U+FFFD and Unicode C* chars except \t \n \r; \t \n \r and Zs become a space)
 *   -> a space around every CJK ideograph -> NFC -> lowercase -> NFD and drop Mn (accents)
 *   -> split on whitespace and around every punctuation char (ASCII 33-47, 58-64, 91-96, 123-126, or P*).
 * Python lowercases and strips accents per whitespace token; doing it on the whole string gives the same
 * result because neither step can create or remove whitespace or punctuation, and whitespace is not
 * case-ignorable (so Greek final sigma sees the same context).
 * References: huggingface/transformers `models/bert/tokenization_bert.py` (BasicTokenizer);
 * google-research/bert `tokenization.py`. Golden cases: scripts/golden/tokenizer_golden.py.
 */

/** Unicode "Other" (Cc, Cf, Cs, Co, Cn): Python's `_is_control` minus the \t \n \r exception. */
const OTHER = /\p{C}/u;
/** Python's `_is_whitespace` beyond " \t\n\r": category Zs. */
const SPACE_SEPARATOR = /\p{Zs}/u;
/** Text that needs no cleaning, normalization or accent stripping. */
const SIMPLE_ASCII = /^[\x20-\x7e\t\n\r]*$/;
const ACCENT = /\p{Mn}/gu;
/** A run of non-space, non-punctuation chars, or one punctuation char. */
const WORD_OR_PUNCT = /[^\s!-/:-@[-`{-~\p{P}]+|[!-/:-@[-`{-~\p{P}]/gu;

/** The CJK Unified Ideograph blocks of BERT's `_is_chinese_char` (not Hangul, Hiragana or Katakana). */
export function isCjkChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Drops control/format/unassigned chars, maps whitespace to ' ', and isolates CJK ideographs. */
function cleanText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      out += ' ';
    } else if (cp === 0 || cp === 0xfffd || OTHER.test(ch)) {
      continue;
    } else if (SPACE_SEPARATOR.test(ch)) {
      out += ' ';
    } else if (isCjkChar(cp)) {
      out += ' ' + ch + ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Lowercased, accent-stripped words and punctuation marks of `text`, exactly as HF `BasicTokenizer`
 * (do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None) returns them.
 */
export function basicTokenize(text: string): string[] {
  let norm: string;
  if (SIMPLE_ASCII.test(text)) {
    norm = text.toLowerCase();
  } else {
    norm = cleanText(text).normalize('NFC').toLowerCase().normalize('NFD').replace(ACCENT, '');
  }
  return norm.match(WORD_OR_PUNCT) ?? [];
}

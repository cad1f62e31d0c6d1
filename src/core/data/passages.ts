/**
 * Long texts (speeches, book chapters) cut into passages of whole sentences, for the built-in pre-training
 * corpus and the SOTU classification task (`scripts/prepare-data.ts`). Plain string rules, no tokenizer:
 * a sentence ends at `.`, `!` or `?` (optionally followed by closing quotes or brackets) before whitespace and
 * an upper-case letter, a digit or an opening quote. Abbreviations such as "Mr. Smith" are split too; a
 * passage only needs to be a readable run of text, not a linguistically exact sentence list.
 */

/** Sentence boundary: end punctuation (+ closing quotes/brackets), whitespace, then a likely sentence start. */
const BOUNDARY = /(?<=[.!?]["'\u201d\u2019)\]]*)\s+(?=["'\u201c\u2018([]?[A-Z0-9])/u;

/** Whitespace runs (newlines included) collapsed to one space, ends trimmed. */
export function squeezeSpaces(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

/** The sentences of `text`, in order, each with its spacing squeezed; empty pieces dropped. */
export function splitSentences(text: string): string[] {
  return squeezeSpaces(text)
    .split(BOUNDARY)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** `sentence` cut at word boundaries into pieces of at most `maxChars` (a word longer than that is cut). */
function cutLong(sentence: string, maxChars: number): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const word of sentence.split(' ')) {
    for (let w = word; w !== ''; w = w.slice(maxChars)) {
      const head = w.slice(0, maxChars);
      if (current === '') current = head;
      else if (current.length + 1 + head.length <= maxChars) current = `${current} ${head}`;
      else {
        pieces.push(current);
        current = head;
      }
    }
  }
  if (current !== '') pieces.push(current);
  return pieces;
}

/**
 * `text` as passages of consecutive whole sentences, each at most `maxChars` long (a single sentence longer
 * than that is cut at word boundaries). Every character of the squeezed text is kept, in order.
 */
export function toPassages(text: string, maxChars: number): string[] {
  if (!(Number.isInteger(maxChars) && maxChars > 0)) {
    throw new RangeError(`maxChars must be a positive integer, got ${maxChars}`);
  }
  const passages: string[] = [];
  let current = '';
  for (const sentence of splitSentences(text).flatMap((s) => cutLong(s, maxChars))) {
    if (current === '') current = sentence;
    else if (current.length + 1 + sentence.length <= maxChars) current = `${current} ${sentence}`;
    else {
      passages.push(current);
      current = sentence;
    }
  }
  if (current !== '') passages.push(current);
  return passages;
}

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { WordPieceTokenizer, type Encoded } from './wordpiece.ts';

/**
 * One line of test/golden/bert-tokenizer/cases.jsonl: ids that Hugging Face transformers 5.17
 * `BertTokenizer` (= `BertTokenizerFast`) gives on the vocab.txt beside it (see the README there).
 */
interface HfCase {
  text: string;
  text_pair?: string;
  /** Ids with do_lower_case=True, [CLS]/[SEP] included. */
  uncased: number[];
  uncased_tokens?: string[];
  /** Ids with do_lower_case=False (single texts only). */
  cased?: number[];
  /** Pairs only. */
  token_type_ids?: number[];
  /** With `truncation: 'longest_first'`. */
  max_length?: number;
  truncation?: string;
  attention_mask?: number[];
}

const dir = new URL('../../../test/golden/bert-tokenizer/', import.meta.url);
const vocabText = readFileSync(new URL('vocab.txt', dir), 'utf8');
const cases = readFileSync(new URL('cases.jsonl', dir), 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => JSON.parse(line) as HfCase);
const uncased = WordPieceTokenizer.fromVocabText(vocabText);
const cased = WordPieceTokenizer.fromVocabText(vocabText, { lowercase: false });

const KNOWN_KEYS = new Set([
  'text',
  'text_pair',
  'uncased',
  'uncased_tokens',
  'cased',
  'token_type_ids',
  'max_length',
  'truncation',
  'attention_mask',
]);

/** A short, escaped form of a case's text for failure messages. */
function label(text: string): string {
  const escaped = JSON.stringify(text);
  return escaped.length > 120 ? `${escaped.slice(0, 117)}...` : escaped;
}

/** Asserts (softly, so that every failing case is listed) that our encoding equals HF's, naming the case. */
function expectSameIds(
  i: number,
  c: HfCase,
  mode: 'uncased' | 'cased',
  got: Encoded,
  want: { inputIds: number[]; tokenTypeIds?: number[] | undefined; attentionMask?: number[] | undefined },
): void {
  const name = `case ${i} (${mode}${c.max_length === undefined ? '' : `, max_length ${c.max_length}`}) ${label(c.text)}${c.text_pair === undefined ? '' : ` + ${label(c.text_pair)}`}`;
  expect.soft(got.inputIds, `${name}: input_ids`).toEqual(want.inputIds);
  if (want.tokenTypeIds !== undefined) {
    expect.soft(got.tokenTypeIds, `${name}: token_type_ids`).toEqual(want.tokenTypeIds);
  } else {
    expect.soft(got.tokenTypeIds, `${name}: token_type_ids`).toEqual(got.inputIds.map(() => 0));
  }
  // We never pad, so the mask HF returns for an unpadded encoding is all ones.
  if (want.attentionMask !== undefined) {
    expect
      .soft(
        got.inputIds.map(() => 1),
        `${name}: attention_mask`,
      )
      .toEqual(want.attentionMask);
  }
}

describe('WordPieceTokenizer = Hugging Face transformers 5.17 BertTokenizer (test/golden/bert-tokenizer)', () => {
  it('reads the whole reference file and understands every field', () => {
    expect(cases.length).toBe(520);
    expect(cases.filter((c) => c.text_pair === undefined).length).toBe(460);
    expect(cases.filter((c) => c.text_pair !== undefined && c.max_length === undefined).length).toBe(40);
    expect(cases.filter((c) => c.max_length !== undefined).length).toBe(20);
    expect(cases.filter((c) => c.cased !== undefined).length).toBe(460);
    for (const c of cases) {
      for (const key of Object.keys(c)) expect(KNOWN_KEYS.has(key), `unknown field ${key}`).toBe(true);
      if (c.truncation !== undefined) expect(c.truncation).toBe('longest_first');
      if (c.max_length !== undefined) expect(c.truncation).toBe('longest_first');
    }
  });

  it('gives identical input_ids, token_type_ids and tokens on every case (uncased and cased)', () => {
    let checked = 0;
    cases.forEach((c, i) => {
      const got = uncased.encode(c.text, c.text_pair, c.max_length);
      expectSameIds(i, c, 'uncased', got, {
        inputIds: c.uncased,
        tokenTypeIds: c.token_type_ids,
        attentionMask: c.attention_mask,
      });
      if (c.uncased_tokens !== undefined) {
        expect
          .soft(['[CLS]', ...uncased.tokenize(c.text), '[SEP]'], `case ${i} ${label(c.text)}: tokens`)
          .toEqual(c.uncased_tokens);
      }
      checked++;
      if (c.cased !== undefined) {
        expectSameIds(i, c, 'cased', cased.encode(c.text, c.text_pair, c.max_length), { inputIds: c.cased });
        checked++;
      }
    });
    expect(checked).toBe(520 + 460);
  });
});

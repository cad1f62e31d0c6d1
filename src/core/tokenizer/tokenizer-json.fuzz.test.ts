// Property tests of the tokenizer.json reader: arbitrary text, arbitrary JSON, and structured near-misses of
// a real file give a vocabulary or one Error line naming the file; a result is always a dense id list.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { resultOrOneLineError } from '../../../test/helpers/fuzz.ts';
import { hfBinBytes } from '../../../test/helpers/hf-bin.ts';
import { parseTokenizerJson } from './tokenizer-json.ts';

/** numRuns per property (reported in the test names). */
const RUNS = { text: 2000, json: 2000, structured: 2000 } as const;

const REAL = JSON.parse(new TextDecoder().decode(hfBinBytes('f16/tokenizer.json'))) as Record<
  string,
  unknown
>;

function check(text: string): void {
  const out = resultOrOneLineError(() => parseTokenizerJson(text, 't.json'), 't.json');
  if (!(out instanceof Error)) {
    expect(out.tokens.every((t) => typeof t === 'string' && !/[\r\n]/.test(t))).toBe(true);
    expect(typeof out.lowercase).toBe('boolean');
  }
}

const value = fc.oneof(
  fc.constantFrom(true, false, null, '[UNK]', '##', 100, 'WordPiece', 'BertNormalizer'),
  fc.anything(),
);

describe('parseTokenizerJson under arbitrary input', () => {
  it(`arbitrary text (${RUNS.text} runs)`, () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), check), { numRuns: RUNS.text });
  });

  it(`arbitrary JSON (${RUNS.json} runs)`, () => {
    fc.assert(fc.property(fc.json(), check), { numRuns: RUNS.json });
  });

  it(`the real file with fields replaced and vocab ids changed (${RUNS.structured} runs)`, () => {
    const fields = fc.dictionary(
      fc.constantFrom(
        'type',
        'lowercase',
        'strip_accents',
        'clean_text',
        'handle_chinese_chars',
        'unk_token',
        'continuing_subword_prefix',
        'max_input_chars_per_word',
        'vocab',
      ),
      value,
      { maxKeys: 3 },
    );
    const vocab = fc.dictionary(
      fc.string({ maxLength: 3 }),
      fc.oneof(fc.integer({ min: -1, max: 45 }), fc.anything()),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(fields, fields, vocab, (model, normalizer, ids) => {
        const m = { ...(REAL['model'] as object), ...model } as Record<string, unknown>;
        if (typeof m['vocab'] === 'object' && m['vocab'] !== null)
          m['vocab'] = { ...(m['vocab'] as object), ...ids };
        check(
          JSON.stringify({
            ...REAL,
            model: m,
            normalizer: { ...(REAL['normalizer'] as object), ...normalizer },
          }),
        );
      }),
      { numRuns: RUNS.structured },
    );
  });
});

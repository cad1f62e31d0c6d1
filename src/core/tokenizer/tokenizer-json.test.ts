import { describe, expect, it } from 'vitest';

import { hfBinBytes } from '../../../test/helpers/hf-bin.ts';
import { parseTokenizerJson } from './tokenizer-json.ts';

const fixture = (): Record<string, unknown> =>
  JSON.parse(new TextDecoder().decode(hfBinBytes('f16/tokenizer.json'))) as Record<string, unknown>;

function edited(
  edit: (o: { model: Record<string, unknown>; normalizer: Record<string, unknown> }) => void,
): string {
  const o = fixture() as { model: Record<string, unknown>; normalizer: Record<string, unknown> };
  edit(o);
  return JSON.stringify(o);
}

describe('parseTokenizerJson', () => {
  it('reads the WordPiece vocabulary in id order and the normaliser casing', () => {
    const t = parseTokenizerJson(new TextDecoder().decode(hfBinBytes('f16/tokenizer.json')));
    expect(t.tokens.slice(0, 6)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the']);
    expect(t.tokens).toHaveLength(40);
    expect(t.lowercase).toBe(false);
    expect(parseTokenizerJson(edited((o) => delete o.normalizer['lowercase'])).lowercase).toBe(true);
    expect(parseTokenizerJson(edited((o) => (o.normalizer['strip_accents'] = false))).lowercase).toBe(false);
  });

  it.each<
    [string, (o: { model: Record<string, unknown>; normalizer: Record<string, unknown> }) => void, string]
  >([
    ['a BPE model', (o) => (o.model['type'] = 'BPE'), 'model.type is "BPE"; only WordPiece'],
    [
      'another prefix',
      (o) => (o.model['continuing_subword_prefix'] = '@@'),
      'model.continuing_subword_prefix is "@@"',
    ],
    [
      'a gap in the ids',
      (o) => ((o.model['vocab'] as Record<string, number>)['the'] = 77),
      'model.vocab id of "the" is 77',
    ],
    ['a repeated id', (o) => ((o.model['vocab'] as Record<string, number>)['the'] = 0), 'model.vocab id '],
    ['a line break', (o) => (o.model['vocab'] = { 'a\nb': 0 }), 'model.vocab token "a\\nb" has a line break'],
    ['another normaliser', (o) => (o.normalizer['type'] = 'NFD'), 'normalizer.type is "NFD"'],
    [
      'accents kept while lowercasing',
      (o) => Object.assign(o.normalizer, { lowercase: true, strip_accents: false }),
      'normalizer.strip_accents false with lowercase true',
    ],
    [
      'no Chinese splitting',
      (o) => (o.normalizer['handle_chinese_chars'] = false),
      'normalizer.handle_chinese_chars is false',
    ],
  ])('refuses %s with one line naming the field', (_, edit, message) => {
    expect(() => parseTokenizerJson(edited(edit), 'm/tokenizer.json')).toThrow(
      `m/tokenizer.json: ${message}`,
    );
  });

  it('refuses text that is not JSON or has no model', () => {
    expect(() => parseTokenizerJson('{', 't.json')).toThrow('t.json: not valid JSON');
    expect(() => parseTokenizerJson('{}', 't.json')).toThrow('t.json: model is not an object');
  });
});

import { describe, expect, it } from 'vitest';

import { basicTokenize, isCjkChar } from './basic.ts';

// The rules of HF transformers 5 (Rust BertNormalizer + BertPreTokenizer, Unicode 8.0 category tables) that
// the reference file test/golden/bert-tokenizer/ cannot show with its vocabulary, one by one.
describe('basicTokenize (transformers 5 / Rust BertNormalizer + BertPreTokenizer)', () => {
  it('keeps unassigned code points and noncharacters as ordinary chars', () => {
    expect(basicTokenize('he\u0378llo')).toEqual(['he\u0378llo']);
    expect(basicTokenize('ab\ufdd0 \uffff \u{1fffe}')).toEqual(['ab\ufdd0', '\uffff', '\u{1fffe}']);
    expect(basicTokenize('x\u{50000}y')).toEqual(['x\u{50000}y']);
  });

  it('drops NUL, U+FFFD, controls (Cc), format (Cf) and private-use (Co) chars, and lone surrogates', () => {
    expect(basicTokenize('a\u0000b\u0007c\ufffdd\u007fe\u0085f\u009fg')).toEqual(['abcdefg']);
    expect(basicTokenize('zero\u200bwidth soft\u00adhyphen \ufeffbom \u202eltr\u202c')).toEqual([
      'zerowidth',
      'softhyphen',
      'bom',
      'ltr',
    ]);
    expect(basicTokenize('a\ue000b\u{f0000}c\u{10fffd}d')).toEqual(['abcd']);
    expect(basicTokenize('a\ud800b\udc00c')).toEqual(['abc']);
    // \v, \f and NEL are Cc: dropped before whitespace mapping, so they join words.
    expect(basicTokenize('ab\u000bc\u000cd \u0085ok')).toEqual(['abcd', 'ok']);
  });

  it('uses Unicode 8.0 categories, not the engine ones', () => {
    // Cf since Unicode 14 (Arabic pound mark above): unassigned in 8.0, so kept.
    expect(basicTokenize('a\u0890b')).toEqual(['a\u0890b']);
    // Po since Unicode 9: not punctuation here; U+2E42 (Ps in 8.0) is.
    expect(basicTokenize('a\u2e43b a\u2e42b')).toEqual(['a\u2e43b', 'a', '\u2e42', 'b']);
    // Mn since Unicode 14: not stripped; U+1734 was Mn in 8.0 (Mc since 14): stripped.
    expect(basicTokenize('a\u0897 b\u1734')).toEqual(['a\u0897', 'b']);
  });

  it('maps \\t \\n \\r and White_Space chars (incl. U+2028/2029) to spaces', () => {
    expect(basicTokenize('a\tb\nc\r\nd\u00a0e\u2007f\u202fg\u2028h\u2029i\u3000j\u1680k')).toEqual([
      ...'abcdefghijk',
    ]);
    // U+180E is Cf in Unicode 8.0 (dropped), not whitespace.
    expect(basicTokenize('a\u180eb')).toEqual(['ab']);
  });

  it('strips accents (NFD, Mn) then lowercases char by char, without NFC', () => {
    expect(basicTokenize('Héllo CAFE\u0301 İstanbul')).toEqual(['hello', 'cafe', 'istanbul']);
    // No final-sigma rule: every Σ becomes σ.
    expect(basicTokenize('ΟΔΟΣ ΣΟΣ.')).toEqual(['οδοσ', 'σοσ', '.']);
    // Cased: no NFD, no NFC, no lowercasing.
    expect(basicTokenize('Café cafe\u0301 ΟΔΟΣ', false)).toEqual(['Café', 'cafe\u0301', 'ΟΔΟΣ']);
    expect(basicTokenize('Hello, World!', false)).toEqual(['Hello', ',', 'World', '!']);
  });

  it('puts CJK ideographs (Rust ranges) on their own and splits punctuation', () => {
    expect(basicTokenize('ab中文cd')).toEqual(['ab', '中', '文', 'cd']);
    expect(basicTokenize('x\u{2b81f}x x\u{2b820}x x\u{2b920}x')).toEqual([
      'x',
      '\u{2b81f}',
      'x',
      'x\u{2b820}x',
      'x',
      '\u{2b920}',
      'x',
    ]);
    const expected = ['don', "'", 't', '$', '5', '.', '00', 'e', '-', 'mail', '@', 'x', '.', 'com'];
    expect(basicTokenize("don't $5.00 e-mail@x.com")).toEqual(expected);
  });

  it('isCjkChar follows Rust is_chinese_char (0x2B920, not Python 0x2B820)', () => {
    for (const cp of [
      0x4e00, 0x9fff, 0x3400, 0x20000, 0x2a6df, 0x2a700, 0x2b81f, 0x2b920, 0x2ceaf, 0xf900, 0x2fa1f,
    ]) {
      expect(isCjkChar(cp), cp.toString(16)).toBe(true);
    }
    for (const cp of [0x3041, 0x30a2, 0xac00, 0x2b820, 0x2b91f, 0x2ceb0, 0x30000, 0x31350]) {
      expect(isCjkChar(cp), cp.toString(16)).toBe(false);
    }
  });
});

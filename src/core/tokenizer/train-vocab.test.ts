import { describe, expect, it } from 'vitest';

import { basicTokenize } from './basic.ts';
import { trainWordPieceVocab } from './train-vocab.ts';
import { WordPieceTokenizer } from './wordpiece.ts';

const CORPUS = [
  'The quick brown fox jumps over the lazy dog.',
  'Low lower lowest; new newer newest! Wider widest.',
  'Naïve café owners serve résumé-writing workshops, 3 times a week.',
  'Click here to WIN $1,000,000 now!!! Unsubscribe: http://example.com/remove?id=42',
  'the the the lower lower newest newest newest widest',
  '我爱北京 tokyo東京',
];
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** A deterministic pseudo-text corpus with Zipf-ish word frequencies. */
function syntheticCorpus(nTexts: number, wordsPerText: number): string[] {
  const syllables = ['ka', 'lo', 'mi', 'nu', 'pe', 'ra', 'si', 'to', 've', 'zu', 'ing', 'ed', 'er', 's'];
  let x = 12345;
  const rnd = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 4294967296;
  };
  const lexicon = Array.from({ length: 5000 }, () => {
    const n = 1 + Math.floor(rnd() * 4);
    return Array.from({ length: n }, () => syllables[Math.floor(rnd() * syllables.length)]).join('');
  });
  return Array.from({ length: nTexts }, () =>
    Array.from({ length: wordsPerText }, () => lexicon[Math.floor(lexicon.length * rnd() ** 3)]).join(' '),
  );
}

describe('trainWordPieceVocab', () => {
  it('puts the special tokens first, then the alphabet, then merges', () => {
    const vocab = trainWordPieceVocab(CORPUS, { vocabSize: 120 });
    expect(vocab.slice(0, 5)).toEqual(SPECIALS);
    expect(vocab).toContain('e');
    expect(vocab).toContain('##e');
    expect(vocab).toContain('東');
    expect(vocab).toContain('the');
    expect(new Set(vocab).size).toBe(vocab.length);
    // Single chars come before ## chars, each group by code point.
    const singles = vocab.slice(5).filter((t) => [...t].length === 1);
    expect(singles).toEqual([...singles].sort((a, b) => (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0)));
  });

  it('is deterministic and does not depend on the order of the texts', () => {
    const a = trainWordPieceVocab(CORPUS, { vocabSize: 100 });
    const b = trainWordPieceVocab(CORPUS, { vocabSize: 100 });
    const c = trainWordPieceVocab([...CORPUS].reverse(), { vocabSize: 100 });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('merges the most frequent pair first, ties broken by string order', () => {
    // "ab" x3 beats "cd" x2; with equal counts "ab" < "yz".
    const vocab = trainWordPieceVocab(['ab ab ab cd cd'], { vocabSize: 11 });
    expect(vocab).toEqual([...SPECIALS, 'a', 'b', 'c', 'd', '##b', '##d']);
    const more = trainWordPieceVocab(['ab ab ab cd cd'], { vocabSize: 13 });
    expect(more.slice(11)).toEqual(['ab', 'cd']);
    const tie = trainWordPieceVocab(['yz yz ab ab'], { vocabSize: 13 });
    expect(tie.slice(11)).toEqual(['ab', 'yz']);
  });

  it('respects vocabSize and stops at minFrequency', () => {
    for (const size of [78, 85, 95])
      expect(trainWordPieceVocab(CORPUS, { vocabSize: size })).toHaveLength(size);
    expect(trainWordPieceVocab(CORPUS, { vocabSize: 150, minFrequency: 1 })).toHaveLength(150);
    const small = trainWordPieceVocab(['abc abc'], { vocabSize: 1000 });
    // (a,##b) and (##b,##c) both occur twice: '##b' < 'a', so '##bc' comes first.
    expect(small).toEqual([...SPECIALS, 'a', 'b', 'c', '##b', '##c', '##bc', 'abc']);
    const none = trainWordPieceVocab(['abc abc'], { vocabSize: 1000, minFrequency: 3 });
    expect(none).toHaveLength(10);
  });

  it('throws when the alphabet does not fit', () => {
    expect(() => trainWordPieceVocab(CORPUS, { vocabSize: 20 })).toThrow(/lower maxAlphabet/);
    expect(() => trainWordPieceVocab(CORPUS, { vocabSize: 4 })).toThrow(RangeError);
  });

  it('tokenizes every training word within the alphabet without [UNK]', () => {
    const corpus = [...CORPUS, ...syntheticCorpus(50, 40)];
    const vocab = trainWordPieceVocab(corpus, { vocabSize: 300, maxAlphabet: 30 });
    const alphabet = new Set(vocab.filter((t) => [...t].length === 1));
    const tok = WordPieceTokenizer.fromTokens(vocab);
    let checked = 0;
    for (const word of new Set(corpus.flatMap((text) => basicTokenize(text)))) {
      const inAlphabet = [...word].every((ch) => alphabet.has(ch));
      const pieces = tok.tokenize(word);
      if (inAlphabet) {
        expect(pieces, word).not.toContain('[UNK]');
        expect(pieces.map((p) => p.replace(/^##/, '')).join('')).toBe(word);
        checked++;
      } else {
        expect(pieces).toEqual(['[UNK]']);
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('limits the alphabet to the most frequent characters', () => {
    const vocab = trainWordPieceVocab(['aaaa bbb cc d'], { vocabSize: 50, maxAlphabet: 2 });
    expect(vocab.slice(5, 7)).toEqual(['a', 'b']);
    expect(vocab).not.toContain('c');
    expect(vocab).not.toContain('d');
  });

  it('is fast on a corpus of thousands of texts', () => {
    const corpus = syntheticCorpus(3000, 250);
    const t0 = performance.now();
    const vocab = trainWordPieceVocab(corpus, { vocabSize: 4000 });
    const ms = performance.now() - t0;
    expect(vocab.length).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(30_000);
  });
});

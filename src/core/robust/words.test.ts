// Word-level edits: words and separators round-trip, edits by index across a text pair, and the typo
// transformations (inner characters only, words of 4+ letters) counted by hand.
import { describe, expect, it } from 'vitest';

import { keyboardNeighbours, typos, WordSeq } from './words.ts';

describe('WordSeq', () => {
  it('renders the text back exactly, punctuation and spacing included', () => {
    const text = "  Hello, world!  It's 2 cats.";
    expect(WordSeq.of({ text }).render()).toEqual({ text });
    expect(WordSeq.of({ text }).words).toEqual(['Hello', 'world', 'It', 's', '2', 'cats']);
  });

  it('replaces or removes word i, counting across the text pair, and leaves the original alone', () => {
    const seq = WordSeq.of({ text: 'free money', textPair: 'call me now' });
    expect(seq.with(3, '').render()).toEqual({ text: 'free money', textPair: 'call  now' });
    expect(seq.with(0, 'fre').render()).toEqual({ text: 'fre money', textPair: 'call me now' });
    expect(seq.render()).toEqual({ text: 'free money', textPair: 'call me now' });
    expect(() => seq.with(5, 'x')).toThrow(RangeError);
  });
});

describe('typos', () => {
  it("of 'good': 1 deletion, 76 insertions, 8 keyboard substitutions (the swap of 'oo' changes nothing)", () => {
    const all = typos('good');
    // deletions: god (twice); insertions: 3 places x 26 letters, 'goood' three times; o -> i, p, k, l at 2 places
    expect(all).toHaveLength(1 + (3 * 26 - 2) + 8);
    expect(all).toContain('god');
    expect(all).toContain('gkod');
    expect(all).not.toContain('good');
    expect(all.every((w) => w.startsWith('g') && w.endsWith('d'))).toBe(true);
    expect(all).toEqual([...all].sort());
  });

  it('swaps inner neighbours only, keeps the case of the letters around an insertion', () => {
    expect(typos('word')).toContain('wrod');
    expect(typos('word')).not.toContain('owrd');
    expect(typos('WORD')).toContain('WOXRD');
  });

  it('leaves words under 4 letters, and words with digits or marks, alone', () => {
    expect(typos('cat')).toEqual([]);
    expect(typos('abc1')).toEqual([]);
    expect(typos('')).toEqual([]);
  });
});

describe('keyboardNeighbours', () => {
  it('gives the QWERTY keys beside, above and below', () => {
    expect(keyboardNeighbours('a')).toEqual(['s', 'q', 'w', 'z']);
    expect(keyboardNeighbours('g')).toEqual(['f', 'h', 't', 'y', 'v', 'b']);
    expect(keyboardNeighbours('1')).toEqual([]);
  });
});

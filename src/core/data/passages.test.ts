import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { splitSentences, squeezeSpaces, toPassages } from './passages.ts';

describe('splitSentences', () => {
  it('ends a sentence at . ! ? before a capital, a digit or an opening quote', () => {
    expect(splitSentences('We met. It rained!  Why? 1812 came. "Go," he said.')).toEqual([
      'We met.',
      'It rained!',
      'Why?',
      '1812 came.',
      '"Go," he said.',
    ]);
  });

  it('keeps closing quotes and brackets with the sentence they end', () => {
    expect(splitSentences('He said "stop." Then (briefly.) Next')).toEqual([
      'He said "stop."',
      'Then (briefly.)',
      'Next',
    ]);
  });

  it('does not split before a lower-case word or inside numbers', () => {
    expect(splitSentences('It cost 3.5 dollars. etc. and so on')).toEqual([
      'It cost 3.5 dollars. etc. and so on',
    ]);
  });
});

describe('toPassages', () => {
  it('groups whole sentences up to the limit', () => {
    expect(toPassages('Aa bb. Cc dd. Ee ff.', 14)).toEqual(['Aa bb. Cc dd.', 'Ee ff.']);
  });

  it('cuts a sentence longer than the limit at word boundaries, and a longer word anywhere', () => {
    expect(toPassages('one two three four', 9)).toEqual(['one two', 'three', 'four']);
    expect(toPassages('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => toPassages('x', 0)).toThrow('maxChars must be a positive integer, got 0');
  });

  it('keeps every character in order (and every space, unless a word is cut) within the limit, for any text', () => {
    const text = fc.array(fc.constantFrom('A', 'b', ' ', '\n', '.', '!', '"', ')', '7', 'é'), {
      maxLength: 200,
    });
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 40 }), (chars, maxChars) => {
        const source = chars.join('');
        const passages = toPassages(source, maxChars);
        const squeezed = squeezeSpaces(source);
        const noSpace = (s: string): string => s.replaceAll(' ', '');
        expect(noSpace(passages.join(''))).toBe(noSpace(squeezed));
        if (squeezed.split(' ').every((w) => w.length <= maxChars)) {
          expect(passages.join(' ')).toBe(squeezed);
        }
        for (const p of passages) {
          expect(p.length).toBeGreaterThan(0);
          expect(p.length).toBeLessThanOrEqual(maxChars);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// The pre-training corpus: documents, the held-out split, packing into [CLS] ... [SEP] sequences, the masking
// options of a vocabulary and the unigram baseline, each against hand-computed values.
import { describe, expect, it } from 'vitest';

import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import {
  corpusDocuments,
  corpusTokenIds,
  firstSequences,
  maskingFor,
  packSequences,
  splitCorpus,
  unigramBaseline,
} from './corpus.ts';

// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 a=5 b=6 c=7 ##s=8
const tok = WordPieceTokenizer.fromTokens([
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'a',
  'b',
  'c',
  '##s',
]);

describe('corpus', () => {
  it('reads non-blank lines as documents, and refuses a text without any, naming the file', () => {
    expect(corpusDocuments('\ufeff a b \n\n  \nc\n', 'x.txt')).toEqual(['a b', 'c']);
    expect(() => corpusDocuments('\n \n', 'x.txt')).toThrow(
      'x.txt: no text (a corpus has one document per line)',
    );
  });

  it('holds out 2% of the documents (at least one), seeded, and keeps the train order', () => {
    const docs = Array.from({ length: 100 }, (_, i) => `d${i}`);
    const a = splitCorpus(docs, 1, 'c');
    expect(a.dev).toHaveLength(2);
    expect(a.train).toHaveLength(98);
    expect(a.train).toEqual(docs.filter((d) => !a.dev.includes(d)));
    expect(splitCorpus(docs, 1, 'c')).toEqual(a);
    expect(splitCorpus(['x', 'y'], 1, 'c').dev).toHaveLength(1);
    expect(() => splitCorpus(['x'], 1, 'c')).toThrow(
      'c: a corpus without a dev file needs at least 2 documents',
    );
  });

  it('packs consecutive documents into [CLS] + T-2 tokens + [SEP], padding only the last sequence', () => {
    const stream = corpusTokenIds(tok, ['a bs', 'c z', 'a']); // a b ##s c [UNK] a
    expect(Array.from(stream)).toEqual([5, 6, 8, 7, 1, 5]);
    const s = packSequences(tok, stream, 5, 'c'); // 3 tokens per sequence
    expect(s.count).toBe(2);
    expect(Array.from(s.inputIds)).toEqual([2, 5, 6, 8, 3, 2, 7, 1, 5, 3]);
    expect(Array.from(s.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    const p = packSequences(tok, stream, 6, 'c'); // 4 per sequence: the second has 2 and is padded
    expect(Array.from(p.inputIds)).toEqual([2, 5, 6, 8, 7, 3, 2, 1, 5, 3, 0, 0]);
    expect(Array.from(p.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(p.tokenTypeIds)).toEqual(Array(12).fill(0));
    expect(firstSequences(p, 1).count).toBe(1);
    expect(Array.from(firstSequences(p, 1).inputIds)).toEqual([2, 5, 6, 8, 7, 3]);
    expect(() => packSequences(tok, new Int32Array(0), 6, 'c')).toThrow('c: no tokens after tokenisation');
  });

  it('masks no special token and draws random replacements after the special tokens', () => {
    const m = maskingFor(tok, 0.2, true);
    expect([...m.specialIds].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(m.randomRange).toEqual([5, 9]);
    expect(m).toMatchObject({ rate: 0.2, wholeWord: true, maskId: 4, vocabSize: 9 });
    expect(m.isContinuation?.(8)).toBe(true);
    expect(m.isContinuation?.(6)).toBe(false);
  });

  it('unigram baseline: the most frequent train token, and the add-one smoothed cross-entropy', () => {
    // train counts over ids 5..8 with add-one: a 1+3, b 1+1, c 1+0, ##s 1+0 -> total 8; top = a (5)
    const r = unigramBaseline(Int32Array.from([5, 5, 5, 6]), Int32Array.from([5, 7]), [5, 9], 9);
    expect(r.top).toBe(5);
    expect(r.accuracy).toBe(0.5);
    expect(r.loss).toBeCloseTo(-(Math.log(4 / 8) + Math.log(1 / 8)) / 2, 12);
  });
});

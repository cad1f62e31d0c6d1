import { describe, expect, it } from 'vitest';

import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { encodeSplit, parseTaskData, seededShuffle, stratifiedSplit, type Example } from './dataset.ts';

const VALID = {
  name: 'toy',
  source: 'hand-written',
  labels: ['ham', 'spam'],
  train: [
    { text: 'hello world', label: 0 },
    { text: 'win money', textPair: 'now', label: 1 },
  ],
  dev: [{ text: 'hello', label: 0 }],
};

describe('parseTaskData', () => {
  it('accepts a valid task', () => {
    expect(parseTaskData(VALID, 'toy.json')).toEqual(VALID);
  });

  it.each([
    [null, 'toy.json: (root): expected an object, got null'],
    [{ ...VALID, name: '' }, 'toy.json: name: expected a non-empty string, got ""'],
    [{ ...VALID, source: 3 }, 'toy.json: source: expected a string, got 3'],
    [{ ...VALID, labels: ['one'] }, 'toy.json: labels: expected an array of at least 2 strings, got ["one"]'],
    [{ ...VALID, labels: ['a', 'a'] }, 'toy.json: labels[1]: duplicate label "a"'],
    [{ ...VALID, labels: ['a', 7] }, 'toy.json: labels[1]: expected a string, got 7'],
    [{ ...VALID, train: {} }, 'toy.json: train: expected an array, got {}'],
    [{ ...VALID, train: [] }, 'toy.json: train: no examples'],
    [{ ...VALID, dev: undefined }, 'toy.json: dev: expected an array, got undefined'],
    [{ ...VALID, dev: ['x'] }, 'toy.json: dev[0]: expected an object, got "x"'],
    [{ ...VALID, train: [{ label: 0 }] }, 'toy.json: train[0].text: expected a string, got undefined'],
    [
      { ...VALID, train: [{ text: 'a', textPair: 1, label: 0 }] },
      'toy.json: train[0].textPair: expected a string, got 1',
    ],
    [
      { ...VALID, dev: [{ text: 'a', label: 2 }] },
      'toy.json: dev[0].label: expected an integer in [0, 2), got 2',
    ],
    [
      { ...VALID, dev: [{ text: 'a', label: 0.5 }] },
      'toy.json: dev[0].label: expected an integer in [0, 2), got 0.5',
    ],
    [
      { ...VALID, dev: [{ text: 'a', label: 'x'.repeat(100) }] },
      `toy.json: dev[0].label: expected an integer in [0, 2), got "${'x'.repeat(36)}...`,
    ],
  ])('rejects %j', (json, message) => {
    expect(() => parseTaskData(json, 'toy.json')).toThrow(message);
  });
});

describe('encodeSplit', () => {
  const tok = WordPieceTokenizer.fromVocabText(
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', 'win', 'money', 'now'].join('\n'),
  );

  it('pads row-major [B, maxLength] with padId, type 0 and mask 0', () => {
    const examples: Example[] = [
      { text: 'hello world', label: 0 },
      { text: 'win money', textPair: 'now', label: 1 },
      { text: 'hello hello hello hello hello hello', label: 0 },
    ];
    const b = encodeSplit(tok, examples, 6);
    expect(b.count).toBe(3);
    expect(b.maxLength).toBe(6);
    expect([...b.inputIds]).toEqual([2, 5, 6, 3, 0, 0, 2, 7, 8, 3, 9, 3, 2, 5, 5, 5, 5, 3]);
    expect([...b.tokenTypeIds]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect([...b.labels]).toEqual([0, 1, 0]);
    expect(b.inputIds).toBeInstanceOf(Int32Array);
  });

  it('handles an empty batch', () => {
    const b = encodeSplit(tok, [], 8);
    expect(b.inputIds.length).toBe(0);
    expect(b.count).toBe(0);
  });
});

describe('seededShuffle and stratifiedSplit', () => {
  const examples: Example[] = Array.from({ length: 103 }, (_, i) => ({
    text: `t${i}`,
    label: i % 7 === 0 ? 1 : 0,
  }));

  it('shuffles deterministically without losing items', () => {
    const a = seededShuffle(examples, 1);
    expect(seededShuffle(examples, 1)).toEqual(a);
    expect(seededShuffle(examples, 2)).not.toEqual(a);
    expect([...a].sort((x, y) => x.text.localeCompare(y.text))).toEqual(
      [...examples].sort((x, y) => x.text.localeCompare(y.text)),
    );
  });

  it('keeps each label share in dev and is a partition', () => {
    const { train, dev } = stratifiedSplit(examples, 0.1, 1234);
    const n1 = examples.filter((e) => e.label === 1).length; // 15
    expect(dev.filter((e) => e.label === 1)).toHaveLength(Math.round(n1 * 0.1));
    expect(dev.filter((e) => e.label === 0)).toHaveLength(Math.round((103 - n1) * 0.1));
    expect(new Set([...train, ...dev].map((e) => e.text)).size).toBe(103);
    expect(stratifiedSplit(examples, 0.1, 1234)).toEqual({ train, dev });
    expect(() => stratifiedSplit(examples, 1, 1)).toThrow(RangeError);
  });
});

// The data preview: counts, targets and token lengths with the run's tokenizer.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { root } from '../../../test/helpers/nano.ts';
import { taskFromFile } from '../train/session.ts';
import { dataPreview, PREVIEW_LENGTH_CAP } from './preview.ts';

const vocab = readFileSync(`${root}test/fixtures/nano-bert/vocab.txt`, 'utf8');
const glue = (name: string) => readFileSync(`${root}test/fixtures/glue/${name}`, 'utf8');

describe('dataPreview', () => {
  it('counts rows and labels, and the untruncated token length of every example', () => {
    const task = taskFromFile(
      'd.tsv',
      'sentence\tlabel\nthe cat\tpos\nthe cat sat\tneg\nfree\tpos\n',
      vocab,
      'v',
      1,
    );
    const p = dataPreview(task.data, task.tokenizer);
    expect(p).toMatchObject({ rows: 3, problemType: 'classification', targets: null });
    expect(p.trainExamples + p.devExamples).toBe(3);
    expect(p.labelCounts).toEqual([
      { label: 'pos', count: 2 },
      { label: 'neg', count: 1 },
    ]);
    expect(p.lengthCounts).toHaveLength(PREVIEW_LENGTH_CAP + 2);
    // [CLS] the cat [SEP] = 4, [CLS] the cat sat [SEP] = 5, [CLS] free [SEP] = 3 (each word is one vocab token)
    expect(p.lengthCounts.slice(0, 7)).toEqual([0, 0, 0, 1, 1, 1, 0]);
  });

  it('pairs count both segments and three specials; very long examples land in the last bin', () => {
    const long = Array.from({ length: 600 }, () => 'cat').join(' ');
    const task = taskFromFile(
      'p.tsv',
      `sentence1\tsentence2\tlabel\nthe\tcat\t0\n${long}\tthe\t1\n`,
      vocab,
      'v',
      1,
    );
    const p = dataPreview(task.data, task.tokenizer);
    expect(p.lengthCounts[5]).toBe(1);
    expect(p.lengthCounts[PREVIEW_LENGTH_CAP + 1]).toBe(1);
  });

  it('regression: the targets range and mean instead of label counts', () => {
    const task = taskFromFile('stsb-train.tsv', glue('stsb-train.tsv'), vocab, 'v', 1);
    const p = dataPreview(task.data, task.tokenizer);
    expect(p.labelCounts).toBeNull();
    expect(p.problemType).toBe('regression');
    expect(p.targets?.min).toBeCloseTo(0.5, 12);
    expect(p.targets?.max).toBe(5);
    expect(p.targets?.mean).toBeCloseTo((5 + 3.8 + 3.8 + 2.6 + 4.25 + 4.25 + 0.5 + 1.6) / 8, 12);
    expect(p.lengthCounts.reduce((a, b) => a + b, 0)).toBe(8);
  });
});

// GLUE's TSV layouts (docs/data-formats.md), on the hand-made fixtures under test/fixtures/glue/.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { root } from '../../../test/helpers/nano.ts';
import { detectProblemType, parseDataFile, readDataText, tablesToData } from './parse.ts';

const fixture = (name: string) => readFileSync(`${root}test/fixtures/glue/${name}`, 'utf8');
const parse = (name: string) => parseDataFile(name, fixture(name));

describe('GLUE layouts', () => {
  it('SST-2: sentence, label (0/1 kept as ids)', () => {
    const d = parse('sst2-train.tsv');
    expect(d.labels).toEqual(['0', '1']);
    expect(d.examples).toHaveLength(6);
    expect(d.examples[5]).toEqual({ text: 'it \'s a "charming" and often affecting journey . ', label: 1 });
    expect(d.problemType).toBeUndefined();
  });

  it('CoLA: no header; source, label, original_label, sentence', () => {
    const t = readDataText('cola-train.tsv', fixture('cola-train.tsv'));
    expect(t.layout).toBe('glue-cola');
    const d = parse('cola-train.tsv');
    expect(d.examples).toHaveLength(5); // the first line is data, not a header
    expect(d.examples[2]).toEqual({ text: 'They drank the pub.', label: 0 });
    expect(d.labels).toEqual(['0', '1']);
  });

  it('MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String', () => {
    const d = parse('mrpc-train.tsv');
    expect(d.examples[0]).toMatchObject({
      text: 'Amrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .',
      textPair: expect.stringMatching(/^Referring to him/) as unknown,
      label: 1,
    });
  });

  it('QNLI: index, question, sentence, label (string labels)', () => {
    const d = parse('qnli-dev.tsv');
    expect(d.labels).toEqual(['entailment', 'not_entailment']);
    expect(d.examples[3]).toEqual({
      text: 'How many people lived in Nanjing in 2013?',
      textPair: 'The city had 8,188,800 inhabitants in 2013.',
      label: 0,
    });
  });

  it('RTE and QQP pairs', () => {
    expect(parse('rte-train.tsv').examples[0]).toMatchObject({
      textPair: 'Weapons of Mass Destruction Found in Iraq.',
    });
    const qqp = parse('qqp-train.tsv');
    expect(qqp.labels).toEqual(['0', '1']);
    expect(qqp.examples[1]).toMatchObject({ text: 'How do I control my horny emotions?', label: 1 });
  });

  it('MNLI: sentence1, sentence2 and gold_label among 12 (train) or 16 (dev) columns', () => {
    const train = parse('mnli-train.tsv');
    expect(train.labels).toEqual(['neutral', 'entailment', 'contradiction']);
    expect(train.examples[4]).toEqual({
      text: 'yeah i tell you what though if you go price some of those tennis shoes',
      textPair: 'The tennis shoes have a range of prices.',
      label: 2, // gold_label, not label1
    });
    const dev = parse('mnli-dev_matched.tsv');
    expect(dev.examples.map((e) => e.label)).toEqual([0, 1, 2]);
  });

  it('STS-B: score makes a regression task with one output', () => {
    const d = parse('stsb-train.tsv');
    expect(d.problemType).toBe('regression');
    expect(d.labels).toEqual(['LABEL_0']);
    expect(d.examples.map((e) => e.label)).toEqual([5, 3.8, 3.8, 2.6, 4.25, 4.25, 0.5, 1.6]);
    expect(d.examples[0]).toMatchObject({
      text: 'A plane is taking off.',
      textPair: 'An air plane is taking off.',
    });
  });

  it.each([
    ['sst2-test.tsv', 'sst2-test.tsv:1: no label column'],
    ['cola-test.tsv', 'cola-test.tsv:1: no label column'],
    ['stsb-test.tsv', 'stsb-test.tsv:1: no label column'],
  ])('%s (a test file, no labels) is refused with a message', (name, message) => {
    expect(() => parse(name)).toThrow(message);
    expect(() => parse(name)).toThrow(/GLUE test file has no labels/);
  });
});

describe('regression rule', () => {
  const table = (labels: string[], header = 'sentence\tlabel') =>
    readDataText('r.tsv', [header, ...labels.map((l, i) => `s${i}\t${l}`)].join('\n'));

  it('is auto when every label is a number and one is not an integer literal', () => {
    expect(detectProblemType(table(['0', '1', '2']))).toBe('classification');
    expect(detectProblemType(table(['1.0', '2', '0.5']))).toBe('regression');
    expect(detectProblemType(table(['1e-3', '2']))).toBe('regression');
    expect(detectProblemType(table(['0.5', 'x']))).toBe('classification');
    expect(detectProblemType(table(['1', '2'], 'sentence\tscore'))).toBe('regression');
  });

  it('can be forced either way; a non-number under forced regression names line and column', () => {
    expect(parseDataFile('d.tsv', 'sentence\tlabel\na\t0\nb\t1\n', { problemType: 'regression' })).toEqual({
      labels: ['LABEL_0'],
      examples: [
        { text: 'a', label: 0 },
        { text: 'b', label: 1 },
      ],
      problemType: 'regression',
    });
    expect(
      parseDataFile('d.tsv', 'sentence\tlabel\na\t0.5\nb\t1.5\n', { problemType: 'classification' }).labels,
    ).toEqual(['0.5', '1.5']);
    expect(() =>
      parseDataFile('d.tsv', 'sentence\tlabel\na\t0.5\nbb\tlots\n', { problemType: 'regression' }),
    ).toThrow("d.tsv:3: column 4: regression label 'lots' is not a number");
  });

  it('JSONL float labels are regression targets', () => {
    const d = parseDataFile('r.jsonl', '{"text":"a","label":0.25}\n{"text":"b","label":3}\n');
    expect(d).toEqual({
      labels: ['LABEL_0'],
      examples: [
        { text: 'a', label: 0.25 },
        { text: 'b', label: 3 },
      ],
      problemType: 'regression',
    });
  });
});

describe('a separate dev file', () => {
  it('uses the training file label ids; an unknown dev label names the dev file, line and column', () => {
    const train = readDataText('t.tsv', 'sentence\tlabel\na\tpos\nb\tneg\n');
    const dev = readDataText('d.tsv', 'sentence\tlabel\nc\tneg\nd\tpos\n');
    expect(tablesToData(train, dev).dev).toEqual([
      { text: 'c', label: 1 },
      { text: 'd', label: 0 },
    ]);
    const bad = readDataText('d.tsv', 'sentence\tlabel\nc\tneg\ndd\tmeh\n');
    expect(() => tablesToData(train, bad)).toThrow(
      "d.tsv:3: column 4: label 'meh' does not occur in the training file t.tsv",
    );
  });
});

import { describe, expect, it } from 'vitest';

import { parseDataFile } from './parse.ts';

describe('parseDataFile: CSV', () => {
  it('parses single sentences with string labels in order of first appearance', () => {
    const csv = 'sentence,label\nhello there,spam\ngood morning,ham\nbuy now,spam\n';
    expect(parseDataFile('d.csv', csv)).toEqual({
      labels: ['spam', 'ham'],
      examples: [
        { text: 'hello there', label: 0 },
        { text: 'good morning', label: 1 },
        { text: 'buy now', label: 0 },
      ],
    });
  });

  it('handles RFC 4180 quotes: commas, doubled quotes, newlines, CRLF, BOM', () => {
    const csv =
      '\ufeffsentence,label\r\n"a, b",0\r\n"she said ""hi""",1\r\n"two\nlines",0\r\nplain 5"" screen,1\r\n"",0\r\n';
    expect(() => parseDataFile('q.csv', csv)).toThrow('q.csv:7: column 1: empty sentence');
    const ok = csv.replace('"",0\r\n', '');
    expect(parseDataFile('q.csv', ok).examples).toEqual([
      { text: 'a, b', label: 0 },
      { text: 'she said "hi"', label: 1 },
      { text: 'two\nlines', label: 0 },
      { text: 'plain 5"" screen', label: 1 },
    ]);
  });

  it('parses sentence pairs and keeps integer labels 0..n-1', () => {
    const csv =
      'Sentence1, Sentence2 ,Label\nA man eats.,Someone eats.,1\nA dog runs.,A cat sleeps.,0\nx,y,2\n';
    expect(parseDataFile('pairs.csv', csv)).toEqual({
      labels: ['0', '1', '2'],
      examples: [
        { text: 'A man eats.', textPair: 'Someone eats.', label: 1 },
        { text: 'A dog runs.', textPair: 'A cat sleeps.', label: 0 },
        { text: 'x', textPair: 'y', label: 2 },
      ],
    });
  });

  it('does not treat integers that are not 0..n-1 as ids', () => {
    expect(parseDataFile('d.csv', 'sentence,label\na,1\nb,2\nc,1\n')).toEqual({
      labels: ['1', '2'],
      examples: [
        { text: 'a', label: 0 },
        { text: 'b', label: 1 },
        { text: 'c', label: 0 },
      ],
    });
    expect(parseDataFile('d.csv', 'sentence,label\na,01\nb,0\n').labels).toEqual(['01', '0']);
  });

  it('skips blank lines but counts them in line numbers', () => {
    const csv = 'sentence,label\n\na,0\n\nb,1,extra\n';
    expect(() => parseDataFile('data.csv', csv)).toThrow(
      'data.csv:5: expected 2 fields (sentence,label), got 3',
    );
  });

  it.each([
    [
      'data.csv',
      'sentence,label\na,0\nb,1\nc,0\nd,1\ne,0\nf,1,x\n',
      'data.csv:7: expected 2 fields (sentence,label), got 3',
    ],
    [
      'd.csv',
      'foo,bar\na,b\n',
      "d.csv:1: header must name a text column (sentence, or sentence1 and sentence2; see docs/data-formats.md) and a label column, got 'foo,bar'",
    ],
    ['d.csv', '', 'd.csv:1: empty file'],
    ['d.csv', '\n \n', 'd.csv:1: empty file'],
    ['d.csv', 'sentence,label\n', 'd.csv:2: no data rows after the header'],
    ['d.csv', 'sentence,label\na,spam\nb,spam\n', "d.csv:2: only one label class ('spam'); need at least 2"],
    ['d.csv', 'sentence,label\na,\n', 'd.csv:2: column 3: empty label'],
    ['d.csv', 'sentence,label\n"a,0\nb,1\n', 'd.csv:2: column 1: unterminated quoted field'],
    [
      'd.csv',
      'sentence,label\nb,1\n"a"x,0\n',
      "d.csv:3: column 4: unexpected character 'x' after a closing quote",
    ],
    [
      'd.csv',
      'sentence,label\nb,"1"?\n',
      "d.csv:2: column 6: unexpected character '?' after a closing quote",
    ],
    ['d.csv', 'sentence,label\nb,1\n,0\n', 'd.csv:3: column 1: empty sentence'],
    ['d.csv', 'label,sentence\nb,1\n2, \n', 'd.csv:3: column 3: empty sentence'],
    [
      'p.csv',
      'sentence1,sentence2,label\na,0\n',
      'p.csv:2: expected 3 fields (sentence1,sentence2,label), got 2',
    ],
    ['dir/p.txt', 'sentence,label\na,0\n', 'p.txt:1: unsupported file type (expected .csv, .tsv or .jsonl)'],
  ])('%s: %j -> %s', (file, content, message) => {
    expect(() => parseDataFile(file, content)).toThrow(message);
  });

  it('reports the line where a multi-line record starts', () => {
    const csv = 'sentence,label\n"multi\nline\nrecord",0,extra\n';
    expect(() => parseDataFile('m.csv', csv)).toThrow('m.csv:2: expected 2 fields (sentence,label), got 3');
    expect(() => parseDataFile('m.csv', 'sentence,label\n"multi\nline\nrecord",0\nb,1,x\n')).toThrow(
      'm.csv:5: expected 2 fields',
    );
  });

  it('messages are a single line', () => {
    try {
      parseDataFile('h.csv', '"multi\nline header",x\n');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toMatch(/\n/);
      expect((e as Error).message).toMatch(/^h\.csv:1: header must name a text column/);
    }
  });
});

describe('parseDataFile: TSV', () => {
  it('splits on tabs without quote processing (GLUE style)', () => {
    const tsv = 'sentence\tlabel\nit \'s a "charming" film , really\t1\r\nthe "worst\t0\n';
    expect(parseDataFile('sst.tsv', tsv)).toEqual({
      labels: ['0', '1'],
      examples: [
        { text: 'it \'s a "charming" film , really', label: 1 },
        { text: 'the "worst', label: 0 },
      ],
    });
  });

  it('parses pairs and reports field counts', () => {
    const tsv = 'sentence1\tsentence2\tlabel\na\tb\tyes\nc\td\tno\n';
    expect(parseDataFile('rte.tsv', tsv).examples[1]).toEqual({ text: 'c', textPair: 'd', label: 1 });
    expect(() => parseDataFile('rte.tsv', 'sentence1\tsentence2\tlabel\na\tb\n')).toThrow(
      'rte.tsv:2: expected 3 fields (sentence1,sentence2,label), got 2',
    );
    expect(() => parseDataFile('d.tsv', 'foo,bar\n')).toThrow(
      "d.tsv:1: header must name a text column (sentence, or sentence1 and sentence2; see docs/data-formats.md) and a label column, got 'foo,bar'",
    );
  });
});

describe('parseDataFile: JSONL', () => {
  it('parses text, text_pair and string or integer labels', () => {
    const jsonl = [
      '{"text": "good", "label": 1}',
      '',
      '{"text": "bad", "label": 0}',
      '{"text": "meh", "label": "1"}',
    ].join('\n');
    expect(parseDataFile('x.jsonl', jsonl)).toEqual({
      labels: ['0', '1'],
      examples: [
        { text: 'good', label: 1 },
        { text: 'bad', label: 0 },
        { text: 'meh', label: 1 },
      ],
    });
    const pairs =
      '{"text":"a","text_pair":"b","label":"entail"}\n{"text":"c","text_pair":"d","label":"neutral"}\r\n';
    expect(parseDataFile('nli.jsonl', pairs)).toEqual({
      labels: ['entail', 'neutral'],
      examples: [
        { text: 'a', textPair: 'b', label: 0 },
        { text: 'c', textPair: 'd', label: 1 },
      ],
    });
  });

  it.each([
    // The column comes from the engine's JSON.parse message where it gives a position (V8 does here).
    ['{"text":"a","label":0}\n{"text":"b","label":1}\n  {oops\n', 'x.jsonl:3: column 4: invalid JSON'],
    ['{"text":"a","label":0}\n\n{"text":"b","label":1}\n{"text":"c"}\n', "x.jsonl:4: missing field 'label'"],
    ['{"label":0}\n', "x.jsonl:1: missing field 'text'"],
    ['[1,2]\n', 'x.jsonl:1: expected a JSON object'],
    ['{"text":5,"label":0}\n', "x.jsonl:1: field 'text' must be a string"],
    ['{"text":" ","label":0}\n', "x.jsonl:1: empty field 'text'"],
    ['{"text":"a","label":null}\n', "x.jsonl:1: field 'label' must be a non-empty string or a finite number"],
    ['{"text":"a","label":true}\n', "x.jsonl:1: field 'label' must be a non-empty string or a finite number"],
    ['{"text":"a","text_pair":3,"label":0}\n', "x.jsonl:1: field 'text_pair' must be a string"],
    [
      '{"text":"a","label":0}\n{"text":"b","text_pair":"c","label":1}\n',
      "x.jsonl:2: unexpected field 'text_pair'",
    ],
    [
      '{"text":"a","text_pair":"c","label":0}\n{"text":"b","label":1}\n',
      "x.jsonl:2: missing field 'text_pair'",
    ],
    [
      '{"text":"a","label":"x"}\n{"text":"b","label":"x"}\n',
      "x.jsonl:1: only one label class ('x'); need at least 2",
    ],
  ])('%j -> %s', (content, message) => {
    expect(() => parseDataFile('x.jsonl', content)).toThrow(message);
  });
});

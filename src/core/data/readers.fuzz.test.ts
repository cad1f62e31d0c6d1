// Property tests of the data readers (CSV, TSV, JSONL; whole text and streaming): every input gives parsed
// data or one DataError whose message is one line naming the file; never another exception, never a hang;
// the streaming reader agrees with the whole-text one on every chunking; well-formed files read back exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { DataError, parseDataFile, readDataStream, readDataText, type RawTable } from './parse.ts';

/** numRuns per property (reported in the test names). */
const RUNS = { arbitrary: 1500, structured: 500, chunked: 300 } as const;

const EXTS = ['csv', 'tsv', 'jsonl'] as const;

/** Characters the readers treat specially, mixed with anything else. */
const special = fc.constantFrom(
  ',',
  '\t',
  '"',
  '\n',
  '\r',
  '\r\n',
  ' ',
  '{',
  '}',
  ':',
  '[',
  ']',
  '\ufeff',
  '0',
  '1',
);
const anyText = fc
  .array(fc.oneof(special, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 60 })
  .map((a) => a.join(''));
/** Header-led texts, so that the generator reaches rows, labels and the regression rule often. */
const headed = fc
  .tuple(
    fc.constantFrom(
      'sentence,label\n',
      'sentence1,sentence2,label\n',
      'sentence\tlabel\n',
      'sentence1\tsentence2\tscore\n',
      '',
    ),
    anyText,
  )
  .map(([h, t]) => h + t);

/** Runs `f`; returns its value or the DataError's message; any other exception fails the property. */
function outcome<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    const message = (e as Error).message;
    expect(message).not.toMatch(/[\r\n]/);
    return { error: message };
  }
}

async function outcomeAsync<T>(f: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return { error: (e as Error).message };
  }
}

function streamOf(bytes: Uint8Array, cuts: readonly number[]): ReadableStream<Uint8Array> {
  const bounds = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort(
    (a, b) => a - b,
  );
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i >= bounds.length - 1) c.close();
      else c.enqueue(bytes.slice(bounds[i], bounds[++i]));
    },
  });
}

describe('data readers under arbitrary input', () => {
  it(`parseDataFile: parsed data or one DataError line, never another exception (${RUNS.arbitrary} runs per format)`, () => {
    for (const ext of EXTS) {
      fc.assert(
        fc.property(fc.oneof(anyText, headed), (text) => {
          const r = outcome(() => parseDataFile(`f.${ext}`, text));
          if ('error' in r) expect(r.error.startsWith(`f.${ext}:`)).toBe(true);
          else {
            expect(r.examples.length).toBeGreaterThan(0);
            for (const ex of r.examples) {
              if (r.problemType === 'regression') expect(Number.isFinite(ex.label)).toBe(true);
              else expect(ex.label >= 0 && ex.label < r.labels.length).toBe(true);
            }
          }
        }),
        { numRuns: RUNS.arbitrary },
      );
    }
  });

  it(`streaming equals whole-text on arbitrary bytes and chunkings (${RUNS.chunked} runs per format)`, async () => {
    for (const ext of EXTS) {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(anyText, headed),
          fc.array(fc.nat(), { maxLength: 12 }),
          async (text, cuts) => {
            const bytes = new TextEncoder().encode(text);
            const whole = outcome(() => readDataText(`f.${ext}`, new TextDecoder().decode(bytes)));
            const streamed = await outcomeAsync(() => readDataStream(`f.${ext}`, streamOf(bytes, cuts)));
            expect(streamed).toEqual(whole);
          },
        ),
        { numRuns: RUNS.chunked },
      );
    }
  });

  it(`invalid UTF-8 bytes decode to U+FFFD the same way whole or streamed (${RUNS.chunked} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (raw, cuts) => {
          const head = new TextEncoder().encode('sentence\tlabel\n');
          const bytes = new Uint8Array([...head, ...raw]);
          const whole = outcome(() => readDataText('b.tsv', new TextDecoder().decode(bytes)));
          expect(await outcomeAsync(() => readDataStream('b.tsv', streamOf(bytes, cuts)))).toEqual(whole);
        },
      ),
      { numRuns: RUNS.chunked },
    );
  });
});

/** A field a writer may put in a file: any text, without the characters its format cannot hold. */
const field = (forbidden?: RegExp) =>
  fc
    .string({ unit: 'grapheme', maxLength: 12 })
    .map((s) => (forbidden ? s.replace(forbidden, ' ') : s))
    .filter((s) => s.trim() !== '');
const label = fc.constantFrom('pos', 'neg', 'neutral', 'x y');

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s.startsWith(' ') ? `"${s.replace(/"/g, '""')}"` : s;
}

describe('well-formed files read back exactly', () => {
  const rowsArb = (text: fc.Arbitrary<string>) =>
    fc.array(fc.tuple(text, text, label), { minLength: 2, maxLength: 30 });

  it(`CSV with RFC 4180 quoting (${RUNS.structured} runs)`, () => {
    fc.assert(
      fc.property(rowsArb(field()), fc.constantFrom('\n', '\r\n'), (rows, eol) => {
        const text =
          ['sentence1,sentence2,label', ...rows.map((r) => r.map(csvField).join(','))].join(eol) + eol;
        const t = readDataText('w.csv', text);
        expect(t.rows.map((r) => [r.text, r.textPair, r.label])).toEqual(
          rows.map(([a, b, l]) => [a, b, l.trim()]),
        );
      }),
      { numRuns: RUNS.structured },
    );
  });

  it(`TSV without quoting and JSONL (${RUNS.structured} runs each)`, () => {
    fc.assert(
      fc.property(rowsArb(field(/[\t\r\n]/g)), (rows) => {
        const text = ['sentence1\tsentence2\tlabel', ...rows.map((r) => r.join('\t'))].join('\n');
        const t: RawTable = readDataText('w.tsv', text);
        expect(t.rows.map((r) => [r.text, r.textPair, r.label])).toEqual(rows);
      }),
      { numRuns: RUNS.structured },
    );
    fc.assert(
      fc.property(rowsArb(field()), (rows) => {
        const text = rows.map(([a, b, l]) => JSON.stringify({ text: a, text_pair: b, label: l })).join('\n');
        const t = readDataText('w.jsonl', text);
        expect(t.rows.map((r) => [r.text, r.textPair, r.label])).toEqual(rows);
      }),
      { numRuns: RUNS.structured },
    );
  });
});

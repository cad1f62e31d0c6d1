// The streaming reader against the whole-text one: a generated multi-MB input, cut into byte chunks at
// awkward places (inside quotes, between \r and \n, inside a multi-byte UTF-8 character), reads the same.
import { describe, expect, it } from 'vitest';

import { DataError, readDataStream, readDataText } from './parse.ts';

const utf8 = new TextEncoder();

/** A ReadableStream of `bytes` cut before each offset in `cuts`. */
function streamOf(bytes: Uint8Array, cuts: readonly number[]): ReadableStream<Uint8Array> {
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i >= bounds.length - 1) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(bounds[i], bounds[i + 1]));
      i++;
    },
  });
}

const WORDS = [
  'plain',
  'a, comma',
  'a "quoted" word',
  'two\nlines',
  'crlf\r\ninside',
  'émigré',
  '漢字',
  '😀 emoji',
];

/** A CSV of `n` rows (CRLF line ends, quoted fields with commas, quotes, newlines, non-ASCII). */
function bigCsv(n: number): string {
  const out = ['\ufeffsentence1,sentence2,label'];
  for (let i = 0; i < n; i++) {
    const a = WORDS[i % WORDS.length] as string;
    const b = WORDS[(i * 7 + 3) % WORDS.length] as string;
    out.push(`"${a.replace(/"/g, '""')} ${i}","${b.replace(/"/g, '""')}",${i % 3}`);
  }
  return out.join('\r\n') + '\r\n';
}

/** Byte offsets just after each occurrence of `what` (or inside it, at `within`). */
function offsetsOf(bytes: Uint8Array, what: string, within: number, limit: number): number[] {
  const pat = utf8.encode(what);
  const out: number[] = [];
  for (let i = 0; i + pat.length <= bytes.length && out.length < limit; i++) {
    let ok = true;
    for (let j = 0; j < pat.length && ok; j++) ok = bytes[i + j] === pat[j];
    if (ok) out.push(i + within);
  }
  return out;
}

async function both(name: string, text: string, cuts: (bytes: Uint8Array) => number[]) {
  const bytes = utf8.encode(text);
  const whole = readDataText(name, text);
  const progress: number[] = [];
  const streamed = await readDataStream(name, streamOf(bytes, cuts(bytes)), (b) => progress.push(b));
  return { whole, streamed, progress, bytes };
}

describe('readDataStream', () => {
  it('reads a multi-MB CSV cut at awkward places exactly as the whole-text parser', async () => {
    const text = bigCsv(70_000);
    const { whole, streamed, progress, bytes } = await both('big.csv', text, (b) => [
      ...offsetsOf(b, '\r\n', 1, 300), // between \r and \n (record ends and inside quoted fields)
      ...offsetsOf(b, '""', 1, 300), // between the two quotes of an escaped quote
      ...offsetsOf(b, '",', 1, 300), // right after a closing quote
      ...offsetsOf(b, 'é', 1, 300), // inside a 2-byte character
      ...offsetsOf(b, '漢', 2, 300), // inside a 3-byte character
      ...offsetsOf(b, '😀', 3, 300), // inside a 4-byte character
      1, // inside the BOM
      ...Array.from({ length: 40 }, (_, i) => 1 + i * 65_536), // and evenly, like a File's stream
    ]);
    expect(bytes.length).toBeGreaterThan(2_000_000);
    expect(streamed.rows).toHaveLength(70_000);
    expect(streamed).toEqual(whole);
    expect(progress.length).toBeGreaterThan(1000);
    expect(progress.at(-1)).toBe(bytes.length);
  });

  it('one byte at a time gives the same rows (CSV, TSV, JSONL)', async () => {
    const inputs: [string, string][] = [
      ['a.csv', bigCsv(60)],
      ['a.tsv', 'sentence\tlabel\r\nça va\t1\r\n"quoted\t0\r\n\r\n日本\t1'],
      ['a.jsonl', '{"text":"é","label":0}\r\n\n{"text":"😀","label":1}'],
    ];
    for (const [name, text] of inputs) {
      const { whole, streamed } = await both(name, text, (b) =>
        Array.from({ length: b.length }, (_, i) => i),
      );
      expect(streamed, name).toEqual(whole);
    }
  });

  it('reports the same error, with line and column, as the whole-text parser', async () => {
    const text = bigCsv(500).replace('"plain 496"', '"plain 496"x');
    const bytes = utf8.encode(text);
    const message = (() => {
      try {
        readDataText('bad.csv', text);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/^bad\.csv:\d+: column 12: unexpected character 'x' after a closing quote$/);
    const cuts = offsetsOf(bytes, 'x', 0, 5);
    await expect(readDataStream('bad.csv', streamOf(bytes, cuts))).rejects.toBeInstanceOf(DataError);
    await expect(readDataStream('bad.csv', streamOf(bytes, cuts))).rejects.toThrow(message);
  });

  it('an empty stream is an empty file', async () => {
    await expect(readDataStream('e.tsv', streamOf(new Uint8Array(0), []))).rejects.toThrow(
      'e.tsv:1: empty file',
    );
  });
});

/**
 * Parses a user's labelled data file into examples:
 *   .csv   header `sentence,label` or `sentence1,sentence2,label`; RFC 4180 quoting ("a, ""b""" and
 *          newlines inside quotes)
 *   .tsv   the same headers, tab-separated, no quoting (GLUE style: quotes are ordinary characters)
 *   .jsonl one object per line: {"text": ..., "text_pair"?: ..., "label": ...}
 * Labels are strings or integers. If the distinct labels are exactly the integers 0..n-1 they are kept
 * as ids; otherwise ids follow the order of first appearance. Every problem throws an Error whose message
 * is one line `FILE:LINE: problem`.
 */
import type { Example } from './dataset.ts';

export interface ParsedData {
  /** Label names; `Example.label` indexes this. */
  labels: string[];
  examples: Example[];
}

interface RawRow {
  line: number;
  text: string;
  textPair?: string;
  label: string;
}

const HEADERS = { single: ['sentence', 'label'], pair: ['sentence1', 'sentence2', 'label'] };

class DataError extends Error {
  constructor(file: string, line: number, problem: string) {
    super(`${file}:${line}: ${problem}`.replace(/[\r\n]+/g, ' '));
  }
}

/** A value quoted for a one-line message, shortened. */
function quote(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return `'${one.length > 40 ? `${one.slice(0, 37)}...` : one}'`;
}

/** Splits delimited text into records of fields, each with the 1-based line it starts on. */
function splitRecords(
  file: string,
  content: string,
  delimiter: string,
  quoting: boolean,
): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  let line = 1;
  let i = 0;
  const n = content.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let atFieldStart = true;
    for (;;) {
      if (i >= n) {
        fields.push(field);
        break;
      }
      const ch = content[i] as string;
      if (quoting && atFieldStart && ch === '"') {
        // Quoted field: runs to the closing quote; "" is a literal quote.
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new DataError(file, quoteLine, 'unterminated quoted field');
          const c = content[i] as string;
          if (c === '"') {
            if (content[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        const next = content[i];
        if (next !== undefined && next !== delimiter && next !== '\n' && next !== '\r') {
          throw new DataError(file, line, `unexpected character ${quote(next)} after a closing quote`);
        }
        atFieldStart = false;
        continue;
      }
      if (ch === delimiter) {
        fields.push(field);
        field = '';
        atFieldStart = true;
        i++;
        continue;
      }
      if (ch === '\n' || ch === '\r') {
        fields.push(field);
        i += ch === '\r' && content[i + 1] === '\n' ? 2 : 1;
        line++;
        break;
      }
      field += ch;
      atFieldStart = false;
      i++;
    }
    // Blank lines (including a trailing newline) are not records.
    if (!(fields.length === 1 && (fields[0] as string).trim() === '')) records.push({ line: start, fields });
  }
  return records;
}

function parseDelimited(file: string, content: string, delimiter: string, quoting: boolean): RawRow[] {
  const records = splitRecords(file, content, delimiter, quoting);
  const header = records[0];
  if (header === undefined) throw new DataError(file, 1, 'empty file');
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const pair = names.join(',') === HEADERS.pair.join(',');
  if (!pair && names.join(',') !== HEADERS.single.join(',')) {
    throw new DataError(
      file,
      header.line,
      `header must be sentence,label or sentence1,sentence2,label, got ${quote(header.fields.join(','))}`,
    );
  }
  const expected = pair ? HEADERS.pair : HEADERS.single;
  if (records.length === 1) throw new DataError(file, header.line + 1, 'no data rows after the header');
  return records.slice(1).map(({ line, fields }) => {
    if (fields.length !== expected.length) {
      throw new DataError(
        file,
        line,
        `expected ${expected.length} fields (${expected.join(',')}), got ${fields.length}`,
      );
    }
    const text = fields[0] as string;
    const label = (fields[fields.length - 1] as string).trim();
    if (text.trim() === '') throw new DataError(file, line, `empty ${expected[0]}`);
    if (label === '') throw new DataError(file, line, 'empty label');
    return pair ? { line, text, textPair: fields[1] as string, label } : { line, text, label };
  });
}

function parseJsonl(file: string, content: string): RawRow[] {
  const rows: RawRow[] = [];
  let firstHasPair: boolean | undefined;
  content.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const src = raw.trim();
    if (src === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(src);
    } catch {
      throw new DataError(file, line, 'invalid JSON');
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new DataError(file, line, 'expected a JSON object {"text", "text_pair"?, "label"}');
    }
    const rec = obj as Record<string, unknown>;
    const { text, text_pair: textPair, label } = rec;
    if (!('text' in rec)) throw new DataError(file, line, "missing field 'text'");
    if (typeof text !== 'string') throw new DataError(file, line, "field 'text' must be a string");
    if (text.trim() === '') throw new DataError(file, line, "empty field 'text'");
    if (textPair !== undefined && textPair !== null && typeof textPair !== 'string') {
      throw new DataError(file, line, "field 'text_pair' must be a string");
    }
    if (!('label' in rec)) throw new DataError(file, line, "missing field 'label'");
    let labelText: string;
    if (typeof label === 'string' && label.trim() !== '') labelText = label.trim();
    else if (typeof label === 'number' && Number.isInteger(label)) labelText = String(label);
    else throw new DataError(file, line, `field 'label' must be a non-empty string or an integer`);
    const hasPair = typeof textPair === 'string';
    if (firstHasPair === undefined) firstHasPair = hasPair;
    else if (hasPair !== firstHasPair) {
      throw new DataError(
        file,
        line,
        hasPair ? "unexpected field 'text_pair' (earlier rows have none)" : "missing field 'text_pair'",
      );
    }
    rows.push(hasPair ? { line, text, textPair, label: labelText } : { line, text, label: labelText });
  });
  return rows;
}

/** Label ids: kept when the labels are exactly the integers 0..n-1, else order of first appearance. */
function labelIds(file: string, rows: readonly RawRow[]): { labels: string[]; ids: number[] } {
  const first = rows[0];
  if (first === undefined) throw new DataError(file, 1, 'no data rows');
  const seen: string[] = [];
  for (const r of rows) if (!seen.includes(r.label)) seen.push(r.label);
  if (seen.length < 2) {
    throw new DataError(file, first.line, `only one label class (${quote(first.label)}); need at least 2`);
  }
  const asInts = [...seen].sort((a, b) => Number(a) - Number(b));
  if (asInts.every((l, i) => l === String(i))) {
    return { labels: asInts, ids: rows.map((r) => Number(r.label)) };
  }
  return { labels: seen, ids: rows.map((r) => seen.indexOf(r.label)) };
}

/** Parses a `.csv`, `.tsv` or `.jsonl` data file (see the file comment for the formats). */
export function parseDataFile(fileName: string, content: string): ParsedData {
  const file = fileName.replace(/^.*[\\/]/, '');
  const body = content.replace(/^\ufeff/, '');
  if (body.trim() === '') throw new DataError(file, 1, 'empty file');
  const ext = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase();
  let rows: RawRow[];
  if (ext === 'csv') rows = parseDelimited(file, body, ',', true);
  else if (ext === 'tsv') rows = parseDelimited(file, body, '\t', false);
  else if (ext === 'jsonl') rows = parseJsonl(file, body);
  else throw new DataError(file, 1, 'unsupported file type (expected .csv, .tsv or .jsonl)');
  const { labels, ids } = labelIds(file, rows);
  const examples = rows.map((r, i): Example => {
    const label = ids[i] as number;
    return r.textPair === undefined ? { text: r.text, label } : { text: r.text, textPair: r.textPair, label };
  });
  return { labels, examples };
}

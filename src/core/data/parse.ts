/**
 * Parses a user's labelled data file into examples (layouts and rules: docs/data-formats.md):
 *   .csv   a header naming a text column (or two) and a label column; RFC 4180 quoting ("a, ""b""" and
 *          newlines inside quotes)
 *   .tsv   the same headers, tab-separated, no quoting (GLUE style: quotes are ordinary characters), and the
 *          GLUE layouts: SST-2, CoLA (no header), MRPC, QNLI, QQP, RTE, WNLI, MNLI, STS-B
 *   .jsonl one object per line: {"text": ..., "text_pair"?: ..., "label": ...}
 * Classification labels are strings or integers: if the distinct labels are exactly the integers 0..n-1
 * they are kept as ids, otherwise ids follow the order of first appearance. Regression (numeric targets) is
 * chosen by `problemType` or detected (`detectProblemType`). Every problem throws a `DataError` whose message
 * is one line `FILE:LINE: problem`, or `FILE:LINE: column C: problem` where the reader knows the column.
 *
 * One incremental reader (`DataReader`: `push` text chunks, then `end`) serves the whole-text parser and the
 * streaming one, so the two cannot disagree; `readDataStream` feeds it from bytes (UTF-8, any chunking).
 */
import type { ProblemType } from '../config.ts';
import type { Example } from './dataset.ts';

export type { ProblemType };

export interface ParsedData {
  /** Label names; `Example.label` indexes this. Regression: `['LABEL_0']` (HF's default id2label). */
  labels: string[];
  examples: Example[];
  /** Absent: classification. */
  problemType?: 'regression';
}

export interface ParseOptions {
  /** Forces the problem type; absent: detected from the label column (`detectProblemType`). */
  problemType?: ProblemType;
}

/** One data row before labels get ids: where it came from, its texts and its label text. */
export interface RawRow {
  line: number;
  /** Column (1-based, UTF-16 units) where the label field starts. */
  labelColumn: number;
  text: string;
  textPair?: string;
  label: string;
}

/** The rows of one file, with the layout that was recognised. */
export interface RawTable {
  file: string;
  /** e.g. `sentence,label`, `glue-cola`, `glue-stsb`, `jsonl`. */
  layout: string;
  /** The label column's name (STS-B's `score` implies regression). */
  labelName: string;
  rows: RawRow[];
}

/** A malformed input: one line naming file, line and (when known) column. */
export class DataError extends Error {
  constructor(file: string, line: number, problem: string, column?: number) {
    const at = column === undefined ? `${file}:${line}` : `${file}:${line}: column ${column}`;
    super(`${at}: ${problem}`.replace(/[\r\n]+/g, ' '));
    this.name = 'DataError';
  }
}

/** A value quoted for a one-line message, shortened. */
function quote(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return `'${one.length > 40 ? `${one.slice(0, 37)}...` : one}'`;
}

/** The file's base name, as messages show it. */
export function baseName(fileName: string): string {
  return fileName.replace(/^.*[\\/]/, '');
}

interface DelimRecord {
  line: number;
  fields: string[];
  /** 1-based start column of each field. */
  columns: number[];
}

/**
 * Splits delimited text into records incrementally: a state machine over characters, so a chunk may end
 * anywhere (inside quotes, between `\r` and `\n`, between a closing quote and the next one).
 */
class RecordSplitter {
  private line = 1;
  private col = 1;
  private fields: string[] = [];
  private columns: number[] = [];
  private field = '';
  private recordLine = 1;
  /** 'start': at a field's start; 'plain': in an unquoted field; 'quoted'; 'quote': a quote inside quotes;
   *  'closed': after a closing quote; 'cr': just after a record-ending `\r` (a following `\n` is skipped). */
  private state: 'start' | 'plain' | 'quoted' | 'quote' | 'closed' | 'cr' = 'start';
  private quoteLine = 1;
  private quoteCol = 1;
  private fresh = true;

  constructor(
    private readonly file: string,
    private readonly delimiter: string,
    private readonly quoting: boolean,
    private readonly onRecord: (r: DelimRecord) => void,
  ) {}

  push(text: string): void {
    for (let i = 0; i < text.length; i++) this.char(text[i] as string);
  }

  end(): void {
    if (this.state === 'quoted') {
      throw new DataError(this.file, this.quoteLine, 'unterminated quoted field', this.quoteCol);
    }
    if (this.state !== 'cr' && !(this.fresh && this.state === 'start')) this.finishRecord();
  }

  private startFieldAt(): void {
    if (this.fresh) {
      this.fresh = false;
      this.recordLine = this.line;
    }
    this.columns.push(this.col);
  }

  private finishField(): void {
    this.fields.push(this.field);
    this.field = '';
  }

  private finishRecord(): void {
    if (this.columns.length === this.fields.length) this.columns.push(this.col);
    this.finishField();
    const rec = { line: this.recordLine, fields: this.fields, columns: this.columns };
    this.fields = [];
    this.columns = [];
    this.fresh = true;
    // Blank lines (including a trailing newline) are not records.
    if (!(rec.fields.length === 1 && (rec.fields[0] as string).trim() === '')) this.onRecord(rec);
  }

  private newline(ch: string): void {
    this.finishRecord();
    this.line++;
    this.col = 1;
    this.state = ch === '\r' ? 'cr' : 'start';
  }

  private char(ch: string): void {
    switch (this.state) {
      case 'cr':
        this.state = 'start';
        if (ch === '\n') return; // the \n of a \r\n pair
        this.char(ch);
        return;
      case 'quoted':
        if (ch === '"') {
          this.state = 'quote';
        } else {
          this.field += ch;
          if (ch === '\n') {
            this.line++;
            this.col = 0;
          }
        }
        this.col++;
        return;
      case 'quote':
        if (ch === '"') {
          this.field += '"'; // "" inside quotes is a literal quote
          this.state = 'quoted';
          this.col++;
          return;
        }
        this.state = 'closed';
        this.char(ch);
        return;
      case 'closed':
        if (ch !== this.delimiter && ch !== '\n' && ch !== '\r') {
          throw new DataError(
            this.file,
            this.line,
            `unexpected character ${quote(ch)} after a closing quote`,
            this.col,
          );
        }
        this.state = 'plain';
        this.char(ch);
        return;
      case 'start':
        this.startFieldAt();
        if (this.quoting && ch === '"') {
          this.state = 'quoted';
          this.quoteLine = this.line;
          this.quoteCol = this.col;
          this.col++;
          return;
        }
        this.state = 'plain';
        this.char(ch);
        return;
      case 'plain':
        if (ch === this.delimiter) {
          this.finishField();
          this.col++;
          this.state = 'start';
          return;
        }
        if (ch === '\n' || ch === '\r') {
          this.newline(ch);
          return;
        }
        this.field += ch;
        this.col++;
        return;
    }
  }
}

/** Where a layout finds its columns. */
interface Layout {
  name: string;
  header: boolean;
  width: number;
  text: number;
  pair?: number;
  label: number;
  labelName: string;
  names: string[];
}

/** Text columns, in the order they are tried: a sentence pair first, then a single sentence. */
const TEXT_COLUMNS: readonly (readonly [string, string?])[] = [
  ['sentence1', 'sentence2'], // RTE, WNLI, MNLI, STS-B, and our own pair header
  ['question', 'sentence'], // QNLI
  ['question1', 'question2'], // QQP
  ['#1 string', '#2 string'], // MRPC
  ['sentence'], // SST-2, and our own single header
  ['text', 'text_pair'],
  ['text'],
];
/** Label columns, in the order they are tried. */
const LABEL_COLUMNS = ['label', 'gold_label', 'score', 'quality', 'is_duplicate'] as const;

/** The layout of a header row, or a one-line reason there is none. */
function layoutFromHeader(names: readonly string[]): Layout | string {
  const at = (n: string | undefined) => (n === undefined ? -1 : names.indexOf(n));
  const texts = TEXT_COLUMNS.find(([a, b]) => at(a) >= 0 && (b === undefined || at(b) >= 0));
  if (texts === undefined) {
    return 'header must name a text column (sentence, or sentence1 and sentence2; see docs/data-formats.md) and a label column';
  }
  const labelName = LABEL_COLUMNS.find((n) => at(n) >= 0);
  if (labelName === undefined) {
    return `no label column (${LABEL_COLUMNS.join(', ')}): a GLUE test file has no labels; use its train or dev file`;
  }
  const [a, b] = texts;
  const layout: Layout = {
    name: names.join(','),
    header: true,
    width: names.length,
    text: at(a),
    label: at(labelName),
    labelName,
    names: [...names],
  };
  if (b !== undefined) layout.pair = at(b);
  return layout;
}

/** CoLA's headerless `source, label, original_label, sentence` rows: 4 fields, an integer label, `*` or ''. */
function colaLayout(fields: readonly string[]): Layout | null {
  if (fields.length !== 4 || !/^\d+$/.test((fields[1] as string).trim())) return null;
  if (!['', '*'].includes((fields[2] as string).trim())) return null;
  const names = ['source', 'label', 'original_label', 'sentence'];
  return { name: 'glue-cola', header: false, width: 4, text: 3, label: 1, labelName: 'label', names };
}

/** Reads delimited records into raw rows, recognising the layout on the first record. */
class DelimitedRows {
  layout: Layout | null = null;
  readonly rows: RawRow[] = [];
  private headerLine = 0;
  private readonly splitter: RecordSplitter;

  constructor(
    private readonly file: string,
    delimiter: string,
    quoting: boolean,
  ) {
    this.splitter = new RecordSplitter(file, delimiter, quoting, (r) => this.record(r));
  }

  push(text: string): void {
    this.splitter.push(text);
  }

  end(): RawTable {
    this.splitter.end();
    if (this.layout === null) throw new DataError(this.file, 1, 'empty file');
    if (this.rows.length === 0) {
      throw new DataError(this.file, this.headerLine + 1, 'no data rows after the header');
    }
    return { file: this.file, layout: this.layout.name, labelName: this.layout.labelName, rows: this.rows };
  }

  private record(r: DelimRecord): void {
    if (this.layout === null) {
      this.headerLine = r.line;
      const cola = this.delimiterIsTab() ? colaLayout(r.fields) : null;
      if (cola !== null) this.layout = cola;
      else {
        const found = layoutFromHeader(r.fields.map((f) => f.trim().toLowerCase()));
        if (typeof found === 'string') {
          throw new DataError(this.file, r.line, `${found}, got ${quote(r.fields.join(','))}`);
        }
        this.layout = found;
        return;
      }
    }
    this.rows.push(this.row(this.layout, r));
  }

  private delimiterIsTab(): boolean {
    return /\.tsv$/i.test(this.file);
  }

  private row(layout: Layout, { line, fields, columns }: DelimRecord): RawRow {
    if (fields.length !== layout.width) {
      throw new DataError(
        this.file,
        line,
        `expected ${layout.width} fields (${layout.names.join(',')}), got ${fields.length}`,
      );
    }
    const text = fields[layout.text] as string;
    const label = (fields[layout.label] as string).trim();
    const labelColumn = columns[layout.label] as number;
    if (text.trim() === '') {
      throw new DataError(this.file, line, `empty ${layout.names[layout.text]}`, columns[layout.text]);
    }
    if (label === '') throw new DataError(this.file, line, 'empty label', labelColumn);
    if (layout.pair === undefined) return { line, labelColumn, text, label };
    return { line, labelColumn, text, textPair: fields[layout.pair] as string, label };
  }
}

/** The column (1-based) a JSON.parse error points at, when its message says (V8: "at position N"). */
function jsonErrorColumn(e: unknown, indent: number): number | undefined {
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : '');
  return m ? indent + Number(m[1]) + 1 : undefined;
}

/** Reads JSONL lines into raw rows, incrementally. */
class JsonlRows {
  readonly rows: RawRow[] = [];
  private pending = '';
  private line = 0;
  private firstHasPair: boolean | undefined;

  constructor(private readonly file: string) {}

  push(text: string): void {
    const parts = (this.pending + text).split('\n');
    this.pending = parts.pop() as string;
    for (const p of parts) this.lineText(p);
  }

  end(): RawTable {
    this.lineText(this.pending);
    this.pending = '';
    const first = this.rows[0];
    if (first === undefined) throw new DataError(this.file, 1, 'no data rows');
    return { file: this.file, layout: 'jsonl', labelName: 'label', rows: this.rows };
  }

  private lineText(raw: string): void {
    this.line++;
    const line = this.line;
    const file = this.file;
    const src = raw.trim();
    if (src === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(src);
    } catch (e) {
      throw new DataError(
        file,
        line,
        'invalid JSON',
        jsonErrorColumn(e, raw.length - raw.trimStart().length),
      );
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
    else if (typeof label === 'number' && Number.isFinite(label)) labelText = String(label);
    else throw new DataError(file, line, `field 'label' must be a non-empty string or a finite number`);
    const hasPair = typeof textPair === 'string';
    if (this.firstHasPair === undefined) this.firstHasPair = hasPair;
    else if (hasPair !== this.firstHasPair) {
      throw new DataError(
        file,
        line,
        hasPair ? "unexpected field 'text_pair' (earlier rows have none)" : "missing field 'text_pair'",
      );
    }
    const row: RawRow = { line, labelColumn: 1, text, label: labelText };
    if (hasPair) row.textPair = textPair;
    this.rows.push(row);
  }
}

/**
 * The incremental reader of one data file: `push` text in chunks of any size, then `end` for the rows.
 * A leading BOM is dropped. Throws `DataError` as soon as a malformed record is complete.
 */
export class DataReader {
  private readonly inner: DelimitedRows | JsonlRows;
  private started = false;
  private nonBlank = false;

  constructor(fileName: string) {
    const file = baseName(fileName);
    this.file = file;
    const ext = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase();
    if (ext === 'csv') this.inner = new DelimitedRows(file, ',', true);
    else if (ext === 'tsv') this.inner = new DelimitedRows(file, '\t', false);
    else if (ext === 'jsonl') this.inner = new JsonlRows(file);
    else throw new DataError(file, 1, 'unsupported file type (expected .csv, .tsv or .jsonl)');
  }

  readonly file: string;

  /** Rows read so far. */
  get rowCount(): number {
    return this.inner.rows.length;
  }

  push(text: string): void {
    let t = text;
    if (!this.started && t.length > 0) {
      this.started = true;
      if (t.startsWith('\ufeff')) t = t.slice(1);
    }
    if (!this.nonBlank && t.trim() !== '') this.nonBlank = true;
    this.inner.push(t);
  }

  end(): RawTable {
    if (!this.nonBlank) throw new DataError(this.file, 1, 'empty file');
    return this.inner.end();
  }
}

/** The raw rows of a whole text (a `DataReader` fed once). */
export function readDataText(fileName: string, content: string): RawTable {
  const r = new DataReader(fileName);
  r.push(content);
  return r.end();
}

/** What `readDataStream` needs of a `ReadableStream<Uint8Array>` (core compiles without the DOM lib). */
export interface ByteStream {
  getReader(): {
    read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
    releaseLock(): void;
  };
}

/**
 * Reads a byte stream (a File's `stream()`) through a `DataReader`: UTF-8 decoded incrementally, so a
 * chunk may end inside a multi-byte character. `onProgress` gets the bytes read so far after each chunk.
 * Memory stays near the rows' size: no chunk is kept once it is read.
 */
export async function readDataStream(
  fileName: string,
  stream: ByteStream,
  onProgress?: (bytesRead: number, rows: number) => void,
): Promise<RawTable> {
  const reader = new DataReader(fileName);
  const decoder = new TextDecoder('utf-8');
  const source = stream.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await source.read();
      if (done) break;
      if (value === undefined) continue;
      bytes += value.byteLength;
      reader.push(decoder.decode(value, { stream: true }));
      onProgress?.(bytes, reader.rowCount);
    }
  } finally {
    source.releaseLock();
  }
  reader.push(decoder.decode());
  return reader.end();
}

const INTEGER = /^-?\d+$/;

/**
 * Regression when forced, when the label column is STS-B's `score`, or when every label is a finite number
 * and at least one is not an integer literal (so `0`/`1` stay class ids and `3.8` makes a target).
 */
export function detectProblemType(table: RawTable, forced?: ProblemType): ProblemType {
  if (forced !== undefined) return forced;
  if (table.labelName === 'score') return 'regression';
  let sawFraction = false;
  for (const r of table.rows) {
    if (!isNumeric(r.label)) return 'classification';
    if (!INTEGER.test(r.label)) sawFraction = true;
  }
  return sawFraction ? 'regression' : 'classification';
}

function isNumeric(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

/** Label names and ids of classification rows: 0..n-1 integers kept, else order of first appearance. */
function classLabels(table: RawTable): string[] {
  const first = table.rows[0];
  if (first === undefined) throw new DataError(table.file, 1, 'no data rows');
  const seen = new Set<string>();
  for (const r of table.rows) seen.add(r.label);
  const names = [...seen];
  if (names.length < 2) {
    throw new DataError(
      table.file,
      first.line,
      `only one label class (${quote(first.label)}); need at least 2`,
    );
  }
  const asInts = [...names].sort((a, b) => Number(a) - Number(b));
  return asInts.every((l, i) => l === String(i)) ? asInts : names;
}

function toExamples(table: RawTable, labelOf: (r: RawRow) => number): Example[] {
  return table.rows.map((r): Example => {
    const label = labelOf(r);
    return r.textPair === undefined ? { text: r.text, label } : { text: r.text, textPair: r.textPair, label };
  });
}

function regressionTarget(table: RawTable, r: RawRow): number {
  if (!isNumeric(r.label)) {
    throw new DataError(
      table.file,
      r.line,
      `regression label ${quote(r.label)} is not a number`,
      r.labelColumn,
    );
  }
  return Number(r.label);
}

/**
 * Examples of a training table and, optionally, a dev table read with the same label names (a dev label the
 * training file lacks is an error naming the dev file's line). The problem type comes from the training file.
 */
export function tablesToData(
  train: RawTable,
  dev: RawTable | null,
  options: ParseOptions = {},
): { data: ParsedData; dev: Example[] | null } {
  const problem = detectProblemType(train, options.problemType);
  if (problem === 'regression') {
    const examples = toExamples(train, (r) => regressionTarget(train, r));
    const devExamples = dev === null ? null : toExamples(dev, (r) => regressionTarget(dev, r));
    return { data: { labels: ['LABEL_0'], examples, problemType: 'regression' }, dev: devExamples };
  }
  const labels = classLabels(train);
  const ids = new Map(labels.map((l, i) => [l, i]));
  const examples = toExamples(train, (r) => ids.get(r.label) as number);
  const devExamples =
    dev === null
      ? null
      : toExamples(dev, (r) => {
          const id = ids.get(r.label);
          if (id === undefined) {
            throw new DataError(
              dev.file,
              r.line,
              `label ${quote(r.label)} does not occur in the training file ${train.file}`,
              r.labelColumn,
            );
          }
          return id;
        });
  return { data: { labels, examples }, dev: devExamples };
}

/** Parses a `.csv`, `.tsv` or `.jsonl` data file (see the file comment for the formats). */
export function parseDataFile(fileName: string, content: string, options: ParseOptions = {}): ParsedData {
  return tablesToData(readDataText(fileName, content), null, options).data;
}

/**
 * A metrics.jsonl from elsewhere (the exported PyTorch script, or `alum train`), drawn over the page's own
 * charts as a second, labelled series per metric. One JSON object per line with the page's metric names
 * (src/core/metrics.ts); a bad line is refused with one line `FILE:LINE: problem`, and nothing is shown.
 */
import { METRIC_COLUMNS } from './coreConfig.ts';
import type { MetricRow } from '../protocol/messages.ts';
import { appStore } from './store/store.ts';

/** An imported metrics file: its name (the series' label) and its rows, by increasing step. */
export interface MetricsOverlay {
  name: string;
  rows: MetricRow[];
}

const KNOWN: ReadonlySet<string> = new Set(METRIC_COLUMNS);
/** What every row must have: the step and the clean task loss. */
const REQUIRED = ['step', 'taskLoss'] as const;

function fail(file: string, line: number, problem: string): never {
  throw new Error(`${file}:${line}: ${problem}`);
}

/** One line's row, checked: known names only, finite numbers (null: not measured), a positive integer step. */
function parseRow(file: string, line: number, text: string): MetricRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail(file, line, 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(file, line, 'expected a JSON object of metrics');
  }
  const row: Record<string, number> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!KNOWN.has(key)) fail(file, line, `unknown metric '${key}' (known: ${METRIC_COLUMNS.join(', ')})`);
    if (v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      fail(file, line, `'${key}' must be a finite number, got ${JSON.stringify(v)}`);
    }
    row[key] = v;
  }
  for (const key of REQUIRED) if (row[key] === undefined) fail(file, line, `missing '${key}'`);
  const step = row['step'] as number;
  if (!Number.isInteger(step) || step < 1) fail(file, line, `'step' must be a positive integer, got ${step}`);
  return row as unknown as MetricRow;
}

/** The rows of a metrics.jsonl; blank lines are skipped, steps must increase. */
export function parseMetricsJsonl(fileName: string, text: string): MetricRow[] {
  const file = fileName.replace(/^.*[\\/]/, '');
  const rows: MetricRow[] = [];
  text
    .replace(/^\ufeff/, '')
    .split('\n')
    .forEach((raw, i) => {
      const t = raw.trim();
      if (t === '') return;
      const row = parseRow(file, i + 1, t);
      const last = rows[rows.length - 1];
      if (last !== undefined && row.step <= last.step) {
        fail(file, i + 1, `step ${row.step} does not follow step ${last.step}`);
      }
      rows.push(row);
    });
  if (rows.length === 0) fail(file, 1, 'no metric rows');
  return rows;
}

/** Parses the file and shows it over the charts; a bad file throws its one-line error and changes nothing. */
export function importMetrics(name: string, text: string): MetricsOverlay {
  const overlay = { name: name.replace(/^.*[\\/]/, ''), rows: parseMetricsJsonl(name, text) };
  appStore.setState({ overlay });
  return overlay;
}

export function clearImportedMetrics(): void {
  appStore.setState({ overlay: null });
}

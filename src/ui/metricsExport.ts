/**
 * The active run's metric rows as text files: JSONL (one row per line, as `alum train` writes
 * metrics.jsonl) and CSV (the METRIC_COLUMNS header; an empty cell where a row has no value, e.g. devAccuracy
 * on rows without an evaluation). Pure functions of the rows.
 */
import type { MetricRow } from '../protocol/messages.ts';
import { METRIC_COLUMNS, type TrainConfig } from './coreConfig.ts';
import type { ConfigChange } from './store/store.ts';

export type MetricsFormat = 'csv' | 'jsonl';

export function metricsToJsonl(rows: readonly MetricRow[]): string {
  return rows.map((r) => JSON.stringify(r) + '\n').join('');
}

export function metricsToCsv(rows: readonly MetricRow[]): string {
  const header = METRIC_COLUMNS.join(',');
  const lines = rows.map((r) =>
    METRIC_COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(','),
  );
  return [header, ...lines].join('\n') + '\n';
}

export function formatMetrics(rows: readonly MetricRow[], format: MetricsFormat): string {
  return format === 'csv' ? metricsToCsv(rows) : metricsToJsonl(rows);
}

/** A run as the all-runs exports write it. */
export interface ExportedRun {
  name: string;
  config: TrainConfig;
  changes: readonly ConfigChange[];
  metrics: readonly MetricRow[];
}

/**
 * Several runs' rows in one file. CSV: a leading `run` column (the run's name, quoted) then METRIC_COLUMNS,
 * one line per row of each run. JSON: `{ runs: [{ name, config, changes, metrics }] }`, with each run's
 * config at its start and its mid-run setting changes (`{ step, changed }`: from the step after `step`).
 */
export function formatRunsMetrics(runs: readonly ExportedRun[], format: 'csv' | 'json'): string {
  if (format === 'json') {
    const out = runs.map(({ name, config, changes, metrics }) => ({ name, config, changes, metrics }));
    return JSON.stringify({ runs: out }, null, 1) + '\n';
  }
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const lines = runs.flatMap((r) =>
    r.metrics.map((row) => [quote(r.name), ...METRIC_COLUMNS.map((c) => cell(row[c]))].join(',')),
  );
  return [['run', ...METRIC_COLUMNS].join(','), ...lines].join('\n') + '\n';
}

function cell(v: number | undefined): string {
  return v === undefined ? '' : String(v);
}

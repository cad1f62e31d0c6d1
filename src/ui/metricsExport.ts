/**
 * The active run's metric rows as text files: JSONL (one row per line, as `alum train` writes
 * metrics.jsonl) and CSV (the METRIC_COLUMNS header; an empty cell where a row has no value, e.g. devAccuracy
 * on rows without an evaluation). Pure functions of the rows.
 */
import type { MetricRow } from '../protocol/messages.ts';
import { METRIC_COLUMNS } from './coreConfig.ts';

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

/** Metric-row helpers for tests that compare two runs' rows. */
import type { MetricRow } from '../../src/core/metrics.ts';

/** A row without its wall-clock timings (`ms`, `trainMs`, `evalMs`): the fields no two runs share. */
export function withoutTimings({
  ms: _ms,
  trainMs: _train,
  evalMs: _eval,
  ...row
}: MetricRow): Omit<MetricRow, 'ms' | 'trainMs' | 'evalMs'> {
  return row;
}

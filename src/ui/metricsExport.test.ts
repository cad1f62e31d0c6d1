// Metric rows out of the page: CSV with the METRIC_COLUMNS header, JSONL that parses back to the rows.
import { describe, expect, it } from 'vitest';

import type { MetricRow } from '../protocol/messages.ts';
import { METRIC_COLUMNS } from './coreConfig.ts';
import { metricsToCsv, metricsToJsonl } from './metricsExport.ts';

const row = (step: number, devAccuracy?: number): MetricRow => ({
  ...{ step, taskLoss: 0.5, advLoss: 1e-3, totalLoss: 0.501, innerGradNorm: 2e-6, deltaLinf: 0.01 },
  ...{ deltaL2: 0.04, embedAbsMean: 0.8, effPerturb: 0.003, klInit: 3e-9, klAdv: 1.2e-5, dropoutKl: 0 },
  ...{ skipped: 0, ms: 120, lr: 1e-3 },
  ...(devAccuracy === undefined ? {} : { devAccuracy }),
});

describe('metrics export', () => {
  it('CSV: the column header, one line per row, an empty cell where a row has no value', () => {
    const lines = metricsToCsv([row(1), row(2, 0.75)])
      .trimEnd()
      .split('\n');
    expect(lines[0]).toBe(METRIC_COLUMNS.join(','));
    expect(lines).toHaveLength(3);
    const cells = (line: string): Record<string, string> =>
      Object.fromEntries(line.split(',').map((v, i) => [METRIC_COLUMNS[i] ?? '?', v]));
    expect(cells(lines[1] as string)).toMatchObject({ step: '1', klAdv: '0.000012', devAccuracy: '' });
    expect(cells(lines[2] as string)).toMatchObject({ step: '2', devAccuracy: '0.75' });
  });

  it('JSONL: one JSON object per line that parses back to the row', () => {
    const rows = [row(1), row(2, 0.5)];
    const parsed = metricsToJsonl(rows)
      .trimEnd()
      .split('\n')
      .map((l): MetricRow => JSON.parse(l) as MetricRow);
    expect(parsed).toEqual(rows);
  });
});

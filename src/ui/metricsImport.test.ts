// Importing a metrics.jsonl to draw over the charts: the rows of `alum train` / train_alum.py, and one line
// `FILE:LINE: problem` for every kind of bad line (nothing is imported then).
import { describe, expect, it } from 'vitest';

import { appStore } from './store/store.ts';
import { clearImportedMetrics, importMetrics, parseMetricsJsonl } from './metricsImport.ts';

const row = (step: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ step, taskLoss: 0.7, advLoss: 1e-3, totalLoss: 0.701, skipped: 0, lr: 1e-3, ...extra });

describe('parseMetricsJsonl', () => {
  it('reads the rows (null: not measured), skipping blank lines and a BOM', () => {
    const text = `\ufeff${row(1)}\n\n${row(2, { devAccuracy: 0.5, klInit: null })}\n`;
    const rows = parseMetricsJsonl('runs/torch/metrics.jsonl', text);
    expect(rows.map((r) => r.step)).toEqual([1, 2]);
    expect(rows[1]?.devAccuracy).toBe(0.5);
    expect(rows[1] && 'klInit' in rows[1]).toBe(false);
  });

  const bad: [string, string, string][] = [
    ['not JSON', `${row(1)}\n{oops`, 'm.jsonl:2: not valid JSON'],
    ['an array', '[1, 2]', 'm.jsonl:1: expected a JSON object of metrics'],
    ['an unknown name', row(1, { loss: 1 }), "m.jsonl:1: unknown metric 'loss' (known: step, "],
    ['a string value', row(1, { advLoss: '1' }), `m.jsonl:1: 'advLoss' must be a finite number, got "1"`],
    ['no task loss', '{"step": 1}', "m.jsonl:1: missing 'taskLoss'"],
    ['a fractional step', row(1.5), "m.jsonl:1: 'step' must be a positive integer, got 1.5"],
    ['steps out of order', `${row(2)}\n${row(2)}`, 'm.jsonl:2: step 2 does not follow step 2'],
    ['no rows', '\n\n', 'm.jsonl:1: no metric rows'],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with one line naming file and line`, () => {
      expect(() => parseMetricsJsonl('dir/m.jsonl', text)).toThrow(message);
      try {
        parseMetricsJsonl('dir/m.jsonl', text);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    });
  }
});

describe('importMetrics', () => {
  it('puts the rows in the store under the file name, and a bad file changes nothing', () => {
    importMetrics('x/cluster.jsonl', `${row(1)}\n${row(2)}\n`);
    expect(appStore.getState().overlay?.name).toBe('cluster.jsonl');
    expect(appStore.getState().overlay?.rows).toHaveLength(2);
    expect(() => importMetrics('bad.jsonl', '{')).toThrow('bad.jsonl:1: not valid JSON');
    expect(appStore.getState().overlay?.name).toBe('cluster.jsonl');
    clearImportedMetrics();
    expect(appStore.getState().overlay).toBeNull();
  });
});

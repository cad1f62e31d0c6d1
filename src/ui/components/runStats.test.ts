// Run accounting and warnings from metric rows: steps/s without the compile step and with evaluations, time
// left, the end-of-run summary, and when the page warns (the cases of issue 7).
import { describe, expect, it } from 'vitest';

import type { MetricRow } from '../../protocol/messages.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../coreConfig.ts';
import { formatDuration, runSummary, runWarnings, secondsLeft, stepsPerSecond } from './runStats.ts';

function row(step: number, extra: Partial<MetricRow> = {}): MetricRow {
  return {
    ...{
      step,
      taskLoss: 0.7 - step * 0.01,
      advLoss: 0.01,
      totalLoss: 0.71 - step * 0.01,
      innerGradNorm: 1e-3,
    },
    ...{ deltaLinf: 0.01, deltaL2: 0.05, embedAbsMean: 0.8, effPerturb: 1, klInit: 1e-7, klAdv: 1e-2 },
    ...{ dropoutKl: 0, skipped: 0, ms: 100, lr: 1e-3 },
    ...extra,
  };
}
const alum: TrainConfig = { ...DEFAULT_CONFIG, method: 'alum' };

describe('speed and time left', () => {
  it('leaves out step 1 (compilation) and counts a step that evaluates at its whole wall time', () => {
    const rows = [row(1, { ms: 5000 }), row(2), row(3, { ms: 300, trainMs: 100, evalMs: 200 }), row(4)];
    expect(stepsPerSecond(rows)).toBeCloseTo(3 / 0.5, 9); // 3 steps in 100 + 300 + 100 ms
    expect(stepsPerSecond([row(1, { ms: 5000 })])).toBeNull();
    expect(secondsLeft(rows, 4, 10)).toBeCloseTo(6 / 6, 9);
  });

  it('formats durations', () => {
    expect(formatDuration(5.4)).toBe('5 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(3720)).toBe('1 h 2 min');
  });
});

describe('run summary', () => {
  it('final and best dev accuracy, wall time of every row, skipped batches', () => {
    const rows = [
      row(1),
      row(2, { devAccuracy: 0.7 }),
      row(3, { devAccuracy: 0.9 }),
      row(4, { devAccuracy: 0.8, skipped: 2 }),
    ];
    expect(runSummary(rows)).toMatchObject({
      steps: 4,
      wallSeconds: 0.4,
      finalDev: 0.8,
      best: { step: 3, value: 0.9 },
      devMetric: 'devAccuracy',
      skipped: 2,
    });
  });
});

describe('warnings', () => {
  const kinds = (rows: MetricRow[], config = alum) => runWarnings(rows, config).map((w) => w.kind);

  it('none for a healthy ALUM run', () => {
    expect(kinds([row(1), row(2)])).toEqual([]);
  });

  it('a perturbation above the mean |embedding| (mtdnn-head at alpha 5: 0.957 against 0.81)', () => {
    expect(kinds([row(1), row(2, { deltaLinf: 0.957, embedAbsMean: 0.81 })])).toEqual(['big-delta']);
    expect(kinds([row(1), row(2, { deltaLinf: 0.8, embedAbsMean: 0.81 })])).toEqual([]);
  });

  it('a diverging loss (alpha 1000, eta 100: total 3,251) and a perturbation collapsed to 0', () => {
    const rows = [row(1), row(2, { totalLoss: 3251, deltaLinf: 0, deltaL2: 0 })];
    expect(kinds(rows)).toEqual(['diverging', 'collapsed']);
    expect(kinds([row(1), row(2, { totalLoss: NaN })])).toEqual(['diverging']);
  });

  it('skipped batches; a standard run has no delta to warn about', () => {
    expect(kinds([row(1), row(2, { skipped: 1 })])).toEqual(['skipped']);
    expect(kinds([row(1), row(2, { deltaLinf: 0 })], { ...DEFAULT_CONFIG, method: 'standard' })).toEqual([]);
  });

  it.each(['r3f', 'fgm', 'pgd', 'freelb', 'smart'] as const)(
    '%s: the perturbation warnings hold too, with what to change for that method',
    (method) => {
      const config = { ...DEFAULT_CONFIG, method };
      const big = runWarnings([row(1), row(2, { deltaLinf: 0.957, embedAbsMean: 0.81 })], config);
      expect(big.map((w) => w.kind)).toEqual(['big-delta']);
      expect(big[0]?.message).toContain(`(${method}: `);
      expect(kinds([row(1), row(2, { deltaLinf: 0 })], config)).toEqual(['collapsed']);
    },
  );

  it('names the settings each method reads: r3f its noise scale, freelb no alpha', () => {
    const msg = (method: TrainConfig['method'], extra: Partial<MetricRow>) =>
      runWarnings([row(1), row(2, extra)], { ...DEFAULT_CONFIG, method })
        .map((w) => w.message)
        .join(' ');
    expect(msg('r3f', { deltaLinf: 2, embedAbsMean: 0.8 })).toContain('lower sigma, the noise scale');
    expect(msg('fgm', { deltaLinf: 2, embedAbsMean: 0.8 })).toContain('lower epsilon');
    expect(msg('freelb', { totalLoss: 3251 })).toContain('(lower lr or eta)');
    expect(msg('freelb', { totalLoss: 3251 })).not.toContain('alpha');
    expect(msg('smart', { totalLoss: 3251 })).toContain('smartMu');
  });
});

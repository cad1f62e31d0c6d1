// The charts' data path, replaying a recorded worker session (test/fixtures/worker-messages/compare.json,
// recorded by src/worker/trainer-compare.test.ts): two runs on the same seed and data ('a': ALUM with a
// mid-run change of lr and alpha after step 3; 'b': standard), through the store's reducer into the columns
// uPlot draws. No DOM, no worker, no tfjs.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import type { FromWorker, MetricRow } from '../../protocol/messages.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../coreConfig.ts';
import { formatRunsMetrics } from '../metricsExport.ts';
import {
  initialState,
  reduceFromWorker,
  reduceResetRequested,
  reduceRunCreated,
  reduceRunDisposed,
  reduceRunHidden,
  runList,
  type AppState,
} from '../store/store.ts';
import {
  chartData,
  chartRuns,
  chartTable,
  IMPORTED_COLOR,
  LOG_FLOOR,
  RUN_COLORS,
  sharedStepRange,
  STEP_INCREMENTS,
  type SeriesSpec,
} from './chartData.ts';

const recorded = JSON.parse(
  readFileSync('test/fixtures/worker-messages/compare.json', 'utf8'),
) as FromWorker[];
const configOf = (runId: string): TrainConfig => {
  const m = recorded.find((x) => x.type === 'run-created' && x.info.runId === runId);
  if (m?.type !== 'run-created') throw new Error(`fixture: no run-created for ${runId}`);
  return m.info.config;
};

/** The page's state after the recorded session: run 'a' created first, then 'b' to compare with it. */
function replayed(): AppState {
  let s = reduceRunCreated(initialState(), 'a', configOf('a'));
  s = reduceRunCreated(s, 'b', configOf('b'), 'method=standard');
  return recorded.reduce(reduceFromWorker, s);
}

const LOSS: readonly SeriesSpec[] = [
  { label: 'total loss', color: '#009E73', dash: [6, 4], width: 1, value: (r) => r.totalLoss },
  { label: 'task loss', color: '#0072B2', width: 2.5, value: (r) => r.taskLoss },
];
const DELTA: SeriesSpec = { label: '‖δ‖∞', color: '#CC79A7', floorOnLog: true, value: (r) => r.deltaLinf };
const hasDev = (r: MetricRow) => r.devAccuracy !== undefined;

describe('chart data from a recorded compare session', () => {
  it('draws both runs, each in its stable colour and under its name', () => {
    const runs = chartRuns(replayed().runs, null);
    expect(runs.map((r) => [r.id, r.name, r.color])).toEqual([
      ['a', 'run 1', RUN_COLORS[0]],
      ['b', 'run 2: method=standard', RUN_COLORS[1]],
    ]);
    const data = chartData(runs, LOSS, false);
    expect(data.columns[0]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(data.points).toEqual({ a: 6, b: 6 });
    expect(data.series.map((s) => [s.label, s.color])).toEqual([
      ['total loss [run 1]', RUN_COLORS[0]],
      ['task loss [run 1]', RUN_COLORS[0]],
      ['total loss [run 2: method=standard]', RUN_COLORS[1]],
      ['task loss [run 2: method=standard]', RUN_COLORS[1]],
    ]);
    // Each column holds that run's values at those steps.
    const rowsB = replayed().runs['b']?.metrics ?? [];
    expect(data.columns[4]).toEqual(rowsB.map((r) => r.taskLoss));
  });

  it('one run alone keeps each series in its own colour and dash; the task loss is drawn last and thicker', () => {
    const s = reduceRunHidden(replayed(), 'b', true);
    const data = chartData(chartRuns(s.runs, null), LOSS, false);
    expect(data.series.map((x) => [x.label, x.color, x.width])).toEqual([
      ['total loss', '#009E73', 1],
      ['task loss', '#0072B2', 2.5],
    ]);
  });

  it('the dev chart takes only the evaluated rows, on the x range every chart shares', () => {
    const runs = chartRuns(replayed().runs, null);
    const dev = chartData(
      runs,
      [{ label: 'dev', color: '#000', value: (r) => r.devAccuracy }],
      false,
      hasDev,
    );
    expect(dev.columns[0]).toEqual([2, 4, 6]);
    expect(dev.points).toEqual({ a: 3, b: 3 });
    expect(sharedStepRange(runs)).toEqual([0, 6]);
  });

  it('records the mid-run change at the step it applies after, for the chart markers', () => {
    const runs = chartRuns(replayed().runs, null);
    expect(runs[0]?.changes).toEqual([{ step: 3, changed: { lr: 5e-4, alpha: 0 } }]);
    expect(runs[1]?.changes).toEqual([]);
  });

  it('on a log chart a collapsed perturbation sits on the floor instead of vanishing; other zeros are gaps', () => {
    const runs = chartRuns(replayed().runs, null);
    const log = chartData(runs, [DELTA, { ...DELTA, floorOnLog: false }], true);
    // Run b is standard: its delta is 0 on every row.
    expect(log.columns[3]).toEqual(Array(6).fill(LOG_FLOOR));
    expect(log.columns[4]).toEqual(Array(6).fill(null));
    const linear = chartData(runs, [DELTA], false);
    expect(linear.columns[2]).toEqual(Array(6).fill(0));
  });

  it('an imported metrics.jsonl is one more, dotted run on the same columns', () => {
    const overlay = { name: 'torch.jsonl', rows: [{ step: 2, taskLoss: 0.5 } as MetricRow] };
    const runs = chartRuns(reduceRunHidden(replayed(), 'b', true).runs, overlay);
    const data = chartData(runs, LOSS.slice(1), false);
    expect(data.series.map((s) => [s.label, s.color, s.dash])).toEqual([
      ['task loss [run 1]', RUN_COLORS[0], undefined],
      ['task loss [torch.jsonl]', IMPORTED_COLOR, [2, 3]],
    ]);
    expect(data.columns[2]).toEqual([null, 0.5, null, null, null, null]);
    expect(data.points['imported:torch.jsonl']).toBe(1);
  });

  it('resetting one run leaves the other run its curves; a run keeps its colour when another goes', () => {
    let s = reduceResetRequested(replayed(), 'a', configOf('a'));
    expect(chartData(chartRuns(s.runs, null), LOSS, false).points).toEqual({ a: 0, b: 6 });
    s = reduceRunDisposed(replayed(), 'a');
    expect(chartRuns(s.runs, null).map((r) => r.color)).toEqual([RUN_COLORS[1]]);
    s = reduceRunCreated(s, 'c', { ...DEFAULT_CONFIG });
    expect(runList(s).map((r) => [r.runId, r.slot, r.name])).toEqual([
      ['c', 0, 'run 1'],
      ['b', 1, 'run 2: method=standard'],
    ]);
  });

  it('step ticks are whole numbers (no 1.25)', () => {
    expect(STEP_INCREMENTS.every((x) => Number.isInteger(x) && x >= 1)).toBe(true);
    expect(STEP_INCREMENTS.slice(0, 4)).toEqual([1, 2, 5, 10]);
  });

  it('the table alternative lists the rows drawn, one column per series', () => {
    const data = chartData(chartRuns(replayed().runs, null), LOSS, false);
    const table = chartTable(data);
    expect(table.head).toEqual(['step', ...data.series.map((s) => s.label)]);
    expect(table.rows.map((r) => r[0])).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(table.rows[0]?.[2]).toBe(String(+(data.columns[2]?.[0] as number).toPrecision(4)));
  });

  it('the all-runs CSV holds every row shown, under a run column', () => {
    const s = replayed();
    const lines = formatRunsMetrics(runList(s), 'csv').trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 12);
    expect(lines[0]?.startsWith('run,step,taskLoss')).toBe(true);
    expect(lines.filter((l) => l.startsWith('"run 1",'))).toHaveLength(6);
    const json = JSON.parse(formatRunsMetrics(runList(s), 'json')) as {
      runs: { name: string; changes: unknown[]; metrics: MetricRow[] }[];
    };
    expect(json.runs.map((r) => [r.name, r.metrics.length, r.changes.length])).toEqual([
      ['run 1', 6, 1],
      ['run 2: method=standard', 6, 0],
    ]);
  });
});

/**
 * The charts' data path, pure: which runs a chart draws (every visible run, and an imported metrics.jsonl as
 * one more, dotted run: one overlay mechanism), in which colour, and the aligned columns uPlot draws
 * ([steps, then one column per run x series]). Tested by replaying recorded worker messages (chartData.test.ts);
 * decisions in docs/charts-and-compare.md.
 */
import type { MetricRow } from '../../protocol/messages.ts';
import type { MetricsOverlay } from '../metricsImport.ts';
import { runList, type AppState, type ConfigChange } from '../store/store.ts';

/** Run colours: the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies (docs/charts-and-compare.md). */
export const RUN_COLORS = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#F0E442',
] as const;
/** The imported file's colour (drawn dotted). */
export const IMPORTED_COLOR = '#666666';
/** Dash patterns that tell a run's series apart when colour tells the runs apart. */
const SERIES_DASH: readonly (number[] | undefined)[] = [undefined, [6, 4], [2, 3], [10, 3, 2, 3]];
/** Where a log chart draws a value <= 0 of a series that must not vanish (a collapsed delta). */
export const LOG_FLOOR = 1e-12;

export interface SeriesSpec {
  label: string;
  color: string;
  /** Dashed line, for a series drawn on top of another (total over task loss). */
  dash?: number[];
  /** Width in px (the task loss is drawn thicker than the total, so it is never hidden under it). */
  width?: number;
  /** On a log chart, draw values <= 0 at LOG_FLOOR instead of leaving a gap (a perturbation that collapsed). */
  floorOnLog?: boolean;
  value: (row: MetricRow) => number | undefined;
}

export interface ChartRun {
  id: string;
  name: string;
  color: string;
  rows: readonly MetricRow[];
  /** Mid-run setting changes, drawn as vertical markers. */
  changes: readonly ConfigChange[];
  /** The imported file: dotted. */
  imported: boolean;
  /** The run's configured steps (the shared x range). */
  steps: number;
}

export function runColor(slot: number): string {
  return RUN_COLORS[slot % RUN_COLORS.length] ?? RUN_COLORS[0];
}

/** The runs every chart draws: visible runs by colour slot, then the imported file (if any). */
export function chartRuns(runs: AppState['runs'], overlay: MetricsOverlay | null): ChartRun[] {
  const out: ChartRun[] = runList({ runs } as AppState)
    .filter((r) => !r.hidden)
    .map((r) => ({
      id: r.runId,
      name: r.name,
      color: runColor(r.slot),
      rows: r.metrics,
      changes: r.changes,
      imported: false,
      steps: r.config.steps,
    }));
  if (overlay !== null) {
    const last = overlay.rows[overlay.rows.length - 1]?.step ?? 0;
    out.push({
      id: `imported:${overlay.name}`,
      name: overlay.name,
      color: IMPORTED_COLOR,
      rows: overlay.rows,
      changes: [],
      imported: true,
      steps: last,
    });
  }
  return out;
}

export interface DrawnSeries {
  label: string;
  color: string;
  dash?: number[];
  width: number;
  runId: string;
}

export interface ChartData {
  /** [steps, ...one column per (run, series)], aligned on the union of the runs' steps. */
  columns: (number | null)[][];
  series: DrawnSeries[];
  /** Per run: how many x values it has a row for. */
  points: Record<string, number>;
}

/**
 * The columns a chart draws. One run: each series in its own colour. Several: colour is the run (stable, by
 * slot), dash is the series. `include` keeps only some rows (dev evaluations); on a log chart a value <= 0 is
 * a gap, or LOG_FLOOR for series with `floorOnLog`; non-finite values are gaps.
 */
export function chartData(
  runs: readonly ChartRun[],
  specs: readonly SeriesSpec[],
  log: boolean,
  include?: (row: MetricRow) => boolean,
): ChartData {
  const kept = runs.map((r) => {
    const byStep = new Map<number, MetricRow>();
    r.rows.forEach((row) => (include === undefined || include(row)) && byStep.set(row.step, row));
    return byStep;
  });
  const steps = [...new Set(kept.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const keep = (s: SeriesSpec, v: number | undefined): number | null => {
    if (v === undefined || !Number.isFinite(v)) return null;
    if (log && v <= 0) return s.floorOnLog === true ? LOG_FLOOR : null;
    return v;
  };
  const single = runs.length === 1;
  const columns: (number | null)[][] = [steps];
  const series: DrawnSeries[] = [];
  const points: Record<string, number> = {};
  runs.forEach((run, i) => {
    const byStep = kept[i] ?? new Map<number, MetricRow>();
    points[run.id] = byStep.size;
    specs.forEach((s, j) => {
      columns.push(steps.map((k) => (byStep.has(k) ? keep(s, s.value(byStep.get(k) as MetricRow)) : null)));
      const dash = run.imported ? [2, 3] : single ? s.dash : SERIES_DASH[j % SERIES_DASH.length];
      series.push({
        label: single && !run.imported ? s.label : `${s.label} [${run.name}]`,
        color: single && !run.imported ? s.color : run.color,
        ...(dash === undefined ? {} : { dash }),
        width: s.width ?? 1.5,
        runId: run.id,
      });
    });
  });
  return { columns, series, points };
}

/** The x range every chart shares: step 0 to the longest run's configured steps. */
export function sharedStepRange(runs: readonly ChartRun[]): [number, number] {
  const max = Math.max(1, ...runs.map((r) => Math.max(r.steps, r.rows[r.rows.length - 1]?.step ?? 0)));
  return [0, max];
}

/** Integer step ticks: a 1-2-5 ladder from 1 up (never 1.25). */
export const STEP_INCREMENTS: readonly number[] = Array.from({ length: 8 }, (_, e) =>
  [1, 2, 5].map((m) => m * 10 ** e),
).flat();

/** The rows of a chart as a table (its text alternative): step, then one cell per drawn series. */
export function chartTable(data: ChartData, limit = 50): { head: string[]; rows: string[][] } {
  const [steps = [], ...cols] = data.columns;
  const start = Math.max(0, steps.length - limit);
  const cell = (v: number | null | undefined) =>
    v === null || v === undefined
      ? ''
      : Math.abs(v) < 1e-3 && v !== 0
        ? v.toExponential(3)
        : String(+v.toPrecision(4));
  return {
    head: ['step', ...data.series.map((s) => s.label)],
    rows: steps.slice(start).map((x, i) => [String(x), ...cols.map((c) => cell(c[start + i]))]),
  };
}

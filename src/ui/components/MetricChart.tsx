/**
 * A uPlot line chart of some MetricRow fields against step. It appends the rows that arrived since the last
 * frame to its own columns (playground's AppendingLineChart idea) and redraws at most once per animation
 * frame, straight from the store: React renders it once, not per row.
 * The container carries `data-points` (x values drawn) for tests and screen-reader-free checks.
 * An imported metrics.jsonl (`overlay`, src/ui/metricsImport.ts) adds a second, dotted series per metric,
 * labelled with the file's name, on the union of both runs' steps (`data-overlay-points`: its rows drawn).
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { MetricRow } from '../../protocol/messages.ts';
import { subscribePerFrame } from '../hooks/useFrameStore.ts';
import type { MetricsOverlay } from '../metricsImport.ts';
import { activeRun, appStore, useAppStore } from '../store/store.ts';

export interface SeriesSpec {
  label: string;
  color: string;
  /** Dashed line, for a series drawn on top of another (total over task loss). */
  dash?: number[];
  value: (row: MetricRow) => number | undefined;
}

export interface MetricChartProps {
  testId: string;
  title: string;
  /** What the chart shows, for screen readers (the latest-metrics table is the text alternative). */
  description: string;
  series: readonly SeriesSpec[];
  /** Log-scale y; values <= 0 are left out (a gap), since log(0) is undefined. */
  log?: boolean;
  /** Only rows for which this holds become points (e.g. rows with a dev evaluation). */
  include?: (row: MetricRow) => boolean;
  yLabel?: string;
  /** Fixed y range (e.g. [0, 1] for an accuracy); automatic when absent. */
  yRange?: uPlot.Range.MinMax;
  points?: boolean;
}

const HEIGHT = 220;

/** Log-scale range that survives an empty or all-gap chart. */
function logRange(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null || !(min > 0) || !(max > 0)) return [1e-4, 1];
  return uPlot.rangeLog(min, max, 10, true);
}

/** Step axis range: the data's, or 0..1 before the first row (so the axes are drawn from the start). */
function stepRange(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null) return [0, 1];
  return min === max ? [min - 1, max + 1] : [min, max];
}

/** Log-axis ticks and grid lines at the powers of ten only (uPlot's default adds 2..9 of every decade). */
function logSplits(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    const v = 10 ** e;
    if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
  }
  return out;
}

/** Log-axis tick labels as powers of ten (1e-3), the only readable form across many decades. */
function logTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (Number.isFinite(v) && v > 0 ? v.toExponential(0) : ''));
}

/** The run's rows and the imported ones on the union of their steps: [steps, ...run series, ...overlay series]. */
function mergedColumns(
  rows: readonly MetricRow[],
  overlay: MetricsOverlay,
  series: readonly SeriesSpec[],
  keep: (v: number | undefined) => number | null,
  include: ((row: MetricRow) => boolean) | undefined,
): (number | null)[][] {
  const pick = (rs: readonly MetricRow[]) =>
    new Map(rs.filter((r) => include === undefined || include(r)).map((r) => [r.step, r] as const));
  const mine = pick(rows);
  const theirs = pick(overlay.rows);
  const steps = [...new Set([...mine.keys(), ...theirs.keys()])].sort((a, b) => a - b);
  const column = (from: Map<number, MetricRow>, s: SeriesSpec) =>
    steps.map((k) => {
      const r = from.get(k);
      return r === undefined ? null : keep(s.value(r));
    });
  return [steps, ...series.map((s) => column(mine, s)), ...series.map((s) => column(theirs, s))];
}

export function MetricChart({
  testId,
  title,
  description,
  series,
  log = false,
  include,
  yLabel,
  yRange,
  points,
}: MetricChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  const overlay = useAppStore((s) => s.overlay);

  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const keep = (v: number | undefined): number | null =>
      v === undefined || !Number.isFinite(v) || (log && v <= 0) ? null : v;

    let columns: (number | null)[][] = [];
    let seen = 0;
    let source: { runId: string; epoch: number } | null = null;
    const restart = () => {
      columns = [[], ...series.map(() => [])];
      seen = 0;
    };
    restart();

    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      scales: {
        x: { time: false, range: stepRange },
        y: log ? { distr: 3, range: logRange } : yRange === undefined ? {} : { range: yRange, auto: false },
      },
      axes: [
        { label: 'step' },
        {
          ...(yLabel === undefined ? {} : { label: yLabel }),
          ...(log ? { splits: logSplits, values: logTicks } : {}),
        },
      ],
      series: [
        { label: 'step' },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          spanGaps: true,
          ...(s.dash === undefined ? {} : { dash: s.dash }),
          ...(points === true ? { points: { show: true, size: 6 } } : {}),
        })),
        ...(overlay === null ? [] : series).map((s) => ({
          label: `${s.label} [${overlay?.name ?? ''}]`,
          stroke: s.color,
          width: 1.5,
          spanGaps: true,
          dash: [2, 3],
          ...(points === true ? { points: { show: true, size: 4 } } : {}),
        })),
      ],
      legend: { live: true },
    };
    const plot = new uPlot(opts, columns as uPlot.AlignedData, el);

    const draw = () => {
      const run = activeRun(appStore.getState());
      const rows = run?.metrics ?? [];
      const from = run === null ? null : { runId: run.runId, epoch: run.epoch };
      if (from?.runId !== source?.runId || from?.epoch !== source?.epoch || rows.length < seen) restart();
      source = from;
      if (rows.length === seen && seen > 0) return;
      if (overlay !== null) {
        const merged = mergedColumns(rows, overlay, series, keep, include);
        seen = rows.length;
        plot.setData(merged as uPlot.AlignedData);
        el.dataset.points = String(rows.filter((r) => include === undefined || include(r)).length);
        el.dataset.overlayPoints = String(merged[series.length + 1]?.filter((v) => v !== null).length ?? 0);
        return;
      }
      for (let i = seen; i < rows.length; i++) {
        const row = rows[i];
        if (row === undefined || (include !== undefined && !include(row))) continue;
        columns[0]?.push(row.step);
        series.forEach((s, j) => columns[j + 1]?.push(keep(s.value(row))));
      }
      seen = rows.length;
      plot.setData([...columns] as uPlot.AlignedData);
      el.dataset.points = String(columns[0]?.length ?? 0);
    };
    draw();
    const unsubscribe = subscribePerFrame(draw);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT }),
    );
    resize.observe(el);
    return () => {
      unsubscribe();
      resize.disconnect();
      plot.destroy();
      delete el.dataset.overlayPoints;
    };
  }, [series, log, include, yLabel, yRange, points, overlay]);

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={ref} role="img" aria-label={`${title}: ${description}`} data-testid={testId} />
    </figure>
  );
}

/**
 * A uPlot line chart of some MetricRow fields against step, for every visible run (and an imported
 * metrics.jsonl) at once: columns from chartData.ts, redrawn at most once per animation frame straight from
 * the store (React renders it once, not per row), and only while on screen (off screen, when it scrolls back
 * into view). Legend with hover values (uPlot's live legend), axis labels with units, a log toggle, integer
 * step ticks on the x range all charts share, mid-run setting changes as vertical markers, a PNG download of
 * the canvas, and the chart's rows as a table (its text alternative). The container carries, for tests:
 * `data-points` (the active run's x values), `data-drawn-points` (those on the canvas: fewer while the chart is
 * off screen), `data-ref` (the reference line's value), `data-overlay-points` (the imported file's),
 * `data-runs` (runs with at least one point) and `data-markers` (change markers drawn).
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { MetricRow } from '../../protocol/messages.ts';
import { subscribePerFrame, useFrameStore } from '../hooks/useFrameStore.ts';
import { appStore, type AppState } from '../store/store.ts';
import {
  chartData,
  chartRuns,
  chartTable,
  sharedStepRange,
  STEP_INCREMENTS,
  type ChartData,
  type ChartRun,
  type SeriesSpec,
} from './chartData.ts';

export type { SeriesSpec };

/** A horizontal reference line (the majority-class accuracy), from the active run's info. */
export interface RefLine {
  label: string;
  color: string;
  value: (s: AppState) => number | null;
}

export interface MetricChartProps {
  testId: string;
  title: string;
  /** What the chart shows, for screen readers (the table below it is the text alternative). */
  description: string;
  series: readonly SeriesSpec[];
  /** Log-scale y at first; the chart's checkbox switches it. */
  log?: boolean;
  /** Only rows for which this holds become points (e.g. rows with a dev evaluation). */
  include?: (row: MetricRow) => boolean;
  /** The y axis's label, with its unit. */
  yLabel: string;
  /** Fixed y range (e.g. [0, 1] for an accuracy); automatic when absent. */
  yRange?: uPlot.Range.MinMax;
  points?: boolean;
  refLine?: RefLine;
}

const HEIGHT = 220;

/** Log-scale range that survives an empty or all-gap chart. */
function logRange(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null || !(min > 0) || !(max > 0)) return [1e-4, 1];
  return uPlot.rangeLog(min, max, 10, true);
}

/** Log-axis ticks at the powers of ten only, at most 8 of them (uPlot's default adds 2..9 of every decade). */
function logSplits(_u: uPlot, _axis: number, min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const every = Math.max(1, Math.ceil((hi - lo + 1) / 8));
  const out: number[] = [];
  for (let e = lo; e <= hi; e += every) {
    const v = 10 ** e;
    if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
  }
  return out;
}

function logTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (Number.isFinite(v) && v > 0 ? v.toExponential(0) : ''));
}

function stepTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (Number.isInteger(v) ? String(v) : ''));
}

const selectRuns = (s: AppState) => s.runs;
/** Which runs are drawn, as a string (a primitive: React re-renders only when it changes). */
const selectShape = (s: AppState) =>
  chartRuns(s.runs, s.overlay)
    .map((r) => `${r.id}:${r.name}`)
    .join('|');
const selectOverlay = (s: AppState) => s.overlay;

/** Draws each run's mid-run setting changes as a dashed vertical line with the change written beside it. */
function markerHook(getRuns: () => readonly ChartRun[], el: HTMLElement) {
  return (u: uPlot) => {
    const ctx = u.ctx;
    let n = 0;
    ctx.save();
    ctx.font = `${10 * devicePixelRatio}px sans-serif`;
    for (const run of getRuns()) {
      for (const change of run.changes) {
        const x = Math.round(u.valToPos(change.step + 0.5, 'x', true));
        ctx.strokeStyle = run.color;
        ctx.fillStyle = run.color;
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        const text = Object.entries(change.changed)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        ctx.fillText(text, x + 3, u.bbox.top + 12 * devicePixelRatio * (1 + (n % 3)));
        n++;
      }
    }
    ctx.restore();
    el.dataset.markers = String(n);
  };
}

/** `data-ref`: the reference line's value, or none. */
function setRef(el: HTMLElement, v: number | null): void {
  if (v === null) delete el.dataset.ref;
  else el.dataset.ref = String(v);
}

/** Draws the reference line across the whole plot, labelled with its value (`data-ref` then says it too). */
function refHook(line: RefLine, value: () => number | null, el: HTMLElement) {
  return (u: uPlot) => {
    const v = value();
    setRef(el, v);
    if (v === null) return;
    const y = Math.round(u.valToPos(v, 'y', true));
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = line.color;
    ctx.fillStyle = line.color;
    ctx.setLineDash([8, 4]);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.font = `${10 * devicePixelRatio}px sans-serif`;
    ctx.fillText(`${line.label}: ${v.toFixed(3)}`, u.bbox.left + 4, y - 4);
    ctx.restore();
  };
}

export function MetricChart({
  testId,
  title,
  description,
  series,
  log: defaultLog = false,
  include,
  yLabel,
  yRange,
  points,
  refLine,
}: MetricChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  /** Draws the columns an off-screen chart has not drawn yet, at once (before its canvas is saved). */
  const flushRef = useRef<() => void>(() => undefined);
  const [log, setLog] = useState(defaultLog);
  const [showTable, setShowTable] = useState(false);
  // The series set changes when a run is added, hidden or removed: the plot is rebuilt then (only then).
  const shape = useFrameStore(selectShape);

  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    // Builds the chart and returns its teardown. Run in a task of its own (below): when a run starts the series
    // change and every chart is rebuilt, which in one task was a 60-200 ms main-thread stall here.
    const mount = (): (() => void) => {
      let current = chartRuns(appStore.getState().runs, appStore.getState().overlay);
      let shown: readonly ChartRun[] = current; // the runs on the canvas: `current` when last painted
      const refValue = () => (refLine === undefined ? null : refLine.value(appStore.getState()));
      const compute = (): ChartData => chartData(current, series, log, include);
      const first = compute();
      const opts: uPlot.Options = {
        width: Math.max(el.clientWidth, 200),
        height: HEIGHT,
        scales: {
          x: { time: false, range: () => sharedStepRange(shown) },
          y: log ? { distr: 3, range: logRange } : yRange === undefined ? {} : { range: yRange, auto: false },
        },
        axes: [
          { label: 'step (optimizer updates)', incrs: STEP_INCREMENTS as number[], values: stepTicks },
          { label: yLabel, ...(log ? { splits: logSplits, values: logTicks } : {}) },
        ],
        series: [
          { label: 'step' },
          ...first.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.width,
            spanGaps: true,
            ...(s.dash === undefined ? {} : { dash: s.dash }),
            ...(points === true ? { points: { show: true, size: 6 } } : {}),
          })),
        ],
        legend: { live: true },
        hooks: {
          draw: [
            markerHook(() => shown, el),
            ...(refLine === undefined ? [] : [refHook(refLine, refValue, el)]),
          ],
        },
      };
      const plot = new uPlot(opts, first.columns as uPlot.AlignedData, el);
      plotRef.current = plot;

      const activePoints = (data: ChartData) => {
        const active = appStore.getState().activeRunId;
        return String(active === null ? 0 : (data.points[active] ?? 0));
      };
      const setAttributes = (data: ChartData) => {
        el.dataset.points = activePoints(data);
        setRef(el, refValue());
        const imported = current.find((r) => r.imported);
        if (imported === undefined) delete el.dataset.overlayPoints;
        else el.dataset.overlayPoints = String(data.points[imported.id] ?? 0);
        el.dataset.runs = String(Object.values(data.points).filter((n) => n > 0).length);
      };
      setAttributes(first);
      el.dataset.drawnPoints = activePoints(first);
      let lastRows = -1;
      // Columns computed but not drawn yet, with their runs: the chart was off screen (`visible`) when they came.
      let pending: { data: ChartData; runs: readonly ChartRun[] } | null = null;
      let visible = true;
      let disposed = false;
      const paint = ({ data, runs }: { data: ChartData; runs: readonly ChartRun[] }) => {
        pending = null;
        shown = runs;
        plot.setData(data.columns as uPlot.AlignedData);
        el.dataset.drawnPoints = activePoints(data);
      };
      const draw = () => {
        const s = appStore.getState();
        current = chartRuns(s.runs, s.overlay);
        const rows = current.reduce((n, r) => n + r.rows.length + r.changes.length, 0);
        if (rows === lastRows) return;
        lastRows = rows;
        const data = compute();
        setAttributes(data);
        if (visible) paint({ data, runs: current });
        else pending = { data, runs: current };
      };
      const unsubscribe = subscribePerFrame(draw);
      // An off-screen chart is redrawn when it scrolls into view, not on every step: a step's frame then draws
      // the charts a person can see (the main thread's share of a step: docs/performance.md, "In the browser").
      const seen = new IntersectionObserver((entries) => {
        if (disposed) return; // an entry queued before the teardown's disconnect
        visible = entries.at(-1)?.isIntersecting ?? true;
        if (visible && pending !== null) paint(pending);
      });
      seen.observe(el);
      flushRef.current = () => {
        const p = pending;
        if (p !== null) plot.batch(() => paint(p));
      };
      const resize = new ResizeObserver(() =>
        plot.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT }),
      );
      resize.observe(el);
      return () => {
        disposed = true;
        unsubscribe();
        seen.disconnect();
        flushRef.current = () => undefined;
        resize.disconnect();
        plot.destroy();
        plotRef.current = null;
        delete el.dataset.overlayPoints;
      };
    };
    let teardown: (() => void) | null = null;
    const timer = setTimeout(() => {
      teardown = mount();
    }, 0);
    return () => {
      clearTimeout(timer);
      teardown?.();
    };
  }, [series, log, include, yLabel, yRange, points, refLine, shape]);

  const savePng = () => {
    flushRef.current();
    const canvas = plotRef.current?.ctx.canvas;
    if (canvas === undefined) return;
    const a = document.createElement('a');
    a.href = canvas.toDataURL('image/png');
    a.download = `alum-${testId.replace(/^chart\./, '')}.png`;
    a.click();
  };

  return (
    <figure className="chart">
      <figcaption>
        {title}{' '}
        <label className="chart-option">
          <input
            type="checkbox"
            checked={log}
            onChange={(e) => setLog(e.currentTarget.checked)}
            data-testid={`${testId}.log`}
          />{' '}
          log y
        </label>{' '}
        <button type="button" onClick={savePng} data-testid={`${testId}.png`}>
          PNG
        </button>
      </figcaption>
      <div ref={ref} role="img" aria-label={`${title}: ${description}`} data-testid={testId} />
      <details onToggle={(e) => setShowTable(e.currentTarget.open)}>
        <summary>Table</summary>
        {showTable && <ChartTable series={series} log={log} include={include} testId={testId} />}
      </details>
    </figure>
  );
}

/** The chart's last rows as a table, for every drawn run (re-read once per frame while open). */
function ChartTable({
  series,
  log,
  include,
  testId,
}: {
  series: readonly SeriesSpec[];
  log: boolean;
  include: ((row: MetricRow) => boolean) | undefined;
  testId: string;
}) {
  const runs = useFrameStore(selectRuns);
  const overlay = useFrameStore(selectOverlay);
  const table = chartTable(chartData(chartRuns(runs, overlay), series, log, include));
  return (
    <div className="chart-table">
      <table data-testid={`${testId}.table`}>
        <thead>
          <tr>
            {table.head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((r) => (
            <tr key={r[0]}>
              {r.map((c, i) => (
                <td key={i}>{c}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

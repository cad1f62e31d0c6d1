/**
 * `window.alum`: a typed automation API for tests, notebooks and the browser console. It is installed in
 * every build (not only in development) and drives the same actions as the buttons.
 * (Shape after the window API fixture of tldraw's e2e tests, github.com/tldraw/tldraw `apps/examples/e2e`.)
 *
 * @example
 * await alum.setConfig({ model: 'nano', steps: 40 }); // validated, staged, applied with a reset (step 0)
 * await alum.start();                                  // creates the run if needed, then trains
 * const s = await alum.waitForStep(10, 60_000);        // resolves with state() once step >= 10
 * alum.metrics().map((r) => r.advLoss);
 *
 * - `state()`: a plain-data snapshot: run status (`idle` before the first run), backend and why, step,
 *   config (the active run's, or the staged one before any run), latest metric row, error, run id, param count.
 * - `start()`, `pause()`, `step(n)`, `reset()`: resolve once the command was posted to the worker
 *   (`start` and `step` create and load the run first when there is none); reject on a worker error.
 * - `setConfig(partial)`: throws an Error with a one-line message naming the field on bad input; otherwise
 *   stages the merged config (the form and URL follow) and applies it by resetting the active run.
 * - `metrics()`: a copy of every MetricRow of the active run.
 * - `waitForStep(n, timeoutMs)`: resolves with `state()` once step >= n; rejects on timeout or a run error.
 * - `exportModel()`: a Blob of the zip of the active run's Hugging Face folder (config.json,
 *   model.safetensors, vocab.txt), as the "Download model" button saves it.
 * - `exportMetrics(format)`: the active run's metric rows as CSV or JSONL text.
 * - `loadData({ name, text })`: use a data file (CSV/TSV/JSONL/task JSON) for the run, as the "Load data" input
 *   does: resolves with its split sizes and labels, or rejects with a one-line message naming file and line.
 */
import type { BackendName, TrainConfig } from '../core/config.ts';
import type { DataCheck, MetricRow, RunId, RunStatus, UserData } from '../protocol/messages.ts';
import { formatMetrics, type MetricsFormat } from './metricsExport.ts';
import * as actions from './store/actions.ts';
import { activeRun, appStore, type AppState } from './store/store.ts';

export interface AlumState {
  status: RunStatus | 'idle';
  backend: BackendName | null;
  backendReason: string | null;
  step: number;
  config: TrainConfig;
  latest: MetricRow | null;
  /** The active run's error, else a worker error, else null. */
  error: string | null;
  runId: RunId | null;
  paramCount: number | null;
}

export interface AlumAutomationApi {
  state(): AlumState;
  start(): Promise<void>;
  pause(): Promise<void>;
  step(n?: number): Promise<void>;
  reset(): Promise<void>;
  setConfig(partial: Partial<TrainConfig>): Promise<void>;
  metrics(): MetricRow[];
  waitForStep(n: number, timeoutMs?: number): Promise<AlumState>;
  exportModel(): Promise<Blob>;
  exportMetrics(format: MetricsFormat): string;
  loadData(data: UserData): Promise<DataCheck>;
}

declare global {
  interface Window {
    alum: AlumAutomationApi;
  }
}

export function snapshot(s: AppState): AlumState {
  const run = activeRun(s);
  return {
    status: run?.status ?? 'idle',
    backend: s.worker.backend,
    backendReason: s.worker.backendReason,
    step: run?.step ?? 0,
    config: { ...(run?.config ?? s.staged) },
    latest: run?.metrics.at(-1) ?? null,
    error: run?.error ?? s.workerError,
    runId: run?.runId ?? null,
    paramCount: run?.info?.paramCount ?? null,
  };
}

export function createAutomationApi(): AlumAutomationApi {
  return {
    state: () => snapshot(appStore.getState()),
    start: actions.start,
    pause: actions.pause,
    step: (n = 1) => actions.step(n),
    reset: actions.reset,
    setConfig: (partial) => {
      actions.stageConfig(partial); // throws (synchronously) on bad input
      return actions.reset();
    },
    metrics: () => [...(activeRun(appStore.getState())?.metrics ?? [])],
    exportModel: async () => (await actions.exportModel()).blob,
    loadData: actions.loadData,
    exportMetrics: (format) => formatMetrics(activeRun(appStore.getState())?.metrics ?? [], format),
    waitForStep: async (n, timeoutMs = 60_000) => {
      const s = await actions.waitForState(
        (st) => (activeRun(st)?.step ?? 0) >= n,
        (st) => {
          const run = activeRun(st);
          return run?.status === 'error' ? (run.error ?? 'run failed') : st.workerError;
        },
        timeoutMs,
      );
      return snapshot(s);
    },
  };
}

export function installAutomation(): void {
  window.alum = createAutomationApi();
}

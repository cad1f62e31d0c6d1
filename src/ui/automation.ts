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
 * - `loadData({ name, text })` or `loadData(file)`: use a data file (CSV/TSV/JSONL/task JSON) for the run, as the
 *   "Load data" input does (a File over 8 MB is streamed by the worker): resolves with its split sizes, labels
 *   and preview, or rejects with a one-line message naming file, line and (where known) column.
 * - `loadModel(files)`: start the next runs from a Hugging Face BERT, as the "Load model" input does; `files` are
 *   File objects or `{ name, bytes }` (config.json, vocab.txt or tokenizer.json, model.safetensors or
 *   pytorch_model.bin; a name may carry its folder, which names the model). Resolves with the load report, or
 *   rejects with a one-line message naming the file (a .bin whose pickle names any other global than the
 *   tensor rebuilders is refused, and nothing in it runs).
 * - Compare mode: `compare(partial)` starts a second run beside the active one (same seed, data, initial
 *   weights; one run trains at a time: the others pause), `liveRuns()` lists the page's runs,
 *   `applyConfig(partial)` changes lr, alpha, eta, epsilon, sigma, k, variant or method from the next step
 *   (marked on the charts; other fields throw "needs Reset"), `exportAllMetrics('csv' | 'json')`.
 * - `runs()`: the saved runs (IndexedDB), freshly listed by the worker: id, name, data, model, checkpoint step,
 *   status, start time, bytes, and `liveRunId` (the current run's is `state().runId`).
 *   `resumeRun(id)`, `renameRun(id, name)`, `deleteRun(id)`: as the runs list's buttons.
 * - `tokenView(index?, text?)`: where the perturbation lands (core/train/token-view.ts): tokens and per-token
 *   norms of delta and of the inner gradient at each stage of one recorded step.
 * - Stages: `setConfig({ task: 'mlm' })` pre-trains on the built-in corpus; `fillMask(text, topK?)` gives a
 *   masked-LM run's top predictions at each [MASK]; `fineTune()` makes the active run's model the loaded
 *   model and switches to classification (a new run at step 0); `setData(name)` picks the built-in task
 *   (`spam-assassin` or `sotu-party`). `state().startedFrom` names the model the run started from.
 * - `bench(request?)`: runs a benchmark in the bench worker (the performance panel's, beside the training
 *   worker; `npm run bench -- --browser` drives it): every backend x model x method of `request` (default the
 *   panel's short one on every backend: nano, standard and ALUM K=1, batch 4, length 32, 2 steps). Resolves
 *   with the rows (src/core/bench/measure.ts `BenchRow`), the backends it could not use, and `cancelled`.
 */
import type { BackendName, TrainConfig } from '../core/config.ts';
import type {
  DataCheck,
  FillMaskResult,
  MetricRow,
  ModelCheck,
  RunId,
  RunStatus,
  SavedRunInfo,
  TokenView,
  UserData,
} from '../protocol/messages.ts';
import type { BenchRequest } from '../protocol/bench.ts';
import { shortBenchRequest } from './benchFormat.ts';
import { runBenchmark, type BenchResult } from './benchRunner.ts';
import { formatMetrics, formatRunsMetrics, type MetricsFormat } from './metricsExport.ts';
import * as actions from './store/actions.ts';
import { activeRun, appStore, runList, type AppState, type ConfigChange } from './store/store.ts';
import { userData } from './userFiles.ts';
import type { BuiltinTaskName } from './builtinData.ts';

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
  /** The model the active run started from (built-in pre-trained or loaded); null for random weights. */
  startedFrom: string | null;
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
  loadData(data: UserData | File): Promise<DataCheck>;
  loadModel(files: readonly actions.ModelFileInput[]): Promise<ModelCheck>;
  runs(): Promise<SavedRunInfo[]>;
  resumeRun(savedId: string): Promise<void>;
  renameRun(savedId: string, name: string): Promise<void>;
  deleteRun(savedId: string): Promise<void>;
  /** Applies live settings (lr, alpha, eta, epsilon, sigma, k, variant, method) from the next step, no reset. */
  applyConfig(partial: Partial<TrainConfig>): void;
  /** Starts a second run beside the active one (same seed, data, initial weights) with `partial` applied. */
  compare(partial?: Partial<TrainConfig>): Promise<RunId>;
  /** The runs in the page (compare mode): name, status, step, config, hidden, mid-run changes, rows. */
  liveRuns(): LiveRun[];
  /** Every run's rows: CSV with a leading `run` column, or JSON with each run's config and changes. */
  exportAllMetrics(format: 'csv' | 'json'): string;
  /**
   * Where the perturbation lands: example `index` of the batch just trained (or `text`): its tokens and,
   * at each stage of one recorded ALUM step on the current weights, the per-token norms of delta and of the
   * inner gradient (the run is not changed).
   */
  tokenView(index?: number, text?: string): Promise<TokenView>;
  /** A masked-LM run's top-`topK` predictions at each [MASK] of `text`. */
  fillMask(text: string, topK?: number): Promise<FillMaskResult>;
  /** The next stage: the active run's model becomes the loaded model, task classify; resolves with its name. */
  fineTune(): Promise<string>;
  /** The built-in task of the next runs (replaces the active run when no data file is loaded). */
  setData(name: BuiltinTaskName): Promise<void>;
  /** A benchmark in the bench worker (default: the performance panel's short one on every backend). */
  bench(request?: Partial<BenchRequest>): Promise<BenchResult>;
}

export interface LiveRun {
  runId: RunId;
  name: string;
  status: RunStatus;
  step: number;
  hidden: boolean;
  active: boolean;
  config: TrainConfig;
  changes: ConfigChange[];
  rows: number;
}

function liveRuns(s: AppState): LiveRun[] {
  return runList(s).map((r) => ({
    runId: r.runId,
    name: r.name,
    status: r.status,
    step: r.step,
    hidden: r.hidden,
    active: r.runId === s.activeRunId,
    config: { ...r.config },
    changes: structuredClone(r.changes),
    rows: r.metrics.length,
  }));
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
    startedFrom: run?.info?.init?.name ?? null,
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
      actions.stageConfig(partial, false); // throws (synchronously) on bad input
      return actions.reset();
    },
    applyConfig: (partial) => {
      actions.applyConfig(partial); // throws (synchronously) on bad input or a field that needs a reset
    },
    compare: (partial = {}) => actions.compare(partial),
    tokenView: (index = 0, text) => actions.tokenView(index, text),
    fillMask: (text, topK = 5) => actions.fillMask(text, topK),
    fineTune: actions.fineTuneActiveModel,
    setData: actions.setBuiltinTask,
    bench: (request = {}) =>
      runBenchmark({ ...shortBenchRequest(['webgpu', 'webgl', 'wasm', 'cpu'], 'nano'), ...request }),
    liveRuns: () => liveRuns(appStore.getState()),
    exportAllMetrics: (format) => formatRunsMetrics(runList(appStore.getState()), format),
    metrics: () => [...(activeRun(appStore.getState())?.metrics ?? [])],
    exportModel: async () => (await actions.exportModel()).blob,
    loadData: async (data) => actions.loadData(data instanceof File ? await userData(data) : data),
    loadModel: actions.loadModel,
    runs: async () => {
      await actions.listSavedRuns();
      return structuredClone(appStore.getState().saved?.runs ?? []);
    },
    resumeRun: actions.resumeSavedRun,
    renameRun: actions.renameSavedRun,
    deleteRun: actions.deleteSavedRun,
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

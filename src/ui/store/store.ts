/**
 * The UI state: a zustand vanilla store (no React needed to read or change it) plus a thin hook.
 * Slices: `worker` (which backend the worker runs, and why), `runs` (by id: info, status, step, metric rows,
 * error), `staged` (the config in the form, applied on Reset or on the first Start), and page-level errors.
 *
 * Everything the worker says goes through `reduceFromWorker`, a pure function of (state, message), so the
 * store can be tested by replaying a recorded `FromWorker[]` (store.test.ts). No tensors here, ever.
 * (Shape after pmndrs/zustand `vanilla.ts` + `react.ts` and its slices / no-store-actions guides.)
 */
import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { BackendName, TrainConfig } from '../../core/config.ts';
import {
  PROTOCOL_VERSION,
  type DataCheck,
  type FromWorker,
  type MetricRow,
  type ModelExport,
  type RunId,
  type RunInfo,
  type RunStatus,
  type SavedRuns,
  type TokenViewReply,
  type FillMaskReply,
  type AttackReply,
  type RunModelReply,
  type UserData,
  type UserModel,
  type ModelCheck,
} from '../../protocol/messages.ts';
import { PAGE_DEFAULT_CONFIG } from '../coreConfig.ts';
import type { AttackRecord, AttackSummary } from '../../core/robust/types.ts';
import { DEFAULT_TASK, type BuiltinTaskName } from '../builtinData.ts';
import { NO_LESSON, type LessonView } from '../lesson.ts';
import type { MetricsOverlay } from '../metricsImport.ts';

export interface WorkerSlice {
  /**
   * The backend asked for with `?backend=` or the backend menu; null lets the worker choose (the fastest
   * working backend for the staged model, timed: core/calibrate.ts).
   */
  requested: BackendName | null;
  /** True once the worker answered `ready` with our protocol version. */
  ready: boolean;
  backend: BackendName | null;
  backendReason: string | null;
}

export interface RunState {
  runId: RunId;
  /** The config the run was created or last reset with. */
  config: TrainConfig;
  /** From `run-created`; null while the worker loads the data and builds the model. */
  info: RunInfo | null;
  status: RunStatus;
  step: number;
  /** Every recorded row, in step order. Replaced (never mutated) when rows arrive. */
  metrics: MetricRow[];
  error: string | null;
  /** Bumped whenever `metrics` restarts (reset), so incremental readers (charts) know to rebuild. */
  epoch: number;
  /**
   * Set when the UI posts `reset`; until the worker reports step 0, rows and steps that were already on
   * their way from before the reset are dropped.
   */
  resetPending: boolean;
  /** The run's name in legends and the runs list ("run 1", or what compare named it). */
  name: string;
  /** Its colour slot (runColor), fixed at creation: a run keeps its colour while others come and go. */
  slot: number;
  /** Hidden runs stay in the list but are not drawn. */
  hidden: boolean;
  /** Settings changed mid-run (`config-applied`): from the step after `step`, `changed` took these values. */
  changes: ConfigChange[];
}

/** One finished attack: on which run (its name and step then), and the summary and records. */
export interface AttackEntry {
  id: string;
  runId: RunId;
  runName: string;
  step: number;
  /** The run's label names (the examples browser's and the CSV's). */
  labels: string[];
  summary: AttackSummary;
  records: AttackRecord[];
}

export interface ConfigChange {
  step: number;
  changed: Partial<TrainConfig>;
}

export interface AppState {
  worker: WorkerSlice;
  runs: Record<RunId, RunState>;
  activeRunId: RunId | null;
  /** The form's config: what the next Reset (or the first Start) applies. */
  staged: TrainConfig;
  /** Problems with the page's URL query, one line each (the named fields fell back to defaults). */
  urlErrors: string[];
  /** A worker error that belongs to no run (startup, protocol mismatch, a crashed worker). */
  workerError: string | null;
  /** Answers to requests (`export-model`, `check-data`) not yet taken, by request id (`reduceReplyTaken`). */
  replies: Record<string, WorkerReply>;
  /** The user's data file the next run is created with; null for the built-in task. */
  stagedData: UserData | null;
  /** The built-in task the next run trains on when no data file is loaded (`?data=`). */
  builtinTask: BuiltinTaskName;
  /** While an attack runs (the robustness lab): its request and examples done of total; null otherwise. */
  attackProgress: { requestId: string; done: number; total: number } | null;
  /** The attacks run in this page, newest last (the lab's table, chart and examples browser). */
  attacks: AttackEntry[];
  /** While the worker streams a picked data file: bytes read of total, rows so far; null otherwise. */
  dataProgress: { file: string; bytes: number; total: number; rows: number } | null;
  /** The user's model the next run starts from (and its load report); null for random weights. */
  stagedModel: { model: UserModel; summary: string } | null;
  /** Saved runs (IndexedDB), as the worker last listed them; null until it has. */
  saved: SavedRuns | null;
  /** An imported metrics.jsonl drawn over the charts (src/ui/metricsImport.ts); null for none. */
  overlay: MetricsOverlay | null;
  /** The form's invalid fields, one line each (core/config.ts checkConfigFields); Start waits while any. */
  formErrors: Partial<Record<keyof TrainConfig, string>>;
  /** The lesson's view: classroom mode, preset, open teaching panels, text (src/ui/lesson.ts; in the URL). */
  lesson: LessonView;
}

/** What the worker answers a request with. */
export type WorkerReply =
  ModelExport | DataCheck | ModelCheck | TokenViewReply | FillMaskReply | RunModelReply | AttackReply;

export function initialState(overrides: Partial<AppState> = {}): AppState {
  return {
    worker: { requested: null, ready: false, backend: null, backendReason: null },
    runs: {},
    activeRunId: null,
    staged: { ...PAGE_DEFAULT_CONFIG },
    urlErrors: [],
    workerError: null,
    replies: {},
    stagedData: null,
    builtinTask: DEFAULT_TASK,
    attackProgress: null,
    attacks: [],
    dataProgress: null,
    stagedModel: null,
    saved: null,
    overlay: null,
    formErrors: {},
    lesson: NO_LESSON,
    ...overrides,
  };
}

function updateRun(state: AppState, runId: RunId, f: (run: RunState) => RunState): AppState {
  const run = state.runs[runId];
  if (run === undefined) return state; // a message for a run we never created or already disposed
  return { ...state, runs: { ...state.runs, [runId]: f(run) } };
}

/** The smallest colour slot no live run holds. */
function freeSlot(state: AppState): number {
  const taken = new Set(Object.values(state.runs).map((r) => r.slot));
  let slot = 0;
  while (taken.has(slot)) slot++;
  return slot;
}

/** The fields whose values differ between two configs, with `b`'s values (config diffs, change markers). */
export function configDiff(a: TrainConfig, b: TrainConfig): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(b) as (keyof TrainConfig)[]) if (a[k] !== b[k]) out[k] = b[k];
  return out as Partial<TrainConfig>;
}

/** The UI posted `create`: the run exists (loading) from now on and becomes the active one. */
export function reduceRunCreated(
  state: AppState,
  runId: RunId,
  config: TrainConfig,
  label?: string,
): AppState {
  const slot = freeSlot(state);
  const run: RunState = {
    name: `run ${slot + 1}${label === undefined ? '' : `: ${label}`}`,
    slot,
    hidden: false,
    changes: [],
    runId,
    config,
    info: null,
    status: 'loading',
    step: 0,
    metrics: [],
    error: null,
    epoch: 0,
    resetPending: false,
  };
  return { ...state, runs: { ...state.runs, [runId]: run }, activeRunId: runId };
}

/** The UI posted `reset`: clear the run's history now, and ignore stale rows until the worker is at step 0. */
export function reduceResetRequested(state: AppState, runId: RunId, config: TrainConfig): AppState {
  return updateRun(state, runId, (run) => ({
    ...run,
    config,
    status: 'loading',
    step: 0,
    metrics: [],
    error: null,
    epoch: run.epoch + 1,
    resetPending: true,
    changes: [],
  }));
}

/** Shows or hides a run's curves (it stays listed, and keeps training if it was). */
export function reduceRunHidden(state: AppState, runId: RunId, hidden: boolean): AppState {
  return updateRun(state, runId, (run) => ({ ...run, hidden }));
}

/** Makes another listed run the one the controls act on. */
export function reduceRunActivated(state: AppState, runId: RunId): AppState {
  return state.runs[runId] === undefined ? state : { ...state, activeRunId: runId };
}

/** The UI posted `dispose`: forget the run. */
export function reduceRunDisposed(state: AppState, runId: RunId): AppState {
  const { [runId]: _gone, ...runs } = state.runs;
  return { ...state, runs, activeRunId: state.activeRunId === runId ? null : state.activeRunId };
}

/** Removes an arrived reply from the state (its contents are then only the caller's). */
export function reduceReplyTaken(state: AppState, requestId: string): AppState {
  const { [requestId]: _taken, ...replies } = state.replies;
  return { ...state, replies };
}

/** Applies one worker message. Pure: returns a new state (or the same one when nothing changed). */
export function reduceFromWorker(state: AppState, msg: FromWorker): AppState {
  switch (msg.type) {
    case 'ready': {
      if (msg.protocolVersion !== PROTOCOL_VERSION) {
        return {
          ...state,
          workerError: `worker speaks protocol ${msg.protocolVersion}, the page speaks ${PROTOCOL_VERSION}: reload the page`,
        };
      }
      return {
        ...state,
        worker: { ...state.worker, ready: true, backend: msg.backend, backendReason: msg.backendReason },
      };
    }
    case 'run-created':
      return updateRun(state, msg.info.runId, (run) => ({ ...run, info: msg.info, config: msg.info.config }));
    case 'status':
      return updateRun(state, msg.runId, (run) => {
        if (run.resetPending && msg.step !== 0) return run; // from before the reset
        return { ...run, status: msg.status, step: msg.step, resetPending: false };
      });
    case 'metrics':
      return updateRun(state, msg.runId, (run) => {
        if (run.resetPending || msg.rows.length === 0) return run;
        const last = msg.rows[msg.rows.length - 1];
        const step = last === undefined ? run.step : Math.max(run.step, last.step);
        return { ...run, metrics: run.metrics.concat(msg.rows), step };
      });
    case 'config-applied':
      return updateRun(state, msg.runId, (run) => {
        const changed = configDiff(run.config, msg.config);
        if (run.resetPending || Object.keys(changed).length === 0) return run;
        return { ...run, config: msg.config, changes: [...run.changes, { step: msg.step, changed }] };
      });
    case 'attack-progress':
      return { ...state, attackProgress: { requestId: msg.requestId, done: msg.done, total: msg.total } };
    case 'data-progress': {
      const { file, bytes, total, rows } = msg;
      return { ...state, dataProgress: { file, bytes, total, rows } };
    }
    case 'model-export':
    case 'data-checked':
    case 'model-checked':
    case 'token-view':
    case 'fill-mask':
    case 'run-model':
    case 'attack-result':
      return { ...state, replies: { ...state.replies, [msg.requestId]: msg.result } };
    case 'saved-runs':
      return { ...state, saved: msg.saved };
    case 'error':
      if (msg.runId === null) return { ...state, workerError: msg.message };
      return updateRun(state, msg.runId, (run) => ({ ...run, error: msg.message, status: 'error' }));
  }
}

export type AppStore = StoreApi<AppState>;

export function createAppStore(state: AppState = initialState()): AppStore {
  return createStore<AppState>()(() => state);
}

/** The page's one store. main.tsx fills in the URL's config before the first render. */
export const appStore: AppStore = createAppStore();

/** React hook over `appStore` (re-renders when the selected value changes by `Object.is`). */
export function useAppStore<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector);
}

/** Every run, oldest colour slot first (the runs list and the charts' legend order). */
export function runList(state: AppState): RunState[] {
  return Object.values(state.runs).sort((a, b) => a.slot - b.slot);
}

export function activeRun(state: AppState): RunState | null {
  return state.activeRunId === null ? null : (state.runs[state.activeRunId] ?? null);
}

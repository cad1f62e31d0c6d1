/**
 * Module-level actions (zustand "practice with no store actions"): buttons, the config form and
 * `window.alum` all call these; they change the store and post `ToWorker` commands through the bridge.
 * Each command promise resolves once the message was posted (after the worker is ready and, for a new
 * run, after it finished loading); it rejects on a worker or run error.
 */
import type { DataCheck, ModelExport, RunId, ToWorker, UserData } from '../../protocol/messages.ts';
import { resolveConfig, type TrainConfig } from '../coreConfig.ts';
import { getBridge } from './bridge.ts';
import {
  activeRun,
  appStore,
  reduceReplyTaken,
  reduceResetRequested,
  reduceRunCreated,
  reduceRunDisposed,
  type AppState,
  type WorkerReply,
} from './store.ts';

/**
 * Resolves with the state once `done(state)` holds; rejects with the message `fail(state)` returns, or when
 * `timeoutMs` passes. Checks the current state first, then every change.
 */
export function waitForState(
  done: (s: AppState) => boolean,
  fail: (s: AppState) => string | null,
  timeoutMs = Infinity,
): Promise<AppState> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe = () => {};
    const check = (s: AppState): boolean => {
      const problem = fail(s);
      if (problem !== null || done(s)) {
        unsubscribe();
        clearTimeout(timer);
        if (problem !== null) reject(new Error(problem));
        else resolve(s);
        return true;
      }
      return false;
    };
    if (check(appStore.getState())) return;
    unsubscribe = appStore.subscribe((s) => void check(s));
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        unsubscribe();
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
  });
}

function whenWorkerReady(): Promise<AppState> {
  return waitForState(
    (s) => s.worker.ready,
    (s) => s.workerError,
  );
}

function runError(runId: RunId) {
  return (s: AppState): string | null => {
    if (s.workerError !== null) return s.workerError;
    const run = s.runs[runId];
    if (run === undefined) return `run ${runId} is gone`;
    return run.status === 'error' ? (run.error ?? `run ${runId} failed`) : null;
  };
}

let runCounter = 0;
let creating: Promise<RunId> | null = null;

/** The active run, created from the staged config (and loaded) if there is none or the last one failed. */
function ensureRun(): Promise<RunId> {
  creating ??= (async () => {
    await whenWorkerReady();
    let run = activeRun(appStore.getState());
    if (run !== null && run.status === 'error') {
      disposeRun(run.runId);
      run = null;
    }
    const runId = run?.runId ?? createRun();
    await waitForState((s) => s.runs[runId]?.status !== 'loading', runError(runId));
    return runId;
  })().finally(() => {
    creating = null;
  });
  return creating;
}

function createRun(): RunId {
  const runId = `run-${Date.now().toString(36)}-${++runCounter}`;
  const config = appStore.getState().staged;
  appStore.setState((s) => reduceRunCreated(s, runId, config), true);
  const data = appStore.getState().stagedData;
  getBridge().post({
    type: 'create',
    runId,
    config,
    dataUrl: new URL('data/spam-assassin.json', document.baseURI).href,
    vocabUrl: vocabUrl(),
    ...(data === null ? {} : { data }),
  });
  return runId;
}

/** The built-in vocabulary (user data files are tokenised with it too). */
function vocabUrl(): string {
  return new URL('data/vocab.txt', document.baseURI).href;
}

function disposeRun(runId: RunId): void {
  getBridge().post({ type: 'dispose', runId });
  appStore.setState((s) => reduceRunDisposed(s, runId), true);
}

/** Start (or resume) training; creates the run from the staged config when there is none. */
export async function start(): Promise<void> {
  const runId = await ensureRun();
  getBridge().post({ type: 'start', runId });
}

/** Pause after the current step; a no-op without a run. */
export async function pause(): Promise<void> {
  const run = activeRun(appStore.getState());
  if (run === null) return;
  await whenWorkerReady();
  getBridge().post({ type: 'pause', runId: run.runId });
}

/** Run exactly `n` more steps, then pause; creates the run when there is none. */
export async function step(n = 1): Promise<void> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`step count must be a positive integer, got ${n}`);
  const runId = await ensureRun();
  getBridge().post({ type: 'step', runId, n });
}

/** Rebuild the active run from the staged config at step 0, clearing its metrics; a no-op without a run. */
export async function reset(): Promise<void> {
  const run = activeRun(appStore.getState());
  if (run === null) return;
  await whenWorkerReady();
  const config = appStore.getState().staged;
  appStore.setState((s) => reduceResetRequested(s, run.runId, config), true);
  getBridge().post({ type: 'reset', runId: run.runId, config });
}

/**
 * Validates `patch` against the staged config and stages the result (the URL follows). Throws an Error with a
 * one-line message naming the field when a value is invalid; nothing is staged then.
 */
export function stageConfig(patch: Record<string, unknown>): TrainConfig {
  const config = resolveConfig(patch, appStore.getState().staged);
  appStore.setState({ staged: config });
  return config;
}

let requestCounter = 0;

/** Posts a request built for a fresh id and resolves with the worker's reply to it (removed from the store). */
async function request<R extends WorkerReply>(build: (requestId: string) => ToWorker): Promise<R> {
  await whenWorkerReady();
  const requestId = `req-${++requestCounter}`;
  getBridge().post(build(requestId));
  const s = await waitForState(
    (st) => requestId in st.replies,
    (st) => st.workerError,
  );
  appStore.setState((st) => reduceReplyTaken(st, requestId), true);
  const reply = s.replies[requestId];
  if (reply === undefined) throw new Error(`request ${requestId}: no reply`);
  return reply as R;
}

/**
 * The active run's model as a zip of its Hugging Face folder (config.json, model.safetensors, vocab.txt),
 * built in the worker. Rejects with a one-line message when there is no model yet or the export failed.
 */
export async function exportModel(): Promise<{ fileName: string; blob: Blob }> {
  const run = activeRun(appStore.getState());
  if (run === null) throw new Error('no run to export yet: press Start or Step first');
  const result = await request<ModelExport>((requestId) => ({
    type: 'export-model',
    runId: run.runId,
    requestId,
  }));
  if (!result.ok) throw new Error(result.message);
  return { fileName: result.fileName, blob: new Blob([result.zip.slice()], { type: 'application/zip' }) };
}

/**
 * Uses the user's data file (CSV, TSV, JSONL, or a task JSON) for the next runs: the worker parses it first,
 * and a file it cannot use is refused with a one-line message naming file and line, leaving the current run
 * as it is. Once accepted, the current run (if any) is replaced by a new one on the file, at step 0.
 */
export async function loadData(data: UserData): Promise<DataCheck & { ok: true }> {
  const check = await request<DataCheck>((requestId) => ({
    type: 'check-data',
    requestId,
    data,
    vocabUrl: vocabUrl(),
    seed: appStore.getState().staged.seed,
  }));
  if (!check.ok) throw new Error(check.message);
  appStore.setState({ stagedData: data });
  const run = activeRun(appStore.getState());
  if (run !== null) {
    disposeRun(run.runId);
    await ensureRun();
  }
  return check;
}

export function dismissErrors(): void {
  appStore.setState({ urlErrors: [] });
}

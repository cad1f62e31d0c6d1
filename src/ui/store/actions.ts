/**
 * Module-level actions (zustand "practice with no store actions"): buttons, the config form and
 * `window.alum` all call these; they change the store and post `ToWorker` commands through the bridge.
 * Each command promise resolves once the message was posted (after the worker is ready and, for a new
 * run, after it finished loading); it rejects on a worker or run error.
 */
import type {
  AttackReply,
  DataCheck,
  FillMaskReply,
  FillMaskResult,
  ModelCheck,
  ModelExport,
  RunId,
  RunModelReply,
  TokenView,
  TokenViewReply,
  ToWorker,
  UserData,
  UserModel,
} from '../../protocol/messages.ts';
import {
  isLiveSetting,
  modelFilesToRead,
  resolveConfig,
  withInitFollowing,
  type BackendName,
  type TrainConfig,
} from '../coreConfig.ts';
import { builtinTask, type BuiltinTaskName } from '../builtinData.ts';
import type { AttackSettings } from '../../core/robust/types.ts';
import { getBridge } from './bridge.ts';
import {
  activeRun,
  appStore,
  configDiff,
  reduceReplyTaken,
  reduceRunActivated,
  reduceRunHidden,
  runList,
  reduceResetRequested,
  reduceRunCreated,
  reduceRunDisposed,
  type AppState,
  type WorkerReply,
  type AttackEntry,
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

function newRunId(): RunId {
  return `run-${Date.now().toString(36)}-${++runCounter}`;
}

function createRun(config: TrainConfig = appStore.getState().staged, label?: string): RunId {
  const runId = newRunId();
  appStore.setState((s) => reduceRunCreated(s, runId, config, label), true);
  const data = appStore.getState().stagedData;
  const model = appStore.getState().stagedModel?.model ?? null;
  getBridge().post({
    type: 'create',
    runId,
    config,
    dataUrl: new URL(builtinTask(appStore.getState().builtinTask).file, document.baseURI).href,
    vocabUrl: vocabUrl(),
    publicUrl: new URL('./', document.baseURI).href,
    ...(data === null ? {} : { data }),
    ...(model === null ? {} : { model }),
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

/** One run trains at a time (steps/s stay comparable, and a 2-core machine is not split): pause the others. */
function pauseOthers(runId: RunId): void {
  for (const run of runList(appStore.getState())) {
    if (run.runId !== runId && run.status === 'running')
      getBridge().post({ type: 'pause', runId: run.runId });
  }
}

/** Start (or resume) training; creates the run from the staged config when there is none. */
export async function start(): Promise<void> {
  assertFormValid();
  const runId = await ensureRun();
  pauseOthers(runId);
  getBridge().post({ type: 'start', runId });
}

/**
 * Starts a second run beside the active one (which is kept, paused, with its curves): the same data, initial
 * weights (same seed and model size, or the same loaded model) and data order, with `patch` applied (another
 * method or setting). Throws one line when there is nothing to compare with or `patch` is invalid or changes
 * the seed or model. Resolves with the new run's id once it trains.
 */
export async function compare(patch: Record<string, unknown> = {}): Promise<RunId> {
  await creating?.catch(() => undefined);
  const base = activeRun(appStore.getState());
  if (base === null) throw new Error('nothing to compare with: start a run first');
  const config = resolveConfig(patch, base.config);
  for (const key of ['seed', 'model'] as const) {
    if (config[key] !== base.config[key]) {
      throw new Error(
        `compare keeps the ${key} of '${base.name}' (same initial weights): got ${key}=${config[key]}`,
      );
    }
  }
  await whenWorkerReady();
  const diff = Object.entries(configDiff(base.config, config)).map(([k, v]) => `${k}=${String(v)}`);
  const runId = createRun(config, diff.length === 0 ? 'same config' : diff.join(' '));
  appStore.setState({ staged: config });
  await waitForState((s) => s.runs[runId]?.status !== 'loading', runError(runId));
  pauseOthers(runId);
  getBridge().post({ type: 'start', runId });
  return runId;
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
  assertFormValid();
  const runId = await ensureRun();
  getBridge().post({ type: 'step', runId, n });
}

/** Rebuild the active run from the staged config at step 0, clearing its metrics; a no-op without a run. */
export async function reset(): Promise<void> {
  const run = activeRun(appStore.getState());
  if (run === null) return;
  assertFormValid();
  await whenWorkerReady();
  const config = appStore.getState().staged;
  appStore.setState((s) => reduceResetRequested(s, run.runId, config), true);
  getBridge().post({ type: 'reset', runId: run.runId, config });
}

/**
 * Validates `patch` against the staged config and stages the result (the URL follows). Throws an Error with a
 * one-line message naming the field when a value is invalid; nothing is staged then.
 */
export function stageConfig(patch: Record<string, unknown>, live = true): TrainConfig {
  const before = appStore.getState().staged;
  const config = resolveConfig(withInitFollowing(patch, before), before);
  // Another starting point than a loaded model forgets the loaded one.
  const forget = config.init !== 'loaded' && appStore.getState().stagedModel !== null;
  appStore.setState({ staged: config, ...(forget ? { stagedModel: null } : {}) });
  if (live) applyLive(config); // lr, alpha, ... reach the active run from its next step
  return config;
}

/**
 * Stages `patch` and applies it to the active run from its next step, without a reset: only settings in
 * LIVE_SETTINGS; throws one line naming the fields that need a reset (nothing is staged then).
 */
export function applyConfig(patch: Record<string, unknown>): TrainConfig {
  const config = resolveConfig(patch, appStore.getState().staged);
  const fixed = needsReset({ ...appStore.getState(), staged: config });
  if (fixed.length > 0)
    throw new Error(`${fixed.join(', ')} cannot change during a run: press Reset to apply`);
  return stageConfig(patch);
}

/**
 * The staged settings that need a reset: fields that differ from the active run's config and that a run
 * cannot take mid-run (not in LIVE_SETTINGS). Empty without a run.
 */
export function needsReset(s: AppState): (keyof TrainConfig)[] {
  const run = activeRun(s);
  if (run === null) return [];
  return (Object.keys(configDiff(run.config, s.staged)) as (keyof TrainConfig)[]).filter(
    (k) => !isLiveSetting(k),
  );
}

/** Sends the staged live settings (lr, alpha, ...) that differ from the active run's to it: from the next step. */
function applyLive(staged: TrainConfig): void {
  const run = activeRun(appStore.getState());
  if (run === null || run.info === null || !['running', 'paused', 'ready'].includes(run.status)) return;
  const live = Object.entries(configDiff(run.config, staged)).filter(([k]) => isLiveSetting(k));
  if (live.length === 0) return;
  getBridge().post({
    type: 'set-config',
    runId: run.runId,
    config: { ...run.config, ...Object.fromEntries(live) },
  });
}

/** Shows or hides a run's curves. */
export function setRunHidden(runId: RunId, hidden: boolean): void {
  appStore.setState((s) => reduceRunHidden(s, runId, hidden), true);
}

/** Makes a listed run the one the controls, the form and the exports act on (its config is staged). */
export function activateRun(runId: RunId): void {
  const run = appStore.getState().runs[runId];
  if (run === undefined) throw new Error(`no run '${runId}'`);
  appStore.setState((s) => ({ ...reduceRunActivated(s, runId), staged: run.config }), true);
}

/** Removes a run (stops it and frees its model); the newest other run becomes active when it was. */
export function removeRun(runId: RunId): void {
  if (appStore.getState().runs[runId] === undefined) throw new Error(`no run '${runId}'`);
  disposeRun(runId);
  const rest = runList(appStore.getState());
  const next = rest[rest.length - 1];
  if (appStore.getState().activeRunId === null && next !== undefined) activateRun(next.runId);
}

/** The form's invalid fields as one line, or null when every field is valid. */
export function formProblem(s: AppState): string | null {
  const lines = Object.values(s.formErrors);
  return lines.length === 0 ? null : `fix the form first: ${lines.join('; ')}`;
}

/** Nothing trains on the last valid values while a field shows something else (issue 7). */
function assertFormValid(): void {
  const problem = formProblem(appStore.getState());
  if (problem !== null) throw new Error(problem);
}

/** Records the form's invalid fields (ConfigForm, from checkConfigFields); {} when all are valid. */
export function setFormErrors(errors: AppState['formErrors']): void {
  appStore.setState({ formErrors: errors });
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
  let check: DataCheck;
  try {
    check = await request<DataCheck>((requestId) => ({
      type: 'check-data',
      requestId,
      data,
      vocabUrl: vocabUrl(),
      seed: appStore.getState().staged.seed,
    }));
  } finally {
    appStore.setState({ dataProgress: null }); // the progress bar of a streamed file ends with its answer
  }
  if (!check.ok) throw new Error(check.message);
  appStore.setState({ stagedData: data });
  const run = activeRun(appStore.getState());
  if (run !== null) {
    disposeRun(run.runId);
    await ensureRun();
  }
  return check;
}

/** Files as the page picks them (File) or as scripts pass them ({ name, bytes }; a name may hold its folder). */
export type ModelFileInput = File | { name: string; bytes: Uint8Array };

/** A picked file's path: its place in a picked folder (webkitRelativePath), else its name. */
function filePath(f: ModelFileInput): string {
  return f instanceof File && f.webkitRelativePath !== '' ? f.webkitRelativePath : f.name;
}

/** The model's name: the picked folder's (webkitRelativePath or a 'dir/file' name), else "loaded model". */
function modelName(files: readonly ModelFileInput[]): string {
  for (const f of files) {
    const dir = filePath(f).split('/').slice(-2, -1)[0];
    if (dir !== undefined && dir !== '') return dir;
  }
  return 'loaded model';
}

/**
 * Starts the next runs from a Hugging Face BERT (config.json, vocab.txt or tokenizer.json, model.safetensors
 * or pytorch_model.bin, picked together or as a folder): the worker reads the files first, and files it
 * cannot use are refused with one line naming the file, leaving the current run as it is. Once accepted, the
 * current run (if any) is replaced by a new one from the model, tokenised with its vocabulary, at step 0.
 */
export async function loadModel(files: readonly ModelFileInput[]): Promise<ModelCheck & { ok: true }> {
  if (files.length === 0) throw new Error('no model files given');
  // Only the files the loader reads: a picked folder may hold other weights formats of hundreds of MB.
  const keep = new Set(modelFilesToRead(files.map(filePath)));
  const model: UserModel = {
    name: modelName(files),
    files: await Promise.all(
      files
        .filter((f) => keep.has(filePath(f)))
        .map(async (f) => ({
          name: f.name.slice(f.name.lastIndexOf('/') + 1),
          bytes: f instanceof File ? new Uint8Array(await f.arrayBuffer()) : f.bytes,
        })),
    ),
  };
  const check = await request<ModelCheck>((requestId) => ({
    type: 'check-model',
    requestId,
    model,
    seed: appStore.getState().staged.seed,
  }));
  if (!check.ok) throw new Error(check.message);
  await stageModel(model, check.summary);
  return check;
}

/** The next runs start from `model` (`init: 'loaded'`); the current run is replaced by one from it. */
async function stageModel(model: UserModel, summary: string): Promise<void> {
  appStore.setState({ stagedModel: { model, summary } });
  stageConfig({ init: 'loaded' }, false);
  const run = activeRun(appStore.getState());
  if (run !== null) {
    disposeRun(run.runId);
    await ensureRun();
  }
}

export function dismissErrors(): void {
  appStore.setState({ urlErrors: [] });
}

/**
 * Saved runs (IndexedDB, written by the worker): the list is posted by the worker on startup and after every
 * save; these ask it again, or change it. Each resolves once the worker answered with the new list.
 */
async function savedRunsCommand(msg: ToWorker): Promise<void> {
  await whenWorkerReady();
  const before = appStore.getState().saved;
  getBridge().post(msg);
  await waitForState(
    (s) => s.saved !== before,
    (s) => s.workerError,
  );
}

export function listSavedRuns(): Promise<void> {
  return savedRunsCommand({ type: 'list-runs' });
}

export function renameSavedRun(savedId: string, name: string): Promise<void> {
  if (name.trim() === '') return Promise.reject(new Error('a run name cannot be empty'));
  return savedRunsCommand({ type: 'rename-run', savedId, name });
}

export function deleteSavedRun(savedId: string): Promise<void> {
  return savedRunsCommand({ type: 'delete-run', savedId });
}

/**
 * Replaces the active run with saved run `savedId`, rebuilt in the worker from its saved inputs at its last
 * checkpoint (paused there, its metric rows up to that step restored); its config becomes the staged one.
 * Resolves once it is paused (or done) there; rejects with the worker's one-line reason.
 */
export async function resumeSavedRun(savedId: string): Promise<void> {
  await whenWorkerReady();
  const saved = appStore.getState().saved?.runs.find((r) => r.id === savedId);
  if (saved === undefined) throw new Error(`no saved run '${savedId}'`);
  await creating?.catch(() => undefined);
  const old = activeRun(appStore.getState());
  if (old !== null) disposeRun(old.runId);
  const runId = newRunId();
  appStore.setState((s) => ({ ...reduceRunCreated(s, runId, saved.config), staged: saved.config }), true);
  getBridge().post({ type: 'resume-run', runId, savedId });
  await waitForState(
    (s) => ['paused', 'done'].includes(s.runs[runId]?.status ?? ''), // posted only once the checkpoint is in
    runError(runId),
  );
}

/** Changes the lesson's view (open panels, classroom mode, preset, text); the URL follows. */
export function setLesson(patch: Partial<AppState['lesson']>): void {
  appStore.setState((s) => ({ lesson: { ...s.lesson, ...patch } }));
}

/** Opens or closes one teaching panel (the lesson remembers which are open). */
export function setPanelOpen(panel: AppState['lesson']['panels'][number], open: boolean): void {
  appStore.setState((s) => {
    const others = s.lesson.panels.filter((p) => p !== panel);
    const panels = open ? [...others, panel] : others;
    return { lesson: { ...s.lesson, panels } };
  });
}

/**
 * A masked-LM run's top-k predictions at each [MASK] of `text` (the fill-mask box). Rejects with one line
 * when there is no masked-LM run or the text has no [MASK].
 */
export async function fillMask(text: string, topK = 5): Promise<FillMaskResult> {
  const run = activeRun(appStore.getState());
  if (run === null) throw new Error('no run yet: press Start or Step first');
  const reply = await request<FillMaskReply>((requestId) => ({
    type: 'fill-mask',
    runId: run.runId,
    requestId,
    text,
    topK,
  }));
  if (!reply.ok) throw new Error(reply.message);
  return reply.fill;
}

/**
 * The stage pipeline's next step: the active run's model (a pre-trained masked LM, or any trained model)
 * becomes the loaded model the next runs start from, and the task switches to classification (the active
 * run is replaced by a fine-tuning run at step 0, with a fresh classifier head). Resolves with its name.
 */
export async function fineTuneActiveModel(): Promise<string> {
  const run = activeRun(appStore.getState());
  if (run === null) throw new Error('no run yet: pre-train first');
  const reply = await request<RunModelReply>((requestId) => ({
    type: 'run-model',
    runId: run.runId,
    requestId,
  }));
  if (!reply.ok) throw new Error(reply.message);
  const { model } = reply;
  stageConfig({ task: 'classify' }, false);
  await stageModel(model, model.name);
  return model.name;
}

/** The built-in task of the next runs (`?data=`); a loaded data file still takes precedence. */
export async function setBuiltinTask(name: BuiltinTaskName): Promise<void> {
  appStore.setState({ builtinTask: builtinTask(name).name });
  const run = activeRun(appStore.getState());
  if (run !== null && appStore.getState().stagedData === null) {
    disposeRun(run.runId); // the current run trained on the other task: a new one, at step 0
    await ensureRun();
  }
}

/**
 * Where the perturbation lands: the token view of example `index` of the batch most recently trained (or
 * of `text`), computed by the worker from one recorded ALUM step on the current weights (the run is not
 * changed). Rejects with one line when there is no run yet or the worker could not compute it.
 */
export async function tokenView(index = 0, text?: string): Promise<TokenView> {
  const run = activeRun(appStore.getState());
  if (run === null) throw new Error('no run yet: press Start or Step first');
  const reply = await request<TokenViewReply>((requestId) => ({
    type: 'token-view',
    runId: run.runId,
    requestId,
    index,
    ...(text === undefined ? {} : { text }),
  }));
  if (!reply.ok) throw new Error(reply.message);
  return reply.view;
}

/**
 * The robustness lab: runs `settings`' attack on the active run's current weights over the first `maxExamples`
 * dev examples, in the worker (progress in `attackProgress`; `cancelAttack` stops it after the current
 * example, and the partial result is kept, marked cancelled). The result joins `attacks` with the run's name
 * and step. Rejects with one line when there is no classification run or the attack could not run.
 */
export async function runAttack(settings: AttackSettings, maxExamples: number): Promise<AttackEntry> {
  const run = activeRun(appStore.getState());
  if (run === null) throw new Error('no run to attack yet: train one first (Start or Step)');
  if (!Number.isInteger(maxExamples) || maxExamples < 1)
    throw new Error(`examples to attack must be a positive integer, got ${maxExamples}`);
  const step = run.step;
  const reply = await request<AttackReply>((requestId) => {
    appStore.setState({ attackProgress: { requestId, done: 0, total: maxExamples } });
    return { type: 'attack', runId: run.runId, requestId, settings, maxExamples };
  }).finally(() => appStore.setState({ attackProgress: null }));
  if (!reply.ok) throw new Error(reply.message);
  const entry: AttackEntry = {
    id: `attack-${++requestCounter}`,
    runId: run.runId,
    runName: run.name,
    step,
    labels: run.info?.labels ?? [],
    summary: reply.summary,
    records: reply.records,
  };
  appStore.setState((s) => ({ attacks: [...s.attacks, entry] }));
  return entry;
}

/** Stops the running attack after its current example (its partial result still arrives); a no-op when none. */
export function cancelAttack(): void {
  const p = appStore.getState().attackProgress;
  if (p !== null) getBridge().post({ type: 'cancel-attack', requestId: p.requestId });
}

/** Forgets every attack result of the page (the lab's table, chart and examples). */
export function clearAttacks(): void {
  appStore.setState({ attacks: [] });
}

/**
 * The backend menu: `requested` forces a backend, null (auto) calibrates again on the staged model. The same
 * worker switches (no reload): it pauses the runs, which keep their weights and go on from their step on the
 * new backend. `?backend=` follows `worker.requested` (main.tsx); commands wait for the worker's `ready`.
 */
export function setBackend(requested: BackendName | null): void {
  appStore.setState((s) => ({ worker: { ...s.worker, requested, ready: false } }));
  getBridge().post({ type: 'set-backend', backend: requested, model: appStore.getState().staged.model });
}

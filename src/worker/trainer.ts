/**
 * The worker side of the protocol: owns the tfjs backend and any number of training runs (by id), steps
 * them, and streams metrics back in batches. The endpoint is injected (a DedicatedWorkerGlobalScope in the
 * browser, a MessagePort in tests), as in comlink's `expose(obj, ep)`.
 */
import type { BackendChoice, BackendLoaders } from '../core/backend.ts';
import { BROWSER_CHAIN, initBackend } from '../core/backend.ts';
import type { BackendName, TrainConfig } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { MetricRow } from '../core/metrics.ts';
import {
  createRun,
  loadTask,
  taskFromFile,
  withTokenizerOptions,
  type LoadedTask,
} from '../core/train/session.ts';
import type { TrainingRun } from '../core/train/run.ts';
import { dataPreview } from '../core/data/preview.ts';
import { exportRunZip } from './export.ts';
import { loadUserTask, type DataProgress } from './user-data.ts';
import { restoreCheckpoint } from '../core/train/checkpoint.ts';
import type { RunArchive } from './persist.ts';
import { RunSaver, sourceOf, type SavedSession } from './saved-runs.ts';
import {
  assertNever,
  PROTOCOL_VERSION,
  type Endpoint,
  type DataCheck,
  type FromWorker,
  type ModelExport,
  type RunId,
  type RunStatus,
  type ToWorker,
  type UserData,
  type ModelCheck,
  type TokenViewReply,
  type UserModel,
} from '../protocol/messages.ts';
import { describeLoad, loadHfModel, withLabels, type LoadedHfModel } from '../core/model/hf-load.ts';
import { paramsFromArrays } from '../core/model/params.ts';
import { encodeSplit } from '../core/data/dataset.ts';
import type { WordPieceTokenizer } from '../core/tokenizer/wordpiece.ts';
import { currentBatchRows, tokenView } from '../core/train/token-view.ts';

/** How long metric rows are held before being posted together. */
const FLUSH_MS = 100;

interface Session {
  id: RunId;
  config: TrainConfig;
  dataUrl: string;
  vocabUrl: string;
  /** The user's data file, or null for the task at `dataUrl`. */
  data: UserData | null;
  /** The user's model the run starts from (its vocabulary replaces `vocabUrl`'s), or null for random weights. */
  model: UserModel | null;
  /** The vocabulary of a loaded model and its casing, written into the exported folder. */
  modelVocab?: { text: string; lowercase: boolean };
  run: TrainingRun | null;
  status: RunStatus;
  /** Steps still owed to `step(n)` commands. */
  owed: number;
  /** The in-flight pump; commands that dispose the run wait for it. */
  pump: Promise<void> | null;
  rows: MetricRow[];
  lastFlush: number;
  /** Set while reset/dispose waits for the pump: the pump then posts nothing more. */
  disposing: boolean;
  /** Its saved run, when runs are saved (`archive` given to the Trainer). */
  saved?: SavedSession;
  /** The run's tokenizer (ids to tokens, and a typed text to ids for the token view). */
  tokenizer?: WordPieceTokenizer;
}

export type TextFetcher = (url: string) => Promise<string>;

export class Trainer {
  private readonly sessions = new Map<RunId, Session>();
  private readonly tasks = new Map<string, Promise<LoadedTask>>();
  private readonly vocabs = new Map<string, Promise<string>>();
  private backend: Promise<BackendChoice> | null = null;

  constructor(
    private readonly ep: Endpoint<ToWorker, FromWorker>,
    private readonly loaders: BackendLoaders,
    private readonly fetchText: TextFetcher,
    private readonly chain: readonly BackendName[] = BROWSER_CHAIN,
    archive: RunArchive | null = null,
  ) {
    const live = () => this.liveSaved();
    this.saver = archive && new RunSaver(archive, (m) => this.post(m), live);
    // Commands are handled one after another: a `start` sent right after `reset` waits for the reset to
    // finish instead of reviving the run being disposed. Training itself runs outside this queue (the pump),
    // so `pause` is handled while a run trains.
    ep.addEventListener('message', (ev) => {
      this.queue = this.queue
        .then(() => this.handle(ev.data))
        .catch((e: unknown) => this.fail(runIdOf(ev.data), e));
    });
  }

  private queue: Promise<void> = Promise.resolve();
  private readonly saver: RunSaver | null;

  /** Saved run id -> the live run writing to it. */
  private liveSaved(): Map<string, RunId> {
    const live = new Map<string, RunId>();
    this.sessions.forEach((s) => s.saved && s.run && live.set(s.saved.id, s.id));
    return live;
  }

  private post(msg: FromWorker): void {
    this.ep.postMessage(msg);
  }

  private fail(runId: RunId | null, e: unknown): void {
    this.post({ type: 'error', runId, message: errorMessage(e) });
  }

  async handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'hello': {
        if (msg.protocolVersion !== PROTOCOL_VERSION) {
          throw new Error(
            `protocol version mismatch: page speaks ${msg.protocolVersion}, worker ${PROTOCOL_VERSION}; reload the page`,
          );
        }
        this.backend ??= initBackend(msg.backend, this.chain, this.loaders);
        const choice = await this.backend;
        this.post({
          type: 'ready',
          protocolVersion: PROTOCOL_VERSION,
          backend: choice.backend,
          backendReason: choice.reason,
        });
        await this.saver?.postList();
        return;
      }
      case 'create':
        await this.create(
          msg.runId,
          msg.config,
          msg.dataUrl,
          msg.vocabUrl,
          msg.data ?? null,
          msg.model ?? null,
        );
        this.track(msg.runId, sourceOf(msg));
        return;
      case 'check-data':
        this.post({ type: 'data-checked', requestId: msg.requestId, result: await this.checkData(msg) });
        return;
      case 'check-model':
        this.post({
          type: 'model-checked',
          requestId: msg.requestId,
          result: checkModel(msg.model, msg.seed),
        });
        return;
      case 'start':
        this.start(this.session(msg.runId));
        return;
      case 'pause':
        this.pause(this.session(msg.runId));
        return;
      case 'step': {
        const s = this.session(msg.runId);
        if (!s.run) throw new Error(`run '${s.id}' is not ready (${s.status})`);
        if (s.status === 'running') return;
        s.owed += Math.max(0, Math.floor(msg.n));
        this.ensurePump(s);
        return;
      }
      case 'reset': {
        const s = this.session(msg.runId);
        await this.stopAndDispose(s);
        await this.create(msg.runId, msg.config, s.dataUrl, s.vocabUrl, s.data, s.model);
        if (s.saved) this.track(msg.runId, s.saved.source); // a reset run is a new saved run
        return;
      }
      case 'set-config': {
        const s = this.session(msg.runId);
        if (!s.run) throw new Error(`run '${s.id}' is not ready (${s.status})`);
        s.run.applyLiveSettings(msg.config); // between two steps: the pump reads it at the next step
        s.config = msg.config;
        this.flush(s); // the rows before the change arrive before it
        this.post({ type: 'config-applied', runId: s.id, step: s.run.step, config: msg.config });
        return;
      }
      case 'dispose': {
        const s = this.session(msg.runId);
        await this.stopAndDispose(s);
        this.sessions.delete(msg.runId);
        return;
      }
      case 'export-model':
        this.post({
          type: 'model-export',
          runId: msg.runId,
          requestId: msg.requestId,
          result: await this.exportModel(msg.runId),
        });
        return;
      case 'token-view':
        this.post({ type: 'token-view', requestId: msg.requestId, result: await this.tokenView(msg) });
        return;
      case 'list-runs':
      case 'resume-run':
      case 'rename-run':
      case 'delete-run':
        await this.savedRuns(msg);
        return;
      default:
        assertNever(msg);
    }
  }

  /** The token view of an example of the current batch or of a typed text; never throws (the run is unaffected). */
  private async tokenView(msg: Extract<ToWorker, { type: 'token-view' }>): Promise<TokenViewReply> {
    try {
      const s = this.session(msg.runId);
      if (!s.run || !s.tokenizer) throw new Error(`run '${msg.runId}' has no model yet (${s.status})`);
      const vocab = s.tokenizer.vocab;
      if (msg.text !== undefined) {
        if (msg.text.trim() === '') throw new Error('token view: the text is empty');
        const split = encodeSplit(s.tokenizer, [{ text: msg.text, label: 0 }], s.run.train.maxLength);
        return { ok: true, view: await tokenView(s.run, 0, vocab, split) };
      }
      const rows = currentBatchRows(s.run);
      const row = rows[Math.min(Math.max(0, Math.floor(msg.index)), rows.length - 1)] as number;
      return { ok: true, view: await tokenView(s.run, row, vocab) };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  /** The run's HF folder as a zip, or why not; never throws (the run itself is unaffected). */
  private async exportModel(id: RunId): Promise<ModelExport> {
    try {
      const s = this.session(id);
      if (!s.run) throw new Error(`run '${id}' has no model yet (${s.status})`);
      const run = s.run;
      const vocab = s.modelVocab ?? { text: await this.vocab(s.vocabUrl), lowercase: true };
      const zip = await exportRunZip(run, vocab.text, vocab.lowercase);
      return { ok: true, zip, step: run.step, fileName: `alum-${run.config.model}-step${run.step}.zip` };
    } catch (e) {
      return { ok: false, message: `export failed: ${errorMessage(e)}` };
    }
  }

  /** Gives a just-created run its saved run (written from its first checkpoint on). */
  private track(id: RunId, source: Record<string, unknown>): void {
    const s = this.sessions.get(id);
    if (this.saver && s?.run) s.saved = this.saver.begin(s.config, source);
  }

  /** The runs list and its commands; every one is answered with the list (and any problem in it). */
  private async savedRuns(msg: Extract<ToWorker, { type: `${string}-run` | 'list-runs' }>): Promise<void> {
    const saver = this.saver;
    if (!saver) throw new Error('saved runs are off in this worker');
    try {
      if (msg.type === 'rename-run') {
        await saver.archive.rename(msg.savedId, msg.name);
        this.sessions.forEach((s) => s.saved?.id === msg.savedId && (s.saved.name = msg.name.trim()));
      }
      if (msg.type === 'delete-run') {
        await saver.archive.remove(msg.savedId);
        this.sessions.forEach((s) => s.saved?.id === msg.savedId && delete s.saved); // the run goes on, unsaved
      }
      if (msg.type === 'resume-run') await this.resume(saver, msg.runId, msg.savedId); // fails the new run
      if (msg.type !== 'list-runs' && !saver.archive.problem?.startsWith('saved runs unavailable')) {
        saver.archive.problem = null; // the last command's problem, if any, is over
      }
    } catch (e) {
      if (msg.type === 'resume-run') throw e;
      saver.archive.problem = errorMessage(e); // a failed rename or delete is the list's problem, not the worker's
    } finally {
      await saver.postList();
    }
  }

  /** Creates run `id` from a saved run's inputs and puts its last checkpoint in; it is then paused there. */
  private async resume(saver: RunSaver, id: RunId, savedId: string): Promise<void> {
    const { record, source, checkpoint } = await saver.archive.load(savedId);
    await this.handle({ ...source, type: 'create', runId: id, config: record.config } as ToWorker);
    const s = this.session(id);
    if (!s.run) throw new Error(`saved run '${record.name}' could not be rebuilt (${s.status})`);
    try {
      restoreCheckpoint(s.run, checkpoint, `saved run '${record.name}'`);
    } catch (e) {
      await this.stopAndDispose(s);
      this.setStatus(s, 'error');
      throw e;
    }
    const status: RunStatus = s.run.done ? 'done' : 'paused';
    s.saved = saver.resumed(record, source, checkpoint.meta.step, status);
    s.rows.push(...s.saved.history); // the metrics up to the checkpoint, so the charts go on from there
    this.setStatus(s, status);
  }

  private session(id: RunId): Session {
    const s = this.sessions.get(id);
    if (!s) throw new Error(`no run '${id}'`);
    return s;
  }

  private setStatus(s: Session, status: RunStatus): void {
    s.status = status;
    const settled = status === 'paused' || status === 'done' || status === 'ready';
    if (s.saved && s.run && settled) void this.saver?.queue(s.saved, s.run, status);
    this.flush(s);
    this.post({ type: 'status', runId: s.id, status, step: s.run?.step ?? 0 });
  }

  /** Parses a user's data file as a run would, touching no run; never throws. Streams post progress. */
  private async checkData(msg: {
    requestId: string;
    data: UserData;
    vocabUrl: string;
    seed: number;
  }): Promise<DataCheck> {
    try {
      const vocabText = await this.vocab(msg.vocabUrl);
      const task = await this.userTask(msg.data, vocabText, msg.vocabUrl, msg.seed, msg.requestId);
      const { train, dev, labels } = task.data;
      const preview = dataPreview(task.data, task.tokenizer);
      const name = msg.data.name;
      return { ok: true, name, trainExamples: train.length, devExamples: dev.length, labels, preview };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  private async create(
    id: RunId,
    config: TrainConfig,
    dataUrl: string,
    vocabUrl: string,
    data: UserData | null,
    model: UserModel | null = null,
  ): Promise<void> {
    if (!this.backend) throw new Error('send hello before create');
    await this.backend;
    const previous = this.sessions.get(id);
    if (previous) await this.stopAndDispose(previous); // a re-used id replaces its run, freeing the old one
    const s: Session = {
      id,
      config,
      dataUrl,
      vocabUrl,
      data,
      model,
      run: null,
      status: 'loading',
      owed: 0,
      pump: null,
      rows: [],
      lastFlush: 0,
      disposing: false,
    };
    this.sessions.set(id, s);
    this.setStatus(s, 'loading');
    try {
      const loaded = model && readModel(model, config.seed);
      const vocabText = loaded?.vocabText ?? (await this.vocab(vocabUrl));
      const vocabOrigin = loaded ? `${model?.name ?? 'model'}/vocabulary` : vocabUrl;
      let task = data
        ? await this.userTask(data, vocabText, vocabOrigin, config.seed)
        : loaded
          ? loadTask(await this.fetchText(dataUrl), vocabText, dataUrl, vocabOrigin)
          : await this.task(dataUrl, vocabUrl);
      if (this.sessions.get(id) !== s) return; // reset or disposed while loading
      let init;
      let initReport = loaded?.report;
      if (loaded) {
        task = withTokenizerOptions(task, { lowercase: loaded.lowercase });
        const fitted = withLabels(loaded, task.data.labels, config.seed);
        initReport = fitted.report;
        init = {
          model: fitted.model,
          params: paramsFromArrays(fitted.model, fitted.arrays, fitted.report.name),
        };
        s.modelVocab = { text: loaded.vocabText, lowercase: loaded.lowercase };
      }
      s.tokenizer = task.tokenizer;
      try {
        s.run = createRun(config, task, init);
      } catch (e) {
        init?.params.forEach((v) => v.dispose());
        throw e;
      }
      this.post({
        type: 'run-created',
        info: {
          runId: id,
          config,
          dataName: data?.name ?? dataUrl.replace(/^.*\//, ''),
          paramCount: s.run.paramCount,
          vocabSize: s.run.model.vocabSize,
          trainExamples: task.data.train.length,
          devExamples: task.data.dev.length,
          labels: task.data.labels,
          ...majorityOf(s.run.classifies, task.data.dev, task.data.labels),
          ...(initReport ? { init: { name: initReport.name, summary: describeLoad(initReport) } } : {}),
        },
      });
      this.setStatus(s, 'ready');
    } catch (e) {
      this.setStatus(s, 'error');
      throw e;
    }
  }

  /** Fetched and parsed once per (data, vocab) pair; tokenised per max length inside `createRun`. */
  private task(dataUrl: string, vocabUrl: string): Promise<LoadedTask> {
    return cached(this.tasks, `${dataUrl}\n${vocabUrl}`, async () =>
      loadTask(await this.fetchText(dataUrl), await this.vocab(vocabUrl), dataUrl, vocabUrl),
    );
  }

  /** A user's data (text, or a File streamed with progress posted under `requestId`), and its dev file. */
  private async userTask(
    data: UserData,
    vocabText: string,
    vocabOrigin: string,
    seed: number,
    requestId?: string,
  ): Promise<LoadedTask> {
    if (/\.json$/i.test(data.name)) {
      const text = data.file === undefined ? data.text : await data.file.text(); // a task JSON is parsed whole
      return taskFromFile(data.name, text, vocabText, vocabOrigin, seed);
    }
    let last = 0;
    const progress: DataProgress = (file, bytes, total, rows) => {
      const now = performance.now();
      if (requestId === undefined || (now - last < 100 && bytes < total)) return;
      last = now;
      this.post({ type: 'data-progress', requestId, file, bytes, total, rows });
    };
    return loadUserTask(data, vocabText, vocabOrigin, seed, progress);
  }

  /** A vocabulary's text, fetched once per URL. */
  private vocab(vocabUrl: string): Promise<string> {
    return cached(this.vocabs, vocabUrl, () => this.fetchText(vocabUrl));
  }

  private start(s: Session): void {
    if (!s.run) throw new Error(`run '${s.id}' is not ready (${s.status})`);
    if (s.run.done) {
      this.setStatus(s, 'done');
      return;
    }
    if (s.status !== 'running') this.setStatus(s, 'running');
    this.ensurePump(s);
  }

  private pause(s: Session): void {
    s.owed = 0;
    if (s.status !== 'running') return;
    // With a step in flight, 'paused' is posted by the pump after that step's row, so the UI never sees
    // the step count move after it was told the run is paused.
    if (s.pump) s.status = 'paused';
    else this.setStatus(s, 'paused');
  }

  private ensurePump(s: Session): void {
    s.pump ??= this.pumpLoop(s)
      .catch((e: unknown) => {
        s.owed = 0;
        this.fail(s.id, e);
      })
      .finally(() => {
        s.pump = null;
      });
  }

  private async pumpLoop(s: Session): Promise<void> {
    const run = s.run;
    if (!run) throw new Error(`run '${s.id}' is not ready (${s.status})`);
    while ((s.status === 'running' || s.owed > 0) && this.sessions.get(s.id) === s && s.run === run) {
      if (run.done) {
        s.owed = 0;
        this.setStatus(s, 'done');
        return;
      }
      // A step counts against `step(n)` only when it was started for it (not while free-running).
      const forOwed = s.status !== 'running' && s.owed > 0;
      await s.saved?.saving; // never step while a checkpoint of this run is being read
      try {
        const row: MetricRow = await run.trainStep();
        s.rows.push(row); // recorded before evaluating: a failed evaluation does not lose the step
        s.saved?.history.push(row);
        await run.evaluateDueInto(row); // timed: the row's ms is the step's real wall time
      } catch (e) {
        // The update of a failing step is not applied: the weights trained so far are kept.
        s.owed = 0;
        this.fail(s.id, e);
        this.setStatus(s, 'paused');
        return;
      }
      if (s.saved && this.saver?.due(run)) void this.saver.queue(s.saved, run, 'running');
      if (forOwed && s.owed > 0) s.owed -= 1;
      if (s.status !== 'running' && s.owed === 0) {
        this.setStatus(s, run.done ? 'done' : s.status === 'ready' ? 'ready' : 'paused');
        return;
      }
      if (performance.now() - s.lastFlush >= FLUSH_MS) this.flush(s);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let pause/step/reset messages in
    }
    // Paused between two steps: post the status now, after the last row.
    if (!s.disposing && this.sessions.get(s.id) === s) this.setStatus(s, s.status);
    else this.flush(s);
  }

  private flush(s: Session): void {
    s.lastFlush = performance.now();
    if (s.rows.length === 0) return;
    this.post({ type: 'metrics', runId: s.id, rows: s.rows.splice(0) });
  }

  private async stopAndDispose(s: Session): Promise<void> {
    s.owed = 0;
    s.status = 'paused';
    s.disposing = true;
    await s.pump?.catch(() => undefined);
    if (s.saved && s.run && this.saver) await this.saver.queue(s.saved, s.run, 'paused'); // the latest state
    s.run?.dispose();
    s.run = null;
    s.rows = [];
  }
}

/** The dev set's most frequent label and its share (`devMajority`), for classification with a dev set. */
export function majorityOf(
  classifies: boolean,
  dev: readonly { label: number }[],
  labels: readonly string[],
): { devMajority?: { label: string; share: number } } {
  if (!classifies || dev.length === 0) return {};
  const counts = new Map<number, number>();
  dev.forEach((ex) => counts.set(ex.label, (counts.get(ex.label) ?? 0) + 1));
  const [best, n] = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a));
  return { devMajority: { label: labels[best] ?? String(best), share: n / dev.length } };
}

/** A user's model files read by the core loader (one Error line naming the file on bad input). */
function readModel(model: UserModel, seed: number): LoadedHfModel {
  return loadHfModel(
    model.files.map((f) => [f.name, f.bytes]),
    { name: model.name, seed },
  );
}

/** Reads a user's model as a run would, touching no run; never throws. */
function checkModel(model: UserModel, seed: number): ModelCheck {
  try {
    const m = readModel(model, seed);
    return {
      ok: true,
      name: m.report.name,
      summary: describeLoad(m.report),
      labels: m.labels,
      vocabSize: m.model.vocabSize,
      maxPositions: m.model.maxPositions,
      initialised: m.report.initialised,
      ignored: m.report.ignored,
    };
  } catch (e) {
    return { ok: false, message: errorMessage(e) };
  }
}

/** `map[key]`, computed once by `make`; a failed promise is forgotten so the next call retries. */
function cached<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = make();
    p.catch(() => map.delete(key));
    map.set(key, p);
  }
  return p;
}

function runIdOf(msg: ToWorker): RunId | null {
  return 'runId' in msg ? msg.runId : null;
}

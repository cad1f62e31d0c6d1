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
import { createRun, loadTask, taskFromFile, type LoadedTask } from '../core/train/session.ts';
import type { TrainingRun } from '../core/train/run.ts';
import { exportRunZip } from './export.ts';
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
} from '../protocol/messages.ts';

/** How long metric rows are held before being posted together. */
const FLUSH_MS = 100;

interface Session {
  id: RunId;
  config: TrainConfig;
  dataUrl: string;
  vocabUrl: string;
  /** The user's data file, or null for the task at `dataUrl`. */
  data: UserData | null;
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
  ) {
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
        return;
      }
      case 'create':
        await this.create(msg.runId, msg.config, msg.dataUrl, msg.vocabUrl, msg.data ?? null);
        return;
      case 'check-data':
        this.post({ type: 'data-checked', requestId: msg.requestId, result: await this.checkData(msg) });
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
        await this.create(msg.runId, msg.config, s.dataUrl, s.vocabUrl, s.data);
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
      default:
        assertNever(msg);
    }
  }

  /** The run's HF folder as a zip, or why not; never throws (the run itself is unaffected). */
  private async exportModel(id: RunId): Promise<ModelExport> {
    try {
      const s = this.session(id);
      if (!s.run) throw new Error(`run '${id}' has no model yet (${s.status})`);
      const run = s.run;
      const zip = await exportRunZip(run, await this.vocab(s.vocabUrl));
      return { ok: true, zip, step: run.step, fileName: `alum-${run.config.model}-step${run.step}.zip` };
    } catch (e) {
      return { ok: false, message: `export failed: ${errorMessage(e)}` };
    }
  }

  private session(id: RunId): Session {
    const s = this.sessions.get(id);
    if (!s) throw new Error(`no run '${id}'`);
    return s;
  }

  private setStatus(s: Session, status: RunStatus): void {
    s.status = status;
    this.flush(s);
    this.post({ type: 'status', runId: s.id, status, step: s.run?.step ?? 0 });
  }

  /** Parses a user's data file as a run would, touching no run; never throws. */
  private async checkData(msg: { data: UserData; vocabUrl: string; seed: number }): Promise<DataCheck> {
    try {
      const task = taskFromFile(
        msg.data.name,
        msg.data.text,
        await this.vocab(msg.vocabUrl),
        msg.vocabUrl,
        msg.seed,
      );
      const { train, dev, labels } = task.data;
      return { ok: true, name: msg.data.name, trainExamples: train.length, devExamples: dev.length, labels };
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
      const task = data
        ? taskFromFile(data.name, data.text, await this.vocab(vocabUrl), vocabUrl, config.seed)
        : await this.task(dataUrl, vocabUrl);
      if (this.sessions.get(id) !== s) return; // reset or disposed while loading
      s.run = createRun(config, task);
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
      try {
        const row: MetricRow = await run.trainStep();
        s.rows.push(row); // recorded before evaluating: a failed evaluation does not lose the step
        if (run.evalDue) row.devAccuracy = await run.evaluate();
      } catch (e) {
        // The update of a failing step is not applied: the weights trained so far are kept.
        s.owed = 0;
        this.fail(s.id, e);
        this.setStatus(s, 'paused');
        return;
      }
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
    s.run?.dispose();
    s.run = null;
    s.rows = [];
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

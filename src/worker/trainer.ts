/**
 * The worker side of the protocol: owns the tfjs backend and any number of training runs (by id), steps
 * them, and streams metrics back in batches. The endpoint is injected (a DedicatedWorkerGlobalScope in the
 * browser, a MessagePort in tests), as in comlink's `expose(obj, ep)`.
 */
import type { BackendChoice, BackendLoaders } from '../core/backend.ts';
import { BROWSER_CHAIN, initBackend } from '../core/backend.ts';
import { chooseBackend } from '../core/calibrate.ts';
import type { BackendName, ModelPresetName, TrainConfig } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { MetricRow } from '../core/metrics.ts';
import {
  createMlmRun,
  createRun,
  loadTask,
  ownInit,
  mlmUnigramBaseline,
  taskFromFile,
  withTokenizerOptions,
  type Corpus,
  type LoadedTask,
} from '../core/train/session.ts';
import { corpusDocuments } from '../core/data/corpus.ts';
import { fillMask } from '../core/train/fill-mask.ts';
import { PRETRAINED_MODELS } from '../core/config.ts';
import type { TrainingRun } from '../core/train/run.ts';
import { dataPreview } from '../core/data/preview.ts';
import { exportRunZip, runFolderFiles } from './export.ts';
import { AttackJobs, type AttackSource } from './attack.ts';
import type { Example } from '../core/data/dataset.ts';
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
  type AttackToWorker,
  type FillMaskReply,
  type RunInfo,
  type RunModelReply,
  type TokenViewReply,
  type UserModel,
} from '../protocol/messages.ts';
import {
  describeLoad,
  loadHfModel,
  maskedLmParams,
  withLabels,
  type LoadedHfModel,
} from '../core/model/hf-load.ts';
import { paramsFromArrays, type Params } from '../core/model/params.ts';
import type { ModelConfig } from '../core/config.ts';
import { encodeSplit } from '../core/data/dataset.ts';
import { WordPieceTokenizer } from '../core/tokenizer/wordpiece.ts';
import { currentBatchRows, tokenView } from '../core/train/token-view.ts';

/** How long metric rows are held before being posted together. */
const FLUSH_MS = 100;

/** The files of a built-in pre-trained model folder the loader reads (its README.md is the model card). */
const PRETRAINED_FILES = ['config.json', 'model.safetensors', 'vocab.txt'] as const;
/** The built-in pre-training corpus and its held-out slice, under public/ (scripts/prepare-data.ts). */
const BUILTIN_CORPUS = ['data/corpus.txt', 'data/corpus-dev.txt'] as const;

/** A run just made, and what its `run-created` message says of its data and start. */
interface BuiltRun {
  run: TrainingRun;
  info: Omit<RunInfo, 'runId' | 'config' | 'paramCount' | 'vocabSize'>;
}

/** What a run is made from, besides its config. */
interface RunInputs {
  dataUrl: string;
  vocabUrl: string;
  publicUrl: string | null;
  data: UserData | null;
  model: UserModel | null;
}

interface Session {
  id: RunId;
  config: TrainConfig;
  dataUrl: string;
  vocabUrl: string;
  /** The user's data file, or null for the task at `dataUrl`. */
  data: UserData | null;
  /** The user's model the run starts from (its vocabulary replaces `vocabUrl`'s), or null. */
  model: UserModel | null;
  /** Where public/ is served (built-in pre-trained models, the corpus), when the page said. */
  publicUrl: string | null;
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
  /** A classification run's dev examples (texts and labels: what the robustness lab attacks). */
  dev?: readonly Example[];
}

export type TextFetcher = (url: string) => Promise<string>;
export type BytesFetcher = (url: string) => Promise<Uint8Array>;

/** The browser's fetch, as bytes; a missing file is one line naming its URL. */
export const fetchBytes: BytesFetcher = async (url) => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

export class Trainer {
  private readonly sessions = new Map<RunId, Session>();
  private readonly tasks = new Map<string, Promise<LoadedTask>>();
  private readonly vocabs = new Map<string, Promise<string>>();
  private readonly pretrained = new Map<string, Promise<UserModel>>();
  private readonly attacks = new AttackJobs((m) => this.post(m));
  private backend: Promise<BackendChoice> | null = null;

  constructor(
    private readonly ep: Endpoint<ToWorker, FromWorker>,
    private readonly loaders: BackendLoaders,
    private readonly fetchText: TextFetcher,
    private readonly chain: readonly BackendName[] = BROWSER_CHAIN,
    archive: RunArchive | null = null,
    private readonly fetchBinary: BytesFetcher = fetchBytes,
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
        this.backend ??= chooseBackend(msg.backend, this.chain, this.loaders, msg.model ?? null);
        this.postReady(await this.backend);
        await this.saver?.postList();
        return;
      }
      case 'set-backend':
        this.postReady(await this.switchBackend(msg.backend, msg.model));
        return;
      case 'create':
        await this.create(msg.runId, msg.config, {
          dataUrl: msg.dataUrl,
          vocabUrl: msg.vocabUrl,
          publicUrl: msg.publicUrl ?? null,
          data: msg.data ?? null,
          model: msg.model ?? null,
        });
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
        await this.create(msg.runId, msg.config, s);
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
      case 'fill-mask':
        this.post({ type: 'fill-mask', requestId: msg.requestId, result: await this.fillMask(msg) });
        return;
      case 'run-model':
        this.post({ type: 'run-model', requestId: msg.requestId, result: await this.runModel(msg.runId) });
        return;
      case 'attack':
      case 'cancel-attack':
        // Not awaited: an attack runs beside the command queue, so its cancel (and training) get in.
        void this.attacks.handle(msg, () => this.attackSource(msg));
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

  private postReady(choice: BackendChoice): void {
    this.post({
      type: 'ready',
      protocolVersion: PROTOCOL_VERSION,
      backend: choice.backend,
      backendReason: choice.reason,
    });
  }

  /**
   * Pauses every run, waits for their steps in flight, cancels any attack and waits for it, then chooses the backend again (forced, or calibrated
   * on `model`). Runs keep their tensors: tfjs moves each to the new backend when it is next used. If the new
   * choice fails, the old backend is set again and the reason says so.
   */
  private async switchBackend(forced: BackendName | null, model: ModelPresetName): Promise<BackendChoice> {
    this.sessions.forEach((s) => this.pause(s));
    for (const s of this.sessions.values()) await s.pump?.catch(() => undefined);
    await this.attacks.cancelAll();
    const before = await this.backend?.catch(() => null);
    try {
      const choice = await chooseBackend(forced, this.chain, this.loaders, model);
      this.backend = Promise.resolve(choice);
      return choice;
    } catch (e) {
      if (!before) throw e;
      await initBackend(before.backend, this.chain, this.loaders);
      const kept = { backend: before.backend, reason: `kept ${before.backend}: ${errorMessage(e)}` };
      this.backend = Promise.resolve(kept);
      return kept;
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

  /** What an attack reads of a run: its current weights, tokenizer, input length and dev examples. */
  private attackSource(msg: AttackToWorker): AttackSource {
    if (msg.type !== 'attack') throw new Error('cancel-attack reads no run');
    const s = this.session(msg.runId);
    if (!s.run || !s.tokenizer || !s.dev)
      throw new Error(`run '${msg.runId}' has no model yet (${s.status})`);
    if (s.run.config.task !== 'classify')
      throw new Error('attacks need a classification run: this one pre-trains a masked LM');
    const { params, model } = s.run;
    return { params, model, tokenizer: s.tokenizer, maxLength: s.run.train.maxLength, dev: s.dev };
  }

  /** A masked-LM run's predictions at each [MASK] of a typed text; never throws (the run is unaffected). */
  private async fillMask(msg: Extract<ToWorker, { type: 'fill-mask' }>): Promise<FillMaskReply> {
    try {
      const s = this.session(msg.runId);
      if (!s.run || !s.tokenizer) throw new Error(`run '${msg.runId}' has no model yet (${s.status})`);
      if (s.run.config.task !== 'mlm')
        throw new Error('fill-mask needs a masked-LM run (task mlm): this run is a classifier');
      const fill = await fillMask(
        s.run.params,
        s.run.model,
        s.tokenizer,
        msg.text,
        s.run.train.maxLength,
        msg.topK,
      );
      return { ok: true, fill };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  /** The run's model as HF folder files (to fine-tune next), or why not; never throws. */
  private async runModel(id: RunId): Promise<RunModelReply> {
    try {
      const { s, run, vocab } = await this.withVocab(id);
      const files = await runFolderFiles(run, vocab.text, vocab.lowercase);
      const what = run.config.task === 'mlm' ? 'pre-trained' : 'trained';
      const name = `${s.saved?.name ?? run.config.model} (${what}, step ${run.step})`;
      return { ok: true, model: { name, files }, step: run.step };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  /** A run with a model, and the vocabulary its folder carries (a loaded model's, else the built-in one). */
  private async withVocab(
    id: RunId,
  ): Promise<{ s: Session; run: TrainingRun; vocab: { text: string; lowercase: boolean } }> {
    const s = this.session(id);
    if (!s.run) throw new Error(`run '${id}' has no model yet (${s.status})`);
    const run = s.run;
    return { s, run, vocab: s.modelVocab ?? { text: await this.vocab(s.vocabUrl), lowercase: true } };
  }

  /** The run's HF folder as a zip, or why not; never throws (the run itself is unaffected). */
  private async exportModel(id: RunId): Promise<ModelExport> {
    try {
      const { run, vocab } = await this.withVocab(id);
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

  private async create(id: RunId, config: TrainConfig, inputs: RunInputs): Promise<void> {
    if (!this.backend) throw new Error('send hello before create');
    await this.backend;
    const previous = this.sessions.get(id);
    if (previous) await this.stopAndDispose(previous); // a re-used id replaces its run, freeing the old one
    const s: Session = {
      id,
      config,
      dataUrl: inputs.dataUrl,
      vocabUrl: inputs.vocabUrl,
      publicUrl: inputs.publicUrl,
      data: inputs.data,
      model: inputs.model,
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
      const loaded = await this.startingModel(s, config);
      if (loaded) s.modelVocab = { text: loaded.vocabText, lowercase: loaded.lowercase };
      const built =
        config.task === 'mlm'
          ? await this.buildMlmRun(s, config, loaded)
          : await this.buildRun(s, config, loaded);
      if (this.sessions.get(id) !== s) {
        built?.run.dispose(); // reset or disposed while loading
        return;
      }
      if (!built) return;
      s.run = built.run;
      this.post({
        type: 'run-created',
        info: {
          runId: id,
          config,
          paramCount: built.run.paramCount,
          vocabSize: built.run.model.vocabSize,
          ...built.info,
        },
      });
      this.setStatus(s, 'ready');
    } catch (e) {
      this.setStatus(s, 'error');
      throw e;
    }
  }

  /**
   * The checkpoint a run starts from: the user's model, the built-in pre-trained one (`init: 'pretrained'`), or
   * none (random weights). `init: 'loaded'` without a loaded model is one line.
   */
  private async startingModel(s: Session, config: TrainConfig): Promise<LoadedHfModel | null> {
    if (s.model) return readModel(s.model, config.seed);
    if (config.init === 'loaded') {
      throw new Error(
        "config field 'init' is 'loaded' but no model is loaded: load one (Load model), or start from pretrained or random",
      );
    }
    if (config.init !== 'pretrained') return null;
    return readModel(await this.pretrainedModel(config, s.publicUrl), config.seed);
  }

  /** The built-in pre-trained model of the config's size, fetched once (config.json, model.safetensors, vocab.txt). */
  private pretrainedModel(config: TrainConfig, publicUrl: string | null): Promise<UserModel> {
    const folder = PRETRAINED_MODELS[config.model];
    if (folder === undefined) throw new Error(`no built-in pre-trained '${config.model}' model`);
    if (publicUrl === null)
      throw new Error("init 'pretrained': the page did not say where public/ is served");
    const base = new URL(`${folder}/`, publicUrl).href;
    return cached(this.pretrained, base, async () => ({
      name: `built-in ${config.model} (pre-trained, ${folder})`,
      files: await Promise.all(
        PRETRAINED_FILES.map(async (name) => ({ name, bytes: await this.fetchBinary(base + name) })),
      ),
    }));
  }

  /** A classification (or regression) run on the task, from `loaded` or random weights. */
  private async buildRun(
    s: Session,
    config: TrainConfig,
    loaded: LoadedHfModel | null,
  ): Promise<BuiltRun | null> {
    const vocabText = loaded?.vocabText ?? (await this.vocab(s.vocabUrl));
    const vocabOrigin = loaded ? `${loaded.report.name}/vocabulary` : s.vocabUrl;
    let task = s.data
      ? await this.userTask(s.data, vocabText, vocabOrigin, config.seed)
      : loaded
        ? loadTask(await this.fetchText(s.dataUrl), vocabText, s.dataUrl, vocabOrigin)
        : await this.task(s.dataUrl, s.vocabUrl);
    if (this.sessions.get(s.id) !== s) return null;
    let init: { model: ModelConfig; params: Params } | undefined;
    let initReport;
    if (loaded) {
      task = withTokenizerOptions(task, { lowercase: loaded.lowercase });
      const fitted = withLabels(loaded, task.data.labels, config.seed);
      initReport = fitted.report;
      init = {
        model: fitted.model,
        params: paramsFromArrays(fitted.model, fitted.arrays, fitted.report.name),
      };
    }
    s.tokenizer = task.tokenizer;
    s.dev = task.data.dev;
    const run = ownInit(init, () => createRun(config, task, init));
    return {
      run,
      info: {
        dataName: s.data?.name ?? s.dataUrl.replace(/^.*\//, ''),
        trainExamples: task.data.train.length,
        devExamples: task.data.dev.length,
        labels: task.data.labels,
        ...majorityOf(run.classifies, task.data.dev, task.data.labels),
        ...(initReport ? { init: { name: initReport.name, summary: describeLoad(initReport) } } : {}),
      },
    };
  }

  /**
   * A masked-LM pre-training run on the built-in corpus, from
   * `loaded` (its encoder, and its MLM head when it has one) or random weights.
   */
  private async buildMlmRun(
    s: Session,
    config: TrainConfig,
    loaded: LoadedHfModel | null,
  ): Promise<BuiltRun | null> {
    const vocabText = loaded?.vocabText ?? (await this.vocab(s.vocabUrl));
    const corpus = await this.corpus(s);
    if (this.sessions.get(s.id) !== s) return null;
    const tokenizer = WordPieceTokenizer.fromVocabText(vocabText, { lowercase: loaded?.lowercase ?? true });
    const init = loaded && maskedLmParams(loaded, config.seed);
    s.tokenizer = tokenizer;
    const run = ownInit(init, () =>
      createMlmRun(
        config,
        tokenizer,
        corpus,
        init ? { model: loaded.model, params: init.params } : undefined,
      ),
    );
    const unigram = mlmUnigramBaseline(run);
    return {
      run,
      info: {
        dataName: corpus.origin.replace(/^.*\//, ''),
        trainExamples: run.train.count,
        devExamples: run.dev.count,
        labels: [],
        unigram: { accuracy: unigram.accuracy, loss: unigram.loss },
        ...(loaded
          ? {
              init: {
                name: loaded.report.name,
                summary: `${describeLoad(loaded.report)}; ${init?.head ?? ''}`,
              },
            }
          : {}),
      },
    };
  }

  /**
   * The built-in pre-training corpus and its held-out slice (fetched once). A loaded data file is a labelled
   * task for the fine-tuning stage; the page's pre-training reads the built-in corpus (the CLI reads any).
   */
  private async corpus(s: Session): Promise<Corpus> {
    if (s.publicUrl === null) throw new Error("task 'mlm': the page did not say where public/ is served");
    const [trainUrl, devUrl] = BUILTIN_CORPUS.map((f) => new URL(f, s.publicUrl ?? undefined).href) as [
      string,
      string,
    ];
    const [train, dev] = await Promise.all([this.vocab(trainUrl), this.vocab(devUrl)]); // fetched once each
    return {
      train: corpusDocuments(train, trainUrl),
      dev: corpusDocuments(dev, devUrl),
      origin: trainUrl,
      devOrigin: devUrl,
    };
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

  /** A text file (a vocabulary, the corpus), fetched once per URL. */
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

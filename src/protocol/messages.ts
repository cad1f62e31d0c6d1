/**
 * Wire types between the UI thread and the training worker. Types and tiny guards only: no runtime imports,
 * never a Tensor. Every message is structured-clone safe. Runs are values with ids; one worker owns several.
 * (Shape after GoogleChromeLabs/comlink `src/protocol.ts`: typed messages, an injected endpoint.)
 */
import type { BackendName, ModelPresetName, TrainConfig } from '../core/config.ts';
import type { MetricRow } from '../core/metrics.ts';
import type { TokenView } from '../core/train/token-view.ts';
import type { DataPreview } from '../core/data/preview.ts';
import type { FillMaskResult } from '../core/train/fill-mask.ts';
import type { AttackRecord, AttackSettings, AttackSummary } from '../core/robust/types.ts';

export type { MetricRow, TokenView, FillMaskResult };

export const PROTOCOL_VERSION = 5;

export type RunId = string;
export type RunStatus = 'loading' | 'ready' | 'running' | 'paused' | 'done' | 'error';

/** A data file the user picked in the page: its name (the extension picks the format) and its text. */
export interface UserData {
  name: string;
  /** The file's text; '' when `file` is given (a large file the worker streams, with progress). */
  text: string;
  /** The picked File itself, read by the worker with `stream()` (docs/data-formats.md, "Large files"). */
  file?: Blob;
  /** A second file used as the dev split instead of the seeded 90/10 split. */
  dev?: { name: string; text: string; file?: Blob };
}

/**
 * A Hugging Face BERT the user picked ("Load model"): its name and its files (config.json, vocab.txt or
 * tokenizer.json, tokenizer_config.json, model.safetensors or pytorch_model.bin), by base name.
 */
export interface UserModel {
  name: string;
  files: { name: string; bytes: Uint8Array }[];
}

/** What loading a model gives (core/model/hf-load.ts's report), or the one-line reason it cannot be used. */
export type ModelCheck =
  | {
      ok: true;
      name: string;
      /** The load report as one line: tensors read, head initialised fresh, tensors ignored. */
      summary: string;
      labels: string[];
      vocabSize: number;
      maxPositions: number;
      /** Head parameters the checkpoint lacked (initialised fresh, for the data's labels). */
      initialised: string[];
      /** Checkpoint tensors that are no parameter of the classifier, ignored. */
      ignored: string[];
    }
  | { ok: false; message: string };

/** What a data file gives: split sizes and labels, or the one-line reason it cannot be used. */
export type DataCheck =
  | {
      ok: true;
      name: string;
      trainExamples: number;
      devExamples: number;
      labels: string[];
      /** Counts, targets and token lengths with the run's tokenizer (the Load data panel's preview). */
      preview?: DataPreview;
    }
  | { ok: false; message: string };

export interface RunInfo {
  runId: RunId;
  config: TrainConfig;
  /** The task's data: the built-in task's file name, or the user's file. */
  dataName: string;
  paramCount: number;
  /** Vocabulary size of the run's model (the UI computes other presets' parameter counts from it). */
  vocabSize: number;
  trainExamples: number;
  devExamples: number;
  labels: string[];
  /**
   * The model the run started from (its name and load report): the built-in pre-trained one or a loaded one;
   * absent for random weights.
   */
  init?: { name: string; summary: string };
  /** Masked LM: always predicting the most frequent train token, on the dev slice (accuracy, loss in nats). */
  unigram?: { accuracy: number; loss: number };
  /** Classification: the dev set's most frequent label and its share (the accuracy of always answering it). */
  devMajority?: { label: string; share: number };
}

export type ToWorker =
  /**
   * `backend` forces one (no calibration); null times each working backend on `model` (the page's model
   * preset) and keeps the fastest (core/calibrate.ts). Without `model`, the chain's first working one.
   */
  | { type: 'hello'; protocolVersion: number; backend: BackendName | null; model?: ModelPresetName }
  /**
   * Choose the backend again, as hello does (the page's backend menu): every training run is paused first
   * and keeps its weights (tfjs moves a tensor to the new backend when it is next used); answered by `ready`.
   */
  | { type: 'set-backend'; backend: BackendName | null; model: ModelPresetName }
  | {
      type: 'create';
      runId: RunId;
      config: TrainConfig;
      dataUrl: string;
      vocabUrl: string;
      /**
       * Where the page's public/ folder is served: the built-in pre-trained models (`init: 'pretrained'`,
       * core/config.ts PRETRAINED_MODELS) and the pre-training corpus (`task: 'mlm'`) are fetched from it.
       */
      publicUrl?: string;
      /**
       * The user's data file, used instead of `dataUrl` (the vocabulary still comes from `vocabUrl`); a
       * masked-LM run (`task: 'mlm'`) reads the built-in corpus instead.
       */
      data?: UserData;
      /** Start from this model's weights (`init: 'loaded'`), and tokenise with its vocabulary instead of `vocabUrl`'s. */
      model?: UserModel;
    }
  /** Read a user's model files without touching any run; answered by `model-checked`. */
  | { type: 'check-model'; requestId: string; model: UserModel; seed: number }
  /** Parse a user's data file without touching any run; answered by `data-checked`. */
  | { type: 'check-data'; requestId: string; data: UserData; vocabUrl: string; seed: number }
  | { type: 'start'; runId: RunId }
  | { type: 'pause'; runId: RunId }
  | { type: 'step'; runId: RunId; n: number }
  | { type: 'reset'; runId: RunId; config: TrainConfig }
  | { type: 'dispose'; runId: RunId }
  /**
   * Settings that need no rebuild (core/config.ts LIVE_SETTINGS: lr, alpha, eta, epsilon, sigma, k,
   * variant, method) applied from the next step on; answered by `config-applied`, or an error naming the field.
   */
  | { type: 'set-config'; runId: RunId; config: TrainConfig }
  /** The run's model as a zip of its Hugging Face folder; answered by `model-export` with the same requestId. */
  | { type: 'export-model'; runId: RunId; requestId: string }
  /** Saved runs (IndexedDB): each of these is answered by `saved-runs`. */
  | { type: 'list-runs' }
  /** Creates run `runId` from saved run `savedId`'s inputs and restores its last checkpoint (paused). */
  | { type: 'resume-run'; runId: RunId; savedId: string }
  | { type: 'rename-run'; savedId: string; name: string }
  | { type: 'delete-run'; savedId: string }
  /**
   * Where the perturbation lands (core/train/token-view.ts): one recorded ALUM step on the current weights
   * for example `index` of the batch most recently trained, or for `text` when given; the run's RNG, data
   * order and weights are untouched. Answered by `token-view` with the same requestId.
   */
  | { type: 'token-view'; runId: RunId; requestId: string; index: number; text?: string }
  /** A masked-LM run's top-k predictions at each [MASK] of `text` (core/train/fill-mask.ts); answered by `fill-mask`. */
  | { type: 'fill-mask'; runId: RunId; requestId: string; text: string; topK: number }
  /**
   * The run's current model as the files of its Hugging Face folder (a pre-trained model to fine-tune next:
   * the page stages it as a loaded model); answered by `run-model`.
   */
  | { type: 'run-model'; runId: RunId; requestId: string }
  | AttackToWorker;

export type FromWorker =
  | {
      type: 'ready';
      protocolVersion: number;
      backend: BackendName;
      /** Why this backend: forced by the URL, or each backend's calibration time (or failure) and the winner. */
      backendReason: string;
    }
  | { type: 'run-created'; info: RunInfo }
  | { type: 'status'; runId: RunId; status: RunStatus; step: number }
  | { type: 'metrics'; runId: RunId; rows: MetricRow[] }
  /** `set-config` took effect: steps after `step` run with `config`. */
  | { type: 'config-applied'; runId: RunId; step: number; config: TrainConfig }
  | { type: 'model-export'; runId: RunId; requestId: string; result: ModelExport }
  | { type: 'data-checked'; requestId: string; result: DataCheck }
  /** While `check-data` streams a large file: bytes read of `total`, and rows parsed so far. */
  | { type: 'data-progress'; requestId: string; file: string; bytes: number; total: number; rows: number }
  | { type: 'model-checked'; requestId: string; result: ModelCheck }
  | { type: 'error'; runId: RunId | null; message: string }
  | { type: 'saved-runs'; saved: SavedRuns }
  | { type: 'token-view'; requestId: string; result: TokenViewReply }
  | {
      type: 'fill-mask';
      requestId: string;
      result: FillMaskReply;
    }
  | {
      type: 'run-model';
      requestId: string;
      result: RunModelReply;
    }
  | AttackFromWorker;

/** A masked LM's predictions at each [MASK] of a text, or why there are none. */
export type FillMaskReply = { ok: true; fill: FillMaskResult } | { ok: false; message: string };

/** A run's model as the files of its Hugging Face folder (to start the next stage from), or why not. */
export type RunModelReply = { ok: true; model: UserModel; step: number } | { ok: false; message: string };

/** A token view (tokens, per-token norms of delta and of the inner gradient at each stage), or why there is none. */
export type TokenViewReply = { ok: true; view: TokenView } | { ok: false; message: string };

/** A saved run as the runs list shows it. */
export interface SavedRunInfo {
  id: string;
  name: string;
  dataName: string;
  /** Model size and where its weights came from. */
  modelName: string;
  /** The last checkpoint's step. */
  step: number;
  steps: number;
  /** `interrupted`: saved while running, and no live run holds it (the page was closed or crashed). */
  status: RunStatus | 'interrupted';
  startedAt: number;
  updatedAt: number;
  /** Bytes of the checkpoint's tensors. */
  bytes: number;
  config: TrainConfig;
  /** The worker's run that holds this saved run now, if any (the current run is marked by it). */
  liveRunId: RunId | null;
}

/** The runs list, storage used, and the one-line problem (IndexedDB unavailable, "not saved: ..."), if any. */
export interface SavedRuns {
  available: boolean;
  problem: string | null;
  runs: SavedRunInfo[];
  usage: number | null;
  quota: number | null;
}

/** A zip of the Hugging Face folder (config.json, model.safetensors, vocab.txt), or why there is none. */
export type ModelExport =
  { ok: true; fileName: string; zip: Uint8Array; step: number } | { ok: false; message: string };

/**
 * The robustness lab (core/robust, worker/attack.ts): attack the run's current weights on its dev split, answered
 * by `attack-progress` messages and one `attack-result` with the same requestId; `cancel-attack` stops it after
 * the current example (the result then has `summary.cancelled`). The Trainer routes them to worker/attack.ts
 * `AttackJobs`, outside its command queue (training and other commands go on meanwhile).
 */
export type AttackToWorker =
  | { type: 'attack'; runId: RunId; requestId: string; settings: AttackSettings; maxExamples: number }
  | { type: 'cancel-attack'; requestId: string };

export type AttackFromWorker =
  | { type: 'attack-progress'; requestId: string; done: number; total: number }
  | { type: 'attack-result'; requestId: string; result: AttackReply };

/** An attack's summary and per-example records, or why it could not run. */
export type AttackReply =
  { ok: true; summary: AttackSummary; records: AttackRecord[] } | { ok: false; message: string };

export function assertNever(x: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(x)}`);
}

/** A minimal message port: a Worker, a DedicatedWorkerGlobalScope, or a MessagePort in tests. */
export interface Endpoint<In, Out> {
  postMessage(message: Out): void;
  addEventListener(type: 'message', listener: (ev: { data: In }) => void): void;
}

/**
 * Wire types between the UI thread and the training worker. Types and tiny guards only: no runtime imports,
 * never a Tensor. Every message is structured-clone safe. Runs are values with ids; one worker owns several.
 * (Shape after GoogleChromeLabs/comlink `src/protocol.ts`: typed messages, an injected endpoint.)
 */
import type { BackendName, TrainConfig } from '../core/config.ts';
import type { MetricRow } from '../core/metrics.ts';

export type { MetricRow };

export const PROTOCOL_VERSION = 3;

export type RunId = string;
export type RunStatus = 'loading' | 'ready' | 'running' | 'paused' | 'done' | 'error';

/** A data file the user picked in the page: its name (the extension picks the format) and its text. */
export interface UserData {
  name: string;
  text: string;
}

/** What a data file gives: split sizes and labels, or the one-line reason it cannot be used. */
export type DataCheck =
  | { ok: true; name: string; trainExamples: number; devExamples: number; labels: string[] }
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
}

export type ToWorker =
  | { type: 'hello'; protocolVersion: number; backend: BackendName | null }
  | {
      type: 'create';
      runId: RunId;
      config: TrainConfig;
      dataUrl: string;
      vocabUrl: string;
      /** The user's data file, used instead of `dataUrl` (the vocabulary still comes from `vocabUrl`). */
      data?: UserData;
    }
  /** Parse a user's data file without touching any run; answered by `data-checked`. */
  | { type: 'check-data'; requestId: string; data: UserData; vocabUrl: string; seed: number }
  | { type: 'start'; runId: RunId }
  | { type: 'pause'; runId: RunId }
  | { type: 'step'; runId: RunId; n: number }
  | { type: 'reset'; runId: RunId; config: TrainConfig }
  | { type: 'dispose'; runId: RunId }
  /** The run's model as a zip of its Hugging Face folder; answered by `model-export` with the same requestId. */
  | { type: 'export-model'; runId: RunId; requestId: string };

export type FromWorker =
  | {
      type: 'ready';
      protocolVersion: number;
      backend: BackendName;
      /** Why this backend: forced by the URL, or the fallback chain with each failure. */
      backendReason: string;
    }
  | { type: 'run-created'; info: RunInfo }
  | { type: 'status'; runId: RunId; status: RunStatus; step: number }
  | { type: 'metrics'; runId: RunId; rows: MetricRow[] }
  | { type: 'model-export'; runId: RunId; requestId: string; result: ModelExport }
  | { type: 'data-checked'; requestId: string; result: DataCheck }
  | { type: 'error'; runId: RunId | null; message: string };

/** A zip of the Hugging Face folder (config.json, model.safetensors, vocab.txt), or why there is none. */
export type ModelExport =
  { ok: true; fileName: string; zip: Uint8Array; step: number } | { ok: false; message: string };

export function assertNever(x: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(x)}`);
}

/** A minimal message port: a Worker, a DedicatedWorkerGlobalScope, or a MessagePort in tests. */
export interface Endpoint<In, Out> {
  postMessage(message: Out): void;
  addEventListener(type: 'message', listener: (ev: { data: In }) => void): void;
}

/**
 * Wire types between the page and the bench worker (src/worker/bench.worker.ts), which is separate from the
 * training worker so it can switch tfjs backends without touching the user's runs. Types only.
 */
import type { BenchRow, MsSplit, VariantName } from '../core/bench/measure.ts';
import type { BackendName, ModelPresetName } from '../core/config.ts';

export type { BenchRow, MsSplit, VariantName };

/** What to measure: every backend x model x method at one shape (src/core/bench/measure.ts). */
export interface BenchRequest {
  backends: BackendName[];
  models: ModelPresetName[];
  /** `standard`, `alum1`, `alum2` (measure.ts VARIANTS); list standard first to get the split. */
  methods: VariantName[];
  batchSize: number;
  maxLength: number;
  /** Timed steps per row. */
  steps: number;
}

/** A backend the bench could not use, and why (one line). */
export interface BenchFailure {
  backend: BackendName;
  message: string;
}

export type ToBench = ({ type: 'bench'; id: string } & BenchRequest) | { type: 'cancel'; id: string };

export type FromBench =
  /** After each measured row (`row`), and for each backend that could not be used (`failure`). */
  | {
      type: 'progress';
      id: string;
      done: number;
      total: number;
      backend: BackendName;
      row: BenchRow | null;
      failure: BenchFailure | null;
    }
  | { type: 'done'; id: string; rows: BenchRow[]; failures: BenchFailure[]; cancelled: boolean }
  | { type: 'error'; id: string; message: string };

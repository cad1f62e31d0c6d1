/**
 * The page's side of the bench worker: one benchmark at a time, its progress and rows in a small zustand
 * store that the performance panel and `window.alum.bench` share. The worker starts on the first benchmark
 * (store/bridge.ts `startBenchWorker`) and stays for the next.
 */
import { useStore } from 'zustand';
import { createStore } from 'zustand/vanilla';

import type { BenchFailure, BenchRequest, BenchRow, FromBench } from '../protocol/bench.ts';
import { startBenchWorker, type BenchBridge } from './store/bridge.ts';

export interface BenchState {
  /** The running request's id, or null. */
  running: string | null;
  done: number;
  total: number;
  rows: BenchRow[];
  failures: BenchFailure[];
  cancelled: boolean;
  error: string | null;
}

/** What a finished benchmark gives. */
export interface BenchResult {
  rows: BenchRow[];
  failures: BenchFailure[];
  cancelled: boolean;
}

const IDLE: BenchState = {
  running: null,
  done: 0,
  total: 0,
  rows: [],
  failures: [],
  cancelled: false,
  error: null,
};

export const benchStore = createStore<BenchState>(() => IDLE);

export function useBench<T>(selector: (s: BenchState) => T): T {
  return useStore(benchStore, selector);
}

let bridge: BenchBridge | null = null;
let settle: { resolve: (r: BenchResult) => void; reject: (e: Error) => void } | null = null;
let nextId = 1;

function onMessage(msg: FromBench): void {
  if (msg.id !== benchStore.getState().running) return;
  switch (msg.type) {
    case 'progress':
      benchStore.setState((s) => ({
        done: msg.done,
        total: msg.total,
        rows: msg.row ? [...s.rows, msg.row] : s.rows,
        failures: msg.failure ? [...s.failures, msg.failure] : s.failures,
      }));
      return;
    case 'done':
      benchStore.setState({
        running: null,
        done: msg.rows.length,
        rows: msg.rows,
        failures: msg.failures,
        cancelled: msg.cancelled,
      });
      settle?.resolve({ rows: msg.rows, failures: msg.failures, cancelled: msg.cancelled });
      settle = null;
      return;
    case 'error':
      fail(msg.message);
      return;
  }
}

function fail(message: string): void {
  benchStore.setState({ running: null, error: message });
  settle?.reject(new Error(message));
  settle = null;
}

/** Runs `request` in the bench worker; resolves with its rows (also when cancelled), rejects on an error. */
export function runBenchmark(request: BenchRequest): Promise<BenchResult> {
  if (benchStore.getState().running !== null)
    return Promise.reject(new Error('a benchmark is already running'));
  bridge ??= startBenchWorker(onMessage, (message) => {
    bridge?.terminate();
    bridge = null;
    fail(message);
  });
  const id = `bench-${nextId++}`;
  const total = request.backends.length * request.models.length * request.methods.length;
  benchStore.setState({ ...IDLE, running: id, total });
  const result = new Promise<BenchResult>((resolve, reject) => {
    settle = { resolve, reject };
  });
  bridge.post({ type: 'bench', id, ...request });
  return result;
}

/** Asks the running benchmark to stop before its next row (it resolves with the rows so far). */
export function cancelBenchmark(): void {
  const id = benchStore.getState().running;
  if (id !== null) bridge?.post({ type: 'cancel', id });
}

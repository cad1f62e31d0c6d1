/**
 * The performance panel's pure parts: the short benchmark's request, the per-backend summary (adapter and
 * matMul rate) of a set of rows, the figures as text, and the `{"rows": [...]}` file the panel downloads
 * (the same rows `npm run bench -- --json` writes). Rows come from the bench worker (src/worker/bench.ts).
 */
import type { BackendName, ModelPresetName } from '../core/config.ts';
import type { BenchFailure, BenchRequest, BenchRow, MsSplit } from '../protocol/bench.ts';

/** The panel's short benchmark: standard and ALUM K=1 at batch 4, length 32, 2 timed steps. */
export function shortBenchRequest(backends: readonly BackendName[], model: ModelPresetName): BenchRequest {
  if (backends.length === 0) throw new Error('pick at least one backend to benchmark');
  return {
    backends: [...backends],
    models: [model],
    methods: ['standard', 'alum1'],
    batchSize: 4,
    maxLength: 32,
    steps: 2,
  };
}

/** One backend of a bench run: the device it ran on and its large-matMul rate. */
export interface BackendSummary {
  backend: BackendName;
  adapter: string;
  fallback: boolean | null;
  matMulGflops: number;
  matMulSize: number;
}

/** One summary per backend, in the rows' order (every row of a backend carries the same rate and adapter). */
export function backendSummaries(rows: readonly BenchRow[]): BackendSummary[] {
  const seen = new Map<BackendName, BackendSummary>();
  for (const r of rows)
    if (!seen.has(r.backend))
      seen.set(r.backend, {
        backend: r.backend,
        adapter: r.adapter.summary,
        fallback: r.adapter.isFallbackAdapter,
        matMulGflops: r.matMul.gflops,
        matMulSize: r.matMul.size,
      });
  return [...seen.values()];
}

/** `standard`, or `alum K=1` (as the bench's table names a method). */
export const methodText = (r: Pick<BenchRow, 'method' | 'k'>): string =>
  r.method === 'standard' ? 'standard' : `alum K=${r.k}`;

/** Milliseconds: '-' for none, whole from 100 up, one decimal below. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}

/** Bytes in binary units with one decimal: B, KiB, MiB, GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let x = bytes;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} B` : `${x.toFixed(1)} ${units[u]}`;
}

/** A step's ms split as "inner / outer / optimizer", '-' where the standard row was missing. */
export function formatSplit(s: MsSplit): string {
  return `${formatMs(s.innerLoop)} / ${formatMs(s.outerGradient)} / ${formatMs(s.optimizer)}`;
}

/** Kernels per step: every kernel, and how many launch GPU work and how many do not. */
export function kernelsText(r: Pick<BenchRow, 'kernelsPerStep' | 'dispatchesPerStep'>): string {
  const views = r.kernelsPerStep - r.dispatchesPerStep;
  return `${r.kernelsPerStep} (${r.dispatchesPerStep} dispatch, ${views} not)`;
}

/** The downloaded file: `{"rows": [...]}` with when, where and what could not run. */
export function benchJson(
  rows: readonly BenchRow[],
  failures: readonly BenchFailure[],
  date: Date,
  userAgent: string,
): string {
  return JSON.stringify({ date: date.toISOString(), userAgent, failures, rows }, null, 2) + '\n';
}

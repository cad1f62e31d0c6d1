/**
 * The bench worker's message handling: measures every backend x model x method of a request with
 * src/core/bench/measure.ts, posting a `progress` message per row (and per backend it could not use), then
 * `done` with every row. It owns its own tfjs engine (a worker of its own), so it switches backends freely
 * through initBackend with the same loaders as the training worker. One request at a time; `cancel` stops
 * before the next row. The endpoint is injected (the worker scope, or a MessagePort in tests).
 */
import { BROWSER_CHAIN, initBackend, type BackendLoaders } from '../core/backend.ts';
import { benchBackend, VARIANTS, type BenchRow } from '../core/bench/measure.ts';
import { MODEL_PRESET_NAMES } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { BenchFailure, BenchRequest, FromBench, ToBench } from '../protocol/bench.ts';
import type { Endpoint } from '../protocol/messages.ts';

/** Why a request cannot run (one line), or null. */
export function requestProblem(r: BenchRequest): string | null {
  const positive = (name: string, n: number) =>
    Number.isInteger(n) && n >= 1 ? null : `bench: ${name} must be a positive integer, got ${n}`;
  const unknown = (what: string, given: readonly string[], known: readonly string[]) => {
    const bad = given.find((g) => !known.includes(g));
    return bad === undefined ? null : `bench: unknown ${what} '${bad}' (known: ${known.join(', ')})`;
  };
  const empty = (['backends', 'models', 'methods'] as const).find((k) => r[k].length === 0);
  return (
    (empty === undefined ? null : `bench: ${empty} is empty`) ??
    unknown('backend', r.backends, BROWSER_CHAIN) ??
    unknown('model', r.models, MODEL_PRESET_NAMES) ??
    unknown('method', r.methods, Object.keys(VARIANTS)) ??
    positive('batchSize', r.batchSize) ??
    positive('maxLength', r.maxLength) ??
    positive('steps', r.steps)
  );
}

export class BenchWorker {
  private busy: string | null = null;
  private cancelled = new Set<string>();

  constructor(
    private readonly endpoint: Endpoint<ToBench, FromBench>,
    private readonly loaders: BackendLoaders,
  ) {
    endpoint.addEventListener('message', (ev) => this.onMessage(ev.data));
  }

  private onMessage(msg: ToBench): void {
    switch (msg.type) {
      case 'cancel':
        this.cancelled.add(msg.id);
        return;
      case 'bench': {
        const { type: _, id, ...request } = msg;
        const problem =
          this.busy !== null ? `bench: request ${this.busy} is still running` : requestProblem(request);
        if (problem !== null) {
          this.endpoint.postMessage({ type: 'error', id, message: problem });
          return;
        }
        this.busy = id;
        this.run(id, request)
          .catch((e: unknown) => this.endpoint.postMessage({ type: 'error', id, message: errorMessage(e) }))
          .finally(() => {
            this.busy = null;
            this.cancelled.delete(id);
          });
        return;
      }
    }
  }

  private async run(id: string, r: BenchRequest): Promise<void> {
    const variants = r.methods.map((m) => VARIANTS[m]);
    const total = r.backends.length * r.models.length * variants.length;
    const rows: BenchRow[] = [];
    const failures: BenchFailure[] = [];
    // Yields to the event loop first, so that a `cancel` (or another request) is read between rows.
    const stop = async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return this.cancelled.has(id);
    };
    const progress = (backend: BenchFailure['backend'], row: BenchRow | null, failure: BenchFailure | null) =>
      this.endpoint.postMessage({ type: 'progress', id, done: rows.length, total, backend, row, failure });
    for (const backend of r.backends) {
      if (await stop()) break;
      try {
        await initBackend(backend, [backend], this.loaders);
      } catch (e) {
        const failure = { backend, message: errorMessage(e) };
        failures.push(failure);
        progress(backend, null, failure);
        continue;
      }
      const shape = { batchSize: r.batchSize, maxLength: r.maxLength, steps: r.steps };
      await benchBackend(
        backend,
        r.models,
        variants,
        shape,
        (row) => {
          rows.push(row);
          progress(backend, row, null);
        },
        stop,
      );
    }
    this.endpoint.postMessage({ type: 'done', id, rows, failures, cancelled: this.cancelled.has(id) });
  }
}

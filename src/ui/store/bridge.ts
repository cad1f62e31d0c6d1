/**
 * The one place that constructs the training worker. It posts `hello`, feeds every `FromWorker` message to
 * the store's reducer, and turns a crashed or unloadable worker into an error message as well.
 * Commands go out through `post` (actions.ts is the only caller).
 * It also starts the bench worker (`startBenchWorker`).
 */
import { PROTOCOL_VERSION, type FromWorker, type ToWorker } from '../../protocol/messages.ts';
import type { FromBench, ToBench } from '../../protocol/bench.ts';
import { appStore, reduceFromWorker, type AppStore } from './store.ts';

export interface Bridge {
  post(msg: ToWorker): void;
  terminate(): void;
}

let current: Bridge | null = null;

/**
 * Starts the worker (once per page) and says hello with the backend asked for in the URL, or, without one,
 * the staged model preset to calibrate the backends on (core/calibrate.ts).
 */
export function connectWorker(store: AppStore = appStore): Bridge {
  if (current !== null) return current;
  const worker = new Worker(new URL('../../worker/trainer.worker.ts', import.meta.url), { type: 'module' });
  const dispatch = (msg: FromWorker) => store.setState((s) => reduceFromWorker(s, msg), true);
  worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => dispatch(ev.data));
  worker.addEventListener('error', (ev: ErrorEvent) => {
    dispatch({ type: 'error', runId: null, message: `worker crashed: ${ev.message || 'failed to load'}` });
  });
  worker.addEventListener('messageerror', () => {
    dispatch({ type: 'error', runId: null, message: 'a worker message could not be deserialized' });
  });
  const bridge: Bridge = {
    post: (msg) => worker.postMessage(msg),
    terminate: () => {
      worker.terminate();
      current = null;
    },
  };
  current = bridge;
  bridge.post({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    backend: store.getState().worker.requested,
    model: store.getState().staged.model,
  });
  return bridge;
}

/** The connected bridge; throws if `connectWorker` has not run (main.tsx calls it at startup). */
export function getBridge(): Bridge {
  if (current === null) throw new Error('the training worker is not connected');
  return current;
}

/**
 * Starts the bench worker (src/worker/bench.worker.ts): a worker of its own beside the training worker, so a
 * benchmark switches tfjs backends without touching the user's runs. Its one user is src/ui/benchRunner.ts.
 */
export function startBenchWorker(
  onMessage: (msg: FromBench) => void,
  onCrash: (message: string) => void,
): BenchBridge {
  const worker = new Worker(new URL('../../worker/bench.worker.ts', import.meta.url), { type: 'module' });
  worker.addEventListener('message', (ev: MessageEvent<FromBench>) => onMessage(ev.data));
  worker.addEventListener('error', (ev: ErrorEvent) =>
    onCrash(`bench worker crashed: ${ev.message || 'failed to load'}`),
  );
  return { post: (msg) => worker.postMessage(msg), terminate: () => worker.terminate() };
}

export interface BenchBridge {
  post(msg: ToBench): void;
  terminate(): void;
}

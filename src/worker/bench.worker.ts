/** Web Worker entry of the bench worker: wires BenchWorker (bench.ts) to the worker scope. */
import type { FromBench, ToBench } from '../protocol/bench.ts';
import type { Endpoint } from '../protocol/messages.ts';
import { BenchWorker } from './bench.ts';
import { browserLoaders } from './loaders.ts';

declare const self: DedicatedWorkerGlobalScope;

const endpoint: Endpoint<ToBench, FromBench> = {
  postMessage: (m) => self.postMessage(m),
  addEventListener: (_type, listener) =>
    self.addEventListener('message', (ev: MessageEvent<ToBench>) => listener(ev)),
};

new BenchWorker(endpoint, browserLoaders);

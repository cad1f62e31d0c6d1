/**
 * Web Worker entry: wires the Trainer to the worker scope and tells it how to load the two backends that
 * live in separate packages (loaders.ts, shared with the bench worker).
 */
import type { FromWorker, ToWorker, Endpoint } from '../protocol/messages.ts';
import { browserLoaders } from './loaders.ts';
import { openIdbStore, RunArchive } from './persist.ts';
import { Trainer } from './trainer.ts';

declare const self: DedicatedWorkerGlobalScope;

const endpoint: Endpoint<ToWorker, FromWorker> = {
  postMessage: (m) => self.postMessage(m),
  addEventListener: (type, listener) =>
    self.addEventListener(type, (ev: MessageEvent<ToWorker>) => listener(ev)),
};

new Trainer(
  endpoint,
  browserLoaders,
  async (url) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    return res.text();
  },
  undefined,
  new RunArchive(() => openIdbStore()), // saved runs in IndexedDB; in memory only where it is unavailable
);

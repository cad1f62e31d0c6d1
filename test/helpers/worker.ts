// Test helpers: the worker's Trainer driven over a MessageChannel in Node (no real Worker; comlink's testing
// idea), and a client that records what it answers.
import { MessageChannel, type MessagePort } from 'node:worker_threads';

import type { Endpoint, FromWorker, MetricRow, ToWorker } from '../../src/protocol/messages.ts';
import { Trainer } from '../../src/worker/trainer.ts';

/** A Node MessagePort as the Trainer's endpoint. */
export function port(p: MessagePort): Endpoint<ToWorker, FromWorker> {
  return {
    postMessage: (m) => p.postMessage(m),
    addEventListener: (_type, listener) => p.on('message', (data: ToWorker) => listener({ data })),
  };
}

/** The page's side of the channel: sends requests, records every answer, waits for one. */
export class Client {
  readonly received: FromWorker[] = [];
  private waiters: (() => void)[] = [];
  constructor(private readonly p: MessagePort) {
    p.on('message', (m: FromWorker) => {
      this.received.push(m);
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  send(m: ToWorker): void {
    this.p.postMessage(m);
  }
  /** The first answer `pred` accepts, waiting for it up to `ms`. */
  waitFor<T extends FromWorker>(pred: (m: FromWorker) => m is T, ms?: number): Promise<T>;
  waitFor(pred: (m: FromWorker) => boolean, ms?: number): Promise<FromWorker>;
  async waitFor(pred: (m: FromWorker) => boolean, ms = 60_000): Promise<FromWorker> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`timeout; got ${JSON.stringify(this.received.map((r) => r.type))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  rows(runId: string): MetricRow[] {
    return this.received.flatMap((m) => (m.type === 'metrics' && m.runId === runId ? m.rows : []));
  }
  statuses(runId: string): string[] {
    return this.received.flatMap((m) => (m.type === 'status' && m.runId === runId ? [m.status] : []));
  }
}

/**
 * A Trainer on the cpu backend that fetches through `fetchText` (and `fetchBytes`: the built-in models), and its client; `close` closes the channel
 * (call it in afterAll).
 */
export function startTrainer(
  fetchText: (url: string) => Promise<string>,
  fetchBytes?: (url: string) => Promise<Uint8Array>,
): {
  client: Client;
  close: () => void;
} {
  const channel = new MessageChannel();
  new Trainer(port(channel.port1), {}, fetchText, ['cpu'], null, fetchBytes);
  return {
    client: new Client(channel.port2),
    close: () => {
      channel.port1.close();
      channel.port2.close();
    },
  };
}

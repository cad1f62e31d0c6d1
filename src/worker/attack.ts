/**
 * The worker's side of the robustness lab: runs an attack (core/robust) on a run's current weights and dev
 * split, posting `attack-progress` after each example (or batch) and one `attack-result`, and stops after the
 * current example on `cancel-attack`. A job works on a snapshot of the weights, so training may go on meanwhile
 * without changing what is attacked; it yields to the event loop after each example, so a cancel gets in.
 * The Trainer owns the runs: it hands `start` the run's weights, tokenizer, length and dev examples.
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../core/config.ts';
import type { Example } from '../core/data/dataset.ts';
import { errorMessage } from '../core/errors.ts';
import { disposeParams, type Params } from '../core/model/params.ts';
import { runAttack } from '../core/robust/attack.ts';
import type { WordPieceTokenizer } from '../core/tokenizer/wordpiece.ts';
import type { AttackFromWorker, AttackToWorker } from '../protocol/messages.ts';

/** What an attack reads of a run. */
export interface AttackSource {
  params: Params;
  model: ModelConfig;
  tokenizer: WordPieceTokenizer;
  maxLength: number;
  dev: readonly Example[];
}

/** A copy of the weights as new, non-trainable variables (the copies share storage until either is written). */
function snapshot(params: Params): Params {
  const out: Params = new Map();
  for (const [name, v] of params) {
    const copy = v.clone();
    out.set(name, tf.variable(copy, false));
    copy.dispose();
  }
  return out;
}

const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class AttackJobs {
  private readonly running = new Set<string>();
  private readonly cancelled = new Set<string>();
  private readonly jobs = new Set<Promise<void>>();

  constructor(private readonly post: (m: AttackFromWorker) => void) {}

  /** Requests running now. */
  get active(): readonly string[] {
    return [...this.running];
  }

  handle(msg: AttackToWorker, source: () => AttackSource): Promise<void> {
    if (msg.type === 'cancel-attack') {
      if (this.running.has(msg.requestId)) this.cancelled.add(msg.requestId);
      return Promise.resolve();
    }
    const job = this.run(msg, source);
    this.jobs.add(job);
    void job.finally(() => this.jobs.delete(job));
    return job;
  }

  /**
   * Cancels every running attack (each posts its partial result, marked cancelled) and resolves when all have
   * ended: a backend switch waits for this, so that no attack computes while tfjs changes backend.
   */
  async cancelAll(): Promise<void> {
    this.running.forEach((id) => this.cancelled.add(id));
    await Promise.all([...this.jobs]);
  }

  /** Runs one attack to its end (or its cancel); never throws: a failure is an `ok: false` result. */
  private async run(
    msg: Extract<AttackToWorker, { type: 'attack' }>,
    source: () => AttackSource,
  ): Promise<void> {
    const id = msg.requestId;
    let params: Params | null = null;
    this.running.add(id);
    try {
      const src = source();
      if (src.model.problemType === 'regression')
        throw new Error('attacks need a classification run, not regression');
      const examples = src.dev.slice(0, msg.maxExamples);
      if (examples.length === 0) throw new Error('the run has no dev examples to attack');
      params = snapshot(src.params);
      const victim = { params, model: src.model, tokenizer: src.tokenizer, maxLength: src.maxLength };
      const { summary, records } = await runAttack(victim, examples, msg.settings, {
        onProgress: async (done, total) => {
          this.post({ type: 'attack-progress', requestId: id, done, total });
          await yieldToEvents();
        },
        shouldStop: () => this.cancelled.has(id),
      });
      this.post({ type: 'attack-result', requestId: id, result: { ok: true, summary, records } });
    } catch (e) {
      this.post({ type: 'attack-result', requestId: id, result: { ok: false, message: errorMessage(e) } });
    } finally {
      if (params) disposeParams(params);
      this.running.delete(id);
      this.cancelled.delete(id);
    }
  }
}

/**
 * The trainer's side of saved runs: which saved run each live run writes to, its metric history, and the
 * checkpoint writes, one after another per run. A step never starts while its run's checkpoint is being read
 * (the trainer awaits `saving`), so a checkpoint is always one consistent state. Writes that fail leave the
 * run in memory untouched; the runs list then carries the one-line reason (`RunArchive.problem`).
 */
import type { TrainConfig } from '../core/config.ts';
import type { MetricRow } from '../core/metrics.ts';
import { captureCheckpoint } from '../core/train/checkpoint.ts';
import type { TrainingRun } from '../core/train/run.ts';
import type { FromWorker, RunStatus } from '../protocol/messages.ts';
import { saveFailure, type RunArchive, type SavedRunRecord } from './persist.ts';

/** A live run's saved counterpart. */
export interface SavedSession {
  id: string;
  name: string;
  startedAt: number;
  dataName: string;
  modelName: string;
  config: TrainConfig;
  /** The `create` message's inputs (everything but type, runId and config), saved with the run. */
  source: Record<string, unknown>;
  /** Every metric row of the run so far, in step order. */
  history: MetricRow[];
  /** The step and status of the last checkpoint written (or restored). */
  savedStep: number;
  savedStatus: RunStatus | null;
  /** The checkpoint write in flight (resolved when none); never rejects. */
  saving: Promise<void>;
}

/** The inputs of a `create` message, without its type, run id and config. */
export function sourceOf(msg: { type: string; runId: string; config: TrainConfig }): Record<string, unknown> {
  const { type: _type, runId: _runId, config: _config, ...source } = msg;
  return source;
}

const basename = (url: unknown): string => (typeof url === 'string' ? url.replace(/^.*\//, '') : 'data');

export class RunSaver {
  constructor(
    readonly archive: RunArchive,
    private readonly post: (msg: FromWorker) => void,
    /** Saved id -> the live run holding it. */
    private readonly live: () => Map<string, string>,
  ) {}

  /** A new saved run for a run just created from `source` (nothing is written before its first checkpoint). */
  begin(config: TrainConfig, source: Record<string, unknown>): SavedSession {
    const data = source.data as { name?: unknown } | undefined;
    const dataName = typeof data?.name === 'string' ? data.name : basename(source.dataUrl);
    const model = source.model as { name?: unknown } | undefined;
    const startedAt = Date.now();
    return {
      id: `saved-${startedAt.toString(36)}-${crypto.randomUUID().slice(0, 8)}`,
      name: `${config.method} ${config.model} ${config.task === 'mlm' ? 'pre-training' : 'on'} ${dataName}`,
      startedAt,
      dataName,
      modelName:
        typeof model?.name === 'string'
          ? `${model.name} (loaded)`
          : `${config.model}, ${config.init === 'pretrained' ? 'built-in pre-trained' : 'random init'}`,
      config,
      source,
      history: [],
      savedStep: -1,
      savedStatus: null,
      saving: Promise.resolve(),
    };
  }

  /** The saved session of a run resumed from `record` at checkpoint step `step`: rows after it are dropped. */
  resumed(
    record: SavedRunRecord,
    source: Record<string, unknown>,
    step: number,
    status: RunStatus,
  ): SavedSession {
    return {
      ...this.begin(record.config, source),
      id: record.id,
      name: record.name,
      startedAt: record.startedAt,
      dataName: record.dataName,
      modelName: record.modelName,
      history: record.metrics.filter((r) => r.step <= step),
      savedStep: step,
      savedStatus: status,
    };
  }

  /** Whether the step just taken is a periodic checkpoint step. */
  due(run: TrainingRun): boolean {
    const every = this.archive.checkpointEvery;
    return every > 0 && run.step % every === 0;
  }

  /** Queues a checkpoint of `run` with `status`, after any write in flight; skipped when nothing changed. */
  queue(saved: SavedSession, run: TrainingRun, status: RunStatus): Promise<void> {
    saved.saving = saved.saving
      .then(async () => {
        if (run.step === saved.savedStep && status === saved.savedStatus) return;
        if (run.step === 0) return; // nothing trained yet: nothing worth a saved run
        const checkpoint = await captureCheckpoint(run);
        const ok = await this.archive.save(
          {
            id: saved.id,
            name: saved.name,
            dataName: saved.dataName,
            modelName: saved.modelName,
            startedAt: saved.startedAt,
            status,
            config: saved.config,
            source: saved.source,
            metrics: saved.history,
          },
          checkpoint,
        );
        if (ok) {
          saved.savedStep = checkpoint.meta.step;
          saved.savedStatus = status;
        }
        await this.postList();
      })
      .catch((e: unknown) => {
        this.archive.problem = saveFailure(e); // e.g. the run was disposed while its checkpoint was read
      });
    return saved.saving;
  }

  /** Posts the runs list (with storage used and any problem) to the page. */
  async postList(): Promise<void> {
    this.post({ type: 'saved-runs', saved: await this.archive.list(this.live()) });
  }
}

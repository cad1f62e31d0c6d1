/**
 * About the active run: warnings while it trains (a perturbation bigger than the embeddings, a diverging
 * loss, a perturbation that collapsed to 0, skipped batches), and its summary once it is done (final and best
 * dev metric, wall time, skipped batches). Pure judgements in runStats.ts.
 */
import { useFrameStore } from '../hooks/useFrameStore.ts';
import { formatNumber } from '../help.ts';
import { activeRun, type AppState } from '../store/store.ts';
import { formatDuration, runSummary, runWarnings } from './runStats.ts';

/** The warnings as one string (a primitive for the per-frame hook); '' for none. */
const selectWarnings = (s: AppState) => {
  const run = activeRun(s);
  return run === null
    ? ''
    : runWarnings(run.metrics, run.config)
        .map((w) => `${w.kind}\t${w.message}`)
        .join('\n');
};
const selectDone = (s: AppState) => {
  const run = activeRun(s);
  return run?.status === 'done' ? run : null;
};

export function RunWarnings() {
  const text = useFrameStore(selectWarnings);
  if (text === '') return null;
  return (
    <ul className="warnings" role="status" aria-live="polite" data-testid="run.warnings">
      {text.split('\n').map((line) => {
        const [kind = '', message = ''] = line.split('\t');
        return (
          <li key={kind} data-testid={`run.warning.${kind}`}>
            {message}
          </li>
        );
      })}
    </ul>
  );
}

export function RunSummary() {
  const run = useFrameStore(selectDone);
  if (run === null) return null;
  const sum = runSummary(run.metrics);
  const dev = sum.devMetric === 'devAccuracy' ? 'dev accuracy' : 'dev Pearson';
  return (
    <section className="summary" aria-label="Run summary" data-testid="run.summary" role="status">
      <h2>{run.name}: done</h2>
      <dl>
        <dt>final {dev}</dt>
        <dd data-testid="run.summary.finalDev">{formatNumber(sum.finalDev)}</dd>
        <dt>best {dev}</dt>
        <dd data-testid="run.summary.best">
          {sum.best === null ? '—' : `${formatNumber(sum.best.value)} at step ${sum.best.step}`}
        </dd>
        <dt>wall time</dt>
        <dd data-testid="run.summary.wall">{formatDuration(sum.wallSeconds)} (training and evaluation)</dd>
        <dt>skipped batches</dt>
        <dd data-testid="run.summary.skipped">{sum.skipped}</dd>
        <dt>final task loss</dt>
        <dd>{formatNumber(sum.finalTaskLoss)}</dd>
      </dl>
    </section>
  );
}

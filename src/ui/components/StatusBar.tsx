/** One line of what is going on: backend and why, run status, step / steps, speed, model size, data size. */
import { formatNumber } from '../help.ts';
import { BackendMenu } from './BackendMenu.tsx';
import { useFrameStore } from '../hooks/useFrameStore.ts';
import { activeRun, useAppStore, type AppState } from '../store/store.ts';
import { stepsPerSecond } from './runStats.ts';

/** Wall-time speed, step 1 (shader compilation) left out and dev evaluations counted (runStats.ts). */
const selectSpeed = (s: AppState): number | null => stepsPerSecond(activeRun(s)?.metrics ?? []);

const selectRun = (s: AppState) => activeRun(s);

export function StatusBar() {
  const worker = useAppStore((s) => s.worker);
  const stagedSteps = useAppStore((s) => s.staged.steps);
  const run = useFrameStore(selectRun);
  const speed = useFrameStore(selectSpeed);
  const info = run?.info ?? null;
  const notSaved = useAppStore((s) => s.saved?.problem ?? null);
  return (
    <section className="status" aria-label="Run status" data-testid="status">
      <BackendMenu />
      <span data-testid="status.backend" title={worker.backendReason ?? undefined} aria-live="polite">
        In use: <b>{worker.ready ? worker.backend : (worker.requested ?? 'timing each backend') + '…'}</b>
        {worker.ready && worker.backendReason !== null && (
          <span className="muted" data-testid="status.backendReason">
            {' '}
            ({worker.backendReason})
          </span>
        )}
      </span>
      {/* Announced when the run's status changes (not at every step: the step counter is not live). */}
      <span data-testid="status.run" aria-live="polite" aria-atomic="true">
        Run: <b>{run?.status ?? 'idle'}</b>
      </span>
      <span data-testid="status.step">
        Step <b>{run?.step ?? 0}</b> / {run?.config.steps ?? stagedSteps}
      </span>
      <span data-testid="status.speed">{speed === null ? '— steps/s' : `${speed.toFixed(2)} steps/s`}</span>
      <span data-testid="status.params">Params {info ? formatNumber(info.paramCount) : '—'}</span>
      <span data-testid="status.data">
        Data {info ? info.dataName : '—'}: train {info ? formatNumber(info.trainExamples) : '—'} / dev{' '}
        {info ? formatNumber(info.devExamples) : '—'}
      </span>
      {notSaved !== null && (
        <span className="field-error" data-testid="status.saved">
          {notSaved}
        </span>
      )}
    </section>
  );
}

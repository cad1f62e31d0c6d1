/**
 * Start / Pause / Step / Reset. Start creates the run from the staged config when there is none; Reset
 * rebuilds it from the staged config at step 0 (the way config edits take effect).
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';

export function Controls() {
  const status = useAppStore((s) => activeRun(s)?.status ?? 'idle');
  const ready = useAppStore((s) => s.worker.ready);
  const [problem, setProblem] = useState<string | null>(null);
  const run = (action: () => Promise<void>) => () => {
    setProblem(null);
    action().catch((e: unknown) => setProblem(errorMessage(e)));
  };
  const busy = !ready || status === 'loading';
  return (
    <section className="controls" aria-label="Training controls">
      <button
        type="button"
        data-testid="controls.start"
        onClick={run(actions.start)}
        disabled={busy || status === 'running' || status === 'done'}
        title="Train until the last step (creates the run from the form's config the first time)"
      >
        Start
      </button>
      <button
        type="button"
        data-testid="controls.pause"
        onClick={run(actions.pause)}
        disabled={status !== 'running'}
        title="Pause after the current step"
      >
        Pause
      </button>
      <button
        type="button"
        data-testid="controls.step"
        onClick={run(() => actions.step(1))}
        disabled={busy || status === 'running' || status === 'done'}
        title="Run exactly one optimizer step"
      >
        Step
      </button>
      <button
        type="button"
        data-testid="controls.reset"
        onClick={run(actions.reset)}
        disabled={busy || status === 'idle'}
        title="Rebuild the model from the form's config and go back to step 0 (clears the charts)"
      >
        Reset
      </button>
      {problem !== null && (
        <span className="field-error" role="status">
          {problem}
        </span>
      )}
    </section>
  );
}

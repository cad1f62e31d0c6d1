/**
 * Start / Pause / Step / Reset. Start creates the run from the staged config when there is none; Reset
 * rebuilds it from the staged config at step 0 (the way config edits take effect).
 * An unavailable button is `aria-disabled`, not `disabled`, so the focus stays on it after it is pressed
 * (Start becomes unavailable while training: a keyboard user stays where they were and tabs on to Pause).
 * Start, Step and Reset also wait while a form field is invalid (store `formErrors`).
 */
import { useState, type ButtonHTMLAttributes } from 'react';
import { errorMessage } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { useFrameStore } from '../hooks/useFrameStore.ts';
import { activeRun, useAppStore, type AppState } from '../store/store.ts';
import { formatDuration, secondsLeft } from './runStats.ts';

/** A button that keeps its focus when unavailable (aria-disabled) and then ignores presses. */
function Button({ off, onClick, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { off: boolean }) {
  return <button type="button" aria-disabled={off} onClick={off ? undefined : onClick} {...rest} />;
}

export function Controls() {
  const status = useAppStore((s) => activeRun(s)?.status ?? 'idle');
  const ready = useAppStore((s) => s.worker.ready);
  const formInvalid = useAppStore((s) => Object.keys(s.formErrors).length > 0);
  const [problem, setProblem] = useState<string | null>(null);
  const run = (action: () => Promise<void>) => () => {
    setProblem(null);
    action().catch((e: unknown) => setProblem(errorMessage(e)));
  };
  const busy = !ready || status === 'loading' || formInvalid;
  return (
    <section className="controls" aria-label="Training controls">
      <Button
        data-testid="controls.start"
        onClick={run(actions.start)}
        off={busy || status === 'running' || status === 'done'}
        title="Train until the last step (creates the run from the form's config the first time)"
      >
        Start
      </Button>
      <Button
        data-testid="controls.pause"
        onClick={run(actions.pause)}
        off={status !== 'running'}
        title="Pause after the current step"
      >
        Pause
      </Button>
      <Button
        data-testid="controls.step"
        onClick={run(() => actions.step(1))}
        off={busy || status === 'running' || status === 'done'}
        title="Run exactly one optimizer step"
      >
        Step
      </Button>
      <Button
        data-testid="controls.reset"
        onClick={run(actions.reset)}
        off={busy || status === 'idle'}
        title="Rebuild the model from the form's config and go back to step 0 (clears the charts)"
      >
        Reset
      </Button>
      <RunProgress />
      {problem !== null && (
        <span className="field-error" role="status">
          {problem}
        </span>
      )}
    </section>
  );
}

const selectProgress = (s: AppState) => {
  const run = activeRun(s);
  if (run === null) return '';
  const left = secondsLeft(run.metrics, run.step, run.config.steps);
  return `${run.step}/${run.config.steps}/${left === null ? '' : Math.round(left)}`;
};

/** Progress of the active run and the time left at its speed; and which staged fields need a reset. */
function RunProgress() {
  const [step = 0, steps = 0, left = ''] = useFrameStore(selectProgress).split('/');
  const fixed = useAppStore((s) => actions.needsReset(s).join(', '));
  return (
    <>
      {Number(steps) > 0 && (
        <span className="progress" data-testid="controls.progress">
          <progress
            value={Number(step)}
            max={Number(steps)}
            aria-label="Training progress"
            aria-valuetext={`step ${step} of ${steps}${left === '' ? '' : `, ${formatDuration(Number(left))} left`}`}
          />{' '}
          <span data-testid="controls.timeLeft">
            {left === '' ? '' : `${formatDuration(Number(left))} left`}
          </span>
        </span>
      )}
      {fixed !== '' && (
        <span className="muted" data-testid="controls.needsReset">
          {fixed}: press Reset to apply (lr, alpha, eta, epsilon, sigma, k, variant and method apply at once)
        </span>
      )}
    </>
  );
}

/**
 * Every error the page knows of: bad URL values (the named fields fell back to defaults) and worker errors,
 * each with advice where there is some (out of memory: the estimated memory and what to shrink; advice.ts),
 * and a warning when the active run diverged (a huge or non-finite total loss).
 */
import { divergenceWarning, errorAdvice } from '../advice.ts';
import { dismissErrors } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';
import { useFrameStore } from '../hooks/useFrameStore.ts';
import type { AppState } from '../store/store.ts';

const selectDivergence = (s: AppState): string | null => {
  const run = activeRun(s);
  return run === null ? null : divergenceWarning(run.metrics, run.config);
};

export function ErrorBanner() {
  const urlErrors = useAppStore((s) => s.urlErrors);
  const workerError = useAppStore((s) => s.workerError);
  const runError = useAppStore((s) => activeRun(s)?.error ?? null);
  const runConfig = useAppStore((s) => activeRun(s)?.config ?? null);
  const diverged = useFrameStore(selectDivergence);
  const advice = runError !== null && runConfig !== null ? errorAdvice(runError, runConfig) : null;
  const lines = [
    ...urlErrors.map((e) => `URL: ${e} (default used)`),
    ...(workerError === null ? [] : [`Worker: ${workerError}`]),
    ...(runError === null ? [] : [`Run: ${runError}`]),
  ];
  return (
    <>
      {diverged !== null && (
        <div className="warning" role="alert" data-testid="warning.diverged">
          {diverged}
        </div>
      )}
      {lines.length > 0 && (
        <div className="error" role="alert" data-testid="error">
          <ul>
            {lines.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
          {advice !== null && (
            <p className="advice" data-testid="error.advice">
              {advice}
            </p>
          )}
          {urlErrors.length > 0 && (
            <button type="button" onClick={dismissErrors} aria-label="Dismiss URL errors">
              Dismiss
            </button>
          )}
        </div>
      )}
    </>
  );
}

/** Every error the page knows of: bad URL values (the named fields fell back to defaults) and worker errors. */
import { dismissErrors } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';

export function ErrorBanner() {
  const urlErrors = useAppStore((s) => s.urlErrors);
  const workerError = useAppStore((s) => s.workerError);
  const runError = useAppStore((s) => activeRun(s)?.error ?? null);
  const lines = [
    ...urlErrors.map((e) => `URL: ${e} (default used)`),
    ...(workerError === null ? [] : [`Worker: ${workerError}`]),
    ...(runError === null ? [] : [`Run: ${runError}`]),
  ];
  if (lines.length === 0) return null;
  return (
    <div className="error" role="alert" data-testid="error">
      <ul>
        {lines.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      {urlErrors.length > 0 && (
        <button type="button" onClick={dismissErrors} aria-label="Dismiss URL errors">
          Dismiss
        </button>
      )}
    </div>
  );
}

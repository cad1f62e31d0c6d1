/**
 * The backend menu: auto (the worker times each working backend on the staged model and keeps the fastest)
 * or one backend forced, the same state as `?backend=`. Switching needs no reload: the worker pauses the
 * runs, which go on from their step on the new backend. In auto, Recalibrate times the backends again on the
 * model now staged (the choice made at page load stands for other models until then).
 */
import { BACKENDS, type BackendName } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { useAppStore } from '../store/store.ts';

const AUTO = 'auto';

export function BackendMenu() {
  const requested = useAppStore((s) => s.worker.requested);
  const ready = useAppStore((s) => s.worker.ready);
  const model = useAppStore((s) => s.staged.model);
  const choose = (value: string) => {
    actions.setBackend(value === AUTO ? null : (value as BackendName));
  };
  return (
    <span className="backend-menu">
      <label>
        Backend{' '}
        <select
          data-testid="status.backendMenu"
          value={requested ?? AUTO}
          aria-busy={!ready}
          title="auto: the fastest backend here for the model, timed when the page loads. Switching pauses the runs; they go on from their step on the new backend."
          onChange={(e) => choose(e.target.value)}
        >
          <option value={AUTO}>auto (fastest)</option>
          {BACKENDS.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
      </label>{' '}
      {requested === null && (
        <button
          type="button"
          data-testid="status.recalibrate"
          aria-disabled={!ready}
          onClick={ready ? () => choose(AUTO) : undefined}
          title={`Time every working backend again on the ${model} model and keep the fastest (pauses the runs)`}
        >
          Recalibrate
        </button>
      )}
    </span>
  );
}

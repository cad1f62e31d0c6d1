/**
 * Compare mode: the runs in the page (each in its chart colour, with status and step), which one the controls
 * act on, hide or remove one, and how their configs differ from the first run's. "Compare" starts a second run
 * from the form's values with the same seed, data and initial weights (actions.compare); one run trains at a
 * time (starting one pauses the others), so their steps/s stay comparable.
 */
import { useState } from 'react';
import { errorMessage, type TrainConfig } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { appStore, configDiff, runList, useAppStore, type AppState, type RunState } from '../store/store.ts';
import { runColor } from './chartData.ts';

/** The runs as a primitive key, so the list re-renders on status and step changes, never per metric row. */
const selectKey = (s: AppState) =>
  runList(s)
    .map((r) => `${r.runId}/${r.status}/${r.step}/${r.hidden}/${r.changes.length}`)
    .join('|') + `#${s.activeRunId}`;

/** Fields whose values differ between any two runs: the diff table's rows. */
function differingFields(runs: readonly RunState[]): (keyof TrainConfig)[] {
  const base = runs[0];
  if (base === undefined) return [];
  const keys = new Set<keyof TrainConfig>();
  runs.forEach((r) =>
    Object.keys(configDiff(base.config, r.config)).forEach((k) => keys.add(k as keyof TrainConfig)),
  );
  return [...keys];
}

export function CompareRuns() {
  useAppStore(selectKey); // re-render on these changes only, then read the state they describe
  const s = appStore.getState();
  const runs = runList(s);
  const [problem, setProblem] = useState<string | null>(null);
  const act = (f: () => unknown) => () => {
    setProblem(null);
    Promise.resolve()
      .then(f)
      .catch((e: unknown) => setProblem(errorMessage(e)));
  };
  const fields = differingFields(runs);
  const canCompare = s.activeRunId !== null && s.worker.ready;
  return (
    <section className="compare" aria-label="Runs in this page" data-testid="compare">
      <h2>Runs</h2>
      <button
        type="button"
        data-testid="compare.start"
        disabled={!canCompare}
        onClick={act(() => actions.compare({ ...s.staged }))}
        title="Start a second run from the form's values with the same seed, data and initial weights as the active run; the active run is paused and kept"
      >
        Compare
      </button>
      {problem !== null && (
        <span className="field-error" role="status" data-testid="compare.error">
          {problem}
        </span>
      )}
      {runs.length > 0 && (
        <table data-testid="compare.runs">
          <thead>
            <tr>
              <th scope="col">run</th>
              <th scope="col">status</th>
              <th scope="col">step</th>
              {fields.map((f) => (
                <th scope="col" key={f}>
                  {f}
                </th>
              ))}
              <th scope="col">actions</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr
                key={r.runId}
                data-testid={`compare.run.${r.slot}`}
                aria-current={r.runId === s.activeRunId}
              >
                <th scope="row">
                  <span className="swatch" style={{ background: runColor(r.slot) }} aria-hidden="true" />{' '}
                  {r.name}
                  {r.runId === s.activeRunId ? ' (active)' : ''}
                </th>
                <td>{r.status}</td>
                <td>
                  {r.step} / {r.config.steps}
                </td>
                {fields.map((f) => (
                  <td key={f}>{String(r.config[f])}</td>
                ))}
                <td>
                  <button
                    type="button"
                    disabled={r.runId === s.activeRunId}
                    onClick={act(() => actions.activateRun(r.runId))}
                  >
                    Select
                  </button>{' '}
                  <label>
                    <input
                      type="checkbox"
                      checked={!r.hidden}
                      onChange={(e) => actions.setRunHidden(r.runId, !e.currentTarget.checked)}
                    />{' '}
                    shown
                  </label>{' '}
                  <button type="button" onClick={act(() => actions.removeRun(r.runId))}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {runs.length > 1 && fields.length === 0 && <p className="muted">The runs' configs are the same.</p>}
    </section>
  );
}

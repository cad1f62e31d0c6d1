/**
 * Saved runs: every run the worker saved in IndexedDB (a checkpoint every few steps, at pause and at the end),
 * with its data, model, step, status and start time, the storage the origin uses, and Resume / Rename /
 * Delete. Resume rebuilds the run at its last checkpoint, its metric rows up to that step restored. A problem
 * (no IndexedDB, a full quota: "not saved: ...") is one line; training goes on in memory.
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import type { SavedRunInfo } from '../../protocol/messages.ts';
import * as actions from '../store/actions.ts';
import { useAppStore } from '../store/store.ts';

/** Bytes as B / kB / MB / GB (powers of 1000, as storage estimates are given). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = n;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i += 1;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

function RunRow({
  run,
  current,
  onProblem,
}: {
  run: SavedRunInfo;
  current: boolean;
  onProblem: (p: string | null) => void;
}) {
  const [editing, setEditing] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = (f: () => Promise<void>) => {
    setBusy(true);
    onProblem(null);
    f()
      .catch((e: unknown) => onProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  const rename = () => {
    const name = editing;
    if (name === null) return;
    act(() => actions.renameSavedRun(run.id, name).then(() => setEditing(null)));
  };
  return (
    <tr data-testid="runs.row" data-run-id={run.id} aria-current={current ? 'true' : undefined}>
      <td data-testid="runs.name">
        {editing === null ? (
          <>
            {run.name}
            {current && <b className="muted"> (current)</b>}
          </>
        ) : (
          <input
            aria-label="Run name"
            data-testid="runs.name-input"
            value={editing}
            maxLength={200}
            autoFocus
            onChange={(e) => setEditing(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') rename();
              if (e.key === 'Escape') setEditing(null);
            }}
          />
        )}
      </td>
      <td>{run.dataName}</td>
      <td>{run.modelName}</td>
      <td data-testid="runs.step">
        {run.step} / {run.steps}
      </td>
      <td data-testid="runs.status">{run.status}</td>
      <td title={new Date(run.updatedAt).toLocaleString()}>{new Date(run.startedAt).toLocaleString()}</td>
      <td className="runs-actions">
        <button
          type="button"
          data-testid="runs.resume"
          disabled={busy || current}
          onClick={() => act(() => actions.resumeSavedRun(run.id))}
          title="Continue this run from its last checkpoint"
        >
          Resume
        </button>
        {editing === null ? (
          <button
            type="button"
            data-testid="runs.rename"
            disabled={busy}
            onClick={() => setEditing(run.name)}
          >
            Rename
          </button>
        ) : (
          <button type="button" data-testid="runs.rename-save" disabled={busy} onClick={rename}>
            Save name
          </button>
        )}
        <button
          type="button"
          data-testid="runs.delete"
          disabled={busy}
          onClick={() => act(() => actions.deleteSavedRun(run.id))}
          title="Delete the saved run (a live run goes on, unsaved)"
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

export function RunsPanel() {
  const saved = useAppStore((s) => s.saved);
  const activeRunId = useAppStore((s) => s.activeRunId);
  const [problem, setProblem] = useState<string | null>(null);
  const line = problem ?? saved?.problem ?? null;
  return (
    <section className="runs" aria-label="Saved runs" data-testid="runs">
      <h2>Saved runs</h2>
      <p className="muted" data-testid="runs.storage">
        {saved === null
          ? 'Saved runs: loading…'
          : !saved.available
            ? 'Runs are not saved in this browser.'
            : `Storage used: ${saved.usage === null ? '—' : formatBytes(saved.usage)}` +
              (saved.quota === null || !Number.isFinite(saved.quota)
                ? ''
                : ` of ${formatBytes(saved.quota)}`)}
      </p>
      {line !== null && (
        <p className="field-error" role="status" data-testid="runs.problem">
          {line}
        </p>
      )}
      {saved !== null && saved.runs.length > 0 && (
        <table data-testid="runs.table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Data</th>
              <th>Model</th>
              <th>Step</th>
              <th>Status</th>
              <th>Started</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {saved.runs.map((run) => (
              <RunRow
                key={run.id}
                run={run}
                current={run.liveRunId !== null && run.liveRunId === activeRunId}
                onProblem={setProblem}
              />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/**
 * The performance panel: what a training step costs on the user's own device, from the bench worker
 * (src/worker/bench.ts, which measures exactly what `npm run bench` measures: src/core/bench/measure.ts).
 * Per backend the adapter and its large-matMul rate; per row ms/step, kernels (dispatching or not), bytes
 * allocated per step and the ms split. "Run benchmark" runs a short one (the chosen model, standard and ALUM
 * K=1, batch 4, length 32, 2 steps) with progress and cancel; "Download JSON" saves its `{"rows": [...]}`.
 * docs/performance.md, "In the browser", says what each figure means.
 */
import { useState } from 'react';

import type { BackendName, ModelPresetName } from '../../core/config.ts';
import { errorMessage } from '../coreConfig.ts';
import {
  backendSummaries,
  benchJson,
  formatBytes,
  formatMs,
  formatSplit,
  kernelsText,
  methodText,
  shortBenchRequest,
} from '../benchFormat.ts';
import { benchStore, cancelBenchmark, runBenchmark, useBench } from '../benchRunner.ts';
import { useAppStore } from '../store/store.ts';
import { FieldError, Panel } from './Panel.tsx';

const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

function downloadJson(): void {
  const { rows, failures } = benchStore.getState();
  const url = URL.createObjectURL(
    new Blob([benchJson(rows, failures, new Date(), navigator.userAgent)], { type: 'application/json' }),
  );
  const a = document.createElement('a');
  a.href = url;
  a.download = 'alum-bench.json';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function BackendTable() {
  const rows = useBench((s) => s.rows);
  const failures = useBench((s) => s.failures);
  return (
    <table data-testid="perf.backends">
      <caption>Backends: the device and a large matMul's rate (synced by a readback)</caption>
      <thead>
        <tr>
          <th scope="col">backend</th>
          <th scope="col">adapter</th>
          <th scope="col">matMul GFLOP/s</th>
        </tr>
      </thead>
      <tbody>
        {backendSummaries(rows).map((b) => (
          <tr key={b.backend} data-testid="perf.backend">
            <td>{b.backend}</td>
            <td>{b.adapter}</td>
            <td>
              {b.matMulGflops} <span className="muted">({b.matMulSize}²)</span>
            </td>
          </tr>
        ))}
        {failures.map((f) => (
          <tr key={f.backend} data-testid="perf.failure">
            <td>{f.backend}</td>
            <td colSpan={2} className="muted">
              unavailable: {f.message}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RowsTable() {
  const rows = useBench((s) => s.rows);
  return (
    <table data-testid="perf.rows">
      <caption>Per training step (batch, length and steps as run)</caption>
      <thead>
        <tr>
          <th scope="col">backend</th>
          <th scope="col">model</th>
          <th scope="col">method</th>
          <th scope="col">ms/step</th>
          <th scope="col">inner / outer / optimizer ms</th>
          <th scope="col">kernels</th>
          <th scope="col">allocated</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr
            key={`${r.backend}-${r.model}-${r.method}-${r.k}`}
            data-testid="perf.row"
            data-kernels={r.kernelsPerStep}
            data-dispatches={r.dispatchesPerStep}
          >
            <td>{r.backend}</td>
            <td>
              {r.model}{' '}
              <span className="muted">
                (B {r.batchSize}, T {r.maxLength})
              </span>
            </td>
            <td>{methodText(r)}</td>
            <td>{formatMs(r.msPerStep)}</td>
            <td>{formatSplit(r.msSplit)}</td>
            <td>{kernelsText(r)}</td>
            <td>{formatBytes(r.bytesAllocatedPerStep)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PerformancePanel() {
  const open = useAppStore((s) => s.lesson.panels.includes('performance'));
  const currentModel = useAppStore((s) => s.staged.model);
  const running = useBench((s) => s.running !== null);
  const done = useBench((s) => s.done);
  const total = useBench((s) => s.total);
  const hasRows = useBench((s) => s.rows.length > 0);
  const cancelled = useBench((s) => s.cancelled);
  const workerError = useBench((s) => s.error);
  const [model, setModel] = useState<ModelPresetName | 'current'>('nano');
  const [picked, setPicked] = useState<readonly BackendName[]>(['webgpu', 'wasm']);
  const [problem, setProblem] = useState<string | null>(null);

  const toggle = (b: BackendName, on: boolean) =>
    setPicked(BACKENDS.filter((x) => (x === b ? on : picked.includes(x))));
  const run = () => {
    setProblem(null);
    try {
      const request = shortBenchRequest(picked, model === 'current' ? currentModel : model);
      runBenchmark(request).catch((e: unknown) => setProblem(errorMessage(e)));
    } catch (e) {
      setProblem(errorMessage(e));
    }
  };
  return (
    <Panel panel="performance" className="performance" testId="perf" open={open} title="Performance">
      <p className="muted">
        What one training step costs on this device: ms per step (split into ALUM&apos;s inner loop, the outer
        gradient and the optimizer), the kernels it runs (those that launch GPU work and those that only
        relabel a buffer), and the bytes it allocates. The benchmark runs in a worker of its own (your runs
        are not touched): standard and ALUM K=1 at batch 4, length 32, 2 timed steps, on random tokens.
      </p>
      <div className="lab-form">
        <fieldset>
          <legend>Backends</legend>
          {BACKENDS.map((b) => (
            <label key={b}>
              <input
                type="checkbox"
                data-testid={`perf.backend.${b}`}
                checked={picked.includes(b)}
                disabled={running}
                onChange={(e) => toggle(b, e.target.checked)}
              />{' '}
              {b}
            </label>
          ))}
        </fieldset>
        <label>
          Model{' '}
          <select
            data-testid="perf.model"
            value={model}
            disabled={running}
            onChange={(e) => setModel(e.target.value as ModelPresetName | 'current')}
          >
            <option value="nano">nano</option>
            <option value="current">the current model ({currentModel})</option>
          </select>
        </label>
        <button type="button" data-testid="perf.run" disabled={running} onClick={run}>
          Run benchmark
        </button>
        <button type="button" data-testid="perf.cancel" disabled={!running} onClick={cancelBenchmark}>
          Cancel
        </button>
        <button
          type="button"
          data-testid="perf.download"
          disabled={running || !hasRows}
          onClick={downloadJson}
        >
          Download JSON
        </button>
      </div>
      {(running || total > 0) && (
        <p role="status" data-testid="perf.status">
          <progress value={done} max={total} data-testid="perf.progress" /> {done} / {total} rows
          {running
            ? ' (the first row of a backend also compiles its kernels)'
            : cancelled
              ? ', cancelled'
              : ', done'}
        </p>
      )}
      <FieldError problem={problem ?? workerError} testId="perf.error" block />
      {hasRows && (
        <>
          <BackendTable />
          <RowsTable />
        </>
      )}
    </Panel>
  );
}

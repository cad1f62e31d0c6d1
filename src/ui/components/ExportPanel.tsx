/**
 * Take the work out of the page: the trained model as a zip of its Hugging Face folder (what
 * `BertForSequenceClassification.from_pretrained` and `alum train --init` read), and the metric rows as CSV or
 * JSONL (the columns of `alum train`'s metrics.jsonl), every run's rows as CSV or JSON, the config as JSON.
 * (Each chart's PNG is under the chart, MetricChart.tsx.)
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import { formatMetrics, formatRunsMetrics, type MetricsFormat } from '../metricsExport.ts';
import * as actions from '../store/actions.ts';
import { activeRun, appStore, runList, useAppStore } from '../store/store.ts';
import { exportTorchZip } from '../torchExport.ts';
import { clearImportedMetrics, importMetrics } from '../metricsImport.ts';
import { FieldError } from './Panel.tsx';

/** Saves a Blob under `fileName` through a temporary link (the browser's download). */
function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

function downloadMetrics(format: MetricsFormat): void {
  const run = activeRun(appStore.getState());
  if (run === null) return;
  const type = format === 'csv' ? 'text/csv' : 'application/x-ndjson';
  download(new Blob([formatMetrics(run.metrics, format)], { type }), `alum-metrics-${run.runId}.${format}`);
}

/**
 * Every run in the page (or the active one: `one`): CSV with a `run` column, or JSON with each run's config
 * and mid-run changes.
 */
function downloadAllMetrics(format: 'csv' | 'json', one = false): void {
  const active = activeRun(appStore.getState());
  const runs = one ? (active === null ? [] : [active]) : runList(appStore.getState());
  const type = format === 'csv' ? 'text/csv' : 'application/json';
  const name = one ? (active?.runId ?? 'run') : 'all-runs';
  download(new Blob([formatRunsMetrics(runs, format)], { type }), `alum-metrics-${name}.${format}`);
}

/** The active run's config (or the staged one before any run), with its mid-run changes, as JSON. */
function downloadConfig(): void {
  const s = appStore.getState();
  const run = activeRun(s);
  const body = { config: run?.config ?? s.staged, changes: run?.changes ?? [] };
  download(
    new Blob([JSON.stringify(body, null, 1) + '\n'], { type: 'application/json' }),
    'alum-config.json',
  );
}

/** The downloads of metric rows, in the panel's order: each needs the active run to have rows. */
const ROW_EXPORTS: readonly { testId: string; save: () => void; title: string; label: string }[] = [
  {
    testId: 'export.csv',
    save: () => downloadMetrics('csv'),
    title: 'Every metric row of this run as CSV',
    label: 'Metrics CSV',
  },
  {
    testId: 'export.jsonl',
    save: () => downloadMetrics('jsonl'),
    title: 'Every metric row of this run as JSON lines (as alum train writes metrics.jsonl)',
    label: 'Metrics JSONL',
  },
  {
    testId: 'export.json',
    save: () => downloadAllMetrics('json', true),
    title: 'This run as JSON: its name, config, mid-run setting changes and metric rows',
    label: 'Metrics JSON',
  },
  {
    testId: 'export.allCsv',
    save: () => downloadAllMetrics('csv'),
    title: 'Every metric row of every run in the page as CSV (a leading run column)',
    label: 'All runs CSV',
  },
  {
    testId: 'export.allJson',
    save: () => downloadAllMetrics('json'),
    title: 'Every run in the page as JSON: its name, config, mid-run setting changes and metric rows',
    label: 'All runs JSON',
  },
];

export function ExportPanel() {
  const hasModel = useAppStore((s) => (activeRun(s)?.info ?? null) !== null);
  const rows = useAppStore((s) => activeRun(s)?.metrics.length ?? 0);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  /** Builds a zip (busy meanwhile) and downloads it, or says why not. */
  const saveZip = (make: () => Promise<{ blob: Blob; fileName: string }>) => {
    setBusy(true);
    setProblem(null);
    make()
      .then(({ blob, fileName }) => download(blob, fileName))
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  const saveModel = () => saveZip(actions.exportModel);
  const overlay = useAppStore((s) => s.overlay?.name ?? null);
  const [importProblem, setImportProblem] = useState<string | null>(null);
  const pickMetrics = (file: File | undefined) => {
    if (file === undefined) return;
    setImportProblem(null);
    file
      .text()
      .then((text) => importMetrics(file.name, text))
      .catch((e: unknown) => setImportProblem(errorMessage(e)));
  };
  const saveTorch = () => saveZip(exportTorchZip);
  return (
    <section className="controls" aria-label="Export">
      <button
        type="button"
        data-testid="export.model"
        onClick={saveModel}
        disabled={!hasModel || busy}
        title="The model as a zip of its Hugging Face folder: config.json, model.safetensors, vocab.txt"
      >
        Download model
      </button>
      {ROW_EXPORTS.map(({ testId, save, title, label }) => (
        <button
          key={testId}
          type="button"
          data-testid={testId}
          onClick={save}
          disabled={rows === 0}
          title={title}
        >
          {label}
        </button>
      ))}
      <button
        type="button"
        data-testid="export.config"
        onClick={downloadConfig}
        title="The run's config (and its mid-run setting changes) as JSON"
      >
        Config JSON
      </button>
      <button
        type="button"
        data-testid="export.torch"
        onClick={saveTorch}
        disabled={busy}
        title="This run as a PyTorch folder (train_alum.py, config.json, README.md with the python, torchrun and accelerate commands; the model when there is one)"
      >
        Export PyTorch script
      </button>
      <label title="Draw a metrics.jsonl (from the exported script, or alum train) over the charts">
        Import metrics{' '}
        <input
          type="file"
          accept=".jsonl,application/x-ndjson"
          data-testid="export.importMetrics"
          onChange={(e) => {
            pickMetrics(e.currentTarget.files?.[0]);
            e.currentTarget.value = '';
          }}
        />
      </label>
      {overlay !== null && (
        <button type="button" data-testid="export.clearMetrics" onClick={clearImportedMetrics}>
          Hide {overlay}
        </button>
      )}
      <FieldError problem={importProblem} testId="export.importError" />
      <FieldError problem={problem} testId="export.error" />
    </section>
  );
}

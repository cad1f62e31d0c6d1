/**
 * Take the work out of the page: the trained model as a zip of its Hugging Face folder (what
 * `BertForSequenceClassification.from_pretrained` and `alum train --init` read), and the metric rows as CSV or
 * JSONL (the columns of `alum train`'s metrics.jsonl).
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import { formatMetrics, type MetricsFormat } from '../metricsExport.ts';
import * as actions from '../store/actions.ts';
import { activeRun, appStore, useAppStore } from '../store/store.ts';

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

export function ExportPanel() {
  const hasModel = useAppStore((s) => (activeRun(s)?.info ?? null) !== null);
  const rows = useAppStore((s) => activeRun(s)?.metrics.length ?? 0);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const saveModel = () => {
    setBusy(true);
    setProblem(null);
    actions
      .exportModel()
      .then(({ blob, fileName }) => download(blob, fileName))
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
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
      <button
        type="button"
        data-testid="export.csv"
        onClick={() => downloadMetrics('csv')}
        disabled={rows === 0}
        title="Every metric row of this run as CSV"
      >
        Metrics CSV
      </button>
      <button
        type="button"
        data-testid="export.jsonl"
        onClick={() => downloadMetrics('jsonl')}
        disabled={rows === 0}
        title="Every metric row of this run as JSON lines (as alum train writes metrics.jsonl)"
      >
        Metrics JSONL
      </button>
      {problem !== null && (
        <span className="field-error" role="status" data-testid="export.error">
          {problem}
        </span>
      )}
    </section>
  );
}

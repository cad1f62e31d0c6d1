/**
 * The run's data: the built-in task, or a file the user picks (CSV, TSV, JSONL with GLUE's layouts, or a task
 * JSON; docs/data-formats.md), split 90/10 seeded or with the user's own dev file, tokenised with the run's
 * vocabulary. The worker checks a file before any run changes; a file it cannot use gets a one-line message
 * naming file, line and column, and the current run goes on. Large files are sent as File objects and streamed
 * by the worker with a progress bar. The preview (rows, labels or targets, token lengths and the truncation
 * rate at the staged maxLength) is recomputed here when maxLength changes.
 */
import { useState } from 'react';
import type { DataCheck } from '../../protocol/messages.ts';
import { errorMessage } from '../coreConfig.ts';
import { lengthHistogram, truncationRate } from '../dataPreview.ts';
import * as actions from '../store/actions.ts';
import { useAppStore } from '../store/store.ts';
import { userData } from '../userFiles.ts';
import { BUILTIN_TASKS, builtinTask, type BuiltinTaskName } from '../builtinData.ts';
import { FieldError } from './Panel.tsx';

type Preview = NonNullable<Extract<DataCheck, { ok: true }>['preview']>;

function percent(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—';
}

export function DataPanel() {
  const staged = useAppStore((s) => s.stagedData?.name ?? null);
  const stagedDev = useAppStore((s) => s.stagedData?.dev?.name ?? null);
  const maxLength = useAppStore((s) => s.staged.maxLength);
  const mlm = useAppStore((s) => s.staged.task === 'mlm');
  const builtin = useAppStore((s) => s.builtinTask);
  const progress = useAppStore((s) => s.dataProgress);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [summary, setSummary] = useState<string | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [dataFile, setDataFile] = useState<File | null>(null);
  const [devFile, setDevFile] = useState<File | null>(null);

  const load = (data: File | null, dev: File | null) => {
    if (data === null) return;
    setBusy(true);
    setProblem(null);
    userData(data, dev)
      .then((d) => actions.loadData(d))
      .then((c) => {
        setSummary(`${c.trainExamples} train / ${c.devExamples} dev, labels ${c.labels.join(', ')}`);
        setPreview(c.preview ?? null);
        setDataFile(data);
        setDevFile(dev);
      })
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  return (
    <fieldset className="data" aria-label="Data">
      <legend>Data</legend>
      {staged === null && !mlm && (
        <label>
          Built-in task{' '}
          <select
            data-testid="data.builtin"
            value={builtin}
            onChange={(e) => {
              actions
                .setBuiltinTask(e.target.value as BuiltinTaskName)
                .catch((err: unknown) => setProblem(errorMessage(err)));
            }}
          >
            {BUILTIN_TASKS.map((t) => (
              <option key={t.name} value={t.name}>
                {t.title}
              </option>
            ))}
          </select>
        </label>
      )}
      <p data-testid="data.name">
        {mlm
          ? "pre-training corpus: the spam and SOTU tasks' train texts and Moby-Dick (public/data/corpus.txt; 2% held out)"
          : (staged ?? `built-in: ${builtinTask(builtin).title}`)}
        {stagedDev !== null && staged !== null && <span> (dev: {stagedDev})</span>}
        {summary !== null && staged !== null && <span className="muted"> ({summary})</span>}
      </p>
      <label>
        Load data{' '}
        <input
          type="file"
          accept=".csv,.tsv,.jsonl,.json"
          data-testid="data.file"
          disabled={busy}
          onChange={(e) => {
            load(e.target.files?.[0] ?? null, devFile);
            e.target.value = ''; // picking the same file again reloads it
          }}
        />
      </label>{' '}
      <label>
        Dev file (optional){' '}
        <input
          type="file"
          accept=".csv,.tsv,.jsonl"
          data-testid="data.devFile"
          disabled={busy}
          onChange={(e) => {
            const dev = e.target.files?.[0] ?? null;
            e.target.value = '';
            if (dataFile === null)
              setDevFile(dev); // used with the next data file
            else load(dataFile, dev);
          }}
        />
      </label>
      {devFile !== null && (
        <button
          type="button"
          disabled={busy}
          onClick={() => (dataFile ? load(dataFile, null) : setDevFile(null))}
        >
          Use a seeded split instead of {devFile.name}
        </button>
      )}
      {progress !== null && (
        <p data-testid="data.progress">
          <label>
            Reading {progress.file} <progress value={progress.bytes} max={Math.max(1, progress.total)} />
          </label>{' '}
          <span className="muted">
            {(progress.bytes / 1e6).toFixed(1)} / {(progress.total / 1e6).toFixed(1)} MB,{' '}
            {progress.rows.toLocaleString('en')} rows
          </span>
        </p>
      )}
      <FieldError problem={problem} testId="data.error" />
      {preview !== null && staged !== null && <DataPreviewView preview={preview} maxLength={maxLength} />}
    </fieldset>
  );
}

function DataPreviewView({ preview, maxLength }: { preview: Preview; maxLength: number }) {
  const bins = lengthHistogram(preview.lengthCounts, maxLength);
  const peak = Math.max(1, ...bins.map((b) => b.count));
  const rate = truncationRate(preview.lengthCounts, maxLength);
  return (
    <div className="data-preview" data-testid="data.preview">
      <p data-testid="data.preview.rows">
        {preview.rows.toLocaleString('en')} rows ({preview.trainExamples} train / {preview.devExamples} dev),{' '}
        {preview.problemType}
      </p>
      {preview.labelCounts !== null && (
        <p data-testid="data.preview.labels">
          {preview.labelCounts.map((l) => `${l.label}: ${l.count}`).join(', ')}
        </p>
      )}
      {preview.targets !== null && (
        <p data-testid="data.preview.targets">
          targets min {preview.targets.min.toPrecision(4)}, max {preview.targets.max.toPrecision(4)}, mean{' '}
          {preview.targets.mean.toPrecision(4)}
        </p>
      )}
      <p data-testid="data.preview.truncation">
        {percent(rate)} of examples are longer than maxLength {maxLength} tokens and get truncated
      </p>
      <div
        className="length-histogram"
        role="img"
        data-testid="data.preview.histogram"
        aria-label={`token lengths: ${bins.map((b) => `${b.from}-${b.to}: ${b.count}`).join(', ')}`}
        style={{ display: 'flex', alignItems: 'flex-end', gap: '1px', height: '4rem' }}
      >
        {bins.map((b) => (
          <div
            key={b.from}
            title={`${b.from}-${b.to} tokens: ${b.count} examples${b.truncated ? ' (truncated)' : ''}`}
            style={{
              flex: '1 1 0',
              height: `${(100 * b.count) / peak}%`,
              minHeight: b.count > 0 ? '1px' : 0,
              background: b.truncated ? '#d62728' : '#1f77b4',
            }}
          />
        ))}
      </div>
      <p className="muted">
        token lengths with the run&apos;s tokenizer, 1 to {bins.at(-1)?.to ?? maxLength}; red: beyond
        maxLength
      </p>
    </div>
  );
}

/**
 * The run's data: the built-in task, or a file the user picks (CSV or TSV with a header `sentence,label` or
 * `sentence1,sentence2,label`, JSONL with `text`/`text_pair`/`label`, or a task JSON), split 90/10 stratified
 * and seeded, tokenised with the built-in vocabulary. The worker checks a file before any run changes; a file
 * it cannot use gets a one-line message naming file and line, and the current run goes on.
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { useAppStore } from '../store/store.ts';

export function DataPanel() {
  const staged = useAppStore((s) => s.stagedData?.name ?? null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [summary, setSummary] = useState<string | null>(null);
  const pick = (file: File | undefined) => {
    if (file === undefined) return;
    setBusy(true);
    setProblem(null);
    file
      .text()
      .then((text) => actions.loadData({ name: file.name, text }))
      .then((c) =>
        setSummary(`${c.trainExamples} train / ${c.devExamples} dev, labels ${c.labels.join(', ')}`),
      )
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  return (
    <fieldset className="data" aria-label="Data">
      <legend>Data</legend>
      <p data-testid="data.name">
        {staged ?? 'built-in: SpamAssassin (spam / ham)'}
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
            pick(e.target.files?.[0]);
            e.target.value = ''; // picking the same file again reloads it
          }}
        />
      </label>
      {problem !== null && (
        <span className="field-error" role="status" data-testid="data.error">
          {problem}
        </span>
      )}
    </fieldset>
  );
}

/**
 * The model a run starts from: random weights of the size in the config, or a Hugging Face BERT the user
 * picks (config.json, vocab.txt or tokenizer.json, model.safetensors or pytorch_model.bin; several files at
 * once, or a folder). The worker reads the files before any run changes: files it cannot use get one line
 * naming the file (a .bin that names any global but the tensor rebuilders is refused, nothing in it runs),
 * and the current run goes on. The panel shows which model the active run started from and its load report.
 */
import { useState, type ReactNode } from 'react';
import type { Init, ModelPresetName } from '../../core/config.ts';
import { errorMessage, PRETRAINED_MODELS } from '../coreConfig.ts';
import * as actions from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';
import { FieldError } from './Panel.tsx';

/** What the next run starts from, in words (the config's `init`, and the loaded model's name). */
function startingPoint(loaded: string | null, init: Init, model: ModelPresetName): ReactNode {
  if (init === 'loaded') return loaded ?? 'a loaded model (load one below)';
  const folder = PRETRAINED_MODELS[model];
  if (init === 'random' || folder === undefined) return 'random weights (size from the config)';
  return (
    <>
      the built-in pre-trained {model} (
      <a href={`${folder}/README.md`} target="_blank" rel="noreferrer">
        model card
      </a>
      )
    </>
  );
}

export function ModelPanel() {
  const staged = useAppStore((s) => s.stagedModel);
  const init = useAppStore((s) => s.staged.init);
  const size = useAppStore((s) => s.staged.model);
  const started = useAppStore((s) => activeRun(s)?.info?.init ?? null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const pick = (files: FileList | null) => {
    if (files === null || files.length === 0) return;
    setBusy(true);
    setProblem(null);
    actions
      .loadModel([...files])
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  return (
    <fieldset className="model" aria-label="Model">
      <legend>Model</legend>
      <p data-testid="model.name">{startingPoint(staged?.model.name ?? null, init, size)}</p>
      {started !== null && (
        <p className="muted" data-testid="model.report">
          Run started from {started.summary}
        </p>
      )}
      <label>
        Load model{' '}
        <input
          type="file"
          multiple
          accept=".json,.txt,.safetensors,.bin"
          data-testid="model.file"
          disabled={busy}
          onChange={(e) => {
            pick(e.target.files);
            e.target.value = ''; // picking the same files again reloads them
          }}
        />
      </label>
      <label>
        Load model folder{' '}
        <input
          type="file"
          // A directory picker (non-standard, in every current browser): the files of the folder, with
          // webkitRelativePath set; only the model files among them are read.
          ref={(el) => el?.setAttribute('webkitdirectory', '')}
          data-testid="model.folder"
          disabled={busy}
          onChange={(e) => {
            pick(e.target.files);
            e.target.value = '';
          }}
        />
      </label>
      <FieldError problem={problem} testId="model.error" />
    </fieldset>
  );
}

/**
 * The staged config. Each edit is validated alone (validateConfigPatch via stageConfig); a bad value keeps
 * the field's text, shows the one-line error next to it, and stages nothing. Valid edits are staged (the URL
 * follows) and take effect on Reset, or on the first Start when there is no run yet.
 */
import { useState } from 'react';
import type { ModelPresetName, TrainConfig } from '../../core/config.ts';
import {
  CHOICES as CONFIG_CHOICES,
  CONFIG_KEYS,
  countParams,
  errorMessage,
  modelConfigFor,
} from '../coreConfig.ts';
import { CONFIG_HELP } from '../help.ts';
import { stageConfig } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';

/** Vocabulary size to size the model presets with before a run tells us the real one. */
const FALLBACK_VOCAB = 8000;

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

function presetLabel(name: ModelPresetName, vocabSize: number, numLabels: number): string {
  return `${name} (${compact.format(countParams(modelConfigFor(name, vocabSize, numLabels)))} params)`;
}

type Field = keyof TrainConfig;

const GROUPS: readonly { legend: string; note?: string; fields: readonly Field[] }[] = [
  { legend: 'Method', fields: ['method'] },
  {
    legend: 'ALUM adversary',
    note: 'Used when method is alum.',
    fields: [
      'alpha',
      'k',
      'eta',
      'epsilon',
      'sigma',
      'variant',
      'norm',
      'innerLoss',
      'innerReduction',
      'detachEmbedding',
      'advDropout',
    ],
  },
  { legend: 'Optimisation', fields: ['lr', 'batchSize', 'steps', 'weightDecay', 'dropout', 'evalEvery'] },
  { legend: 'Model and data', fields: ['model', 'maxLength', 'seed'] },
];

/** Fields edited with a menu: every string-valued field, and the booleans as true/false. */
const CHOICES: Partial<Record<Field, readonly string[]>> = {
  ...CONFIG_CHOICES,
  detachEmbedding: ['false', 'true'],
};

export function ConfigForm() {
  const staged = useAppStore((s) => s.staged);
  const runConfig = useAppStore((s) => activeRun(s)?.config ?? null);
  const info = useAppStore((s) => activeRun(s)?.info ?? null);
  // Text being typed, per field, until it is valid and the field loses focus.
  const [drafts, setDrafts] = useState<Partial<Record<Field, string>>>({});
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});

  const edit = (field: Field, text: string) => {
    setDrafts((d) => ({ ...d, [field]: text }));
    try {
      stageConfig({ [field]: text });
      setErrors(({ [field]: _, ...rest }) => rest);
    } catch (e) {
      setErrors((errs) => ({ ...errs, [field]: errorMessage(e) }));
    }
  };
  const settle = (field: Field) => {
    if (errors[field] === undefined) setDrafts(({ [field]: _, ...rest }) => rest);
  };

  const pending = runConfig === null ? [] : CONFIG_KEYS.filter((k) => staged[k] !== runConfig[k]);
  const vocabSize = info?.vocabSize ?? FALLBACK_VOCAB;
  const numLabels = info?.labels.length ?? 2;

  return (
    <form className="config" aria-label="Training configuration" onSubmit={(e) => e.preventDefault()}>
      {GROUPS.map((group) => (
        <fieldset key={group.legend}>
          <legend>{group.legend}</legend>
          {group.note !== undefined && <p className="muted">{group.note}</p>}
          {group.fields.map((field) => {
            const id = `config-${field}`;
            const error = errors[field];
            const choices = CHOICES[field];
            const common = {
              id,
              'data-testid': `config.${field}`,
              title: CONFIG_HELP[field],
              'aria-invalid': error !== undefined,
              'aria-describedby': error !== undefined ? `${id}-error` : undefined,
            };
            return (
              <div className="field" key={field}>
                <label htmlFor={id} title={CONFIG_HELP[field]}>
                  {field}
                </label>
                {choices !== undefined ? (
                  <select
                    {...common}
                    value={String(staged[field])}
                    onChange={(e) => edit(field, e.target.value)}
                  >
                    {choices.map((c) => (
                      <option key={c} value={c}>
                        {field === 'model' ? presetLabel(c as ModelPresetName, vocabSize, numLabels) : c}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    {...common}
                    type="text"
                    inputMode="decimal"
                    autoComplete="off"
                    spellCheck={false}
                    value={drafts[field] ?? String(staged[field])}
                    onChange={(e) => edit(field, e.target.value)}
                    onBlur={() => settle(field)}
                  />
                )}
                {error !== undefined && (
                  <span className="field-error" id={`${id}-error`} data-testid={`config.${field}.error`}>
                    {error}
                  </span>
                )}
              </div>
            );
          })}
        </fieldset>
      ))}
      {pending.length > 0 && (
        <p className="pending" role="status" data-testid="config.pending">
          Changed since the run was built: {pending.join(', ')}. Press Reset to apply (the run restarts at
          step 0).
        </p>
      )}
    </form>
  );
}

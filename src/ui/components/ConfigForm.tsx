/**
 * The staged config. Each edit is validated alone (validateConfigPatch via stageConfig); a bad value keeps
 * the field's text, shows the one-line error next to it, stages nothing, and is recorded in the store's
 * `formErrors`, so Start, Step and Reset wait until every field is valid (nothing trains on the last valid
 * values while a field shows something else). Valid edits are staged (the URL follows) and take effect on
 * Reset, or on the first Start when there is no run yet. Every field has a human label (its accessible
 * name) and a disclosure with its paper symbol, official flag, sensible values and extremes (help.ts);
 * classroom mode (`?classroom=1`) hides the advanced fields.
 */
import { useEffect, useState } from 'react';
import type { Init, ModelPresetName, TrainConfig } from '../../core/config.ts';
import {
  CHOICES as CONFIG_CHOICES,
  CONFIG_KEYS,
  countParams,
  errorMessage,
  modelConfigFor,
  PRESETS,
  PRETRAINED_MODELS,
} from '../coreConfig.ts';
import { CONFIG_HELP, FIELD_HELP, fieldLabel } from '../help.ts';
import { setFormErrors, setLesson, stageConfig } from '../store/actions.ts';
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
    note: 'Used by alum and its relatives (r3f, fgm, pgd, freelb, smart: each option says which use it).',
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
  {
    legend: 'Relatives',
    note: 'noiseType is used by r3f; smartMu and smartBeta by smart.',
    fields: ['noiseType', 'smartMu', 'smartBeta'],
  },
  { legend: 'Optimisation', fields: ['lr', 'batchSize', 'steps', 'weightDecay', 'dropout', 'evalEvery'] },
  { legend: 'Model and data', fields: ['task', 'init', 'model', 'maxLength', 'seed'] },
  { legend: 'Masked-LM pre-training', note: 'Used when task is mlm.', fields: ['maskRate', 'wholeWordMask'] },
];

/** What a class sees in classroom mode (`?classroom=1`); the rest keep their values but are hidden. */
const CLASSROOM_FIELDS: ReadonlySet<Field> = new Set<Field>([
  'method',
  'alpha',
  'k',
  'eta',
  'epsilon',
  'lr',
  'steps',
  'init',
]);

/** Fields edited with a menu: every string-valued field, and the booleans as true/false. */
const CHOICES: Partial<Record<Field, readonly string[]>> = {
  ...CONFIG_CHOICES,
  detachEmbedding: ['false', 'true'],
  wholeWordMask: ['false', 'true'],
};

/** A menu entry's text: model sizes with their parameter counts, starting points in words. */
function optionLabel(field: Field, choice: string, vocabSize: number, numLabels: number): string {
  if (field === 'model') return presetLabel(choice as ModelPresetName, vocabSize, numLabels);
  if (field === 'init') return INIT_LABELS[choice as Init];
  if (field === 'task') return choice === 'mlm' ? 'mlm (pre-train on the corpus)' : 'classify (fine-tune)';
  return choice;
}

const INIT_LABELS: Readonly<Record<Init, string>> = {
  pretrained: `pretrained (built in: ${Object.keys(PRETRAINED_MODELS).join(', ')})`,
  random: 'random weights',
  loaded: 'the loaded model',
};

function FieldHelpText({ field }: { field: Field }) {
  const h = FIELD_HELP[field];
  return (
    <details className="field-help" data-testid={`config.${field}.help`}>
      <summary>
        About <span className="visually-hidden">{fieldLabel(field)}</span>
      </summary>
      <p>{CONFIG_HELP[field]}</p>
      {h !== undefined && (
        <dl>
          <dt>Paper symbol</dt>
          <dd>{h.symbol}</dd>
          <dt>Official code</dt>
          <dd>
            {h.official}; here <code>{field}</code>
          </dd>
          <dt>Sensible values</dt>
          <dd>{h.sensible}</dd>
          <dt>At the extremes</dt>
          <dd>{h.extremes}</dd>
        </dl>
      )}
    </details>
  );
}

function PresetMenu({ onApply }: { onApply: () => void }) {
  const preset = useAppStore((s) => s.lesson.preset);
  const chosen = PRESETS.find((p) => p.name === preset) ?? null;
  return (
    <div className="field presets">
      <label htmlFor="config-preset">Preset</label>
      <select
        id="config-preset"
        data-testid="config.preset"
        value={preset ?? ''}
        onChange={(e) => {
          const p = PRESETS.find((x) => x.name === e.target.value);
          setLesson({ preset: p?.name ?? null });
          if (p !== undefined) {
            stageConfig(p.patch);
            onApply();
          }
        }}
      >
        <option value="">(none: the fields below)</option>
        {PRESETS.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
      {chosen !== null && (
        <div className="preset-source" data-testid="config.preset.source">
          <p>{chosen.description}</p>
          <p className="muted">Source: {chosen.source}</p>
        </div>
      )}
    </div>
  );
}

export function ConfigForm() {
  const staged = useAppStore((s) => s.staged);
  const runConfig = useAppStore((s) => activeRun(s)?.config ?? null);
  const info = useAppStore((s) => activeRun(s)?.info ?? null);
  const classroom = useAppStore((s) => s.lesson.classroom);
  const hasModel = useAppStore((s) => s.stagedModel !== null);
  // Text being typed, per field, until it is valid and the field loses focus.
  const [drafts, setDrafts] = useState<Partial<Record<Field, string>>>({});
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  useEffect(() => setFormErrors(errors), [errors]);

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
  const clearDrafts = () => {
    setDrafts({});
    setErrors({});
  };

  const pending = runConfig === null ? [] : CONFIG_KEYS.filter((k) => staged[k] !== runConfig[k]);
  const vocabSize = info?.vocabSize ?? FALLBACK_VOCAB;
  const numLabels = info?.labels.length ?? 2;
  const invalid = Object.keys(errors) as Field[];

  return (
    <form className="config" aria-label="Training configuration" onSubmit={(e) => e.preventDefault()}>
      {!classroom && <PresetMenu onApply={clearDrafts} />}
      {GROUPS.map((group) => {
        const fields = classroom ? group.fields.filter((f) => CLASSROOM_FIELDS.has(f)) : group.fields;
        if (fields.length === 0) return null;
        return (
          <fieldset key={group.legend}>
            <legend>{group.legend}</legend>
            {group.note !== undefined && <p className="muted">{group.note}</p>}
            {fields.map((field) => {
              const id = `config-${field}`;
              const error = errors[field];
              const choices = CHOICES[field];
              const common = {
                id,
                name: field,
                'data-testid': `config.${field}`,
                'aria-invalid': error !== undefined,
                'aria-describedby': error !== undefined ? `${id}-error` : undefined,
              };
              return (
                <div className="field" key={field}>
                  <label htmlFor={id}>
                    {fieldLabel(field)} <code className="muted">{field}</code>
                  </label>
                  {choices !== undefined ? (
                    <select
                      {...common}
                      value={String(staged[field])}
                      onChange={(e) => edit(field, e.target.value)}
                    >
                      {choices.map((c) => (
                        <option
                          key={c}
                          value={c}
                          // "the loaded model" is chosen by loading one (Model panel), not from this menu.
                          disabled={field === 'init' && c === 'loaded' && !hasModel}
                        >
                          {optionLabel(field, c, vocabSize, numLabels)}
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
                  <FieldHelpText field={field} />
                </div>
              );
            })}
          </fieldset>
        );
      })}
      {invalid.length > 0 && (
        <p className="field-error" role="status" data-testid="config.invalid">
          Start, Step and Reset wait until these fields are valid: {invalid.map(fieldLabel).join(', ')}.
        </p>
      )}
      {pending.length > 0 && (
        <p className="pending" role="status" data-testid="config.pending">
          Changed since the run was built: {pending.map(fieldLabel).join(', ')}. Press Reset to apply (the run
          restarts at step 0).
        </p>
      )}
    </form>
  );
}

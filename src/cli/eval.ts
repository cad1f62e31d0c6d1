/**
 * `alum eval`: attack a trained classifier on the dev split of a data file and print what the attack did
 * (src/core/robust: pgd, random, hotflip, typo, drop; docs/robustness.md).
 *   alum eval --model DIR --data FILE --attack A [--epsilon E] [--k K] [--eta H] [--norm inf|l2] [--budget B]
 *             [--seed S] [--max-examples N] [--max-length T] [--dev FILE] [--backend B] [--records FILE] [--json]
 * --model is a Hugging Face folder (`alum train --out DIR` writes one in DIR/model); --data any file `alum train`
 * reads, split as `train` splits it for the same --seed (or --dev FILE). The attacked examples are the first
 * --max-examples rows of the dev split. --json prints one object (the summary and where it came from);
 * --records writes every attacked example as a JSON line. Ctrl-C stops after the current example (exit 130).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { DEFAULT_CONFIG } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import { withLabels } from '../core/model/hf-load.ts';
import { disposeParams, paramsFromArrays } from '../core/model/params.ts';
import {
  ATTACKS,
  resolveAttackSettings,
  runAttack,
  type AttackName,
  type AttackSettings,
  type AttackSummary,
} from '../core/robust/attack.ts';
import { WordPieceTokenizer } from '../core/tokenizer/wordpiece.ts';
import { loadDataFile, loadModelDir, type Io } from './files.ts';
import { startBackend, UsageError } from './main.ts';

const FLAGS = {
  model: { type: 'string' },
  data: { type: 'string' },
  dev: { type: 'string' },
  attack: { type: 'string' },
  epsilon: { type: 'string' },
  k: { type: 'string' },
  eta: { type: 'string' },
  norm: { type: 'string' },
  budget: { type: 'string' },
  seed: { type: 'string' },
  'max-examples': { type: 'string' },
  'max-length': { type: 'string' },
  backend: { type: 'string' },
  records: { type: 'string' },
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function flags(argv: string[]): Values {
  try {
    return parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
}

function required(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`missing --${name}`);
  return v;
}

/** A number flag, or undefined when absent. Decimal only, as the config's numbers. */
function numberFlag(values: Values, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const x = typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return x;
}

const FLAG_OF: Partial<Record<keyof AttackSettings, string>> = { maxCandidates: 'max-candidates' };

/** The attack's settings from the flags; a bad value is one line naming its flag. */
export function settingsFrom(values: Values): AttackSettings {
  const attack = required(values, 'attack');
  if (!(ATTACKS as readonly string[]).includes(attack)) {
    throw new UsageError(`--attack must be one of ${ATTACKS.join('|')}, got ${JSON.stringify(attack)}`);
  }
  const patch: Partial<AttackSettings> = {};
  for (const key of ['epsilon', 'k', 'eta', 'budget', 'seed'] as const) {
    const x = numberFlag(values, key);
    if (x !== undefined) patch[key] = x;
  }
  if (values['norm'] !== undefined) patch.norm = values['norm'] as AttackSettings['norm'];
  try {
    return resolveAttackSettings(attack as AttackName, patch);
  } catch (e) {
    const msg = errorMessage(e).replace(
      /^(\w+) must/,
      (_m, k: keyof AttackSettings) => `--${FLAG_OF[k] ?? k} must`,
    );
    throw new UsageError(msg);
  }
}

/** A positive integer flag, or `fallback`. */
function countFlag(values: Values, name: string, fallback: number): number {
  const x = numberFlag(values, name);
  if (x === undefined) return fallback;
  if (!Number.isInteger(x) || x < 1) throw new UsageError(`--${name} must be an integer >= 1, got ${x}`);
  return x;
}

/** One line for people: what was attacked and what the attack did. */
export function describeSummary(s: AttackSummary, unit: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return (
    `${s.attack}: ${s.n} examples, clean accuracy ${pct(s.clean_accuracy)}, attacked ${pct(s.attacked_accuracy)}, ` +
    `success rate ${pct(s.success_rate)}, ${pct(s.changed)} of ${unit} changed, ${s.queries.toFixed(1)} queries/example, ` +
    `${(s.time_ms / 1000).toFixed(1)} s${s.cancelled ? ' (stopped early)' : ''}`
  );
}

const UNIT: Readonly<Record<AttackName, string>> = {
  pgd: 'tokens',
  random: 'tokens',
  hotflip: 'tokens',
  typo: 'words',
  drop: 'words',
};

export async function evalCommand(argv: string[], io: Io): Promise<number> {
  const values = flags(argv);
  const modelDir = required(values, 'model');
  const dataFile = required(values, 'data');
  const settings = settingsFrom(values);
  const maxExamples = countFlag(values, 'max-examples', Number.MAX_SAFE_INTEGER);
  const choice = await startBackend(values, io);
  const loaded = await loadModelDir(modelDir, settings.seed);
  const dev = typeof values['dev'] === 'string' ? { dev: values['dev'] } : {};
  const task = await loadDataFile(
    dataFile,
    loaded.vocabText,
    settings.seed,
    { lowercase: loaded.lowercase },
    dev,
  );
  if (task.data.problemType === 'regression') {
    throw new UsageError(`${dataFile}: the attacks need a classification task, not regression targets`);
  }
  if (loaded.report.initialised.includes('classifier.weight')) {
    throw new UsageError(`${modelDir}: the model has no trained classifier (classifier.weight missing)`);
  }
  if (loaded.model.numLabels !== task.data.labels.length) {
    throw new UsageError(
      `${dataFile}: ${task.data.labels.length} labels, but ${modelDir}/config.json has ${loaded.model.numLabels}`,
    );
  }
  // Default: training's default length, or the model's max_position_embeddings when that is shorter.
  const maxLength = countFlag(
    values,
    'max-length',
    Math.min(DEFAULT_CONFIG.maxLength, loaded.model.maxPositions),
  );
  if (maxLength > loaded.model.maxPositions) {
    throw new UsageError(
      `--max-length ${maxLength} exceeds the model's max_position_embeddings ${loaded.model.maxPositions}`,
    );
  }
  const examples = task.data.dev.slice(0, maxExamples);
  if (examples.length === 0) throw new UsageError(`${dataFile}: the dev split is empty; nothing to attack`);
  const fitted = withLabels(loaded, task.data.labels, settings.seed); // same names in another order: rows permuted
  const params = paramsFromArrays(fitted.model, fitted.arrays, modelDir);
  try {
    const victim = {
      params,
      model: fitted.model,
      tokenizer: WordPieceTokenizer.fromVocabText(loaded.vocabText, { lowercase: loaded.lowercase }),
      maxLength,
    };
    io.err(`eval: ${settings.attack} on ${examples.length} dev examples of ${dataFile} with ${modelDir}`);
    let shown = 0;
    const { summary, records } = await runAttack(victim, examples, settings, {
      shouldStop: () => io.stopRequested(),
      onProgress: (done, total) => {
        if (done === total || done - shown >= Math.max(1, Math.ceil(total / 10))) {
          shown = done;
          io.err(`${settings.attack}: ${done}/${total}`);
        }
      },
    });
    if (typeof values['records'] === 'string') {
      await writeFile(values['records'], records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    }
    if (values['json'] === true) {
      io.out(
        JSON.stringify({
          ...summary,
          model: modelDir,
          data: dataFile,
          backend: choice.backend,
          max_length: maxLength,
        }),
      );
    } else {
      io.out(describeSummary(summary, UNIT[settings.attack]));
    }
    return summary.cancelled ? 130 : 0;
  } finally {
    disposeParams(params);
  }
}

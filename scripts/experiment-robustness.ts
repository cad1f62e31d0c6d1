/**
 * `npm run experiment:robustness`: does ALUM make the model more robust at browser scale? For each built-in task,
 * each seed and each method (standard, alum: same seed, data and initial weights), fine-tune with `alum train`,
 * then attack the model with every attack of `alum eval` (pgd and its random control at several epsilons,
 * hotflip, typo, drop) on the same fixed dev sample (the first --max-examples rows of the task's dev split).
 * Both steps go through the CLI's own code path (src/cli/main.ts `main`), in-process. Writes --out/robustness.json
 * (every run, every attack's summary, the means and standard deviations) and --out/robustness.md (the tables).
 *   npm run experiment:robustness -- [--steps N] [--seeds S] [--init DIR] [--lr LR] [--max-examples N]
 *                                    [--epsilons 0.03,0.1,0.3] [--tasks FILE,FILE] [--backend B] [--out DIR]
 * --init defaults to public/models/tiny when that folder exists, else the runs start from random weights (the
 * `tiny` preset); the report says which. Small size for a check: --steps 20 --seeds 1 --max-examples 16.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { DEFAULT_DATA, DEFAULT_VOCAB, REPO_ROOT, type Io } from '../src/cli/files.ts';
import { main } from '../src/cli/main.ts';
import type { AttackSummary } from '../src/core/robust/attack.ts';

export interface ExperimentOptions {
  tasks: string[];
  steps: number;
  seeds: number;
  /** A Hugging Face folder to fine-tune from, or null for random weights. */
  init: string | null;
  /** `alum train --lr`, or null for its default for the init (defaultLr in src/core/config.ts). */
  lr: number | null;
  maxExamples: number;
  epsilons: number[];
  backend: string | null;
  out: string;
  /** Extra `alum train` flags (tests: a small model, short inputs). */
  trainFlags: string[];
  /** The command line to record in the report. */
  command: string;
}

export const METHODS = ['standard', 'alum'] as const;
export const DEFAULT_TASKS = ['public/data/spam-assassin.json', 'public/data/sotu-party.json'];
export const DEFAULT_INIT = 'public/models/tiny';

/** One attack of the list: its label in the tables and its `alum eval` flags. */
interface AttackSpec {
  label: string;
  flags: string[];
}

function attackList(epsilons: readonly number[]): AttackSpec[] {
  const ball = epsilons.flatMap((e) => [
    { label: `pgd eps=${e}`, flags: ['--attack', 'pgd', '--epsilon', String(e)] },
    { label: `random eps=${e}`, flags: ['--attack', 'random', '--epsilon', String(e)] },
  ]);
  const text = ['hotflip', 'typo', 'drop'].map((a) => ({ label: a, flags: ['--attack', a] }));
  return [...ball, ...text];
}

/** An Io that keeps stdout and passes stderr through with a prefix. */
function captured(prefix: string, log: (line: string) => void): Io & { stdout: string[] } {
  const stdout: string[] = [];
  return {
    stdout,
    out: (l) => stdout.push(l),
    // A training run's setup line and outcome, and errors: the attacks' progress lines would drown the log.
    err: (l) => (/^(run:|done|stopped|error)/.test(l) ? log(`${prefix}${l}`) : undefined),
    readStdin: () => Promise.resolve(''),
    stopRequested: () => false,
    defaultData: DEFAULT_DATA,
    defaultVocab: DEFAULT_VOCAB,
  };
}

async function cli(argv: string[], prefix: string, log: (line: string) => void): Promise<string[]> {
  const io = captured(prefix, log);
  const code = await main(argv, io);
  if (code !== 0) throw new Error(`alum ${argv.join(' ')} exited with ${code}`);
  return io.stdout;
}

interface RunResult {
  task: string;
  method: (typeof METHODS)[number];
  seed: number;
  devAccuracy: number | null;
  /** Mean training time per step (ms), the first step (warm-up, kernel compilation) left out. */
  msPerStep: number;
  attacks: Record<string, AttackSummary>;
}

/**
 * Mean trainMs of the metrics rows, leaving out the first (warm-up, kernel compilation) and the rows that
 * evaluate (they also run the task-gradient split, one more pass): the cost of a plain training step.
 */
async function msPerStep(runDir: string): Promise<number> {
  const rows = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { trainMs: number; devAccuracy?: number });
  const plain = rows.slice(1).filter((r) => r.devAccuracy === undefined);
  return mean((plain.length > 0 ? plain : rows).map((r) => r.trainMs));
}

async function oneRun(
  o: ExperimentOptions,
  task: string,
  method: (typeof METHODS)[number],
  seed: number,
  work: string,
  log: (line: string) => void,
): Promise<RunResult> {
  const runDir = join(work, `${taskName(task)}-${method}-${seed}`);
  const backend = o.backend === null ? [] : ['--backend', o.backend];
  const init = o.init === null ? [] : ['--init', o.init];
  const lr = o.lr === null ? [] : ['--lr', String(o.lr)];
  const tag = `[${taskName(task)} ${method} seed ${seed}] `;
  const trainArgs = [
    'train',
    '--data',
    task,
    '--method',
    method,
    '--seed',
    String(seed),
    '--steps',
    String(o.steps),
  ];
  const [trained = '{}'] = await cli(
    [...trainArgs, ...init, ...lr, ...o.trainFlags, ...backend, '--out', runDir],
    tag,
    log,
  );
  const devAccuracy = (JSON.parse(trained) as { devAccuracy: number | null }).devAccuracy;
  const maxLength = flagValue(o.trainFlags, '--max-length');
  const attacks: Record<string, AttackSummary> = {};
  for (const a of attackList(o.epsilons)) {
    const evalArgs = ['eval', '--model', join(runDir, 'model'), '--data', task, '--seed', String(seed)];
    const sample = [
      '--max-examples',
      String(o.maxExamples),
      ...(maxLength ? ['--max-length', maxLength] : []),
    ];
    const [line = '{}'] = await cli([...evalArgs, ...a.flags, ...sample, ...backend, '--json'], tag, log);
    // The model folder is a temporary one, and the data file is the run's task: neither is kept per attack.
    const {
      model: _m,
      data: _d,
      ...summary
    } = JSON.parse(line) as AttackSummary & { model?: string; data?: string };
    attacks[a.label] = summary;
    log(
      `${tag}${a.label}: clean ${summary.clean_accuracy.toFixed(3)}, attacked ${summary.attacked_accuracy.toFixed(3)}`,
    );
  }
  return { task: inRepo(task), method, seed, devAccuracy, msPerStep: await msPerStep(runDir), attacks };
}

function flagValue(flags: readonly string[], name: string): string | undefined {
  const i = flags.indexOf(name);
  return i >= 0 ? flags[i + 1] : undefined;
}

/** A path relative to the repository root when it lies inside it (reports name no local folders). */
function inRepo(path: string): string {
  const rel = relative(REPO_ROOT, path);
  return rel.startsWith('..') || rel.startsWith('/') ? path : rel;
}

function taskName(file: string): string {
  return file.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1); 0 for a single value. */
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

interface Stat {
  mean: number;
  std: number;
}
const stat = (xs: readonly number[]): Stat => ({ mean: mean(xs), std: std(xs) });

const METRICS = ['clean_accuracy', 'attacked_accuracy', 'success_rate', 'changed', 'queries'] as const;

interface Aggregate {
  task: string;
  method: string;
  attack: string;
  n: number;
  seeds: number;
  stats: Record<(typeof METRICS)[number], Stat>;
}

function aggregate(runs: readonly RunResult[], labels: readonly string[]): Aggregate[] {
  const out: Aggregate[] = [];
  for (const task of [...new Set(runs.map((r) => r.task))]) {
    for (const method of METHODS) {
      const group = runs.filter((r) => r.task === task && r.method === method);
      for (const attack of labels) {
        const summaries = group
          .map((r) => r.attacks[attack])
          .filter((s): s is AttackSummary => s !== undefined);
        const stats = Object.fromEntries(METRICS.map((m) => [m, stat(summaries.map((s) => s[m]))]));
        out.push({
          task: taskName(task),
          method,
          attack,
          n: summaries[0]?.n ?? 0,
          seeds: summaries.length,
          stats: stats as Aggregate['stats'],
        });
      }
    }
  }
  return out;
}

function timing(runs: readonly RunResult[]) {
  return [...new Set(runs.map((r) => r.task))].flatMap((task) =>
    METHODS.map((method) => {
      const group = runs.filter((r) => r.task === task && r.method === method);
      return {
        task: taskName(task),
        method,
        msPerStep: stat(group.map((r) => r.msPerStep)),
        devAccuracy: stat(group.map((r) => r.devAccuracy ?? NaN)),
      };
    }),
  );
}

const pct = (s: Stat) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;

function markdown(report: Report): string {
  const lines = [
    '# Robustness: standard vs ALUM fine-tuning, attacked',
    '',
    `Command: \`${report.command}\``,
    '',
    `Written by scripts/experiment-robustness.ts on ${report.date}; backend ${report.backend}; total wall time ` +
      `${(report.wallMs / 1000).toFixed(0)} s. Initial weights: ${report.init}; learning rate ${report.lr}. ${report.steps} steps per run, ` +
      `seeds ${report.seeds.join(', ')}; attacks on the first ${report.maxExamples} rows of each task's dev split. ` +
      'Mean ± standard deviation over the seeds (in %, except queries and ms). ms per step: training steps without ' +
      'the first and the evaluating ones. Attack definitions: docs/robustness.md.',
    '',
    '## Training cost and clean dev accuracy',
    '',
    '| task | method | ms per step | dev accuracy (%) |',
    '|---|---|---|---|',
    ...report.timing.map(
      (t) =>
        `| ${t.task} | ${t.method} | ${t.msPerStep.mean.toFixed(0)} ± ${t.msPerStep.std.toFixed(0)} | ${pct(t.devAccuracy)} |`,
    ),
  ];
  for (const task of [...new Set(report.aggregate.map((a) => a.task))]) {
    lines.push(
      '',
      `## ${task}`,
      '',
      '| attack | method | clean acc. | attacked acc. | success rate | changed | queries |',
      '|---|---|---|---|---|---|---|',
    );
    const rows = report.aggregate.filter((a) => a.task === task);
    for (const attack of [...new Set(rows.map((a) => a.attack))]) {
      for (const a of rows.filter((r) => r.attack === attack)) {
        const s = a.stats;
        lines.push(
          `| ${attack} | ${a.method} | ${pct(s.clean_accuracy)} | ${pct(s.attacked_accuracy)} | ${pct(s.success_rate)} | ` +
            `${pct(s.changed)} | ${s.queries.mean.toFixed(1)} |`,
        );
      }
    }
  }
  return lines.join('\n') + '\n';
}

interface Report {
  command: string;
  date: string;
  backend: string;
  init: string;
  lr: string;
  steps: number;
  seeds: number[];
  maxExamples: number;
  epsilons: number[];
  wallMs: number;
  timing: ReturnType<typeof timing>;
  aggregate: Aggregate[];
  runs: RunResult[];
}

/** Runs the whole experiment and writes the two reports; returns the report. */
export async function runExperiment(o: ExperimentOptions, log: (line: string) => void): Promise<Report> {
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), 'alum-robustness-'));
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const runs: RunResult[] = [];
  try {
    for (const task of o.tasks) {
      for (const seed of seeds) {
        for (const method of METHODS) runs.push(await oneRun(o, task, method, seed, work, log));
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const labels = attackList(o.epsilons).map((a) => a.label);
  const first = Object.values(runs[0]?.attacks ?? {})[0] as
    (AttackSummary & { backend?: string }) | undefined;
  const report: Report = {
    command: o.command,
    date: new Date().toISOString(),
    backend: first?.backend ?? 'unknown',
    init:
      o.init === null
        ? 'random weights (the tiny preset; no pre-trained checkpoint given or found)'
        : `${inRepo(o.init)} (pre-trained checkpoint)`,
    lr: o.lr === null ? "alum train's default for this init" : String(o.lr),
    steps: o.steps,
    seeds,
    maxExamples: o.maxExamples,
    epsilons: o.epsilons,
    wallMs: performance.now() - started,
    timing: timing(runs),
    aggregate: aggregate(runs, labels),
    runs,
  };
  await mkdir(o.out, { recursive: true });
  // Formatted as the repository's `prettier --check .` wants it (prettier is a dev dependency, as this script).
  const prettier = await import('prettier');
  const file = join(o.out, 'robustness.json');
  const style = (await prettier.resolveConfig(file)) ?? {};
  await writeFile(file, await prettier.format(JSON.stringify(report), { ...style, parser: 'json' }));
  await writeFile(join(o.out, 'robustness.md'), markdown(report));
  return report;
}

function positiveInt(v: string, name: string): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1)
    throw new Error(`--${name} must be an integer >= 1, got ${JSON.stringify(v)}`);
  return x;
}

/** Options from the command line (relative paths against the repository root). */
export function optionsFrom(argv: string[]): ExperimentOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '150' },
      seeds: { type: 'string', default: '3' },
      init: { type: 'string' },
      lr: { type: 'string' },
      'max-examples': { type: 'string', default: '200' },
      epsilons: { type: 'string', default: '0.03,0.1,0.3' },
      tasks: { type: 'string' },
      backend: { type: 'string' },
      out: { type: 'string', default: 'docs/results' },
    },
    strict: true,
  });
  const fromRoot = (p: string) => (p.startsWith('/') ? p : join(REPO_ROOT, p));
  const init = values.init ?? (existsSync(fromRoot(DEFAULT_INIT)) ? DEFAULT_INIT : null);
  const epsilons = values.epsilons.split(',').map((e) => Number(e));
  if (epsilons.some((e) => !Number.isFinite(e) || e < 0)) {
    throw new Error(
      `--epsilons must be numbers >= 0 separated by commas, got ${JSON.stringify(values.epsilons)}`,
    );
  }
  const lr = values.lr === undefined ? null : Number(values.lr);
  if (lr !== null && !(Number.isFinite(lr) && lr > 0)) {
    throw new Error(`--lr must be a number > 0, got ${JSON.stringify(values.lr)}`);
  }
  return {
    tasks: (values.tasks?.split(',') ?? DEFAULT_TASKS).map(fromRoot),
    steps: positiveInt(values.steps, 'steps'),
    seeds: positiveInt(values.seeds, 'seeds'),
    init: init === null ? null : fromRoot(init),
    lr,
    maxExamples: positiveInt(values['max-examples'], 'max-examples'),
    epsilons,
    backend: values.backend ?? null,
    out: fromRoot(values.out),
    trainFlags: [],
    command: ['npm run experiment:robustness --', ...argv].join(' ').replace(/ --$/, ''),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = optionsFrom(process.argv.slice(2));
  const show = (p: string) => relative(fileURLToPath(new URL('..', import.meta.url)), p);
  console.error(
    `init: ${o.init === null ? 'random weights' : show(o.init)}; tasks: ${o.tasks.map(show).join(', ')}`,
  );
  const report = await runExperiment(o, (line) => console.error(line));
  console.error(
    `wrote ${show(join(o.out, 'robustness.json'))} and robustness.md in ${(report.wallMs / 1000).toFixed(0)} s`,
  );
}

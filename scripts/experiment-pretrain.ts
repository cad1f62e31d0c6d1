/**
 * `npm run experiment:pretrain`: does the shipped pre-trained model help? For each built-in task (spam,
 * SOTU party), fine-tune `tiny` from the built-in pre-trained checkpoint (public/models/tiny) and from random
 * weights, with the same seeds, steps, batch and data order, each at its own default learning rate
 * (core/config.ts defaultLr: 1e-4 from a checkpoint, 1e-3 from scratch), and compare the final dev accuracy.
 * Every run is the CLI's own `alum train` (in-process, the same code path), its folder under
 * runs/experiment-pretrain/. Writes docs/results/pretrain.json and docs/results/pretrain.md.
 *
 *   npm run experiment:pretrain -- [--steps 150] [--seeds 1,2,3] [--method standard] [--backend wasm]
 *                                  [--lr R] [--inits pretrained,random] [--name pretrain]
 * --lr gives both starts the same peak learning rate (default: each start's own); --name names the report files
 * (docs/results/NAME.json, NAME.md) and the runs' folder.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_VOCAB, REPO_ROOT } from '../src/cli/files.ts';
import { main } from '../src/cli/main.ts';
import type { MetricRow } from '../src/core/metrics.ts';

const TASKS = [
  { name: 'spam-assassin', file: 'public/data/spam-assassin.json' },
  { name: 'sotu-party', file: 'public/data/sotu-party.json' },
] as const;
const INITS = ['pretrained', 'random'] as const;

interface RunResult {
  task: string;
  init: string;
  seed: number;
  devAccuracy: number;
  /** Dev accuracy of always answering the dev set's most frequent label. */
  majority: number;
  seconds: number;
  lr: number;
}

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '150' },
    lr: { type: 'string' },
    name: { type: 'string', default: 'pretrain' },
    inits: { type: 'string', default: 'pretrained,random' },
    seeds: { type: 'string', default: '1,2,3' },
    method: { type: 'string', default: 'standard' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const steps = Number(values.steps);
/** `--inits pretrained` runs one start only (its rows of the table). */
const inits = values.inits
  .split(',')
  .filter((x): x is (typeof INITS)[number] => (INITS as readonly string[]).includes(x));
const seeds = values.seeds.split(',').map(Number);
const outRoot = join(REPO_ROOT, 'runs', `experiment-${values.name}`);
const lrFlag = values.lr === undefined ? [] : ['--lr', values.lr];

/** The dev set's majority-class share (the accuracy of a constant answer). */
async function majorityShare(file: string): Promise<number> {
  const task = JSON.parse(await readFile(join(REPO_ROOT, file), 'utf8')) as { dev: { label: number }[] };
  const counts = new Map<number, number>();
  task.dev.forEach((e) => counts.set(e.label, (counts.get(e.label) ?? 0) + 1));
  return Math.max(...counts.values()) / task.dev.length;
}

/** One `alum train` run, in-process; its final dev accuracy from metrics.jsonl. */
async function fineTune(task: (typeof TASKS)[number], init: string, seed: number): Promise<RunResult> {
  const out = join(outRoot, `${task.name}-${init}-seed${seed}`);
  const argv = ['train', '--data', join(REPO_ROOT, task.file), '--init', init, '--seed', String(seed)];
  argv.push('--steps', String(steps), '--eval-every', String(steps), '--method', values.method);
  argv.push(...lrFlag, '--backend', values.backend, '--out', out);
  const lines: string[] = [];
  const started = performance.now();
  const code = await main(argv, {
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    readStdin: () => Promise.resolve(''),
    stopRequested: () => false,
    defaultData: join(REPO_ROOT, task.file),
    defaultVocab: DEFAULT_VOCAB,
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`alum ${argv.join(' ')} exited ${code}:\n${lines.join('\n')}`);
  const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricRow);
  const last = rows.at(-1);
  if (last?.devAccuracy === undefined) throw new Error(`${out}: no dev accuracy in the last row`);
  const majority = await majorityShare(task.file);
  console.error(
    `${task.name} ${init} seed ${seed}: dev ${(last.devAccuracy * 100).toFixed(2)}% in ${seconds.toFixed(0)} s`,
  );
  return { task: task.name, init, seed, devAccuracy: last.devAccuracy, majority, seconds, lr: last.lr };
}

function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}`;

function table(results: readonly RunResult[]): string {
  const rows = TASKS.flatMap((t) =>
    inits.map((init) => {
      const rs = results.filter((r) => r.task === t.name && r.init === init);
      const { mean, sd } = meanSd(rs.map((r) => r.devAccuracy));
      const secs = meanSd(rs.map((r) => r.seconds)).mean;
      const each = rs.map((r) => pct(r.devAccuracy)).join(', ');
      return `| ${t.name} | ${init} | ${pct(mean)} ± ${pct(sd)} | ${each} | ${pct(rs[0]?.majority ?? NaN)} | ${secs.toFixed(0)} |`;
    }),
  );
  return [
    '| task | start from | dev accuracy % (mean ± sd) | per seed | majority class % | s per run |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function run(): Promise<void> {
  const started = performance.now();
  await mkdir(outRoot, { recursive: true });
  const results: RunResult[] = [];
  for (const task of TASKS)
    for (const init of inits) for (const seed of seeds) results.push(await fineTune(task, init, seed));
  const minutes = (performance.now() - started) / 60_000;
  const command =
    `npm run experiment:pretrain -- --steps ${steps} --seeds ${seeds.join(',')} --method ${values.method} ` +
    `--backend ${values.backend}${values.lr === undefined ? '' : ` --lr ${values.lr}`} --inits ${inits.join(',')} --name ${values.name}`;
  const machine = `${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, tfjs ${values.backend}`;
  const rates =
    values.lr === undefined
      ? 'learning rate 1e-4 from the checkpoint, 1e-3 from scratch (each start at its own default)'
      : `learning rate ${values.lr} for both starts`;
  const setup =
    `tiny (L2 H128), ${values.method}, ${steps} steps, batch 32, max length 64, seeds ${seeds.join(', ')}; ` +
    `a seed gives both starts the same data order and dropout draws; ${rates}`;
  await mkdir(join(REPO_ROOT, 'docs', 'results'), { recursive: true });
  const json = { command, machine, setup, date: new Date().toISOString(), minutes, results };
  await writeFile(join(REPO_ROOT, `docs/results/${values.name}.json`), JSON.stringify(json, null, 2) + '\n');
  const md = [
    '# Fine-tuning from the shipped pre-trained model vs from random weights',
    '',
    `Command: \`${command}\` (scripts/experiment-pretrain.ts), ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${machine}. Took ${minutes.toFixed(1)} minutes.`,
    `Setup: ${setup}.`,
    '',
    table(results),
    '',
  ].join('\n');
  await writeFile(join(REPO_ROOT, `docs/results/${values.name}.md`), md);
  console.log(md);
}

await run();

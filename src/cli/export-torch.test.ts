// The PyTorch export, run with Debian's python3-torch: `alum export-torch` writes the folder for the nano
// fixture; the script passes py_compile (and pyflakes when installed); its first step with dropout 0 equals
// `alum trace` on the same model, batch and delta_0 for several variants and options; `torchrun
// --nproc_per_node 2` (gloo, CPU) for 3 steps equals one process on the same global batch. The commands run are
// the README's (`TORCH_COMMANDS`), with the test's own flags appended. A python failure shows its stderr.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectNear, fixtureDir } from '../../test/helpers/nano.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../core/io/safetensors.ts';
import { taskFromFile } from '../core/train/session.ts';
import { commandLine, TORCH_COMMANDS, TORCHRUN_DEBIAN_ENV } from '../core/export/torch.ts';
import { CHOICES, CONFIG_KEYS, DEFAULT_CONFIG, MODEL_PRESETS, NUMBER_RULES } from '../core/config.ts';
import { CLASSIFICATION_COLUMNS } from '../core/metrics.ts';
import { main } from './main.ts';
import { captureIo } from '../../test/helpers/cli.ts';

/** Debian's python3-torch: plain `python3` on PATH may have no torch. */
const PROGRAMS: Record<string, string> = { python3: '/usr/bin/python3', torchrun: '/usr/bin/torchrun' };

const dir = mkdtempSync(join(tmpdir(), 'alum-torch-'));
const folder = join(dir, 'export');
const dataFile = join(dir, 'toy.jsonl');
const texts: [string, string][] = [
  ['win free money now', 'spam'],
  ['click here you have won a prize', 'spam'],
  ['cash offer call me now', 'spam'],
  ['free cash prize now !', 'spam'],
  ['the cat sat on the mat', 'ham'],
  ['see you at noon', 'ham'],
  ['meeting today at lunch', 'ham'],
  ['my dog sat on a mat .', 'ham'],
];
// Three copies, so that the 90/10 split leaves a dev example of each label.
const lines = [1, 2, 3].flatMap((i) =>
  texts.map(([text, label]) => JSON.stringify({ text: `${text} ${'!'.repeat(i)}`, label })),
);
writeFileSync(dataFile, lines.join('\n') + '\n');

const io = () => captureIo(dir);

/** Runs a README command (program resolved) plus `extra` in the folder; throws with python's stderr. */
function run(argv: readonly string[], extra: string[], env: Record<string, string> = {}): string {
  const [program, ...args] = argv;
  const exe = PROGRAMS[program ?? ''] ?? (program as string);
  const r = spawnSync(exe, [...args, ...extra], {
    cwd: folder,
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
    timeout: 120_000,
  });
  if (r.status !== 0) {
    throw new Error(
      `${commandLine([exe, ...args, ...extra])} exited ${r.status ?? r.signal}:\n${r.stderr}${r.error ? String(r.error) : ''}`,
    );
  }
  return r.stderr;
}

function tensors(file: string): Map<string, NamedArray> {
  return decodeSafetensors(new Uint8Array(readFileSync(file)), file).tensors;
}

function numbers(t: NamedArray | undefined, what: string): number[] {
  if (!t) throw new Error(`missing tensor ${what}`);
  return Array.from(t.data as Float32Array);
}

async function trace(out: string, flags: string[], model = fixtureDir, data = dataFile): Promise<void> {
  const args = ['trace', '--model', model, '--data', data, '--out', out, '--backend', 'cpu'];
  const t = io();
  const code = await main([...args, ...flags], t);
  if (code !== 0) throw new Error(`alum trace exited ${code}: ${t.stderr.join('\n')}`);
}

/** A free TCP port for torchrun's rendezvous (so parallel test runs do not collide on 29500). */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? done(a.port) : fail(new Error('no port'))));
    });
  });
}

const BATCH = ['--seed', '3', '--batch-size', '4', '--max-length', '12', '--dropout', '0'];

/** Variants and options; sigma and eta large enough that the adversarial loss stands well above float32 noise. */
const CASES: Record<string, string[]> = {
  'paper K=2 inf kl sum': [
    '--variant',
    'paper',
    '--k',
    '2',
    '--eta',
    '0.3',
    '--epsilon',
    '0.5',
    '--sigma',
    '0.1',
  ],
  'paper-raw K=1 l2 stable-kl batchmean detach': [
    ...[
      '--variant',
      'paper-raw',
      '--k',
      '1',
      '--eta',
      '50',
      '--epsilon',
      '0.5',
      '--sigma',
      '0.1',
      '--norm',
      'l2',
    ],
    ...['--inner-loss', 'stable-kl', '--inner-reduction', 'batchmean', '--detach-embedding', 'true'],
  ],
  'mtdnn-2020 K=3 l2 kl elementmean alpha 2': [
    ...['--variant', 'mtdnn-2020', '--k', '3', '--eta', '0.2', '--sigma', '0.1', '--norm', 'l2'],
    ...['--inner-reduction', 'elementmean', '--alpha', '2'],
  ],
  'mtdnn-head K=1 inf stable-kl sum detach': [
    ...['--variant', 'mtdnn-head', '--k', '1', '--eta', '0.1', '--sigma', '0.1'],
    ...['--inner-loss', 'stable-kl', '--detach-embedding', 'true'],
  ],
  standard: ['--method', 'standard'],
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  const t = io();
  const args = ['export-torch', '--out', folder, '--model', fixtureDir, '--data', dataFile];
  const code = await main([...args, '--batch-size', '4', '--max-length', '12'], t);
  if (code !== 0) throw new Error(`alum export-torch exited ${code}: ${t.stderr.join('\n')}`);
});

describe('alum export-torch', () => {
  it('writes the script, config.json, README.md, the model and the data', () => {
    for (const f of [
      'train_alum.py',
      'config.json',
      'README.md',
      'model/config.json',
      'model/model.safetensors',
    ]) {
      expect(existsSync(join(folder, f)), f).toBe(true);
    }
    expect(existsSync(join(folder, 'model/vocab.txt'))).toBe(true);
    expect(existsSync(join(folder, 'data.jsonl'))).toBe(true);
    // From a checkpoint, the fine-tuning learning rate, as `alum train --init`.
    expect(JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'))).toMatchObject({ lr: 1e-4 });
  });

  it('--run DIR takes the config of an `alum train` folder and its model; a missing one is one line, exit 2', async () => {
    const runDir = join(dir, 'train-run');
    mkdirSync(join(runDir, 'model'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt'])
      copyFileSync(join(fixtureDir, f), join(runDir, 'model', f));
    const config = { ...DEFAULT_CONFIG, variant: 'mtdnn-2020', maxLength: 16, lr: 3e-5 };
    writeFileSync(join(runDir, 'run.json'), JSON.stringify({ config, steps: 5 }));
    const out = join(dir, 'from-run');
    const t = io();
    expect(await main(['export-torch', '--out', out, '--run', runDir, '--k', '2'], t)).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toEqual({ ...config, k: 2 });
    expect(readFileSync(join(out, 'model/model.safetensors'))).toEqual(
      readFileSync(join(fixtureDir, 'model.safetensors')),
    );

    const bad = io();
    expect(await main(['export-torch', '--out', out, '--run', join(dir, 'nope')], bad)).toBe(2);
    expect(bad.stderr).toEqual([
      `error: ${join(dir, 'nope', 'run.json')}: no such file (an \`alum train\` output folder)`,
    ]);
  });

  it('--dev FILE is exported as dev.<ext>, which the script reads instead of the 90/10 split', async () => {
    const devFile = join(dir, 'held-out.csv');
    writeFileSync(devFile, 'sentence,label\nheld out,spam\n');
    const out = join(dir, 'with-dev');
    const t = io();
    expect(await main(['export-torch', '--out', out, '--data', dataFile, '--dev', devFile], t)).toBe(0);
    expect(readFileSync(join(out, 'dev.csv'), 'utf8')).toBe('sentence,label\nheld out,spam\n');
  });

  it('refuses a max length beyond the model, naming the flag and the file', async () => {
    const t = io();
    expect(
      await main(['export-torch', '--out', join(dir, 'x'), '--model', fixtureDir, '--max-length', '64'], t),
    ).toBe(2);
    expect(t.stderr).toEqual([
      `error: --max-length 64 exceeds ${fixtureDir}/config.json's max_position_embeddings 16`,
    ]);
  });

  it('passes py_compile, and pyflakes when Debian pyflakes3 is installed', () => {
    const code = `import py_compile; py_compile.compile('train_alum.py', cfile='${join(dir, 'c.pyc')}', doraise=True)`;
    run(['python3', '-c', code], []);
    const flakes = spawnSync('/usr/bin/python3', ['-m', 'pyflakes', 'train_alum.py'], {
      cwd: folder,
      encoding: 'utf8',
    });
    const missing = /No module named pyflakes/.test(flakes.stderr);
    if (!missing) expect(flakes.stdout + flakes.stderr, 'pyflakes').toBe('');
  });

  it('trains from its own folder with the README command (data and model found beside the script)', () => {
    run(TORCH_COMMANDS.python.argv, ['--steps', '2', '--eval-every', '1', '--builtin-bert']);
    const lines = readFileSync(join(folder, 'runs/torch/metrics.jsonl'), 'utf8').trim().split('\n');
    const rows = lines.map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.map((r) => r['step'])).toEqual([1, 2]);
    // The page's metric names of a classifier, every row evaluated (regression's dev metrics and the masked-LM
    // ones are other tasks').
    for (const r of rows) expect(Object.keys(r).sort()).toEqual([...CLASSIFICATION_COLUMNS].sort());
    // Every row evaluated, so every row splits the gradient: the task term's and the adversarial term's norms.
    for (const r of rows) expect([r['taskGradNorm'], r['advGradNorm']].every((v) => (v ?? 0) > 0)).toBe(true);
    const saved = decodeSafetensors(
      new Uint8Array(readFileSync(join(folder, 'runs/torch/model/model.safetensors'))),
    );
    expect(saved.metadata['steps_trained']).toBe('2');
    expect([...saved.tensors.keys()].sort()).toEqual(
      [...tensors(`${fixtureDir}/model.safetensors`).keys()].sort(),
    );
  });
});

describe('train_alum.py against the playground', () => {
  it('knows the same config fields, choices and ranges as src/core/config.ts', () => {
    const code =
      'import json, train_alum as t; print(json.dumps([t.CONFIG_KEYS, t.CHOICES, t.NUMBERS, t.MODEL_PRESETS]))';
    const r = spawnSync('/usr/bin/python3', ['-c', code], { cwd: folder, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [keys, choices, numbers, presets] = JSON.parse(r.stdout) as [
      string[],
      Record<string, string[]>,
      Record<string, [number, number, boolean]>,
      Record<string, number[]>,
    ];
    expect(keys).toEqual(CONFIG_KEYS);
    expect(choices).toEqual(Object.fromEntries(Object.entries(CHOICES).map(([k, v]) => [k, [...v]])));
    const rules = Object.entries(NUMBER_RULES).map(([k, r]) => [k, [r.min, r.max, r.integer]]);
    expect(numbers).toEqual(Object.fromEntries(rules));
    const sizes = Object.entries(MODEL_PRESETS).map(([k, p]) => [
      k,
      [p.hiddenSize, p.numLayers, p.numHeads, p.intermediateSize],
    ]);
    expect(presets).toEqual(Object.fromEntries(sizes));
  });

  it('refuses a malformed data file with one line naming file and line (exit 2)', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"text": "ok", "label": "a"}\n{"text": "no label"}\n');
    const r = spawnSync('/usr/bin/python3', ['train_alum.py', '--data', bad, '--out', join(dir, 'bad')], {
      cwd: folder,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("error: bad.jsonl:2: missing field 'label'\n");
  });

  it('refuses a bad config flag with one line naming the flag (exit 2)', () => {
    const r = spawnSync('/usr/bin/python3', ['train_alum.py', '--variant', 'nope'], {
      cwd: folder,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'error: --variant: must be one of paper|paper-raw|mtdnn-2020|mtdnn-head, got "nope"\n',
    );
  });
});

/** Runs python `code` in the exported folder (train_alum importable) and parses its stdout as JSON. */
function pythonJson<T>(code: string, args: string[] = []): T {
  const r = spawnSync('/usr/bin/python3', ['-c', code, ...args], { cwd: folder, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python exited ${r.status ?? r.signal}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('train_alum.py reads data and text as the playground does (no transformers)', () => {
  it('the built-in WordPiece gives transformers 5.17 ids on all of test/golden/bert-tokenizer/cases.jsonl', () => {
    const golden = new URL('../../test/golden/bert-tokenizer/', import.meta.url).pathname;
    const code = `
import json, sys, train_alum as t
d = sys.argv[1]
vocab = [v.rstrip("\\r") for v in open(d + "vocab.txt", encoding="utf-8").read().split("\\n")]
vocab = vocab[:-1] if vocab[-1] == "" else vocab
tok = {"uncased": t.WordPiece(vocab, True), "cased": t.WordPiece(vocab, False)}
n, bad = 0, []
for i, line in enumerate(open(d + "cases.jsonl", encoding="utf-8")):
    c = json.loads(line)
    for mode in ("uncased", "cased"):
        if mode in c:
            n += 1
            ids, types = tok[mode].encode(c["text"], c.get("text_pair"), c.get("max_length"))
            if ids != c[mode] or ("token_type_ids" in c and mode == "uncased" and types != c["token_type_ids"]):
                bad.append(f"case {i} {mode}: {json.dumps(c['text'][:60])}")
print(json.dumps([n, bad]))`;
    const [n, bad] = pythonJson<[number, string[]]>(code, [golden]);
    expect(bad).toEqual([]);
    expect(n).toBe(980);
  });

  it('casing follows the model folder; a checkpoint head meets the data labels as withLabels does', () => {
    const folders = ['tj', 'tc', 'plain'].map((name) => join(dir, `casing-${name}`));
    folders.forEach((f) => mkdirSync(f, { recursive: true }));
    const [tj, tc] = folders as [string, string];
    writeFileSync(join(tj, 'tokenizer.json'), JSON.stringify({ normalizer: { lowercase: false } }));
    writeFileSync(join(tc, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
    const code = `
import json, sys, train_alum as t
from pathlib import Path
plans = [t.head_plan(["ham", "spam"], ["spam", "ham"]), t.head_plan(["a", "b"], ["x", "y"]),
         t.head_plan(["a", "b"], ["x", "y", "z"]), t.head_plan(["a", "b"], ["a", "b"]), t.head_plan(None, ["x", "y"])]
print(json.dumps([[t.model_lowercase(Path(a)) for a in sys.argv[1:]], plans]))`;
    // tokenizer.json, then tokenizer_config.json, else uncased; rows permuted, kept by position, or a fresh head.
    expect(pythonJson(code, folders)).toEqual([
      [false, false, true],
      [[1, 0], null, 'fresh', null, null],
    ]);
  });

  it('splits a file into the same train and dev rows, in the same order, as `alum train` and the page', () => {
    const vocab = readFileSync(join(fixtureDir, 'vocab.txt'), 'utf8');
    const files: Record<string, string> = {
      'toy.jsonl': readFileSync(dataFile, 'utf8'),
      'pairs.csv': [
        'sentence1,sentence2,label',
        ...texts.map(([t], i) => `"${t}, really",${t.length},${i % 3}`),
      ].join('\n'),
      'scores.csv': REGRESSION_CSV,
      'fractions.jsonl': texts.map(([t], i) => JSON.stringify({ text: t, label: i / 4 })).join('\n'),
    };
    const want: unknown[] = [];
    const paths: string[] = [];
    for (const [name, text] of Object.entries(files)) {
      const path = join(dir, `split-${name}`);
      writeFileSync(path, text.repeat(1) + '\n');
      paths.push(path);
      for (const seed of [0, 7, 123456789]) {
        const task = taskFromFile(name, text, vocab, 'vocab.txt', seed);
        const rows = (xs: typeof task.data.train) => xs.map((x) => [x.text, x.textPair ?? null, x.label]);
        want.push([task.data.labels, rows(task.data.train), rows(task.data.dev)]);
      }
    }
    // A dev file instead of the split: the training file whole, the dev file's rows with its labels.
    const devText = 'sentence,label\nheld out one,ham\nheld out two,spam\n';
    const devPath = join(dir, 'split-dev.csv');
    writeFileSync(devPath, devText);
    const withDev = taskFromFile('toy.jsonl', files['toy.jsonl'] as string, vocab, 'vocab.txt', 5, {
      dev: { name: 'split-dev.csv', text: devText },
    });
    const rows = (xs: typeof withDev.data.train) => xs.map((x) => [x.text, x.textPair ?? null, x.label]);
    want.push([withDev.data.labels, rows(withDev.data.train), rows(withDev.data.dev)]);
    const code = `
import json, sys, train_alum as t
out = []
for p in sys.argv[1:-2]:
    for seed in (0, 7, 123456789):
        labels, train, dev, _ = t.load_task(p, seed)
        out.append([labels, [list(x) for x in train], [list(x) for x in dev]])
labels, train, dev, _ = t.load_task(sys.argv[-2], 5, None, sys.argv[-1])
out.append([labels, [list(x) for x in train], [list(x) for x in dev]])
print(json.dumps(out))`;
    expect(pythonJson<unknown[]>(code, [...paths, paths[0] as string, devPath])).toEqual(want);
  });
});

/**
 * `alum trace` on `model` and `data` with `flags`, then the script's step 1 on the trace's batch (`--init model`):
 * the losses within 1e-5 relative, the inner-loss values within 1e-4, every parameter gradient within 1e-4.
 */
async function expectStepEqualsTrace(
  name: string,
  flags: string[],
  model = fixtureDir,
  data = dataFile,
): Promise<void> {
  const slug = name.replace(/\W+/g, '-');
  const traceFile = join(dir, `${slug}.trace.safetensors`);
  const dumpFile = join(dir, `${slug}.step.safetensors`);
  await trace(traceFile, [...BATCH, ...flags], model, data);
  run(TORCH_COMMANDS.python.argv, [
    ...['--trace', traceFile, '--dump-step', dumpFile, '--steps', '1', '--builtin-bert', '--init', model],
    ...['--out', join(dir, `${slug}.run`), ...BATCH, ...flags],
  ]);
  const want = tensors(traceFile);
  const got = tensors(dumpFile);
  for (const loss of ['loss_task', 'loss_adv', 'loss_total']) {
    // 1e-5 relative (the absolute part, 1e-12, only lets an exact 0 equal 0)
    const opts = { rel: 1e-7, rtol: 1e-5, floor: 1e-5 };
    expectNear(numbers(got.get(loss), loss), numbers(want.get(loss), loss), loss, opts);
  }
  for (const kl of ['kl_init', 'kl_adv']) {
    expectNear(numbers(got.get(kl), kl), numbers(want.get(kl), kl), kl, {
      rel: 1e-7,
      rtol: 1e-4,
      floor: 1e-5,
    });
  }
  const grads = [...want.keys()].filter((k) => k.startsWith('grad.'));
  expect(grads.length).toBeGreaterThan(30);
  // 1e-4 of each tensor's largest entry plus 1e-4 relative. The attention key biases have a gradient of 0 in exact
  // arithmetic (softmax ignores a per-query constant), float32 noise in both runs: sums of terms as large as the
  // model's largest gradient entry, so the noise is about float32's 1.2e-7 of that; their floor is 1e-3, or 1e-2
  // of the largest entry when that is larger (an absolute tolerance of 1e-6 of it; regression's squared errors are
  // large). 1e-4 of it (1e-8 absolute) passed or failed by which noise the perturbation's draw happened to give.
  const largest = Math.max(...grads.map((g) => Math.max(...numbers(want.get(g), g).map(Math.abs))));
  for (const g of grads) {
    const floor = g.endsWith('attention.self.key.bias') ? Math.max(1e-3, 1e-2 * largest) : 1e-3;
    expectNear(numbers(got.get(g), g), numbers(want.get(g), g), g, { rel: 1e-4, rtol: 1e-4, floor });
  }
}

/**
 * A regression model folder: the nano fixture with one output (the first row of its classifier) and
 * `problem_type: "regression"`, as `alum train --problem regression` writes one.
 */
function regressionModel(): string {
  const out = join(dir, 'nano-regression');
  mkdirSync(out, { recursive: true });
  const config = JSON.parse(readFileSync(join(fixtureDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const edited = {
    ...config,
    problem_type: 'regression',
    id2label: { 0: 'LABEL_0' },
    label2id: { LABEL_0: 0 },
  };
  writeFileSync(join(out, 'config.json'), JSON.stringify(edited));
  copyFileSync(join(fixtureDir, 'vocab.txt'), join(out, 'vocab.txt'));
  const file = decodeSafetensors(new Uint8Array(readFileSync(join(fixtureDir, 'model.safetensors'))));
  const w = file.tensors.get('classifier.weight') as NamedArray;
  const bias = file.tensors.get('classifier.bias') as NamedArray;
  const hidden = w.shape[1] as number;
  file.tensors.set('classifier.weight', { dtype: 'F32', shape: [1, hidden], data: w.data.slice(0, hidden) });
  file.tensors.set('classifier.bias', { dtype: 'F32', shape: [1], data: bias.data.slice(0, 1) });
  writeFileSync(join(out, 'model.safetensors'), encodeSafetensors(file.tensors));
  return out;
}

/** STS-B style: the `score` column makes it regression (docs/data-formats.md); fractional targets (2.5 stays 2.5). */
const REGRESSION_CSV = [
  'sentence,score',
  ...texts.map(([t, l], i) => `${t},${l === 'spam' ? (i % 3) + 2.5 : -(i % 2) - 1.25}`),
].join('\n');

describe('train_alum.py step 1 equals alum trace (dropout 0, float32)', () => {
  for (const [name, flags] of Object.entries(CASES)) {
    it(name, async () => expectStepEqualsTrace(name, flags));
  }

  it('regression: MSE task loss, inner MSE sum, outer MSE without stop-gradient (mtdnn-2020 K=2 l2 detach)', async () => {
    const data = join(dir, 'scores.csv');
    writeFileSync(data, REGRESSION_CSV + '\n');
    const flags = ['--variant', 'mtdnn-2020', '--k', '2', '--eta', '0.2', '--sigma', '0.1', '--norm', 'l2'];
    await expectStepEqualsTrace(
      'regression',
      [...flags, '--detach-embedding', 'true', '--alpha', '3'],
      regressionModel(),
      data,
    );
  });
});

/**
 * Unnormalised ascent inside a ball that does not bind, with a batch-mean inner loss: each shard's delta then
 * depends on dividing by the global batch, not its own.
 */
const DDP_FLAGS = [
  ...['--variant', 'paper-raw', '--k', '2', '--eta', '20', '--epsilon', '100', '--sigma', '0.1'],
  ...['--inner-reduction', 'batchmean'],
];

/** The script's test hook (not a user option): "RANK:STEP" poisons that process's delta_0 at that step. */
const POISON = 'ALUM_TEST_HOOK_POISON_DELTA0';

describe('torchrun --nproc_per_node 2 (gloo, CPU)', () => {
  it('takes the same 3 steps as one process on the same global batch, a NaN ascent on one rank skipped by all', async () => {
    const traceFile = join(dir, 'ddp.trace.safetensors');
    await trace(traceFile, [...BATCH, ...DDP_FLAGS]);
    const flags = [
      '--trace',
      traceFile,
      '--steps',
      '3',
      '--builtin-bert',
      '--lr',
      '0.001',
      ...BATCH,
      ...DDP_FLAGS,
    ];
    const single = join(dir, 'single');
    const multi = join(dir, 'multi');
    // The test hook makes delta_0 NaN at step 2 on one process: rank 0 of the single run, rank 1 of torchrun. Every
    // process must then drop the adversarial term of step 2 (the skip agreed across ranks), as the single run does.
    run(TORCH_COMMANDS.python.argv, [...flags, '--out', single], { [POISON]: '0:2' });
    const port = String(await freePort());
    // PET_* are torchrun's flag defaults: a free port, and the redirects that Debian's torch 1.13 needs under
    // Python 3.11 (README.md of the folder, "Known problem").
    run(TORCH_COMMANDS.torchrun.argv, [...flags, '--out', multi], {
      PET_MASTER_PORT: port,
      ...TORCHRUN_DEBIAN_ENV,
      [POISON]: '1:2',
    });
    const rows = (d: string) =>
      readFileSync(join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, number>);
    const [a, b] = [rows(single), rows(multi)];
    expect(b.length, 'metrics written by rank 0 only').toBe(3);
    for (const r of [a, b]) {
      expect(r.map((x) => x['skipped'])).toEqual([0, 1, 1]);
      expect(r.map((x) => x['advLoss'] === 0)).toEqual([false, true, false]);
    }
    const LOSSES = ['taskLoss', 'advLoss', 'totalLoss'];
    a.forEach((row, i) => {
      for (const [k, v] of Object.entries(row)) {
        if (['ms', 'trainMs', 'evalMs', 'devAccuracy'].includes(k)) continue; // timings; dev: not evaluated
        // The losses to float32 tolerance. The diagnostics to 1e-3: they are gradients and KLs of nearly equal
        // distributions, which magnify the last-bit differences of the two runs' weights after step 1 (the
        // shards' matrix products round differently); step 1 itself agrees to 1e-6.
        // advLoss, a KL of logits that carry float32 rounding, is compared as the part of totalLoss it is: to 1e-5
        // of totalLoss.
        const what = `step ${i + 1} ${k}`;
        const got = [b[i]?.[k] ?? NaN];
        if (k === 'advLoss') expectNear(got, [v], what, { rel: 1e-5, rtol: 0, floor: row['totalLoss'] ?? 0 });
        else {
          const rtol = LOSSES.includes(k) ? 1e-5 : i === 0 ? 1e-5 : 1e-3;
          expectNear(got, [v], what, { rel: 1e-6, rtol, floor: 1e-6 });
        }
      }
    });
    const [wa, wb] = [
      tensors(join(single, 'model/model.safetensors')),
      tensors(join(multi, 'model/model.safetensors')),
    ];
    const start = tensors(`${fixtureDir}/model.safetensors`);
    let moved = 0;
    for (const [k, t] of wa) {
      // The attention key biases have an exactly-zero gradient, so float32 noise (~1e-9) is all AdamW sees
      // there, and its normalised update turns a different noise into a different (tiny) step: 1e-3 for them.
      const rel = k.endsWith('attention.self.key.bias') ? 1e-3 : 1e-5;
      expectNear(numbers(wb.get(k), k), numbers(t, k), k, { rel, rtol: 1e-5 });
      if (closeEnough(numbers(t, k), numbers(start.get(k), k))) continue;
      moved += 1;
    }
    expect(moved, 'the 3 steps moved the weights').toBeGreaterThan(30);
  });
});

function closeEnough(a: number[], b: number[]): boolean {
  return a.every((v, i) => Math.abs(v - (b[i] ?? NaN)) < 1e-9);
}

// The CLI in-process (same code path as bin/alum.mjs): tokenize, train from an HF-layout checkpoint and
// reload what it wrote, trace names/metadata/consistency, and one-line errors with exit code 2.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { fixtureDir } from '../../test/helpers/nano.ts';
import { FINETUNE_LR } from '../core/config.ts';
import { decodeSafetensors } from '../core/io/safetensors.ts';
import { CLASSIFICATION_COLUMNS } from '../core/metrics.ts';
import { paramSpecs } from '../core/model/params.ts';
import { fromHfConfig } from '../core/model/hf.ts';
import { main } from './main.ts';
import { captureIo } from '../../test/helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'alum-cli-'));
const rows = [
  ...[
    'win free money now',
    'click here you have won a prize',
    'cash offer call me now',
    'free cash prize now',
  ].map((t) => ({ text: t, label: 'spam' })),
  ...['the cat sat on the mat', 'see you at noon', 'meeting today at lunch', 'my dog sat on a mat'].map(
    (t) => ({ text: t, label: 'ham' }),
  ),
];
// Labels in first-appearance order: spam = 0, ham = 1 (the fixture's id2label names do not matter here).
const dataFile = join(dir, 'toy.jsonl');
writeFileSync(dataFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

const io = (stdin = '') => captureIo(dir, stdin);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('alum tokenize', () => {
  it('prints one JSON array of ids per input line, with [CLS]/[SEP]', async () => {
    const t = io('The cats sat!\nmeeting at noon.\n');
    expect(await main(['tokenize', '--vocab', `${fixtureDir}/vocab.txt`], t)).toBe(0);
    // Hand-derived from the fixture vocab: [CLS]=2 the=5 cat=7 ##s=35 sat=9 !=38 [SEP]=3 meeting=24 at=25 noon=26 .=39
    expect(t.stdout).toEqual(['[2,5,7,35,9,38,3]', '[2,24,25,26,39,3]']);
  });
});

describe('alum train', () => {
  it('trains from an HF checkpoint and writes metrics.jsonl and a reloadable HF-layout model', async () => {
    const out = join(dir, 'run');
    const t = io();
    const args = [
      'train',
      '--init',
      fixtureDir,
      '--data',
      dataFile,
      '--steps',
      '3',
      '--batch-size',
      '4',
      '--max-length',
      '16',
      '--eval-every',
      '2',
      '--backend',
      'cpu',
      '--out',
      out,
    ];
    expect(await main(args, t), t.stderr.join('\n')).toBe(0);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(metrics.map((m) => m['step'])).toEqual([1, 2, 3]);
    expect(metrics[1]?.['devAccuracy']).toBeTypeOf('number');
    // From a checkpoint, the default learning rate is the fine-tuning one (peak 1e-4; warm-up over step 1).
    const runJson = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { config: { lr: number } };
    expect(runJson.config.lr).toBe(FINETUNE_LR);
    // Rows with an evaluation carry every metric column, named as everywhere else (the regression-only dev
    // columns devPearson/devSpearman/devMse and the masked-LM ones excepted: this is a classification run).
    expect(Object.keys(metrics[1] ?? {}).sort()).toEqual([...CLASSIFICATION_COLUMNS].sort());
    const { model, labels } = fromHfConfig(JSON.parse(readFileSync(join(out, 'model/config.json'), 'utf8')));
    expect(labels).toEqual(['spam', 'ham']);
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(out, 'model/model.safetensors'))));
    expect([...file.tensors.keys()].sort()).toEqual(
      paramSpecs(model)
        .map((s) => s.name)
        .sort(),
    );
    expect(file.tensors.get('bert.encoder.layer.0.attention.self.query.weight')?.shape).toEqual([32, 32]);
    expect(readFileSync(join(out, 'model/vocab.txt'), 'utf8')).toBe(
      readFileSync(`${fixtureDir}/vocab.txt`, 'utf8'),
    );
    // The written model is a valid --init for another run.
    expect(
      await main(
        [
          'train',
          '--init',
          join(out, 'model'),
          '--data',
          dataFile,
          '--steps',
          '1',
          '--batch-size',
          '2',
          '--max-length',
          '16',
          '--backend',
          'cpu',
          '--out',
          join(dir, 'run2'),
        ],
        io(),
      ),
    ).toBe(0);
  });
});

describe('alum train --init pretrained', () => {
  it('fine-tunes the built-in pre-trained model (public/models/tiny) at its default rate', async () => {
    const out = join(dir, 'pretrained');
    const t = io();
    const args = ['train', '--init', 'pretrained', '--data', dataFile, '--steps', '1', '--batch-size', '2'];
    args.push('--max-length', '16', '--backend', 'cpu', '--out', out);
    expect(await main(args, t), t.stderr.join('\n')).toBe(0);
    expect(t.stderr.join('\n')).toMatch(/init: .*public\/models\/tiny .*missing head initialised fresh/);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
      config: { init: string; lr: number };
    };
    expect(run.config).toMatchObject({ init: 'pretrained', lr: 1e-3 }); // defaultLr('pretrained')
    const saved = readFileSync(join(out, 'model', 'vocab.txt'), 'utf8');
    expect(saved).toBe(readFileSync(join(fixtureDir, '../../../public/models/tiny/vocab.txt'), 'utf8'));
  });
});

describe('alum train, interrupted', () => {
  it('stops after the current step when asked, saves what was trained, exits 130', async () => {
    const out = join(dir, 'stopped');
    let steps = 0;
    const t = { ...io(), stopRequested: () => ++steps > 2 };
    const args = [
      'train',
      '--init',
      fixtureDir,
      '--data',
      dataFile,
      '--steps',
      '50',
      '--batch-size',
      '4',
      '--max-length',
      '16',
      '--backend',
      'cpu',
      '--out',
      out,
    ];
    expect(await main(args, t)).toBe(130);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(out, 'model/model.safetensors'))));
    expect(file.metadata['steps_trained']).toBe('2');
    expect(t.stderr.at(-1)).toMatch(/^stopped: 2 steps in /);
  });
});

describe('alum trace', () => {
  it('writes every intermediate of one step, consistent with itself', async () => {
    const out = join(dir, 'trace.safetensors');
    const t = io();
    const args = [
      'trace',
      '--model',
      fixtureDir,
      '--data',
      dataFile,
      '--seed',
      '3',
      '--out',
      out,
      '--batch-size',
      '3',
      '--max-length',
      '12',
      '--k',
      '2',
      '--alpha',
      '2',
      '--variant',
      'mtdnn-head',
      '--inner-loss',
      'stable-kl',
      '--inner-reduction',
      'elementmean',
      '--detach-embedding',
      'true',
      '--adv-dropout',
      'fresh',
      '--backend',
      'cpu',
    ];
    expect(await main(args, t), t.stderr.join('\n')).toBe(0);
    const file = decodeSafetensors(new Uint8Array(readFileSync(out)));
    const names = [...file.tensors.keys()];
    for (const n of [
      'input_ids',
      'attention_mask',
      'token_type_ids',
      'labels',
      'embedding_output',
      'delta_init',
      'delta_grad.0',
      'delta_grad.1',
      'delta_final',
      'logits_clean',
      'logits_adv',
      'loss_task',
      'loss_adv',
      'loss_total',
      'kl_init',
      'kl_adv',
      'grad.classifier.weight',
      'grad.bert.embeddings.word_embeddings.weight',
    ]) {
      expect(names).toContain(n);
    }
    expect(file.tensors.get('embedding_output')?.shape).toEqual([3, 12, 32]);
    expect(file.metadata).toMatchObject({
      method: 'alum',
      k: '2',
      alpha: '2',
      variant: 'mtdnn-head',
      seed: '3',
      inner_loss: 'stable-kl',
      inner_reduction: 'elementmean',
      norm: 'inf',
      norm_eps: '1e-6',
      detach_embedding: 'true',
      adv_dropout: 'fresh',
      dropout: '0',
    });
    const v = (n: string) => file.tensors.get(n)?.data[0] as number;
    expect(v('loss_total')).toBeCloseTo(v('loss_task') + 2 * v('loss_adv'), 5);
    // mtdnn-head: every real token of delta_final has unit L-inf norm (up to norm_eps).
    const d = file.tensors.get('delta_final')?.data as Float32Array;
    const mask = file.tensors.get('attention_mask')?.data as Int32Array;
    mask.forEach((m, tok) => {
      const maxAbs = Math.max(...Array.from(d.subarray(tok * 32, tok * 32 + 32), Math.abs));
      if (m === 1) expect(maxAbs).toBeCloseTo(1, 4);
      else expect(maxAbs).toBe(0);
    });
  });

  it('traces a relative by its own step: freelb, K passes, the loss their mean (docs/alum-step.md)', async () => {
    const out = join(dir, 'freelb.safetensors');
    const t = io();
    const args = ['trace', '--model', fixtureDir, '--data', dataFile, '--seed', '3', '--out', out];
    const flags = ['--method', 'freelb', '--k', '2', '--eta', '0.1', '--sigma', '0.05', '--norm', 'l2'];
    const size = ['--batch-size', '3', '--max-length', '12', '--backend', 'cpu'];
    expect(await main([...args, ...flags, ...size], t)).toBe(0);
    const file = decodeSafetensors(new Uint8Array(readFileSync(out)));
    expect(file.metadata).toMatchObject({ method: 'freelb', k: '2', variant: 'unused' });
    // Passes at delta_0 and delta_1 = delta_step.0; no third state.
    expect(file.tensors.has('delta_step.0') && !file.tensors.has('delta_step.1')).toBe(true);
    const v = (n: string) => file.tensors.get(n)?.data[0] as number;
    expect(v('inner_loss.0')).toBeCloseTo(v('kl_adv'), 5);
    expect(v('loss_total')).toBe(v('loss_adv'));
    expect(v('loss_adv')).toBeCloseTo((v('kl_init') + v('kl_adv')) / 2, 5);
    expect(v('kl_adv')).toBeGreaterThan(v('kl_init')); // one normalised step up the task loss
  });
});

describe('errors: one line, exit code 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['bad config value', ['train', '--alpha', '5000'], /^error: --alpha must be in \[0, 1000\], got 5000$/],
    ['negative value', ['train', '--alpha=-3'], /^error: --alpha must be in \[0, 1000\], got -3$/],
    ['unknown flag', ['train', '--alhpa', '1'], /^error: Unknown option '--alhpa'/],
    ['unknown command', ['fly'], /^error: unknown command 'fly'/],
    [
      'missing data file',
      ['train', '--init', fixtureDir, '--data', '/nope.csv', '--backend', 'cpu'],
      /^error: \/nope\.csv: no such file$/,
    ],
    [
      'missing model dir',
      ['trace', '--model', '/nope', '--data', 'x.csv', '--seed', '1', '--out', 'o', '--backend', 'cpu'],
      /^error: \/nope\/config\.json: no such file$/,
    ],
    [
      '--model with --init',
      ['train', '--init', fixtureDir, '--model', 'mini'],
      /^error: --model cannot be combined with --init/,
    ],
    [
      '--init pretrained for a size with no built-in model',
      ['train', '--init', 'pretrained', '--model', 'nano'],
      /^error: --init: no built-in pre-trained 'nano' model \(built in: tiny\)/,
    ],
    [
      'trace without seed',
      ['trace', '--model', fixtureDir, '--data', 'x.csv', '--out', 'o'],
      /^error: missing --seed$/,
    ],
  ];
  it.each(cases)('%s', async (_name, argv, pattern) => {
    const t = io();
    expect(await main(argv, t)).toBe(2);
    // Progress lines (e.g. the backend) may precede it; the error itself is one line, the last one.
    expect(t.stderr.filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(t.stderr.at(-1)).toMatch(pattern);
  });

  it('a malformed data line names file and line', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'sentence,label\nhello,1\n"unterminated,0\n');
    const t = io();
    expect(await main(['train', '--init', fixtureDir, '--data', bad, '--backend', 'cpu'], t)).toBe(2);
    expect(t.stderr.at(-1)).toMatch(/^error: .*bad\.csv:3: /);
  });
});

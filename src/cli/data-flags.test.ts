// `alum train --dev FILE --problem ...` in-process: a GLUE STS-B file trains as regression with the user's dev
// file, writes problem_type "regression", and bad flags or files get one line and exit code 2.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { root } from '../../test/helpers/nano.ts';
import { main } from './main.ts';
import { captureIo } from '../../test/helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'alum-cli-data-'));
const glue = (name: string) => `${root}test/fixtures/glue/${name}`;

const io = () => captureIo(dir);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const small = [
  '--model',
  'nano',
  '--steps',
  '2',
  '--batch-size',
  '4',
  '--max-length',
  '16',
  '--backend',
  'cpu',
];

describe('alum train with --dev and --problem', () => {
  it('trains STS-B as regression on its dev file and writes problem_type regression', async () => {
    const out = join(dir, 'stsb');
    const t = io();
    const argv = ['train', '--data', glue('stsb-train.tsv'), '--dev', glue('stsb-train.tsv'), '--out', out];
    expect(await main([...argv, ...small], t)).toBe(0);
    expect(t.stderr.join('\n')).toContain('8 train / 8 dev');
    const config = JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config).toMatchObject({ problem_type: 'regression', id2label: { '0': 'LABEL_0' } });
    const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(rows.at(-1) as string)).toHaveProperty('devPearson');
  });

  it('--problem regression on a column that is not numeric, and a bad --problem, exit 2 with one line', async () => {
    const t = io();
    const argv = [
      'train',
      '--data',
      glue('rte-train.tsv'),
      '--problem',
      'regression',
      '--out',
      join(dir, 'x'),
    ];
    expect(await main([...argv, ...small], t)).toBe(2);
    expect(t.stderr.at(-1)).toMatch(
      /^error: .*rte-train\.tsv:2: column \d+: regression label 'not_entailment'/,
    );
    const u = io();
    expect(await main(['train', '--problem', 'ranking', ...small], u)).toBe(2);
    expect(u.stderr.at(-1)).toMatch(/--problem must be classification or regression/);
  });

  it('a dev label the training file lacks names the dev file', async () => {
    const t = io();
    const argv = [
      'train',
      '--data',
      glue('sst2-train.tsv'),
      '--dev',
      glue('qnli-dev.tsv'),
      '--out',
      join(dir, 'y'),
    ];
    expect(await main([...argv, ...small], t)).toBe(2);
    expect(t.stderr.at(-1)).toMatch(/qnli-dev\.tsv:2: column \d+: label 'entailment' does not occur/);
  });
});

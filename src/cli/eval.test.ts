// `alum eval` in-process (the code path of bin/alum.mjs): a model that `alum train` wrote, attacked on a dev
// file with every attack; --json's object, epsilon 0 = clean accuracy, the same numbers for the same seed,
// --max-examples, --records, and one-line errors with exit code 2.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { captureIo } from '../../test/helpers/cli.ts';
import { fixtureDir } from '../../test/helpers/nano.ts';
import { ATTACKS } from '../core/robust/attack.ts';
import { main } from './main.ts';

const dir = mkdtempSync(join(tmpdir(), 'alum-eval-'));
const jsonl = (rows: { text: string; label: string }[]) =>
  rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const spam = [
  'win free money now',
  'click here you have won a prize',
  'cash offer call me now',
  'free cash prize now',
];
const ham = ['the cat sat on the mat', 'see you at noon', 'meeting today at lunch', 'my dog sat on a mat'];
const dataFile = join(dir, 'toy.jsonl');
writeFileSync(
  dataFile,
  jsonl([...spam.map((text) => ({ text, label: 'spam' })), ...ham.map((text) => ({ text, label: 'ham' }))]),
);
const devFile = join(dir, 'dev.jsonl');
writeFileSync(
  devFile,
  jsonl([
    { text: 'free money now', label: 'spam' },
    { text: 'the dog sat at noon', label: 'ham' },
    { text: 'call me now', label: 'spam' },
    { text: 'lunch meeting today', label: 'ham' },
    { text: 'you have won cash', label: 'spam' },
  ]),
);
const modelDir = join(dir, 'run', 'model');

const io = () => captureIo(dir);
const evalArgs = (...extra: string[]) => [
  'eval',
  '--model',
  modelDir,
  '--data',
  dataFile,
  '--dev',
  devFile,
  '--backend',
  'cpu',
  ...extra,
];

/** Runs `alum eval ... --json` and returns its object (the exit code must be 0). */
async function evalJson(...extra: string[]): Promise<Record<string, unknown>> {
  const t = io();
  expect(await main(evalArgs(...extra, '--json'), t), t.stderr.join('\n')).toBe(0);
  expect(t.stdout).toHaveLength(1);
  return JSON.parse(t.stdout[0] as string) as Record<string, unknown>;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  const t = io();
  const train = ['train', '--init', fixtureDir, '--data', dataFile, '--steps', '3', '--batch-size', '4'];
  const flags = ['--max-length', '16', '--backend', 'cpu', '--out', join(dir, 'run')];
  expect(await main([...train, ...flags], t), t.stderr.join('\n')).toBe(0);
});

describe('alum eval', () => {
  it.each(ATTACKS)(
    '--attack %s --json prints one object with the summary and the settings',
    async (attack) => {
      const out = await evalJson('--attack', attack, '--budget', '1', '--k', '2');
      expect(out).toMatchObject({ attack, n: 5, settings: { attack, budget: 1, k: 2, seed: 1 } });
      for (const key of ['clean_accuracy', 'attacked_accuracy', 'success_rate', 'changed', 'queries']) {
        expect(out[key], key).toBeTypeOf('number');
      }
      expect(out['attacked_accuracy'] as number).toBeLessThanOrEqual(
        (out['clean_accuracy'] as number) + 1e-12,
      );
    },
  );

  it('--attack pgd --epsilon 0 gives exactly the clean accuracy', async () => {
    const out = await evalJson('--attack', 'pgd', '--epsilon', '0');
    expect(out['attacked_accuracy']).toBe(out['clean_accuracy']);
    expect(out['success_rate']).toBe(0);
  });

  it('gives the same numbers for the same seed', async () => {
    const strip = ({ time_ms: _, ...rest }: Record<string, unknown>) => rest;
    const a = await evalJson('--attack', 'pgd', '--epsilon', '0.5', '--seed', '3');
    const b = await evalJson('--attack', 'pgd', '--epsilon', '0.5', '--seed', '3');
    expect(strip(b)).toEqual(strip(a));
  });

  it('--max-examples takes the first rows of the dev split; --records writes one JSON line each', async () => {
    const records = join(dir, 'records.jsonl');
    const out = await evalJson('--attack', 'drop', '--max-examples', '2', '--records', records);
    expect(out['n']).toBe(2);
    const lines = readFileSync(records, 'utf8').trim().split('\n');
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(lines).toHaveLength(2);
    expect(first).toMatchObject({ index: 0, text: 'free money now' });
  });

  it('without --json prints one line for people', async () => {
    const t = io();
    expect(await main(evalArgs('--attack', 'typo'), t), t.stderr.join('\n')).toBe(0);
    expect(t.stdout).toHaveLength(1);
    expect(t.stdout[0]).toMatch(
      /^typo: 5 examples, clean accuracy \d+\.\d%, attacked \d+\.\d%, success rate/,
    );
  });

  it.each([
    [['--attack', 'fgsm'], '--attack must be one of pgd|random|hotflip|typo|drop, got "fgsm"'],
    [['--attack', 'pgd', '--epsilon', 'big'], '--epsilon must be a number, got "big"'],
    [['--attack', 'pgd', '--epsilon=-1'], '--epsilon must be a number >= 0, got -1'],
    [['--attack', 'typo', '--budget', '1.5'], '--budget must be an integer >= 0, got 1.5'],
    [
      ['--attack', 'pgd', '--max-length', '17'],
      "--max-length 17 exceeds the model's max_position_embeddings 16",
    ],
    [['--attack', 'pgd', '--lr', '1'], "Unknown option '--lr'"],
    [[], 'missing --attack'],
  ])('refuses %j with one line, exit code 2', async (extra, message) => {
    const t = io();
    expect(await main(evalArgs(...extra), t)).toBe(2);
    expect(t.stderr.at(-1)).toContain(message);
    expect(t.stderr.at(-1)).toMatch(/^error: [^\n]+$/);
  });

  it('names the missing model folder and the data file whose labels do not fit', async () => {
    const t = io();
    const missing = join(dir, 'nope');
    expect(await main(['eval', '--model', missing, '--data', dataFile, '--attack', 'pgd'], t)).toBe(2);
    expect(t.stderr.at(-1)).toBe(`error: ${join(missing, 'config.json')}: no such file`);
    const three = join(dir, 'three.jsonl');
    writeFileSync(
      three,
      jsonl(['a', 'b', 'c', 'a', 'b', 'c'].map((label, i) => ({ text: `cat ${i}`, label }))),
    );
    const u = io();
    expect(await main(['eval', '--model', modelDir, '--data', three, '--attack', 'pgd'], u)).toBe(2);
    expect(u.stderr.at(-1)).toBe(`error: ${three}: 3 labels, but ${modelDir}/config.json has 2`);
  });
});

// The robustness experiment end to end at a toy size (the nano fixture fine-tuned for 2 steps on a hand-written
// task, both methods, one seed, every attack on 3 dev rows): both reports are written, with a row per task,
// method and attack, and the command and initial weights they came from.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { fixtureDir } from '../test/helpers/nano.ts';
import { optionsFrom, runExperiment } from './experiment-robustness.ts';

const dir = mkdtempSync(join(tmpdir(), 'alum-experiment-'));
const task = {
  name: 'toy',
  source: 'hand-written test task',
  labels: ['ham', 'spam'],
  train: [
    ...['win free money now', 'cash offer call me now', 'free cash prize now'].map((text) => ({
      text,
      label: 1,
    })),
    ...['the cat sat on the mat', 'see you at noon', 'my dog sat on a mat'].map((text) => ({
      text,
      label: 0,
    })),
  ],
  dev: [
    { text: 'free money now', label: 1 },
    { text: 'the dog sat at noon', label: 0 },
    { text: 'call me now', label: 1 },
    { text: 'lunch meeting today', label: 0 },
  ],
};
const taskFile = join(dir, 'toy.json');
writeFileSync(taskFile, JSON.stringify(task));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('experiment:robustness', () => {
  it('trains both methods from the same init, attacks each, and writes the JSON and markdown reports', async () => {
    const out = join(dir, 'results');
    const log: string[] = [];
    await runExperiment(
      {
        tasks: [taskFile],
        steps: 2,
        seeds: 1,
        init: fixtureDir,
        lr: 0.002,
        maxExamples: 3,
        epsilons: [0.1],
        backend: 'cpu',
        out,
        trainFlags: ['--batch-size', '4', '--max-length', '16'],
        command: 'test command',
      },
      (l) => log.push(l),
    );
    const json = JSON.parse(readFileSync(join(out, 'robustness.json'), 'utf8')) as Awaited<
      ReturnType<typeof runExperiment>
    >;
    expect(json.runs.map((r) => r.method)).toEqual(['standard', 'alum']);
    const attacks = ['pgd eps=0.1', 'random eps=0.1', 'hotflip', 'typo', 'drop'];
    expect(json.aggregate.map((a) => `${a.method} ${a.attack}`)).toEqual(
      ['standard', 'alum'].flatMap((m) => attacks.map((a) => `${m} ${a}`)),
    );
    expect(json.aggregate.every((a) => a.n === 3 && a.seeds === 1 && a.stats.clean_accuracy.std === 0)).toBe(
      true,
    );
    expect(json.timing.every((t) => t.msPerStep.mean > 0)).toBe(true);
    expect(json.init).toBe('test/fixtures/nano-bert (pre-trained checkpoint)');
    const prettier = await import('prettier');
    const style = (await prettier.resolveConfig(join(out, 'robustness.json'))) ?? {};
    const text = readFileSync(join(out, 'robustness.json'), 'utf8');
    expect(await prettier.check(text, { ...style, parser: 'json' })).toBe(true); // the repository's fmt:check
    const md = readFileSync(join(out, 'robustness.md'), 'utf8');
    expect(md).toContain('Command: `test command`');
    expect(md).toContain(
      '| attack | method | clean acc. | attacked acc. | success rate | changed | queries |',
    );
    expect(md.split('\n').filter((l) => l.startsWith('| pgd eps=0.1 |'))).toHaveLength(2);
    expect(log.some((l) => l.startsWith('[toy standard seed 1] done:'))).toBe(true);
    expect(log.filter((l) => l.includes(', lr 0.002 ->'))).toHaveLength(2); // --lr reaches both runs
    expect(md).toContain('learning rate 0.002.');
  });

  it('reads its flags, with the command recorded as typed', () => {
    const o = optionsFrom(['--steps', '20', '--seeds', '1', '--max-examples', '16', '--init', '/abs/model']);
    expect(o).toMatchObject({
      steps: 20,
      seeds: 1,
      maxExamples: 16,
      init: '/abs/model',
      epsilons: [0.03, 0.1, 0.3],
    });
    expect(o.command).toBe(
      'npm run experiment:robustness -- --steps 20 --seeds 1 --max-examples 16 --init /abs/model',
    );
    expect(o.lr).toBeNull(); // alum train's default for the init
    expect(optionsFrom(['--lr', '1e-3']).lr).toBe(1e-3);
    expect(() => optionsFrom(['--seeds', '0'])).toThrow('--seeds must be an integer >= 1, got "0"');
    expect(() => optionsFrom(['--lr', '0'])).toThrow('--lr must be a number > 0, got "0"');
  });
});

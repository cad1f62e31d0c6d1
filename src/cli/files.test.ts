// The CLI's model folder reader: `--init DIR` goes through core/model/hf-load.ts like the page, and
// `alum train --init` with it end to end.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadHfModel } from '../core/model/hf-load.ts';
import { loadDataFile, loadModelDir } from './files.ts';
import { main } from './main.ts';
import { captureIo } from '../../test/helpers/cli.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('loadModelDir', () => {
  it('reads a torch.save folder (legacy names, no head) into arrays, making no tensor', async () => {
    const before = tf.memory().numTensors;
    const m = await loadModelDir('test/fixtures/hf-bin/legacy', 3);
    expect(m.report.weights).toBe('pytorch_model.bin');
    expect(m.report.initialised).toHaveLength(4);
    expect(m.arrays.size).toBe(41);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('prefers model.safetensors, as transformers does, and names the folder in errors', async () => {
    const m = await loadModelDir('test/fixtures/hf-bin/f16', 3);
    expect(m.report).toMatchObject({ weights: 'model.safetensors', dtypes: ['F16'], lowercase: false });
    await expect(loadModelDir('test/fixtures/hf-bin/none', 3)).rejects.toThrow(
      'test/fixtures/hf-bin/none/config.json: no such file',
    );
    await expect(loadModelDir('test/fixtures/hf-bin/hostile', 3)).rejects.toThrow(
      'test/fixtures/hf-bin/hostile/config.json: missing',
    );
  });

  it("tokenises the data with the model's casing", async () => {
    const m = await loadModelDir('test/fixtures/hf-bin/f16', 3);
    const file = join(tmpdir(), `alum-cased-${process.pid}.tsv`);
    writeFileSync(file, 'sentence\tlabel\nThe cat\tneutral\nthe cat\tpositive\n');
    const cased = await loadDataFile(file, m.vocabText, 1, { lowercase: m.lowercase });
    const uncased = await loadDataFile(file, m.vocabText, 1);
    expect(cased.tokenizer.lowercase).toBe(false);
    expect(cased.tokenizer.tokenize('The cat')).toEqual(['[UNK]', 'cat']);
    expect(uncased.tokenizer.tokenize('The cat')).toEqual(['the', 'cat']);
  });
});

describe('alum train --init with a torch.save folder', () => {
  it('trains from it, prints the load report, and writes a folder that loads back cased', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alum-init-'));
    const data = join(dir, 'toy.tsv');
    const rows = Array.from({ length: 12 }, (_, i) => `The cat sat ${i}\t${i % 3}`);
    writeFileSync(data, ['sentence\tlabel', ...rows].join('\n') + '\n');
    const io = captureIo(dir);
    const err = io.stderr;
    const args = [
      '--data',
      data,
      '--steps',
      '1',
      '--batch-size',
      '4',
      '--max-length',
      '16',
      '--backend',
      'cpu',
    ];
    const code = await main(
      ['train', '--init', 'test/fixtures/hf-bin/f16', ...args, '--out', join(dir, 'run')],
      io,
    );
    expect(code, err.join('\n')).toBe(0);
    expect(err).toContain(
      'init: test/fixtures/hf-bin/f16 (model.safetensors, F16, cased tokenizer.json): 41 tensors loaded; ' +
        "classifier kept by position: the model's negative, neutral, positive are the data's 0, 1, 2",
    );
    const out = join(dir, 'run', 'model');
    const back = loadHfModel(
      readdirSync(out).map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]),
      { name: 'out', seed: 1 },
    );
    expect(back.lowercase).toBe(false);
    expect(back.report.dtypes).toEqual(['F32']);
  });
});

// `alum pretrain` in-process: nano pre-trained with ALUM on a tiny corpus writes a BertForMaskedLM folder (tied
// decoder, F16 on request) and metrics.jsonl; `alum train --init` fine-tunes it with a fresh classifier;
// `pretrain --init` continues it with its MLM head; `trace --task mlm` writes the masked-position tensors.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { captureIo } from '../../test/helpers/cli.ts';
import { decodeSafetensors } from '../core/io/safetensors.ts';
import type { MetricRow } from '../core/metrics.ts';
import { mlmParamSpecs, WORD_EMBEDDINGS } from '../core/model/mlm.ts';
import { fromHfConfig } from '../core/model/hf.ts';
import { main } from './main.ts';

const dir = mkdtempSync(join(tmpdir(), 'alum-pretrain-'));
const corpusFile = join(dir, 'corpus.txt');
const docs = [
  'the cat sat on the mat',
  'the dog sat on a mat',
  'win free money now, click here',
  'you have won a prize, call me now',
  'meeting at noon, see you at lunch today',
  'free cash offer is my prize and money',
];
writeFileSync(corpusFile, Array.from({ length: 6 }, () => docs.join('\n')).join('\n') + '\n');
const dataFile = join(dir, 'toy.jsonl');
writeFileSync(
  dataFile,
  [
    ...docs.slice(0, 4).map((t) => ({ text: t, label: 'a' })),
    ...docs.slice(2).map((t) => ({ text: t, label: 'b' })),
  ]
    .map((r) => JSON.stringify(r))
    .join('\n') + '\n',
);
const small = [
  '--model',
  'nano',
  '--max-length',
  '16',
  '--batch-size',
  '4',
  '--eval-every',
  '2',
  '--seed',
  '3',
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rowsOf(file: string): MetricRow[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricRow);
}

describe('alum pretrain', () => {
  const out = join(dir, 'pre');
  // One pre-training run, shared by the tests below (each only reads what it wrote).
  let cached: Promise<{ code: number; stderr: string[] }> | null = null;
  const pretrained = () => (cached ??= run());
  const run = async () => {
    await tf.setBackend('cpu');
    const t = captureIo(dir);
    const code = await main(
      [
        'pretrain',
        '--corpus',
        corpusFile,
        '--steps',
        '3',
        '--method',
        'alum',
        '--dtype',
        'float16',
        '--out',
        out,
        ...small,
      ],
      t,
    );
    return { code, stderr: t.stderr };
  };

  it('writes a BertForMaskedLM folder and metrics.jsonl; train --init fine-tunes it; pretrain --init continues it', async () => {
    const { code, stderr } = await pretrained();
    expect(code, stderr.join('\n')).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'model/config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config['architectures']).toEqual(['BertForMaskedLM']);
    const { model } = fromHfConfig(config);
    const st = decodeSafetensors(new Uint8Array(readFileSync(join(out, 'model/model.safetensors'))));
    const names = [...st.tensors.keys()];
    for (const s of mlmParamSpecs(model)) expect(names).toContain(s.name);
    expect(names).toContain(WORD_EMBEDDINGS);
    expect(
      names.filter((n) => n.includes('decoder') || n.startsWith('classifier') || n.includes('pooler')),
    ).toEqual([]);
    expect(new Set([...st.tensors.values()].map((a) => a.dtype))).toEqual(new Set(['F16']));
    const rows = rowsOf(join(out, 'metrics.jsonl'));
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(rows[0]?.unigramAccuracy).toBeGreaterThanOrEqual(0);
    expect(rows[1]?.unigramAccuracy).toBeUndefined();
    expect(rows[0]?.unigramLoss).toBeGreaterThan(0);
    expect(rows[1]?.devLoss).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.advLoss).toBeGreaterThan(0);
      expect(r.perplexity).toBeCloseTo(Math.exp(r.taskLoss), 3);
    }
    const summary = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
      config: { alpha: number; task: string };
    };
    expect(summary.config).toMatchObject({ alpha: 10, task: 'mlm' });

    const ft = captureIo(dir);
    const ftCode = await main(
      [
        'train',
        '--init',
        join(out, 'model'),
        '--data',
        dataFile,
        '--steps',
        '2',
        '--batch-size',
        '4',
        '--max-length',
        '16',
        '--out',
        join(dir, 'ft'),
      ],
      ft,
    );
    expect(ftCode, ft.stderr.join('\n')).toBe(0);
    const init = ft.stderr.find((l) => l.startsWith('init:')) ?? '';
    expect(init).toMatch(/classifier/);
    expect(init).toMatch(/cls\.predictions/);

    const again = captureIo(dir);
    const cont = await main(
      [
        'pretrain',
        '--corpus',
        corpusFile,
        '--init',
        join(out, 'model'),
        '--steps',
        '1',
        '--max-length',
        '16',
        '--batch-size',
        '4',
        '--out',
        join(dir, 'pre2'),
      ],
      again,
    );
    expect(cont, again.stderr.join('\n')).toBe(0);
    expect(again.stderr.join('\n')).toMatch(/MLM head loaded/);
  }, 120_000);

  it('traces one masked-LM step with mlm_positions, mlm_labels and logits at the masked positions', async () => {
    expect((await pretrained()).code).toBe(0);
    const file = join(dir, 'trace.safetensors');
    const t = captureIo(dir);
    const code = await main(
      [
        'trace',
        '--task',
        'mlm',
        '--model',
        join(out, 'model'),
        '--data',
        corpusFile,
        '--seed',
        '1',
        '--out',
        file,
        '--k',
        '2',
        '--batch-size',
        '2',
        '--max-length',
        '16',
      ],
      t,
    );
    expect(code, t.stderr.join('\n')).toBe(0);
    const st = decodeSafetensors(new Uint8Array(readFileSync(file)));
    const pos = st.tensors.get('mlm_positions');
    const labels = st.tensors.get('mlm_labels');
    const m = pos?.shape[0] ?? 0;
    const vocab = readFileSync(join(out, 'model/vocab.txt'), 'utf8').trim().split('\n').length;
    expect(m).toBeGreaterThan(0);
    expect(labels?.shape).toEqual([m]);
    expect(st.tensors.get('logits_clean')?.shape).toEqual([m, vocab]);
    expect(st.tensors.get('logits_adv')?.shape).toEqual([m, vocab]);
    expect(st.tensors.has('delta_grad.1')).toBe(true);
    expect(st.metadata['task']).toBe('mlm');
  }, 60_000);

  it('refuses a missing corpus, an empty one and a bad --dtype with one line and exit code 2', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'a.txt'), '\n  \n');
    const cases: [string[], RegExp][] = [
      [['--corpus', join(dir, 'nope.txt')], /nope\.txt: no such file/],
      [['--corpus', empty], /a\.txt: no text/],
      [['--corpus', corpusFile, '--dtype', 'int8'], /--dtype must be float32 or float16/],
      [[], /missing --corpus/],
    ];
    const train = captureIo(dir);
    expect(await main(['train', '--task', 'mlm', '--out', join(dir, 'bad')], train)).toBe(2);
    expect(train.stderr.at(-1)).toMatch(/--task mlm: masked-LM pre-training is `alum pretrain`/);
    const pre = captureIo(dir);
    expect(await main(['pretrain', '--corpus', corpusFile, '--task', 'classify'], pre)).toBe(2);
    expect(pre.stderr.at(-1)).toMatch(/--task must be mlm for pretrain/);
    for (const [args, re] of cases) {
      const t = captureIo(dir);
      expect(await main(['pretrain', ...args, '--out', join(dir, 'bad')], t)).toBe(2);
      expect(t.stderr.at(-1)).toMatch(re);
    }
  });
});

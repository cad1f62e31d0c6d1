// The worker's user data: a File streamed with progress, a dev file, and one cached entry.
import { describe, expect, it } from 'vitest';

import { dataPreview } from '../core/data/preview.ts';
import { loadUserTask } from './user-data.ts';

const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'good', 'bad'].join('\n');
const rows = Array.from(
  { length: 3000 },
  (_, i) => `${i % 2 ? 'good' : 'bad'} ${'x'.repeat(i % 50)}\t${i % 2}`,
);
const tsv = ['sentence\tlabel', ...rows].join('\n') + '\n';

describe('loadUserTask', () => {
  it('streams a File with progress, gives the same task as its text, and caches it', async () => {
    const file = new File([tsv], 'big.tsv', { lastModified: 1 });
    const progress: [string, number, number, number][] = [];
    const a = await loadUserTask({ name: 'big.tsv', text: '', file }, vocab, 'v', 3, (...p) =>
      progress.push(p),
    );
    const b = await loadUserTask({ name: 'big.tsv', text: tsv }, vocab, 'v', 3);
    expect(a.data).toEqual(b.data);
    expect(progress.at(-1)).toEqual(['big.tsv', file.size, file.size, expect.any(Number) as unknown]);
    const again = await loadUserTask({ name: 'big.tsv', text: '', file }, vocab, 'v', 3);
    expect(again).toBe(a); // cached: not read twice
    const otherSeed = await loadUserTask({ name: 'big.tsv', text: '', file }, vocab, 'v', 4);
    expect(otherSeed).not.toBe(a);
  });

  it('uses a dev file instead of the split, and refuses a malformed one by file and line', async () => {
    const dev = 'sentence\tlabel\ngood\t1\nbad\t0\n';
    const t = await loadUserTask(
      { name: 't.tsv', text: tsv, dev: { name: 'd.tsv', text: dev } },
      vocab,
      'v',
      1,
    );
    expect(t.data.train).toHaveLength(3000);
    expect(t.data.dev).toHaveLength(2);
    const bad = new File(['sentence\tlabel\ngood\t1\nbad\n'], 'd.tsv');
    await expect(
      loadUserTask({ name: 't.tsv', text: tsv, dev: { name: 'd.tsv', text: '', file: bad } }, vocab, 'v', 1),
    ).rejects.toThrow('d.tsv:3: expected 2 fields (sentence,label), got 1');
  });
});

describe('a large file', () => {
  it('400,000 rows stream, split and preview without overflowing the call stack', async () => {
    const words = ['good', 'bad x', 'good good', 'bad'];
    const big = [
      'sentence\tlabel',
      ...Array.from({ length: 400_000 }, (_, i) => `${words[i % 4]}\t${i % 2}`),
    ];
    const file = new File([big.join('\n')], 'huge.tsv');
    const task = await loadUserTask({ name: 'huge.tsv', text: '', file }, vocab, 'v', 1);
    expect(task.data.train.length + task.data.dev.length).toBe(400_000);
    expect(task.data.dev).toHaveLength(40_000);
    const p = dataPreview(task.data, task.tokenizer);
    expect(p.rows).toBe(400_000);
    expect(p.labelCounts).toEqual([
      { label: '0', count: 200_000 },
      { label: '1', count: 200_000 },
    ]);
  });
});

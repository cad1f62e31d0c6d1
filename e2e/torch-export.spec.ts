/**
 * The PyTorch export and the metrics import in the page: the zip holds the script, the config of the run, the
 * README and the trained model; an imported metrics.jsonl is drawn over the charts, and a bad one is refused
 * with one line naming file and line.
 */
import { readFileSync } from 'node:fs';

import { unzipSync } from 'fflate';

import { expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&backend=wasm&variant=mtdnn-head';

test('exports the run as a PyTorch folder and overlays an imported metrics.jsonl', async ({ page, alum }) => {
  await alum.open(QUERY);
  await alum.step(2);
  await alum.waitForStep(2);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export.torch').click(),
  ]);
  expect(download.suggestedFilename()).toBe('alum-torch.zip');
  const files = unzipSync(readFileSync(await download.path()));
  expect(Object.keys(files).sort()).toEqual([
    'alum-torch/README.md',
    'alum-torch/config.json',
    'alum-torch/model/config.json',
    'alum-torch/model/model.safetensors',
    'alum-torch/model/vocab.txt',
    'alum-torch/train_alum.py',
  ]);
  const text = (name: string) => new TextDecoder().decode(files[`alum-torch/${name}`]);
  expect(JSON.parse(text('config.json'))).toMatchObject({
    model: 'nano',
    batchSize: 4,
    variant: 'mtdnn-head',
  });
  expect(text('train_alum.py')).toContain('def alum_step(');
  expect(text('README.md')).toContain('torchrun --nproc_per_node 2 train_alum.py --out runs/torch');
  await expect(page.getByTestId('export.error')).toHaveCount(0);

  // A run from elsewhere, drawn over the charts: three rows, one with a dev evaluation.
  const rows = [1, 2, 3].map((step) =>
    JSON.stringify({
      step,
      taskLoss: 0.7 - step / 100,
      advLoss: 1e-3,
      totalLoss: 0.7,
      ...(step === 3 ? { devAccuracy: 0.6 } : {}),
    }),
  );
  await page.getByTestId('export.importMetrics').setInputFiles({
    name: 'cluster.jsonl',
    mimeType: 'application/x-ndjson',
    buffer: Buffer.from(rows.join('\n') + '\n'),
  });
  await expect(page.getByTestId('chart.loss')).toHaveAttribute('data-overlay-points', '3');
  await expect(page.getByTestId('chart.dev')).toHaveAttribute('data-overlay-points', '1');
  await expect(page.getByTestId('export.clearMetrics')).toHaveText('Hide cluster.jsonl');

  await page.getByTestId('export.importMetrics').setInputFiles({
    name: 'bad.jsonl',
    mimeType: 'application/x-ndjson',
    buffer: Buffer.from(`${rows[0] ?? ''}\n{"step": 2, "taskLoss": "high"}\n`),
  });
  await expect(page.getByTestId('export.importError')).toHaveText(
    `bad.jsonl:2: 'taskLoss' must be a finite number, got "high"`,
  );
  // The refused file changed nothing: the first import is still drawn.
  await expect(page.getByTestId('chart.loss')).toHaveAttribute('data-overlay-points', '3');
  await page.getByTestId('export.clearMetrics').click();
  await expect(page.getByTestId('chart.loss')).not.toHaveAttribute('data-overlay-points', /./);
});

/**
 * GLUE files through "Load data": an MRPC TSV with a separate dev file shows its preview (rows, label counts,
 * token-length histogram, truncation rate that follows maxLength) and trains; STS-B loads as regression and
 * charts dev correlations.
 */
import { readFileSync } from 'node:fs';

import { expect, test } from './fixtures.ts';

const glue = (name: string) => readFileSync(new URL(`../test/fixtures/glue/${name}`, import.meta.url));
const tsv = (name: string) => ({ name, mimeType: 'text/tab-separated-values', buffer: glue(name) });

test('a GLUE MRPC file with a dev file: preview, maxLength-driven truncation, training', async ({
  page,
  alum,
}) => {
  await alum.open('?model=nano&batchSize=2&maxLength=64&steps=40&backend=wasm');
  await page.getByTestId('data.devFile').setInputFiles(tsv('mrpc-train.tsv')); // used with the next data file
  await page.getByTestId('data.file').setInputFiles(tsv('mrpc-train.tsv'));
  await expect(page.getByTestId('data.name')).toContainText('mrpc-train.tsv (dev: mrpc-train.tsv)');
  const preview = page.getByTestId('data.preview');
  await expect(preview.getByTestId('data.preview.rows')).toContainText(
    '8 rows (4 train / 4 dev), classification',
  );
  await expect(preview.getByTestId('data.preview.labels')).toHaveText('0: 4, 1: 4');
  const histogram = preview.getByTestId('data.preview.histogram');
  await expect(histogram).toHaveAttribute('aria-label', /token lengths: 1-/);
  expect(await histogram.locator('div').count()).toBeGreaterThan(1);
  await expect(preview.getByTestId('data.preview.truncation')).toContainText(
    /^\d+\.\d% of examples are longer than maxLength 64 tokens/,
  );
  await alum.setConfig({ maxLength: 16 }); // every MRPC pair is longer than 16 tokens
  await expect(preview.getByTestId('data.preview.truncation')).toContainText(
    '100.0% of examples are longer than maxLength 16',
  );
  await alum.step(2);
  expect((await alum.waitForStep(2)).error).toBeNull();
});

test('STS-B loads as regression and charts dev correlations', async ({ page, alum }) => {
  await alum.open('?model=nano&batchSize=2&maxLength=32&steps=40&evalEvery=2&backend=wasm');
  await page.getByTestId('data.devFile').setInputFiles(tsv('stsb-train.tsv')); // 8 dev rows: correlations exist
  await page.getByTestId('data.file').setInputFiles(tsv('stsb-train.tsv'));
  await expect(page.getByTestId('data.preview.rows')).toContainText('16 rows (8 train / 8 dev), regression');
  await expect(page.getByTestId('data.preview.targets')).toHaveText(
    'targets min 0.5000, max 5.000, mean 3.225',
  );
  await alum.step(2);
  expect((await alum.waitForStep(2)).error).toBeNull();
  await expect(page.getByTestId('chart.devCorrelation')).toBeVisible();
  const rows = await alum.metrics();
  expect(rows.find((r) => r.devPearson !== undefined)).toHaveProperty('devMse');
});

test('a large file (over 8 MB) is streamed by the worker with a progress bar; the page stays responsive', async ({
  page,
  alum,
}) => {
  await alum.open('?model=nano&batchSize=2&maxLength=16&steps=40&backend=wasm');
  const words = ['a lovely warm film', 'terrible acting', 'it opens on friday', 'i loved every minute'];
  const rows = Array.from({ length: 400_000 }, (_, i) => `${words[i % 4] as string} ${i}\t${i % 2}`);
  const buffer = Buffer.from(['sentence\tlabel', ...rows].join('\n') + '\n');
  expect(buffer.length).toBeGreaterThan(8 * 1024 * 1024);
  // Record whether the progress bar ever showed (it may be brief).
  await page.evaluate(() => {
    const w = window as unknown as { sawProgress: boolean };
    w.sawProgress = false;
    new MutationObserver(() => {
      if (document.querySelector('[data-testid="data.progress"] progress')) w.sawProgress = true;
    }).observe(document.body, { childList: true, subtree: true });
  });
  await page
    .getByTestId('data.file')
    .setInputFiles({ name: 'big.tsv', mimeType: 'text/tab-separated-values', buffer });
  // While the worker reads, the main thread answers at once.
  const t0 = Date.now();
  await page.evaluate(() => 1);
  expect(Date.now() - t0).toBeLessThan(1000);
  await expect(page.getByTestId('data.preview.rows')).toContainText('400,000 rows', { timeout: 120_000 });
  expect(await page.evaluate(() => (window as unknown as { sawProgress: boolean }).sawProgress)).toBe(true);
  await expect(page.getByTestId('data.progress')).toHaveCount(0);
});

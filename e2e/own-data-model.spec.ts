/**
 * Issue 11's whole path through the file inputs: a Hugging Face checkpoint ("Load model") and a TSV ("Load
 * data") whose labels are the checkpoint's in another order; the preview; a few steps; a reload; the run resumed
 * from its checkpoint (the loaded model and data come back from IndexedDB) with its metrics continuous; the
 * trained model exported as a zip and loaded back.
 */
import { readFileSync } from 'node:fs';

import { unzipSync } from 'fflate';

import type { AlumAutomationApi } from '../src/ui/automation.ts';
import { expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&evalEvery=0&backend=wasm';
const DIR = 'test/fixtures/hf-bin/f32';
type AlumWindow = Window & { alum: AlumAutomationApi };

const MODEL = ['config.json', 'vocab.txt', 'model.safetensors'].map((name) => ({
  name,
  mimeType: 'application/octet-stream',
  buffer: readFileSync(`${DIR}/${name}`),
}));

/** 30 rows over the fixture's words; the labels appear in the order positive, negative, neutral. */
const LABELS = ['positive', 'negative', 'neutral'];
const WORDS = ['the cat sat on the mat', 'free money click here', 'see you at noon for lunch'];
const TSV = {
  name: 'moods.tsv',
  mimeType: 'text/tab-separated-values',
  buffer: Buffer.from(
    [
      'sentence\tlabel',
      ...Array.from({ length: 30 }, (_, i) => `${WORDS[i % 3]} ${i}\t${LABELS[i % 3]}`),
    ].join('\n'),
  ),
};

test('a loaded checkpoint and data file train, survive a reload, resume, and export a zip that loads back', async ({
  page,
  alum,
  charts,
}) => {
  await alum.open(QUERY);

  await page.getByTestId('model.file').setInputFiles(MODEL);
  await expect(page.getByTestId('model.name')).toContainText('loaded model');
  await page.getByTestId('data.file').setInputFiles(TSV);
  await expect(page.getByTestId('data.name')).toContainText('moods.tsv');
  await expect(page.getByTestId('data.preview.rows')).toContainText('30 rows');
  await expect(page.getByTestId('data.preview.labels')).toContainText(
    'positive: 10, negative: 10, neutral: 10',
  );
  await expect(page.getByTestId('data.preview.histogram')).toHaveAttribute('aria-label', /token lengths: /);

  await alum.step(3);
  expect((await alum.waitForStep(3)).error).toBeNull();
  await expect(page.getByTestId('model.report')).toContainText('41 tensors loaded');
  await expect(page.getByTestId('model.report')).toContainText(
    "classifier rows reordered to the data's labels (positive, negative, neutral)",
  );
  await expect.poll(async () => (await alum.runs()).map((r) => r.step)).toEqual([3]);
  const before = await alum.metrics();
  expect(before.map((r) => r.step)).toEqual([1, 2, 3]);

  await page.reload();
  await page.waitForFunction(() => 'alum' in window);
  const row = page.getByTestId('runs.row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('moods.tsv');
  await row.getByTestId('runs.resume').click();
  await expect.poll(async () => (await alum.state()).status).toBe('paused');
  expect(await alum.metrics()).toEqual(before);
  // The resumed run is the loaded model's again (its files came back from IndexedDB), with the same report.
  const report = page.getByTestId('model.report');
  await expect(report).toContainText(
    'Run started from loaded model (model.safetensors, F32, uncased vocab.txt)',
  );
  await expect(report).toContainText(
    "classifier rows reordered to the data's labels (positive, negative, neutral)",
  );
  await alum.step(2);
  expect((await alum.waitForStep(5)).error).toBeNull();
  expect((await alum.metrics()).map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
  await expect.poll(() => charts.points('loss')).toBe(5);

  const zip = await page.evaluate(async () => {
    const blob = await (window as unknown as AlumWindow).alum.exportModel();
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  });
  const files = Object.entries(unzipSync(Uint8Array.from(zip)));
  const config = JSON.parse(new TextDecoder().decode(files.find(([n]) => n === 'config.json')?.[1])) as {
    id2label: Record<string, string>;
  };
  expect(config.id2label).toEqual({ 0: 'positive', 1: 'negative', 2: 'neutral' });
  const reloaded = await page.evaluate(
    async (fs) => {
      const check = await (window as unknown as AlumWindow).alum.loadModel(
        fs.map(([name, bytes]) => ({ name: `trained/${name}`, bytes: Uint8Array.from(bytes) })),
      );
      return check.ok ? check.summary : check.message;
    },
    files.map(([n, b]) => [n, Array.from(b)] as const),
  );
  expect(reloaded).toMatch(/^trained \(model\.safetensors, F32, uncased vocab\.txt\): 41 tensors loaded$/);
  await alum.step(1);
  expect((await alum.waitForStep(1)).error).toBeNull();
});

/** Taking the work out of the page: the model as a zip of its Hugging Face folder, the metrics as CSV. */
import { readFileSync } from 'node:fs';

import { unzipSync } from 'fflate';

import { expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&backend=wasm';

test('downloads the trained model and the metrics', async ({ page, alum }) => {
  await alum.open(QUERY);
  await expect(page.getByTestId('export.model')).toBeDisabled(); // no model before the first run
  await alum.step(2);
  await alum.waitForStep(2);

  const [modelDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export.model').click(),
  ]);
  expect(modelDownload.suggestedFilename()).toBe('alum-nano-step2.zip');
  const files = unzipSync(readFileSync(await modelDownload.path()));
  expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
  const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as Record<string, unknown>;
  expect(config).toMatchObject({ architectures: ['BertForSequenceClassification'], hidden_size: 32 });
  expect(config['id2label']).toEqual({ '0': 'ham', '1': 'spam' });

  const [csvDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export.csv').click(),
  ]);
  const lines = readFileSync(await csvDownload.path(), 'utf8')
    .trimEnd()
    .split('\n');
  expect(lines[0]?.split(',').slice(0, 3)).toEqual(['step', 'taskLoss', 'advLoss']);
  expect(lines).toHaveLength(3); // header + 2 steps
  await expect(page.getByTestId('export.error')).toHaveCount(0);
});

/**
 * Pre-training and the shipped model (issue 6) in headless Chromium, tiny config: the page starts from the
 * built-in pre-trained model by default; a few steps of masked-LM pre-training on the built-in corpus draw
 * the MLM charts, and the fill-mask box answers; "Fine-tune this model" hands the result to a classifier run
 * that trains on the SOTU task.
 */
import type { AlumAutomationApi } from '../src/ui/automation.ts';
import { expect, test } from './fixtures.ts';

type AlumWindow = Window & { alum: AlumAutomationApi };

const QUERY = '?batchSize=4&maxLength=32&steps=40&evalEvery=2&method=standard&backend=wasm';

test('starts from the built-in pre-trained model by default', async ({ page, alum }) => {
  await alum.open(QUERY);
  await expect(page.getByTestId('config.init')).toHaveValue('pretrained');
  await expect(page.getByTestId('model.name')).toContainText('the built-in pre-trained tiny (model card)');
  await alum.step(1);
  const s = await alum.waitForStep(1);
  expect(s.config).toMatchObject({ init: 'pretrained', model: 'tiny', lr: 1e-3 });
  expect(s.startedFrom).toBe('built-in tiny (pre-trained, models/tiny)');
  await expect(page.getByTestId('model.report')).toContainText('built-in tiny');
});

test('pre-trains on the corpus, fills the mask, then fine-tunes the result on SOTU', async ({
  page,
  alum,
}) => {
  test.setTimeout(240_000);
  await alum.open(`${QUERY}&task=mlm&data=sotu-party`);
  await expect(page.getByTestId('data.name')).toContainText('pre-training corpus');
  await alum.step(2);
  await alum.waitForStep(2);
  const rows = await alum.metrics();
  expect(rows.at(-1)?.perplexity).toBeGreaterThan(1);
  expect(rows.at(-1)?.devAccuracy).toBeGreaterThan(0); // the shipped model already predicts masked tokens
  await expect(page.getByTestId('pretrain.unigram')).toContainText('most frequent token');
  await expect(page.getByTestId('chart.perplexity')).toBeVisible();

  await page.getByTestId('fillmask.text').fill('the president sent a [MASK] to congress.');
  await page.getByTestId('fillmask.go').click();
  await expect(page.getByTestId('fillmask.candidate')).toHaveCount(5);
  const fill = await page.evaluate(() =>
    (window as unknown as AlumWindow).alum.fillMask('the [MASK] of the united states', 3),
  );
  expect(fill.slots).toHaveLength(1);
  const probs = fill.slots[0]?.candidates.map((c) => c.probability) ?? [];
  expect(probs).toHaveLength(3);
  expect([...probs].sort((a, b) => b - a)).toEqual(probs); // most probable first

  await page.getByTestId('pretrain.finetune').click();
  await expect.poll(async () => (await alum.state()).config.task).toBe('classify');
  await alum.step(2);
  const s = await alum.waitForStep(2);
  expect(s.config.init).toBe('loaded');
  expect(s.startedFrom).toMatch(/pre-trained, step 2\)$/);
  await expect(page.getByTestId('pretrain')).toHaveCount(0); // the fill-mask panel is for masked-LM runs
  const info = await page.evaluate(() => (window as unknown as AlumWindow).alum.liveRuns());
  expect(info.at(-1)?.config.task).toBe('classify');
});

/**
 * ALUM's relatives in the page (headless Chromium, wasm backend, nano model): each picked from the method menu
 * trains 2 steps and the loss chart draws them; slow motion takes a relative's step apart with its own formula;
 * the preset menu shows each new preset's source; a lesson saved as a JSON file and loaded into a fresh page
 * restores the config and the open panels. No console errors anywhere.
 */
import { readFileSync } from 'node:fs';

import { collectErrors, expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&backend=wasm';

const RELATIVES = ['r3f', 'fgm', 'pgd', 'freelb', 'smart'] as const;

test('each relative from the method menu trains 2 steps and the loss chart draws them', async ({
  page,
  alum,
  charts,
  configForm,
  controls,
}) => {
  const errors = collectErrors(page);
  await alum.open(QUERY);
  for (const method of RELATIVES) {
    await configForm.field('method').selectOption(method);
    expect((await alum.state()).config.method, 'staged before the run').toBe(method);
    if ((await alum.state()).runId !== null) {
      await controls.reset.click(); // the run rebuilt at step 0 under the picked method
      await expect.poll(async () => (await alum.state()).step).toBe(0);
    }
    await alum.step(2);
    const s = await alum.waitForStep(2);
    expect(s.config.method).toBe(method);
    const rows = await alum.metrics();
    expect(rows.map((r) => r.step)).toEqual([1, 2]);
    for (const r of rows)
      expect([r.taskLoss, r.advLoss, r.totalLoss].every(Number.isFinite), method).toBe(true);
    await expect.poll(() => charts.points('loss'), { message: method }).toBeGreaterThanOrEqual(2);
  }
  expect(errors).toEqual([]);
});

test('slow motion takes a relative apart with its own lines: fgm, one step from zero', async ({
  page,
  alum,
}) => {
  const errors = collectErrors(page);
  await alum.open(`${QUERY}&method=fgm&panels=slow-motion`);
  await alum.step(1);
  await alum.waitForStep(1);
  const slow = page.getByTestId('panel.slow');
  await slow.getByTestId('slow.take').click();
  await expect(slow.getByTestId('slow.algorithm')).toContainText('FGM');
  await expect(slow.getByTestId('slow.stage')).toContainText('Stage 1 of 3: r = 0');
  await expect(slow.getByTestId('slow.line.on')).toContainText('r ← 0');
  await slow.getByTestId('slow.next').click();
  await expect(slow.getByTestId('slow.formula')).toContainText('ε g / ‖g‖₂');
  await expect(slow.getByTestId('slow.facts')).toContainText('inner loss before (task loss at x + r)');
  await expect(slow.getByTestId('slow.facts')).toContainText('inner loss after (task loss at x + r)');
  await slow.getByTestId('slow.next').click();
  await expect(slow.getByTestId('slow.stage')).toContainText('Stage 3 of 3: used by the outer update');
  expect(errors).toEqual([]);
});

test('the preset menu shows each new preset with its source, and stages its method', async ({
  page,
  alum,
  configForm,
}) => {
  const errors = collectErrors(page);
  await alum.open(QUERY);
  const sources: Record<(typeof RELATIVES)[number], string> = {
    r3f: 'facebookresearch/fairseq a4356b1',
    fgm: 'tensorflow/models 88dbb09',
    pgd: 'Madry et al. 2018',
    freelb: 'zhuchen03/FreeLB 2100e74',
    smart: 'Jiang et al. 2020, arXiv 1911.03437',
  };
  for (const method of RELATIVES) {
    await configForm.field('preset').selectOption(method);
    await expect(configForm.field('preset.source')).toContainText(`Source: ${sources[method]}`);
    expect((await alum.state()).config.method).toBe(method);
  }
  expect(errors).toEqual([]);
});

test('a lesson saved as a JSON file and loaded into a fresh page restores config and panels', async ({
  page,
  alum,
  configForm,
}, testInfo) => {
  const errors = collectErrors(page);
  const text = 'Compare random noise (R3F) with an adversarial step.';
  await alum.open(`${QUERY}&panels=lesson,tokens,slow-motion`);
  await configForm.field('preset').selectOption('r3f');
  await configForm.field('alpha').fill('3');
  await configForm.field('alpha').blur();
  await page.getByTestId('lesson.edit').fill(text);
  const saved = page.waitForEvent('download');
  await page.getByTestId('lesson.save').click();
  const download = await saved;
  expect(download.suggestedFilename()).toBe('alum-lesson.json');
  const file = testInfo.outputPath('alum-lesson.json');
  await download.saveAs(file);
  const lesson = JSON.parse(readFileSync(file, 'utf8')) as { config: Record<string, unknown> };
  expect(lesson.config).toMatchObject({ method: 'r3f', alpha: 3 });

  await alum.open(`${QUERY}&panels=lesson`); // a fresh page: alum, nothing but the lesson panel open
  expect((await alum.state()).config.method).toBe('alum');
  await page.getByTestId('lesson.load').setInputFiles(file);
  await expect(page.getByTestId('lesson.note')).toHaveText('Loaded alum-lesson.json.');
  expect((await alum.state()).config).toMatchObject({ method: 'r3f', alpha: 3, model: 'nano', batchSize: 4 });
  await expect(page.getByTestId('lesson.text')).toHaveText(text);
  await expect(page.getByTestId('panel.tokens')).toHaveAttribute('open', '');
  await expect(page.getByTestId('panel.slow')).toHaveAttribute('open', '');
  await expect(configForm.field('preset')).toHaveValue('r3f');
  await expect(configForm.field('method')).toHaveValue('r3f');
  expect(errors).toEqual([]);
});

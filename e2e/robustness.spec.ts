/**
 * The robustness lab (issue 8) in headless Chromium, nano model: attack the trained model from the panel with
 * progress, see the table, bars and the examples browser (changed words marked, CSV export), cancel a running
 * attack and keep its partial result, draw accuracy against epsilon, and attack a second (compare) run.
 */
import { readFileSync } from 'node:fs';

import type { AlumAutomationApi } from '../src/ui/automation.ts';
import { expect, test } from './fixtures.ts';

type AlumWindow = Window & { alum: AlumAutomationApi };

const QUERY =
  '?model=nano&batchSize=8&maxLength=32&steps=30&evalEvery=0&method=standard&backend=wasm&panels=robustness';

test('attacks the trained model, shows the results and the changed words, exports CSV', async ({
  page,
  alum,
}) => {
  test.setTimeout(240_000);
  await alum.open(QUERY);
  await alum.step(10);
  await alum.waitForStep(10);

  await page.getByTestId('lab.examplesCount').fill('12');
  await page.getByTestId('lab.attack').selectOption('typo');
  await page.getByTestId('lab.budget').fill('2');
  await page.getByTestId('lab.run').click();
  await expect(page.getByTestId('lab.row')).toHaveCount(1, { timeout: 120_000 });
  await expect(page.getByTestId('lab.row').first()).toContainText('typo');
  await expect(page.getByTestId('lab.bars')).toBeVisible();

  // The examples browser: every attacked example marks at least one word, at most the budget of 2.
  await page.getByText('show all').click();
  const examples = page.getByTestId('lab.example');
  await expect(examples).toHaveCount(12);
  const marks = await examples.evaluateAll((els) =>
    els.map((el) => el.querySelectorAll(':scope > div:nth-child(2) mark').length),
  );
  expect(Math.max(...marks)).toBeLessThanOrEqual(2);
  expect(Math.max(...marks)).toBeGreaterThan(0);

  const download = page.waitForEvent('download');
  await page.getByTestId('lab.csv').click();
  const csv = readFileSync((await (await download).path()) ?? '', 'utf8')
    .trim()
    .split('\n');
  expect(csv[0]).toMatch(/^index,label,text,attacked_text,/);
  expect(csv).toHaveLength(13);
});

test('cancel keeps a partial result; PGD and random draw accuracy against epsilon; a compare run', async ({
  page,
  alum,
}) => {
  test.setTimeout(300_000);
  await alum.open(QUERY);
  await alum.step(5);
  await alum.waitForStep(5);

  await page.getByTestId('lab.examplesCount').fill('200');
  await page.getByTestId('lab.attack').selectOption('hotflip');
  await page.getByTestId('lab.run').click();
  await expect(page.getByTestId('lab.progress')).toBeVisible();
  await page.getByTestId('lab.cancel').click();
  await expect(page.getByTestId('lab.row')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.getByTestId('lab.row').first()).toContainText('cancelled');

  await page.getByTestId('lab.examplesCount').fill('8');
  await page.getByTestId('lab.curveRun').click();
  await expect(page.getByTestId('lab.curve')).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('lab.curveRun')).toBeEnabled({ timeout: 180_000 });

  // epsilon 0 is the clean accuracy, for PGD and for random noise.
  const rows = await page.getByTestId('lab.row').allInnerTexts();
  const zero = rows.filter((r) => /epsilon 0[^.]/.test(r));
  expect(zero).toHaveLength(2);
  for (const r of zero) {
    const [clean, attacked] = [...r.matchAll(/(\d+\.\d)%/g)].map((m) => m[1]);
    expect(attacked).toBe(clean);
  }

  await page.evaluate(() => (window as unknown as AlumWindow).alum.compare({ method: 'alum' }));
  await alum.waitForStep(1);
  await page.getByTestId('lab.attack').selectOption('pgd');
  await page.getByTestId('lab.run').click();
  await expect(page.getByTestId('lab.row')).toHaveCount(rows.length + 1, { timeout: 60_000 });
  const names = (await page.getByTestId('lab.row').allInnerTexts()).map((r) => r.split(' @ ')[0]);
  expect(new Set(names).size).toBe(2);
});

/**
 * Saved runs in IndexedDB: a run trained on a loaded data file is saved, survives a reload, resumes from its
 * checkpoint with its metric rows continuous, and can be renamed and deleted from the runs list.
 */
import { expect, test, type MetricRow } from './fixtures.ts';
import type { AlumAutomationApi } from '../src/ui/automation.ts';
import type { SavedRunInfo } from '../src/protocol/messages.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&evalEvery=0&backend=wasm';

type AlumWindow = Window & { alum: AlumAutomationApi };

/** A small two-label TSV, loaded as the "Load data" input would. */
const words = ['free', 'cash', 'prize', 'win', 'cat', 'mat', 'noon', 'lunch', 'dog', 'meeting'];
const data = {
  name: 'toy.tsv',
  text: [
    'sentence\tlabel',
    ...Array.from({ length: 30 }, (_, i) => {
      const spam = i % 2 === 0;
      const w = words[(i * 3 + (spam ? 0 : 4)) % words.length] ?? 'x';
      return `${spam ? 'win free' : 'see the'} ${w} ${i}\t${spam ? 'spam' : 'ham'}`;
    }),
  ].join('\n'),
};

test('a saved run survives a reload, resumes from its checkpoint, and can be renamed and deleted', async ({
  page,
  alum,
  charts,
}) => {
  await alum.open(QUERY);
  await page.evaluate((d) => (window as unknown as AlumWindow).alum.loadData(d), data);
  await alum.step(3);
  await alum.waitForStep(3);
  await expect.poll(async () => (await alum.state()).status).toBe('ready');
  await expect.poll(async () => (await alum.runs()).map((r) => r.step)).toEqual([3]); // saved when it settled
  const before: MetricRow[] = await alum.metrics();
  expect(before.map((r) => r.step)).toEqual([1, 2, 3]);
  await expect(page.getByTestId('runs.row')).toHaveAttribute('aria-current', 'true');

  await page.reload();
  await page.waitForFunction(() => 'alum' in window);
  const row = page.getByTestId('runs.row');
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('runs.step')).toHaveText('3 / 40');
  await expect(row).toContainText('toy.tsv');
  await expect(page.getByTestId('runs.storage')).toContainText(/Storage used: \d/);
  expect((await alum.state()).status).toBe('idle');

  await row.getByTestId('runs.resume').click();
  await expect.poll(async () => (await alum.state()).status).toBe('paused');
  expect((await alum.state()).step).toBe(3);
  expect(await alum.metrics()).toEqual(before); // the rows up to the checkpoint, as they were
  await expect(row).toHaveAttribute('aria-current', 'true');

  await alum.step(2);
  await alum.waitForStep(5);
  expect((await alum.metrics()).map((r) => r.step)).toEqual([1, 2, 3, 4, 5]); // continuous
  await expect.poll(() => charts.points('loss')).toBe(5);
  await expect.poll(async () => (await alum.runs()).map((r) => r.step)).toEqual([5]);

  await row.getByTestId('runs.rename').click();
  await row.getByTestId('runs.name-input').fill('my toy run');
  await row.getByTestId('runs.rename-save').click();
  await expect(row.getByTestId('runs.name')).toContainText('my toy run');
  await alum.step(1); // a later checkpoint keeps the new name
  await alum.waitForStep(6);
  await expect
    .poll(async () => (await alum.runs()).map((r: SavedRunInfo) => [r.name, r.step]))
    .toEqual([['my toy run', 6]]);

  await row.getByTestId('runs.delete').click();
  await expect(page.getByTestId('runs.row')).toHaveCount(0);
  expect(await alum.runs()).toEqual([]);
  await expect(page.getByTestId('runs.problem')).toHaveCount(0);
});

/**
 * Compare mode on real WebGPU (SwiftShader here), nano model: a run with a mid-run lr change (marked on the
 * charts), then a second run beside it from `alum.compare` (same seed, data, initial weights; standard
 * method); every chart overlays both, the dev chart shows the majority-class line, the CSV export holds the
 * rows the chart's table shows, the run summary appears, and the console stays free of errors.
 */
import { expect, test } from './fixtures.ts';
import type { AlumAutomationApi, LiveRun } from '../src/ui/automation.ts';

// WebGPU on purpose (forced: the default is the fastest backend here, which may be wasm).
const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=12&evalEvery=3&backend=webgpu';
const CHARTS = [
  'loss',
  'dev',
  'trainAccuracy',
  'ascent',
  'innerGrad',
  'delta',
  'gradSplit',
  'skipped',
  'time',
] as const;

type AlumWindow = Window & { alum: AlumAutomationApi };

test('compare mode: two runs overlaid, a marked lr change, CSV = rows shown', async ({ page, alum }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  const liveRuns = () => page.evaluate(() => (window as unknown as AlumWindow).alum.liveRuns());
  const statuses = async () => (await liveRuns()).map((r: LiveRun) => r.status);

  await alum.open(QUERY);
  await expect.poll(async () => (await alum.state()).backend).toBe('webgpu');
  await alum.start();
  await alum.waitForStep(4);
  await page.evaluate(() => (window as unknown as AlumWindow).alum.applyConfig({ lr: 5e-4 }));
  await expect.poll(statuses, { timeout: 180_000 }).toEqual(['done']);
  const [first] = await liveRuns();
  expect(first?.changes).toHaveLength(1);
  expect(first?.changes[0]?.changed).toEqual({ lr: 5e-4 });
  await expect(page.getByTestId('chart.loss')).toHaveAttribute('data-markers', '1');
  await expect(page.getByTestId('run.summary')).toBeVisible();

  await page.evaluate(() => (window as unknown as AlumWindow).alum.compare({ method: 'standard' }));
  await expect.poll(statuses, { timeout: 180_000 }).toEqual(['done', 'done']);
  const runs = await liveRuns();
  expect(runs.map((r) => [r.name, r.rows])).toEqual([
    ['run 1', 12],
    ['run 2: method=standard', 12],
  ]);
  expect(runs[1]?.config.seed).toBe(runs[0]?.config.seed);

  for (const name of CHARTS) {
    const chart = page.getByTestId(`chart.${name}`);
    await expect(chart.locator('canvas').first()).toBeVisible();
    await expect(chart, name).toHaveAttribute('data-runs', '2');
  }
  await expect(page.getByTestId('chart.loss')).toHaveAttribute('data-points', '12');
  await expect(page.getByTestId('chart.dev')).toHaveAttribute('data-points', '4'); // steps 3, 6, 9, 12
  const majority = Number(await page.getByTestId('chart.dev').getAttribute('data-ref'));
  expect(majority).toBeGreaterThan(0.5);
  expect(majority).toBeLessThan(1);
  await expect(page.getByTestId('compare.runs').locator('tbody tr')).toHaveCount(2);

  // The CSV export holds exactly the rows the loss chart's table shows (the active run: run 2).
  await page.getByTestId('chart.loss').locator('xpath=..').getByText('Table').click();
  const csv = await page.evaluate(() => (window as unknown as AlumWindow).alum.exportMetrics('csv'));
  const csvSteps = csv
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',')[0]);
  const cells = page.getByTestId('chart.loss.table').locator('tbody tr td:first-child');
  await expect(cells).toHaveCount(csvSteps.length);
  const tableSteps = await cells.allTextContents();
  expect(csvSteps).toEqual(tableSteps);
  const all = await page.evaluate(() => (window as unknown as AlumWindow).alum.exportAllMetrics('csv'));
  expect(all.trimEnd().split('\n')).toHaveLength(1 + 24);

  expect(errors).toEqual([]);
});

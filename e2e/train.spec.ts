/**
 * The main path on real WebGPU (SwiftShader here): Start trains, the charts draw, Pause holds, Step advances
 * by exactly one, Reset clears; a chart off screen draws when it scrolls into view.
 */
import { allFinite, expect, test } from './fixtures.ts';

/** A nano model on short inputs: seconds per step on CPU-emulated WebGPU (forced: auto may pick wasm). */
const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&evalEvery=10&backend=webgpu';

test('trains with ALUM on webgpu: charts, pause, step, reset', async ({ page, alum, controls, charts }) => {
  await alum.open(QUERY);
  await expect.poll(async () => (await alum.state()).backend).toBe('webgpu');
  expect((await alum.state()).config).toMatchObject({ method: 'alum', model: 'nano', steps: 40 });

  await controls.start.click();
  const s = await alum.waitForStep(10);
  expect(s.error).toBeNull();
  expect(s.paramCount).toBeGreaterThan(0);

  await expect.poll(async () => (await alum.metrics()).length).toBeGreaterThanOrEqual(10);
  const rows = await alum.metrics();
  expect(allFinite(rows.map((r) => r.taskLoss))).toBe(true);
  expect(allFinite(rows.map((r) => r.advLoss))).toBe(true);
  // ALUM: the adversarial term is positive on every row, unless that row's batch was skipped (non-finite gradient).
  const skippedAt = rows.map((r, i) => r.skipped > (rows[i - 1]?.skipped ?? 0));
  expect(rows.filter((r, i) => !(r.advLoss > 0) && !skippedAt[i])).toEqual([]);

  // advDropout `same` (the default): the masks alone give nothing; what the term shows is the perturbation's.
  expect(rows.every((r) => r.dropoutKl === 0)).toBe(true);
  // The perturbation moves the prediction: the inner loss after the ascent is above the one at delta_0.
  expect(rows.filter((r) => !(r.klAdv > r.klInit))).toEqual([]);
  for (const name of ['loss', 'ascent', 'delta'] as const) {
    await expect(charts.canvas(name).first()).toBeVisible();
    await expect.poll(() => charts.points(name)).toBeGreaterThanOrEqual(10);
  }
  await expect(page.getByTestId('metrics.latest.taskLoss')).not.toContainText('—');

  // Pause holds: no step for 2 s once the worker reports paused.
  await controls.pause.click();
  await expect.poll(async () => (await alum.state()).status).toBe('paused');
  const paused = (await alum.state()).step;
  await page.waitForTimeout(2000);
  expect((await alum.state()).step).toBe(paused);

  // Step advances by exactly one, then pauses again.
  await controls.step.click();
  await alum.waitForStep(paused + 1);
  await expect.poll(async () => (await alum.state()).status).toBe('paused');
  expect((await alum.state()).step).toBe(paused + 1);
  expect((await alum.metrics()).at(-1)?.step).toBe(paused + 1);

  // Reset clears the run and the charts.
  await controls.reset.click();
  await expect.poll(async () => (await alum.state()).step).toBe(0);
  await expect.poll(async () => (await alum.metrics()).length).toBe(0);
  await expect.poll(() => charts.points('loss')).toBe(0);
  await expect.poll(async () => (await alum.state()).status).toBe('ready');
});

test('a chart below the fold is laid out, painted and drawn when it scrolls into view, not on every step', async ({
  alum,
  controls,
  charts,
}) => {
  await alum.open(QUERY);
  await expect.poll(async () => (await alum.state()).backend).toBe('webgpu');
  const delta = charts.chart('delta');
  const below = () => delta.evaluate((el) => el.getBoundingClientRect().top > window.innerHeight);
  expect(await below()).toBe(true); // 1280 x 720: the loss chart is the only one in view
  expect(await charts.rendered('delta')).toBe(false); // content-visibility: auto skips it
  expect(await charts.rendered('loss')).toBe(true);
  await controls.start.click();
  await alum.waitForStep(4);
  await controls.pause.click();
  await expect.poll(async () => (await alum.state()).status).toBe('paused');
  const points = await charts.points('delta');
  expect(points).toBeGreaterThanOrEqual(4);
  expect(await charts.drawnPoints('delta')).toBeLessThan(points);
  await delta.scrollIntoViewIfNeeded();
  await expect.poll(() => charts.drawnPoints('delta')).toBe(points);
  expect(await charts.rendered('delta')).toBe(true);
  await expect.poll(() => charts.drawnPoints('loss')).toBe(await charts.points('loss'));
});

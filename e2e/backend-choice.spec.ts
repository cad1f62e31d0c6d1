/**
 * The fastest backend, not the first that works: the default page (no `?backend=`) calibrates on the model,
 * lists each backend's ms per step or why it was skipped (SwiftShader's WebGPU and WebGL here are named software
 * adapters) and keeps the fastest; the backend menu overrides it like `?backend=`, without a reload: the run
 * pauses and goes on from its step; the progress bar and the time left show while it trains.
 */
import { allFinite, collectErrors, expect, test } from './fixtures.ts';

/** Steps enough that the run is still training when the menu switches (wasm does ~25 a second here). */
const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=2000&evalEvery=0';
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

/** Each timed backend's ms per step in a calibration reason. */
function stepTimes(reason: string): Map<string, number> {
  const times = [...reason.matchAll(/(webgpu|webgl|wasm|cpu) ([\d,]+) ms\/step/g)];
  return new Map(times.map((m) => [m[1] as string, Number((m[2] as string).replace(/,/g, ''))]));
}

test('the default page calibrates, picks the fastest, and the menu overrides it', async ({
  page,
  alum,
  controls,
}) => {
  const errors = collectErrors(page);
  await alum.open(QUERY);
  const menu = page.getByTestId('status.backendMenu');
  await expect(menu).toHaveValue('auto');
  await expect.poll(async () => (await alum.state()).backend, { timeout: 60_000 }).not.toBeNull();
  const chosen = await alum.state();
  const reason = chosen.backendReason ?? '';
  expect(reason).toMatch(/^fastest for model nano \(timed at \d+ × \d+ tokens\): /);
  for (const b of BACKENDS)
    expect(reason).toMatch(new RegExp(`${b} ([\\d,]+ ms/step|skipped \\(|failed \\()`));
  expect(reason).toMatch(/webgpu [^;]*software adapter \(/); // SwiftShader, named as such
  const times = stepTimes(reason);
  expect(times.get(chosen.backend ?? '')).toBe(Math.min(...times.values()));
  expect(reason).toMatch(new RegExp(`; chose ${chosen.backend}$`));
  await expect(page.getByTestId('status.backendReason')).toContainText(`chose ${chosen.backend}`);

  await controls.start.click();
  await alum.waitForStep(3);
  const progress = page.getByTestId('controls.progress').locator('progress');
  await expect(progress).toHaveAttribute('max', '2000');
  await expect(progress).toHaveAttribute('aria-label', 'Training progress');
  await expect(progress).toHaveAttribute('aria-valuetext', /^step \d+ of 2000(, \d+ (s|min \d+ s) left)?$/);
  await expect(page.getByTestId('controls.timeLeft')).toHaveText(/^\d+ (s|min \d+ s) left$/);

  // The menu forces another backend: same worker, the run pauses and then trains on from its step.
  const other = chosen.backend === 'wasm' ? 'cpu' : 'wasm';
  await menu.selectOption(other);
  await expect(page).toHaveURL(new RegExp(`[?&]backend=${other}(&|$)`));
  await expect.poll(async () => (await alum.state()).backend).toBe(other);
  const forced = await alum.state();
  expect(forced.backendReason).toBe(`forced by the backend option (${other})`);
  expect(forced.status).toBe('paused');
  await controls.start.click();
  await alum.waitForStep(forced.step + 2);
  const rows = await alum.metrics();
  expect(rows.map((r) => r.step)).toEqual(rows.map((_, i) => i + 1)); // no step lost or repeated
  expect(allFinite(rows.map((r) => r.taskLoss))).toBe(true);

  // Back to auto: calibrated again, and the URL drops `backend`.
  await menu.selectOption('auto');
  await expect.poll(async () => (await alum.state()).backendReason).toMatch(/^fastest for model nano/);
  expect(page.url()).not.toContain('backend=');
  expect(errors).toEqual([]);
});

/** Each fallback backend, forced with `?backend=`, trains a few finite steps. */
import { allFinite, expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&evalEvery=10';

for (const backend of ['webgl', 'wasm', 'cpu'] as const) {
  test(`trains 3 steps on the forced ${backend} backend`, async ({ alum }) => {
    await alum.open(`${QUERY}&backend=${backend}`);
    await alum.step(3);
    const s = await alum.waitForStep(3);
    expect(s.error).toBeNull();
    expect(s.backend).toBe(backend);
    expect(s.backendReason).toMatch(/forced/i);

    await expect.poll(async () => (await alum.metrics()).length).toBe(3);
    const rows = await alum.metrics();
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(allFinite(rows.map((r) => r.taskLoss))).toBe(true);
    expect(allFinite(rows.map((r) => r.advLoss))).toBe(true);
    // Stepping from a fresh run leaves it `ready`; from a paused one, `paused`. Either way it is idle again.
    await expect.poll(async () => (await alum.state()).status).toMatch(/^(ready|paused)$/);
  });
}

test('wasm runs its threaded SIMD build: the page is cross-origin isolated', async ({ alum, page }) => {
  const wasmFiles: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.endsWith('.wasm')) wasmFiles.push(path);
  });
  await alum.open(`${QUERY}&backend=wasm`);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true); // COOP + COEP from vite.config.ts
  await alum.step(1);
  expect((await alum.waitForStep(1)).backend).toBe('wasm');
  // tfjs-backend-wasm picks its build from the worker's SharedArrayBuffer and SIMD support.
  expect(wasmFiles.filter((f) => f.includes('tfjs-backend-wasm'))).toEqual([
    expect.stringMatching(/tfjs-backend-wasm-threaded-simd[^/]*\.wasm$/),
  ]);
});

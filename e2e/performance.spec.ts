// The performance panel: a short benchmark in the page's bench worker on wasm and cpu (fast here; webgpu on
// SwiftShader would take minutes), its rows in the panel, and the downloaded `{"rows": [...]}` file.
import { readFileSync } from 'node:fs';

import type { BenchRow } from '../src/protocol/bench.ts';
import { collectErrors, expect, test } from './fixtures.ts';

test('runs the short benchmark on wasm and cpu and downloads its JSON', async ({ page, alum }) => {
  const errors = collectErrors(page);
  await alum.open('?panels=performance');
  const panel = page.getByTestId('perf');
  await expect(panel).toHaveAttribute('open', '');
  await panel.getByTestId('perf.backend.webgpu').uncheck();
  await panel.getByTestId('perf.backend.wasm').check();
  await panel.getByTestId('perf.backend.cpu').check();
  await panel.getByTestId('perf.model').selectOption('nano');
  await panel.getByTestId('perf.run').click();
  await expect(panel.getByTestId('perf.cancel')).toBeEnabled();
  await expect(panel.getByTestId('perf.status')).toContainText('4 / 4 rows, done', { timeout: 180_000 });

  const rows = panel.getByTestId('perf.row');
  await expect(rows).toHaveCount(4);
  for (const row of await rows.all()) {
    const kernels = Number(await row.getAttribute('data-kernels'));
    const dispatches = Number(await row.getAttribute('data-dispatches'));
    expect(kernels).toBeGreaterThan(dispatches);
    expect(dispatches).toBeGreaterThan(0);
  }
  await expect(rows.first()).toContainText('dispatch');
  await expect(panel.getByTestId('perf.backend')).toHaveCount(2);
  await expect(panel.getByTestId('perf.backends')).toContainText('wasm');

  const download = page.waitForEvent('download');
  await panel.getByTestId('perf.download').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('alum-bench.json');
  const json = JSON.parse(readFileSync(await file.path(), 'utf8')) as { rows: BenchRow[]; userAgent: string };
  expect(json.userAgent).toContain('Chrome');
  expect(json.rows.map((r) => `${r.backend} ${r.method} ${r.k}`)).toEqual([
    'wasm standard 0',
    'wasm alum 1',
    'cpu standard 0',
    'cpu alum 1',
  ]);
  for (const r of json.rows) {
    expect(r).toMatchObject({ model: 'nano', batchSize: 4, maxLength: 32, steps: 2 });
    expect(r.msPerStep).toBeGreaterThan(0);
    expect(r.kernelsPerStep).toBeGreaterThan(r.dispatchesPerStep);
    expect(r.dispatchesPerStep).toBeGreaterThan(0);
    expect(r.bytesAllocatedPerStep).toBeGreaterThan(0);
    expect(r.matMul.gflops).toBeGreaterThan(0);
    expect(r.adapter.summary).toContain(r.backend);
    expect(r.msSplit.optimizer).toBeGreaterThan(0);
  }
  expect(json.rows[1]?.msSplit.innerLoop).not.toBeNull();
  expect(errors).toEqual([]);
});

test('cancel stops the benchmark before its next row', async ({ page, alum }) => {
  await alum.open('?panels=performance');
  const panel = page.getByTestId('perf');
  await panel.getByTestId('perf.backend.webgpu').uncheck();
  await panel.getByTestId('perf.backend.wasm').uncheck();
  await panel.getByTestId('perf.backend.cpu').check();
  await panel.getByTestId('perf.run').click();
  await panel.getByTestId('perf.cancel').click();
  await expect(panel.getByTestId('perf.status')).toContainText('cancelled', { timeout: 120_000 });
  await expect(panel.getByTestId('perf.run')).toBeEnabled();
});

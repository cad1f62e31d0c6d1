/**
 * A Hugging Face checkpoint in the page: the "Load model" input takes the torch.save fixture (a BertModel with
 * legacy names and no head), the run starts from it and trains; a hostile .bin is refused by name and the run
 * goes on; the exported zip loads back through `window.alum.loadModel`.
 */
import { readFileSync } from 'node:fs';

import { unzipSync } from 'fflate';

import type { AlumAutomationApi } from '../src/ui/automation.ts';
import { expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&backend=wasm';
const DIR = 'test/fixtures/hf-bin';
const file = (path: string, name = path.replace(/^.*\//, '')) => ({
  name,
  mimeType: 'application/octet-stream',
  buffer: readFileSync(`${DIR}/${path}`),
});
const LEGACY = ['config.json', 'vocab.txt', 'tokenizer_config.json', 'pytorch_model.bin'].map((f) =>
  file(`legacy/${f}`),
);

test('starts a run from a torch.save checkpoint, refuses a hostile one, reloads its export', async ({
  page,
  alum,
}) => {
  await alum.open(QUERY);
  await page.getByTestId('model.file').setInputFiles(LEGACY);
  await expect(page.getByTestId('model.name')).toContainText('loaded model');
  await alum.step(2);
  const s = await alum.waitForStep(2);
  expect(s.error).toBeNull();
  await expect(page.getByTestId('model.report')).toContainText('pytorch_model.bin');
  await expect(page.getByTestId('model.report')).toContainText('missing head initialised fresh: bert.pooler');
  await expect(page.getByTestId('model.report')).toContainText('ignored: cls.predictions.bias');

  await page
    .getByTestId('model.file')
    .setInputFiles([...LEGACY.slice(0, 3), file('hostile/os_system.bin', 'pytorch_model.bin')]);
  await expect(page.getByTestId('model.error')).toContainText(
    'pytorch_model.bin: pickle byte 183: refused global posix.system',
  );
  const after = await alum.state();
  expect(after.runId).toBe(s.runId); // the run is untouched
  expect(after.step).toBe(2);

  const zip = await page.evaluate(async () => {
    const blob = await (window as unknown as { alum: AlumAutomationApi }).alum.exportModel();
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  });
  const files = Object.entries(unzipSync(Uint8Array.from(zip))).map(([name, bytes]) => ({
    name: `exported/${name}`,
    bytes: Array.from(bytes),
  }));
  const report = await page.evaluate(async (fs) => {
    const api = (window as unknown as { alum: AlumAutomationApi }).alum;
    const check = await api.loadModel(fs.map((f) => ({ name: f.name, bytes: Uint8Array.from(f.bytes) })));
    return check.ok ? check.summary : check.message;
  }, files);
  expect(report).toMatch(/^exported \(model\.safetensors, F32, uncased vocab\.txt\): 41 tensors loaded$/);
  await expect(page.getByTestId('model.name')).toContainText('exported');
  await alum.step(1);
  expect((await alum.waitForStep(1)).error).toBeNull();
});

test('"Load model folder" reads the model files of a picked folder, safetensors first', async ({
  page,
  alum,
}) => {
  await alum.open(QUERY);
  await page.getByTestId('model.folder').setInputFiles(`${DIR}/f32`);
  await expect(page.getByTestId('model.name')).toHaveText('f32');
  await alum.step(1);
  expect((await alum.waitForStep(1)).error).toBeNull();
  await expect(page.getByTestId('model.report')).toContainText(
    'Run started from f32 (model.safetensors, F32, uncased vocab.txt): 41 tensors loaded',
  );
});

/** The user's own data in the page: a TSV through the "Load data" input, and a malformed file refused. */
import { expect, test } from './fixtures.ts';

const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=40&backend=wasm';

const positive = ['a lovely warm film', 'great acting and a fine story', 'i loved every minute', 'a joy'];
const negative = ['a dull and boring film', 'terrible acting', 'i hated every minute', 'a waste of time'];
const neutral = ['the film is ninety minutes long', 'it opens on friday', 'shot in london', 'in colour'];
const rows = [
  ...positive.map((t) => `${t}\tpos`),
  ...negative.map((t) => `${t}\tneg`),
  ...neutral.map((t) => `${t}\tneutral`),
];
const TSV = ['sentence\tlabel', ...rows, ...rows].join('\n') + '\n';

test('trains on a loaded TSV; a malformed file is named by line and the run goes on', async ({
  page,
  alum,
}) => {
  await alum.open(QUERY);
  await alum.step(1);
  await alum.waitForStep(1);
  const builtIn = (await alum.state()).runId;

  await page.getByTestId('data.file').setInputFiles({
    name: 'reviews.tsv',
    mimeType: 'text/tab-separated-values',
    buffer: Buffer.from(TSV),
  });
  await expect(page.getByTestId('data.name')).toContainText('reviews.tsv');
  await expect(page.getByTestId('data.name')).toContainText('labels pos, neg, neutral');
  await expect(page.getByTestId('status.data')).toContainText('reviews.tsv');
  const s = await alum.state();
  expect(s.runId).not.toBe(builtIn); // a new run on the file, at step 0
  await alum.step(2);
  expect((await alum.waitForStep(2)).error).toBeNull();

  await page.getByTestId('data.file').setInputFiles({
    name: 'bad.tsv',
    mimeType: 'text/tab-separated-values',
    buffer: Buffer.from('sentence\tlabel\nfine\tpos\nno label here\n'),
  });
  await expect(page.getByTestId('data.error')).toContainText(/^bad\.tsv:3: /);
  const after = await alum.state();
  expect(after.runId).toBe(s.runId); // the run on reviews.tsv is untouched
  expect(after.step).toBe(2);
  await expect(page.getByTestId('data.name')).toContainText('reviews.tsv');
});

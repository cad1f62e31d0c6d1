/** The config lives in the URL: edits are written there, a reload restores them, bad values are named. */
import { expect, test } from './fixtures.ts';

test('a field edit updates the URL and a reload restores it', async ({ page, alum, configForm }) => {
  await alum.open();
  await configForm.field('alpha').fill('2.5');
  await expect(page).toHaveURL(/[?&]alpha=2\.5(&|$)/);
  await configForm.field('model').selectOption('nano');
  await expect(page).toHaveURL(/[?&]model=nano(&|$)/);
  await configForm.field('method').selectOption('standard');
  await expect(page).toHaveURL(/[?&]method=standard(&|$)/);

  await page.reload();
  await page.waitForFunction(() => 'alum' in window);
  await expect(configForm.field('alpha')).toHaveValue('2.5');
  await expect(configForm.field('model')).toHaveValue('nano');
  await expect(configForm.field('method')).toHaveValue('standard');
  expect((await alum.state()).config).toMatchObject({ alpha: 2.5, model: 'nano', method: 'standard' });
  await expect(page.getByTestId('error')).toHaveCount(0);
});

test('the adversarial options round-trip through the form and the URL, booleans as true/false', async ({
  page,
  alum,
  configForm,
}) => {
  await alum.open('?advDropout=fresh&innerLoss=stable-kl');
  await expect(configForm.field('advDropout')).toHaveValue('fresh');
  await configForm.field('detachEmbedding').selectOption('true');
  await expect(page).toHaveURL(/[?&]detachEmbedding=true(&|$)/);
  await configForm.field('variant').selectOption('paper-raw');
  await configForm.field('norm').selectOption('l2');
  await configForm.field('innerReduction').selectOption('elementmean');
  await page.reload();
  await page.waitForFunction(() => 'alum' in window);
  expect((await alum.state()).config).toMatchObject({
    advDropout: 'fresh',
    innerLoss: 'stable-kl',
    detachEmbedding: true,
    variant: 'paper-raw',
    norm: 'l2',
    innerReduction: 'elementmean',
  });
  await expect(page.getByTestId('error')).toHaveCount(0);
});

test('an invalid edit shows the error next to the field and stages nothing', async ({
  page,
  alum,
  configForm,
}) => {
  await alum.open('?steps=40');
  await configForm.field('batchSize').fill('2.5');
  await expect(configForm.fieldError('batchSize')).toContainText('batchSize');
  await expect(configForm.field('batchSize')).toHaveAttribute('aria-invalid', 'true');
  expect((await alum.state()).config.batchSize).toBe(32);
  expect(page.url()).not.toContain('batchSize');

  await configForm.field('batchSize').fill('8');
  await expect(configForm.fieldError('batchSize')).toHaveCount(0);
  await expect(page).toHaveURL(/[?&]batchSize=8(&|$)/);
});

test('an invalid URL value shows an error naming the field and uses the default', async ({
  page,
  alum,
  configForm,
}) => {
  await alum.open('?alpha=abc&steps=40');
  await expect(page.getByTestId('error')).toContainText("'alpha'");
  await expect(configForm.field('alpha')).toHaveValue('1');
  await expect(configForm.field('steps')).toHaveValue('40');
  expect((await alum.state()).config).toMatchObject({ alpha: 1, steps: 40 });
});

test('window.alum.setConfig rejects a bad value with a message naming the field', async ({ alum }) => {
  await alum.open();
  await expect(alum.setConfig({ dropout: 2 })).rejects.toThrow(/'dropout'/);
  await alum.setConfig({ dropout: 0.2 });
  expect((await alum.state()).config.dropout).toBe(0.2);
});

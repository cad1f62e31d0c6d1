/** URL query <-> TrainConfig: round trips, defaults left out, and bad values named and dropped. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, FINETUNE_LR, PAGE_DEFAULT_CONFIG, type TrainConfig } from './coreConfig.ts';
import { NO_LESSON } from './lesson.ts';
import { formatQuery, parseQuery } from './urlConfig.ts';

describe('parseQuery', () => {
  it("gives the page's defaults for an empty query: the built-in pre-trained model", () => {
    expect(parseQuery('')).toEqual({
      config: PAGE_DEFAULT_CONFIG,
      backend: null,
      errors: [],
      lesson: NO_LESSON,
      data: 'spam-assassin',
    });
    expect(PAGE_DEFAULT_CONFIG).toMatchObject({ init: 'pretrained', model: 'tiny', lr: 1e-3 });
  });

  it('a model size with no built-in pre-trained model defaults to random weights at the from-scratch rate', () => {
    expect(parseQuery('?model=nano').config).toEqual({ ...DEFAULT_CONFIG, model: 'nano' });
    expect(parseQuery('?model=nano&lr=0.01').config).toMatchObject({ init: 'random', lr: 0.01 });
    const q = parseQuery('?model=nano&init=pretrained');
    expect(q.errors).toEqual([expect.stringContaining("no built-in pre-trained 'nano' model") as string]);
  });

  it('reads the built-in task, and names a bad one', () => {
    expect(parseQuery('?data=sotu-party').data).toBe('sotu-party');
    const q = parseQuery('?data=imdb&steps=40');
    expect(q.data).toBe('spam-assassin');
    expect(q.errors).toEqual([
      expect.stringContaining("'data' must be one of spam-assassin|sotu-party") as string,
    ]);
    expect(q.config.steps).toBe(40);
  });

  it('reads typed fields and the backend', () => {
    const q = parseQuery('?method=standard&alpha=2.5&model=nano&batchSize=4&variant=mtdnn-head&backend=wasm');
    expect(q.errors).toEqual([]);
    expect(q.backend).toBe('wasm');
    expect(q.config).toEqual({
      ...DEFAULT_CONFIG,
      method: 'standard',
      alpha: 2.5,
      model: 'nano',
      batchSize: 4,
      variant: 'mtdnn-head',
    });
  });

  it.each([
    ['?alpha=abc', 'alpha'],
    ['?batchSize=2.5', 'batchSize'],
    ['?dropout=0.95', 'dropout'],
    ['?model=huge', 'model'],
    ['?bogus=1', 'bogus'],
    ['?backend=tpu', 'backend'],
  ])('names the bad field of %s and keeps the defaults', (search, field) => {
    const q = parseQuery(`${search}&steps=40`);
    expect(q.errors).toHaveLength(1);
    expect(q.errors[0]).toContain(`'${field}'`);
    expect(q.config).toEqual({ ...PAGE_DEFAULT_CONFIG, steps: 40 }); // the good field still applies
  });
});

describe('formatQuery', () => {
  it('writes only what differs from the defaults, then the backend', () => {
    expect(formatQuery(PAGE_DEFAULT_CONFIG, null)).toBe('');
    expect(formatQuery({ ...PAGE_DEFAULT_CONFIG, alpha: 10, seed: 3 }, 'cpu')).toBe(
      '?alpha=10&seed=3&backend=cpu',
    );
    expect(formatQuery(DEFAULT_CONFIG, null)).toBe('?init=random');
    expect(formatQuery({ ...PAGE_DEFAULT_CONFIG, init: 'loaded', lr: FINETUNE_LR }, null)).toBe(
      '?lr=0.0001&init=loaded',
    );
    expect(formatQuery({ ...DEFAULT_CONFIG, model: 'nano' }, null)).toBe('?model=nano');
    expect(formatQuery(PAGE_DEFAULT_CONFIG, null, NO_LESSON, 'sotu-party')).toBe('?data=sotu-party');
  });

  it('round-trips through parseQuery', () => {
    const config: TrainConfig = {
      ...DEFAULT_CONFIG,
      method: 'standard',
      eta: 1e-7,
      sigma: 0,
      model: 'mini',
      lr: 3e-5,
      evalEvery: 0,
    };
    const q = parseQuery(formatQuery(config, 'webgl', NO_LESSON, 'sotu-party'));
    expect(q).toEqual({ config, backend: 'webgl', errors: [], lesson: NO_LESSON, data: 'sotu-party' });
  });
});

/** URL query <-> TrainConfig: round trips, defaults left out, and bad values named and dropped. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type TrainConfig } from './coreConfig.ts';
import { NO_LESSON } from './lesson.ts';
import { formatQuery, parseQuery } from './urlConfig.ts';

describe('parseQuery', () => {
  it('gives the defaults for an empty query', () => {
    expect(parseQuery('')).toEqual({ config: DEFAULT_CONFIG, backend: null, errors: [], lesson: NO_LESSON });
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
    expect(q.config).toEqual({ ...DEFAULT_CONFIG, steps: 40 }); // the good field still applies
  });
});

describe('formatQuery', () => {
  it('writes only what differs from the defaults, then the backend', () => {
    expect(formatQuery(DEFAULT_CONFIG, null)).toBe('');
    expect(formatQuery({ ...DEFAULT_CONFIG, alpha: 10, seed: 3 }, 'cpu')).toBe(
      '?alpha=10&seed=3&backend=cpu',
    );
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
    const q = parseQuery(formatQuery(config, 'webgl'));
    expect(q).toEqual({ config, backend: 'webgl', errors: [], lesson: NO_LESSON });
  });
});

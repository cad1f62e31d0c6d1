// Property tests of the URL state: any query string gives a valid config (every rejected parameter named on
// one line), never an exception; what formatQuery writes reads back to the same config and backend.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { BACKENDS, CONFIG_KEYS, pageDefaults, resolveConfig, type TrainConfig } from './coreConfig.ts';
import { NO_LESSON } from './lesson.ts';
import { formatQuery, parseQuery } from './urlConfig.ts';

const RUNS = { arbitrary: 2000, fields: 1000, roundTrip: 1000 } as const;

const keyArb = fc.oneof(fc.constantFrom(...CONFIG_KEYS, 'backend'), fc.string({ maxLength: 8 }));
const valueArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.double().map(String),
  fc.integer().map(String),
  fc.constantFrom(
    'true',
    'false',
    'NaN',
    'Infinity',
    '-0',
    '1e400',
    '',
    'alum',
    'standard',
    'nano',
    'wasm',
    'l2',
  ),
);
/** A query built from key=value pairs, URL-encoded like a browser would. */
const queryArb = fc
  .array(fc.tuple(keyArb, valueArb), { maxLength: 8 })
  .map((pairs) => `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`);

function expectValid(config: TrainConfig): void {
  // resolveConfig validates every field and the cross-field rules; a valid config resolves to itself.
  expect(resolveConfig({}, config)).toEqual(config);
}

describe('URL state under arbitrary input', () => {
  it(`parseQuery on arbitrary strings: a valid config, one-line errors, no exception (${RUNS.arbitrary} runs)`, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (search) => {
        const q = parseQuery(search);
        expectValid(q.config);
        for (const e of q.errors) expect(e).not.toMatch(/[\r\n]/);
        if (q.backend !== null) expect(BACKENDS).toContain(q.backend);
      }),
      { numRuns: RUNS.arbitrary },
    );
  });

  it(`parseQuery on config-shaped queries: bad fields are named and keep defaults (${RUNS.fields} runs)`, () => {
    fc.assert(
      fc.property(queryArb, (search) => {
        const q = parseQuery(search);
        expectValid(q.config);
        const named = new URLSearchParams(search);
        for (const e of q.errors) expect(e).not.toMatch(/[\r\n]/);
        // Every field left at something other than the page's default for its model size came from the query.
        const defaults = pageDefaults(q.config.model);
        for (const k of CONFIG_KEYS) if (q.config[k] !== defaults[k]) expect(named.has(k)).toBe(true);
      }),
      { numRuns: RUNS.fields },
    );
  });

  it(`formatQuery then parseQuery gives back the config and backend (${RUNS.roundTrip} runs)`, () => {
    fc.assert(
      fc.property(queryArb, fc.constantFrom(null, ...BACKENDS), (search, backend) => {
        const { config } = parseQuery(search);
        const again = parseQuery(formatQuery(config, backend));
        expect(again).toEqual({ config, backend, errors: [], lesson: NO_LESSON, data: 'spam-assassin' });
      }),
      { numRuns: RUNS.roundTrip },
    );
  });
});

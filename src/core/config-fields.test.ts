/** The form's rules (issue 7): decimal numbers only, steps bounded, and no config while any field is bad. */
import { describe, expect, it } from 'vitest';

import { checkConfigFields, DEFAULT_CONFIG, MAX_STEPS, validateConfigPatch } from './config.ts';

describe('number syntax', () => {
  it('takes decimal integers only for integer fields (0x10 is not seed 16)', () => {
    expect(validateConfigPatch({ seed: '16' })).toEqual({ seed: 16 });
    expect(validateConfigPatch({ seed: ' 16 ' })).toEqual({ seed: 16 });
    for (const text of ['0x10', '0b10', '0o20', '1e1', '16.0', '16.', 'banana']) {
      expect(() => validateConfigPatch({ seed: text }), text).toThrow(/^config field 'seed' must be/);
    }
    expect(() => validateConfigPatch({ seed: '0x10' })).toThrow(
      'config field \'seed\' must be a decimal integer, got "0x10"',
    );
    expect(() => validateConfigPatch({ steps: '1e3' })).toThrow(
      'config field \'steps\' must be an integer in decimal digits, got "1e3"',
    );
  });

  it('takes decimal notation with an exponent for real fields, nothing else', () => {
    expect(validateConfigPatch({ lr: '1e-3', alpha: '.5', eta: '2.', sigma: '+1E-5' })).toEqual({
      lr: 1e-3,
      alpha: 0.5,
      eta: 2,
      sigma: 1e-5,
    });
    for (const text of ['0x1', 'Infinity', '1e', '1..2', 'banana', '1,5']) {
      expect(() => validateConfigPatch({ lr: text }), text).toThrow(
        `config field 'lr' must be a finite number in decimal notation, got ${JSON.stringify(text)}`,
      );
    }
  });

  it('says a field is empty', () => {
    expect(() => validateConfigPatch({ lr: '' })).toThrow("config field 'lr' is empty");
    expect(() => validateConfigPatch({ batchSize: '  ' })).toThrow("config field 'batchSize' is empty");
  });

  it('bounds steps and evalEvery at MAX_STEPS (1e7 is refused)', () => {
    expect(MAX_STEPS).toBe(100_000);
    expect(validateConfigPatch({ steps: String(MAX_STEPS) })).toEqual({ steps: MAX_STEPS });
    expect(() => validateConfigPatch({ steps: '10000000' })).toThrow(
      "config field 'steps' must be in [1, 100000], got 10000000",
    );
    expect(() => validateConfigPatch({ steps: 1e7 })).toThrow("config field 'steps' must be in [1, 100000]");
    expect(() => validateConfigPatch({ evalEvery: MAX_STEPS + 1 })).toThrow("'evalEvery' must be in");
  });
});

describe('checkConfigFields', () => {
  it('gives the config when every field is valid', () => {
    const r = checkConfigFields({ lr: '2e-3', batchSize: '8' });
    expect(r.errors).toEqual({});
    expect(r.config).toEqual({ ...DEFAULT_CONFIG, lr: 2e-3, batchSize: 8 });
  });

  it('gives no config while any field is invalid, and one line per bad field', () => {
    const r = checkConfigFields({ alpha: 'banana', lr: '', batchSize: '99999', seed: '7' });
    expect(r.config).toBeNull();
    expect(r.errors).toEqual({
      alpha: 'config field \'alpha\' must be a finite number in decimal notation, got "banana"',
      lr: "config field 'lr' is empty",
      batchSize: "config field 'batchSize' must be in [1, 1024], got 99999",
    });
  });
});

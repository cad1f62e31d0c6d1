import { describe, expect, it } from 'vitest';

import { CONFIG_KEYS } from './coreConfig.ts';
import { CONFIG_HELP, FIELD_HELP, fieldLabel } from './help.ts';

describe('field help', () => {
  it('gives every config field a human label, symbol, official name, sensible values and extremes', () => {
    for (const key of CONFIG_KEYS) {
      const h = FIELD_HELP[key];
      expect(h, key).toBeDefined();
      for (const part of ['label', 'symbol', 'official', 'sensible', 'extremes'] as const)
        expect(h?.[part].trim(), `${key}.${part}`).not.toBe('');
      expect(CONFIG_HELP[key], key).toBeTruthy();
    }
  });

  it('labels fields for people, not by their code keys', () => {
    const labels = CONFIG_KEYS.map(fieldLabel);
    for (const [i, key] of CONFIG_KEYS.entries()) expect(labels[i], key).not.toBe(key);
    expect(new Set(labels).size).toBe(labels.length);
    expect(fieldLabel('lr')).toBe('Learning rate');
    expect(fieldLabel('batchSize')).toBe('Batch size');
  });
});

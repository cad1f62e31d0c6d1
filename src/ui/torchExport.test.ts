// The page's PyTorch zip: the real script (Vite `?raw`, the same bytes the CLI copies), the config, the README,
// and the model download's files under model/ when there is a model.
import { readFileSync } from 'node:fs';

import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import { DEFAULT_CONFIG } from '../core/config.ts';
import { torchZip } from './torchExport.ts';

const script = readFileSync(new URL('../core/export/train_alum.py', import.meta.url), 'utf8');

describe('torchZip', () => {
  it('holds train_alum.py byte for byte, config.json, README.md and the unpacked model', () => {
    const utf8 = new TextEncoder();
    const modelZip = zipSync({ 'config.json': utf8.encode('{}'), 'vocab.txt': utf8.encode('[PAD]\n') });
    const files = unzipSync(torchZip({ config: DEFAULT_CONFIG, modelZip }));
    expect(Object.keys(files).sort()).toEqual([
      'alum-torch/README.md',
      'alum-torch/config.json',
      'alum-torch/model/config.json',
      'alum-torch/model/vocab.txt',
      'alum-torch/train_alum.py',
    ]);
    expect(new TextDecoder().decode(files['alum-torch/train_alum.py'])).toBe(script);
    expect(JSON.parse(new TextDecoder().decode(files['alum-torch/config.json']))).toEqual(DEFAULT_CONFIG);
  });

  it('is the same bytes for the same inputs', () => {
    expect(torchZip({ config: DEFAULT_CONFIG })).toEqual(torchZip({ config: DEFAULT_CONFIG }));
  });
});

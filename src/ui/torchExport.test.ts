// The page's PyTorch zip: the real script (Vite `?raw`, the same bytes the CLI copies), the config, the README,
// and the model download's files under model/ when there is a model.
import { readFileSync } from 'node:fs';

import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import { DEFAULT_CONFIG } from '../core/config.ts';
import { exportTorchZip, torchZip, torchZipAsync } from './torchExport.ts';
import { appStore } from './store/store.ts';

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

  it('holds a streamed data file (bytes, no text) of over 8 MB, stored, zipped in pieces that yield to the page', async () => {
    const row = new TextEncoder().encode('"a sentence, quoted",1\n');
    const bytes = new Uint8Array(9 * 1024 * 1024 + row.length * 2);
    bytes.set(new TextEncoder().encode('sentence,label\n'));
    for (let at = 15; at + row.length <= bytes.length; at += row.length) bytes.set(row, at);
    const input = { config: DEFAULT_CONFIG, data: { name: 'big.csv', text: '', bytes } };
    const zipped = await torchZipAsync(input);
    const files = unzipSync(zipped);
    expect(files['alum-torch/data.csv']?.length).toBe(bytes.length);
    expect(Buffer.from(files['alum-torch/data.csv'] ?? []).equals(Buffer.from(bytes))).toBe(true);
    expect(Object.keys(files).sort()).toEqual(Object.keys(unzipSync(torchZip(input))).sort());
    expect(zipped.length, 'stored, not deflated').toBeGreaterThan(bytes.length);
  });

  it('is the same bytes for the same inputs', () => {
    expect(torchZip({ config: DEFAULT_CONFIG })).toEqual(torchZip({ config: DEFAULT_CONFIG }));
  });

  it("the page's export includes the data and dev files the page streamed (Files, no text)", async () => {
    const text = 'sentence,label\nbig file row,1\nanother row,0\n';
    const dev = { name: 'mine-dev.tsv', text: '', file: new Blob(['sentence,label\nheld out,1\n']) };
    appStore.setState({ stagedData: { name: 'big.tsv', text: '', file: new Blob([text]), dev } });
    const { blob } = await exportTorchZip();
    const files = unzipSync(new Uint8Array(await blob.arrayBuffer()));
    expect(new TextDecoder().decode(files['alum-torch/data.tsv'])).toBe(text);
    expect(new TextDecoder().decode(files['alum-torch/dev.tsv'])).toBe('sentence,label\nheld out,1\n');
  });
});

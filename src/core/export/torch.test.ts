// The PyTorch folder's assembly (pure): which files, config.json under our names, the README built from the
// same command list the Python tests run (src/cli/export-torch.test.ts), and one-line errors.
import { describe, expect, it } from 'vitest';

import { CONFIG_KEYS, DEFAULT_CONFIG, resolveConfig } from '../config.ts';
import {
  commandLine,
  configJson,
  dataFileName,
  NPROC,
  readme,
  SCRIPT_NAME,
  TORCH_COMMANDS,
  TORCHRUN_DEBIAN_ENV,
  torchExportFiles,
} from './torch.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe('torchExportFiles', () => {
  const config = resolveConfig({ batchSize: 8, variant: 'mtdnn-head', dropout: 0 });
  const model = ['config.json', 'model.safetensors', 'vocab.txt'].map((name) => ({
    name,
    bytes: utf8.encode(name),
  }));

  it('writes the script, config.json, README.md, the model under model/ and the data as data.<ext>', () => {
    const files = torchExportFiles({
      script: '# the script\n',
      config,
      model,
      data: { name: 'dir/My File.TSV', text: 'sentence\tlabel\n' },
    });
    expect(files.map((f) => f.name)).toEqual([
      SCRIPT_NAME,
      'config.json',
      'README.md',
      'model/config.json',
      'model/model.safetensors',
      'model/vocab.txt',
      'data.tsv',
    ]);
    const byName = new Map(files.map((f) => [f.name, f.bytes]));
    expect(text(byName.get(SCRIPT_NAME))).toBe('# the script\n');
    expect(text(byName.get('data.tsv'))).toBe('sentence\tlabel\n');
  });

  it('without a model, writes the vocabulary instead (ending in a newline)', () => {
    const files = torchExportFiles({ script: '', config, vocabText: '[PAD]\n[UNK]' });
    expect(files.map((f) => f.name)).toEqual([SCRIPT_NAME, 'config.json', 'README.md', 'vocab.txt']);
    expect(text(files[3]?.bytes)).toBe('[PAD]\n[UNK]\n');
  });

  it('config.json holds every config field under its config name, in the config order', () => {
    const json = JSON.parse(configJson(config)) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(CONFIG_KEYS);
    expect(json).toEqual({ ...config });
    expect(resolveConfig(json)).toEqual(config);
  });

  it('refuses a data file the script cannot read, in one line', () => {
    expect(() => dataFileName('notes.txt')).toThrow(
      /^notes\.txt: unsupported data file type \(expected \.csv, \.tsv, \.jsonl, \.json\)$/,
    );
    expect(dataFileName('a.JSONL')).toBe('data.jsonl');
  });

  it('refuses the relatives, which the script does not implement, in one line', () => {
    for (const method of ['r3f', 'fgm', 'pgd', 'freelb', 'smart'] as const) {
      expect(() => torchExportFiles({ script: '', config: { ...config, method } })).toThrow(
        new RegExp(
          `^export-torch: method ${method} is not exported \\(the script implements standard and alum;`,
        ),
      );
    }
    expect(torchExportFiles({ script: '', config: { ...config, method: 'standard' } })).toHaveLength(3);
  });
});

describe('README.md', () => {
  it('shows every command of TORCH_COMMANDS exactly, as one shell line in a code block', () => {
    const md = readme(DEFAULT_CONFIG, true, 'data.csv');
    for (const c of Object.values(TORCH_COMMANDS)) {
      expect(md).toContain('```sh\n' + commandLine(c.argv) + '\n```');
      expect(md).toContain(`### ${c.title}`);
    }
    expect(TORCH_COMMANDS.torchrun.argv).toEqual([
      'torchrun',
      '--nproc_per_node',
      String(NPROC),
      SCRIPT_NAME,
      '--out',
      'runs/torch',
    ]);
    const env = Object.entries(TORCHRUN_DEBIAN_ENV).map(([k, v]) => `${k}=${v}`);
    expect(md).toContain(`export ${env.join(' ')}`);
  });

  it('gives the effective batch and the per-process share', () => {
    const md = readme(resolveConfig({ batchSize: 64 }), false, null);
    expect(md).toContain('`batchSize` = 64 examples');
    expect(md).toContain(`(${64 / NPROC} per process with ${NPROC} processes)`);
    expect(md).toContain('give `--data FILE`');
    expect(md).toContain('random `tiny` BERT');
  });

  it('says what to give when the folder has neither a model nor a vocabulary (the page before any run)', () => {
    const files = torchExportFiles({ script: '', config: DEFAULT_CONFIG });
    expect(files.map((f) => f.name)).toEqual([SCRIPT_NAME, 'config.json', 'README.md']);
    expect(text(files[2]?.bytes)).toContain('- no model: give `--init DIR`');
  });
});

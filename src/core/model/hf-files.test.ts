import { describe, expect, it } from 'vitest';

import { modelFilesToRead } from './hf-files.ts';

describe('modelFilesToRead', () => {
  it('keeps the model files of a folder, by base name, and nothing else', () => {
    const folder = ['m/config.json', 'm/vocab.txt', 'm/pytorch_model.bin', 'm/tf_model.h5', 'm/README.md'];
    expect(modelFilesToRead(folder)).toEqual(['m/config.json', 'm/vocab.txt', 'm/pytorch_model.bin']);
  });

  it('drops pytorch_model.bin when model.safetensors is there, which the loader reads first', () => {
    expect(modelFilesToRead(['pytorch_model.bin', 'model.safetensors', 'config.json'])).toEqual([
      'model.safetensors',
      'config.json',
    ]);
  });

  it('keeps the index of a sharded checkpoint, so the loader can say it is not supported', () => {
    expect(
      modelFilesToRead(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors']),
    ).toEqual(['config.json', 'model.safetensors.index.json']);
  });
});

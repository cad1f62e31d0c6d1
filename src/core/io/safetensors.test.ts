import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { fixtureDir } from '../../../test/helpers/nano.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.ts';

describe('safetensors', () => {
  it('reads the numpy-written fixture and re-encodes it byte for byte', () => {
    const bytes = new Uint8Array(readFileSync(`${fixtureDir}/model.safetensors`));
    const file = decodeSafetensors(bytes);
    expect(file.tensors.size).toBe(41);
    expect(file.tensors.get('classifier.weight')?.shape).toEqual([2, 32]);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(encodeSafetensors(file.tensors, file.metadata)).toEqual(bytes);
  });

  it('round-trips F32, I32 and metadata', () => {
    const tensors = new Map<string, NamedArray>([
      ['b', { dtype: 'I32', shape: [3], data: Int32Array.from([1, -2, 3]) }],
      ['a', { dtype: 'F32', shape: [2, 2], data: Float32Array.from([0.5, -1, 2, 1e-8]) }],
      ['s', { dtype: 'F32', shape: [], data: Float32Array.from([7]) }],
    ]);
    const back = decodeSafetensors(encodeSafetensors(tensors, { k: 'v' }));
    expect(back.metadata).toEqual({ k: 'v' });
    expect([...back.tensors.keys()]).toEqual(['a', 'b', 's']);
    expect(back.tensors.get('a')?.data).toEqual(tensors.get('a')?.data);
    expect(back.tensors.get('s')?.shape).toEqual([]);
  });

  it('rejects malformed files with a one-line error naming the file', () => {
    expect(() => decodeSafetensors(new Uint8Array(4), 'x.safetensors')).toThrow('x.safetensors: too short');
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 100n, true);
    expect(() => decodeSafetensors(bad, 'y.safetensors')).toThrow(
      'y.safetensors: header length 100 does not fit',
    );
  });
});

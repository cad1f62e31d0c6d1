import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { fixtureDir } from '../../../test/helpers/nano.ts';
import { hfBinBytes, hfDtypes } from '../../../test/helpers/hf-bin.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  floatToHalf,
  halfToFloat,
  toFloat32,
  type NamedArray,
} from './safetensors.ts';

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

describe('safetensors dtypes and limits', () => {
  it('decodes F16, BF16 (infinities, subnormals, -0 included) and I64 exactly as torch gives them', () => {
    const file = decodeSafetensors(hfBinBytes('dtypes.safetensors'), 'dtypes.safetensors');
    const want = hfDtypes();
    for (const name of ['f32', 'f16', 'bf16', 'f16_inf']) {
      const t = file.tensors.get(name)!;
      expect(t.shape, name).toEqual(want[name]!.shape);
      expect(Array.from(toFloat32(t, name)), name).toEqual(want[name]!.values);
    }
    expect(Array.from(file.tensors.get('i64')!.data as BigInt64Array, Number)).toEqual(want['i64']!.values);
    expect(() => toFloat32(file.tensors.get('i64')!, 'i64')).toThrow('i64: dtype I64 where a floating-point');
  });

  it('halfToFloat covers every exponent class', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it('round-trips F16 and BF16 bits', () => {
    const bits = Uint16Array.from([0x3c00, 0x8001, 0x7c00]);
    const tensors = new Map<string, NamedArray>([
      ['h', { dtype: 'F16', shape: [3], data: bits }],
      ['b', { dtype: 'BF16', shape: [1, 3], data: bits }],
    ]);
    const back = decodeSafetensors(encodeSafetensors(tensors));
    expect(back.tensors.get('h')).toEqual(tensors.get('h'));
    expect(back.tensors.get('b')).toEqual(tensors.get('b'));
  });

  function withHeader(header: unknown, dataBytes = 0): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  }

  it.each([
    [{ t: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 'tensor \'t\' has unsupported dtype "F64"'],
    [{ t: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }, 'not a non-negative integer'],
    [
      { t: { dtype: 'F32', shape: [65536, 65536], data_offsets: [0, 16] } },
      'has more than 268435456 elements',
    ],
    [{ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 'data_offsets [0,4] do not match shape [2]'],
    [{ t: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 'data_offsets [8,16] do not match'],
    [{ t: { dtype: 'F32', shape: [1], data_offsets: ['0', 4] } }, 'malformed header entry (data_offsets)'],
    [[1, 2], 'header is not a JSON object'],
    [{ __metadata__: { a: 1 } }, "__metadata__ 'a' is not a string"],
  ])('refuses header %j before reading data', (header, message) => {
    expect(() => decodeSafetensors(withHeader(header, 8), 'h.safetensors')).toThrow(`h.safetensors: `);
    expect(() => decodeSafetensors(withHeader(header, 8), 'h.safetensors')).toThrow(message);
  });

  it('refuses a header length over 100 MB without reading it', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(() => decodeSafetensors(bytes, 'big.safetensors')).toThrow('over the 100000000-byte limit');
  });
});

describe('floatToHalf', () => {
  it('rounds to the nearest half (ties to even), as numpy astype(float16), and round-trips halves', () => {
    // numpy: np.float16(x).view(np.uint16) for each x
    const cases: [number, number][] = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to inf
      [1e-8, 0x0000],
      [5.960464477539063e-8, 0x0001], // smallest subnormal
      [1 + 2 ** -11, 0x3c00], // tie -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
      [0.1, 0x2e66],
    ];
    for (const [x, bits] of cases) expect(floatToHalf(x), String(x)).toBe(bits);
    for (let h = 0; h < 0x7c00; h += 37) expect(floatToHalf(halfToFloat(h))).toBe(h);
  });
});

describe('decodeSafetensors on a Node Buffer', () => {
  it("copies each tensor's own bytes (Buffer.slice would be a view of the whole file)", () => {
    const file = `${fixtureDir}/model.safetensors`;
    const fromBuffer = decodeSafetensors(readFileSync(file), file).tensors;
    const fromCopy = decodeSafetensors(new Uint8Array(readFileSync(file)), file).tensors;
    expect(fromBuffer.size).toBe(fromCopy.size);
    for (const [name, t] of fromCopy) {
      expect(Array.from(fromBuffer.get(name)?.data as Float32Array), name).toEqual(
        Array.from(t.data as Float32Array),
      );
    }
  });
});

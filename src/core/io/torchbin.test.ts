import { existsSync, rmSync } from 'node:fs';

import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import { hfBinBytes, hfDtypes, hfExpected } from '../../../test/helpers/hf-bin.ts';
import { decodeSafetensors, toFloat32 } from './safetensors.ts';
import { decodeTorchBin } from './torchbin.ts';

describe('decodeTorchBin (torch.save zip, restricted unpickler)', () => {
  it('reads f16, bf16, f32 and int64 tensors and strided views exactly as torch gives them', () => {
    const tensors = decodeTorchBin(hfBinBytes('dtypes.bin'), 'dtypes.bin');
    const want = hfDtypes();
    expect([...tensors.keys()].sort()).toEqual(Object.keys(want).sort());
    for (const [name, w] of Object.entries(want)) {
      const t = tensors.get(name)!;
      expect(t.shape, name).toEqual(w.shape);
      const got =
        t.dtype === 'I64' ? Array.from(t.data as BigInt64Array, Number) : Array.from(toFloat32(t, name));
      // toEqual tells -0 from 0: the conversion must be exact, sign included.
      expect(got, name).toEqual(w.values);
    }
    expect(tensors.get('transposed')!.dtype).toBe('F32');
    expect(tensors.get('bf16_view')!.dtype).toBe('BF16');
  });

  it('a state dict (OrderedDict with _metadata) gives the same tensors as the safetensors file', () => {
    const bin = decodeTorchBin(hfBinBytes('f32/pytorch_model.bin'));
    const st = decodeSafetensors(hfBinBytes('f32/model.safetensors')).tensors;
    expect([...bin.keys()].sort()).toEqual([...st.keys()].sort());
    for (const [name, t] of st) expect(bin.get(name), name).toEqual(t);
  });

  it('shares one storage between tied tensors', () => {
    const bin = decodeTorchBin(hfBinBytes('legacy/pytorch_model.bin'));
    expect(bin.get('cls.predictions.decoder.weight')).toEqual(bin.get('embeddings.word_embeddings.weight'));
    expect(bin.has('embeddings.LayerNorm.gamma')).toBe(true);
  });

  const hostile: [string, string][] = [
    ['os_system.bin', 'refused global posix.system'],
    ['eval.bin', 'refused global __builtin__.eval'],
    ['module.bin', 'refused global torch.nn.modules.linear.Linear'],
    ['truncated.bin', 'not a readable torch.save zip (truncated or corrupt?)'],
    ['short_storage.bin', "storage '0' holds 8 bytes, but its 16 F32 elements need 64"],
    ['huge_shape.bin', 'shape [1048576,1048576] has more than 268435456 elements'],
    ['broadcast.bin', "view of shape [8,4] has more elements than its storage '0' (4)"],
    ['legacy.bin', 'the legacy (pre-1.6, non-zip) torch.save format is not supported'],
  ];
  it.each(hostile)('refuses hostile/%s with one line naming the file, and runs nothing', (file, message) => {
    const marker = hfExpected().pwned_marker;
    rmSync(marker, { force: true });
    let error: unknown;
    try {
      decodeTorchBin(hfBinBytes(`hostile/${file}`), file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const text = (error as Error).message;
    expect(text.startsWith(`${file}: `)).toBe(true);
    expect(text).toContain(message);
    expect(text).not.toContain('\n');
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a zip without data.pkl, a bare pickle and a storage missing from the zip', () => {
    expect(() => decodeTorchBin(zipSync({ 'a/x': new Uint8Array(1) }), 'z.bin')).toThrow(
      'z.bin: a zip without data.pkl is not a torch.save checkpoint',
    );
    expect(() => decodeTorchBin(Uint8Array.from([0x80, 0x02, 0x7d, 0x2e]), 'p.bin')).toThrow(
      "p.bin: not a torch.save checkpoint (a zip archive starting with 'PK')",
    );
    // Drop data/0 from a valid archive: the persistent id names a storage the zip lacks.
    const small = hfBinBytes('hostile/os_system.bin');
    const files = Object.fromEntries(
      Object.entries(unzipSync(small)).filter(([name]) => !name.endsWith('/data/0')),
    );
    expect(() => decodeTorchBin(zipSync(files, { level: 0 }), 'm.bin')).toThrow("storage '0' has no entry");
    // The same with a line break in the archive's folder name (found by the fuzz suite): still one line.
    const renamed = Object.fromEntries(
      Object.entries(files).map(([n, b]) => [n.replace(/^[^/]*\//, 'arc\nhive/'), b]),
    );
    expect(() => decodeTorchBin(zipSync(renamed, { level: 0 }), 'm.bin')).toThrow(
      /^m\.bin: pickle byte \d+: storage '0' has no entry arc\\nhive\/data\/0 in the zip$/,
    );
  });
});

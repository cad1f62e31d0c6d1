// Property tests of the restricted unpickler and the torch.save reader: every input, arbitrary or a mutation
// of a real checkpoint, gives tensors or one Error line naming the file; nothing else is thrown, nothing hangs,
// and no tensor is larger than the bytes the input holds.
import fc from 'fast-check';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';

import { mutate, resultOrOneLineError } from '../../../test/helpers/fuzz.ts';
import { hfBinBytes } from '../../../test/helpers/hf-bin.ts';
import { PyDict, unpickle, type AllowedGlobal } from './pickle.ts';
import { decodeTorchBin } from './torchbin.ts';

/** numRuns per property (reported in the test names). */
const RUNS = { bytes: 1000, opcodes: 3000, mutated: 1500, pickle: 1500 } as const;

const DTYPES = hfBinBytes('dtypes.bin');
const entries = unzipSync(DTYPES);
const pklName = Object.keys(entries).find((n) => n.endsWith('data.pkl')) as string;
const PKL = entries[pklName] as Uint8Array;

/** Opcodes with plausible arguments, so that sequences reach deep into the machine. */
const op = fc.oneof(
  fc.constantFrom(
    [0x80, 2],
    [0x28],
    [0x7d],
    [0x5d],
    [0x29],
    [0x74],
    [0x85],
    [0x86],
    [0x87],
    [0x6c],
    [0x64],
    [0x61],
    [0x65],
    [0x73],
    [0x75],
    [0x4e],
    [0x88],
    [0x89],
    [0x30],
    [0x31],
    [0x32],
    [0x52],
    [0x62],
    [0x51],
    [0x94],
    [0x93],
    [0x2e],
    [0x63, ...new TextEncoder().encode('collections\nOrderedDict\n')],
    [0x63, ...new TextEncoder().encode('posix\nsystem\n')],
    [0x8c, 3, 0x61, 0x62, 0x63],
  ), // fmt: skip
  fc.tuple(fc.constantFrom(0x4b, 0x71, 0x68, 0x8a), fc.integer({ min: 0, max: 8 })).map(([o, a]) => [o, a]),
  fc.tuple(fc.constantFrom(0x4a, 0x58, 0x72, 0x6a, 0x42), fc.integer({ min: -2, max: 9 })).map(([o, n]) => {
    const b = new Uint8Array(5);
    b[0] = o;
    new DataView(b.buffer).setInt32(1, n, true);
    return Array.from(b);
  }),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
);
const opcodes = fc.array(op, { maxLength: 40 }).map((ops) => Uint8Array.from(ops.flat()));

const allowed = new Map<string, AllowedGlobal>([
  ['collections.OrderedDict', { reason: 'test', call: () => new PyDict() }],
]);

describe('unpickle and decodeTorchBin under arbitrary input', () => {
  it(`unpickle: opcode sequences give a value or one Error (${RUNS.opcodes} runs)`, () => {
    fc.assert(
      fc.property(opcodes, (data) => {
        resultOrOneLineError(
          () => unpickle(data, { origin: 'p.pkl', allowed, persistentLoad: () => 0 }),
          'p.pkl',
        );
      }),
      { numRuns: RUNS.opcodes },
    );
  });

  it(`unpickle: arbitrary bytes give a value or one Error (${RUNS.bytes} runs)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        resultOrOneLineError(() => unpickle(data, { origin: 'p.pkl', allowed }), 'p.pkl');
      }),
      { numRuns: RUNS.bytes },
    );
  });

  it(`decodeTorchBin: arbitrary bytes, and bytes after 'PK' (${RUNS.bytes} runs)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (data, zipMagic) => {
        const bytes = zipMagic ? Uint8Array.from([0x50, 0x4b, 3, 4, ...data]) : data;
        resultOrOneLineError(() => decodeTorchBin(bytes, 'f.bin'), 'f.bin');
      }),
      { numRuns: RUNS.bytes },
    );
  });

  const edits = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
    maxLength: 6,
  });

  it(`decodeTorchBin: mutations of a real checkpoint's zip (${RUNS.mutated} runs)`, () => {
    fc.assert(
      fc.property(edits, fc.option(fc.nat()), (e, cut) => {
        resultOrOneLineError(() => decodeTorchBin(mutate(DTYPES, e, cut), 'f.bin'), 'f.bin');
      }),
      { numRuns: RUNS.mutated },
    );
  });

  it(`decodeTorchBin: mutations of data.pkl in a valid zip; tensors never outgrow the storages (${RUNS.pickle} runs)`, () => {
    const storageBytes = Object.entries(entries)
      .filter(([n]) => n.includes('/data/'))
      .reduce((a, [, b]) => a + b.length, 0);
    fc.assert(
      fc.property(edits, fc.option(fc.nat()), (e, cut) => {
        const zip = zipSync({ ...entries, [pklName]: mutate(PKL, e, cut) }, { level: 0 });
        const out = resultOrOneLineError(() => decodeTorchBin(zip, 'f.bin'), 'f.bin');
        if (!(out instanceof Error)) {
          for (const t of out.values()) expect(t.data.byteLength).toBeLessThanOrEqual(storageBytes);
        }
      }),
      { numRuns: RUNS.pickle },
    );
  });
});

// Property tests of the safetensors reader: arbitrary bytes, arbitrary headers over arbitrary data, and
// mutations of a real file give tensors or one Error line naming the file; no tensor outgrows the input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { mutate, resultOrOneLineError } from '../../../test/helpers/fuzz.ts';
import { hfBinBytes } from '../../../test/helpers/hf-bin.ts';
import { decodeSafetensors } from './safetensors.ts';

/** numRuns per property (reported in the test names). */
const RUNS = { bytes: 2000, headers: 3000, mutated: 2000 } as const;

const REAL = hfBinBytes('dtypes.safetensors');

function withHeader(header: string, data: Uint8Array, claimed?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimed ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const dim = fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(2 ** 31, 2 ** 53, 1.5, '2', null));
const entry = fc.record(
  {
    dtype: fc.constantFrom('F32', 'F16', 'BF16', 'I32', 'I64', 'F64', 'U8', 7, null),
    shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.constant('x')),
    data_offsets: fc.oneof(
      fc.tuple(fc.integer({ min: -4, max: 80 }), fc.integer({ min: -4, max: 80 })),
      fc.anything(),
    ),
  },
  { requiredKeys: [] },
);
const header = fc.oneof(
  fc
    .dictionary(
      fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__metadata__')),
      fc.oneof(entry, fc.anything()),
      {
        maxKeys: 4,
      },
    )
    .map((h) => JSON.stringify(h)),
  fc.json(),
  fc.string({ maxLength: 40 }),
);

describe('decodeSafetensors under arbitrary input', () => {
  const check = (bytes: Uint8Array): void => {
    const out = resultOrOneLineError(() => decodeSafetensors(bytes, 'f.safetensors'), 'f.safetensors');
    if (!(out instanceof Error))
      for (const t of out.tensors.values()) expect(t.data.byteLength).toBeLessThanOrEqual(bytes.length);
  };

  it(`arbitrary bytes (${RUNS.bytes} runs)`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: RUNS.bytes });
  });

  it(`arbitrary headers over arbitrary data, true or false header lengths (${RUNS.headers} runs)`, () => {
    fc.assert(
      fc.property(
        header,
        fc.uint8Array({ maxLength: 96 }),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
        (h, d, n) => check(withHeader(h, d, n ?? undefined)),
      ),
      { numRuns: RUNS.headers },
    );
  });

  it(`mutations of a real file (${RUNS.mutated} runs)`, () => {
    const edits = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
      maxLength: 6,
    });
    fc.assert(
      fc.property(edits, fc.option(fc.nat()), (e, cut) => check(mutate(REAL, e, cut))),
      {
        numRuns: RUNS.mutated,
      },
    );
  });
});

// Dropout sites (dropout.ts) against x * philoxMask(seed + site) (philox.ts, checked against its own references in
// philox.test.ts): the same values bit for bit, for one pass, for batches stacked from several parts (each part as
// its own pass gives it), and with masks shared inside a step (made once, freed at its end).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { DropoutSites, NO_DROPOUT, withSharedMasks, type DropoutPass } from './dropout.ts';
import { philoxMask } from './philox.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SHAPES = [
  [4, 3],
  [2, 5, 6],
  [2, 2, 3, 3],
];
const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Sites 0 and 1 of a fresh pass over `x` (an encoder-style offset of 1000), as arrays. */
function twoSites(passes: readonly DropoutPass[], x: tf.Tensor): Float32Array[] {
  const sites = new DropoutSites(passes, 1000);
  const own = (t: tf.Tensor) => (t === x ? t.clone() : t); // no dropout returns x itself
  return tf
    .tidy(() => [own(sites.apply(x)), own(sites.apply(x))])
    .map((t) => {
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    });
}

/** x times the mask of seed + site (float32 products, as the Multiply kernel), at sites 0 and 1 of the same pass. */
function reference(pass: DropoutPass, x: tf.Tensor): Float32Array[] {
  const xs = x.dataSync() as Float32Array;
  return [0, 1].map((site) => {
    if (pass.rate === 0) return xs.slice();
    const mask = philoxMask(xs.length, pass.rate, pass.seed + 1000 + site);
    return xs.map((v, i) => v * (mask[i] as number));
  });
}

describe('DropoutSites', () => {
  it.each(SHAPES)('one pass: the mask of seed + site, bit for bit, x [%s, ...]', (...shape: number[]) => {
    const x = randn(shape, 1);
    expect(twoSites([{ rate: 0.3, seed: 11 }], x)).toEqual(reference({ rate: 0.3, seed: 11 }, x));
    expect(twoSites([NO_DROPOUT], x)).toEqual([x.dataSync(), x.dataSync()]);
    x.dispose();
  });

  const mixes: [string, DropoutPass[]][] = [
    [
      'the same pass twice',
      [
        { rate: 0.2, seed: 5 },
        { rate: 0.2, seed: 5 },
      ],
    ],
    [
      'two seeds',
      [
        { rate: 0.2, seed: 5 },
        { rate: 0.2, seed: 9 },
      ],
    ],
    ['a pass and no dropout', [{ rate: 0.5, seed: 5 }, NO_DROPOUT]],
    ['three parts', [{ rate: 0.2, seed: 5 }, NO_DROPOUT, { rate: 0.4, seed: 2 }]],
  ];
  it.each(mixes)('stacked parts, %s: each part as its own pass gives it', (_, passes) => {
    for (const shape of SHAPES) {
      const parts = passes.map((_, i) => randn(shape, 10 + i));
      const stacked = tf.concat(parts);
      const got = twoSites(passes, stacked);
      passes.forEach((pass, i) => {
        const want = reference(pass, parts[i] as tf.Tensor);
        const n = want[0]?.length as number;
        got.forEach((site, s) => expect(site.slice(i * n, (i + 1) * n)).toEqual(want[s]));
      });
      tf.dispose([...parts, stacked]);
    }
  });

  it('rows that do not split into the parts: a one-line error', () => {
    const x = tf.zeros([3, 2]);
    const sites = new DropoutSites([{ rate: 0.1, seed: 1 }, NO_DROPOUT]);
    expect(() => sites.apply(x)).toThrow('dropout: 3 rows do not split into 2 stacked parts');
    x.dispose();
  });
});

describe('freshMask (through a site)', () => {
  it.each([0.1, 0.25, 0.5, 0.9])('is the Philox mask bit for bit at rate %f, many draws', (rate) => {
    const x = tf.ones([3, 50, 40]);
    const got = twoSites([{ rate, seed: 77 }], x);
    expect(got).toEqual(reference({ rate, seed: 77 }, x));
    const kept = (got[0] as Float32Array).filter((v) => v !== 0).length / (got[0] as Float32Array).length;
    expect(Math.abs(kept - (1 - rate))).toBeLessThan(0.05);
    x.dispose();
  });
});

describe('withSharedMasks', () => {
  /** Kernel names of `work`. */
  async function kernels(work: () => void): Promise<string[]> {
    const info = await tf.profile(() => {
      work();
      return [];
    });
    return info.kernels.map((k) => k.name);
  }

  it('makes a mask once for every pass that draws it, the same values, and frees it at the end', async () => {
    const x = randn([2, 4, 6], 3);
    const pass = { rate: 0.25, seed: 4 };
    const want = reference(pass, x)[0] as Float32Array;
    const before = tf.memory().numTensors;
    const seen: Float32Array[] = [];
    let held = 0;
    const names = await kernels(() =>
      withSharedMasks(() => {
        for (let i = 0; i < 3; i++) {
          const y = new DropoutSites([pass], 1000).apply(x);
          seen.push(y.dataSync() as Float32Array);
          y.dispose();
        }
        held = tf.memory().numTensors - before;
      }),
    );
    expect(seen).toEqual([want, want, want]);
    expect(held).toBe(1); // one mask, made on the CPU (no kernel) and kept for the step
    expect(names).toEqual(['Multiply', 'Multiply', 'Multiply']); // applied three times
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('keeps masks of other seeds or shapes apart', () => {
    const x = randn([2, 3], 3);
    const y = randn([4, 3], 4);
    const before = tf.memory().numTensors;
    let held = 0;
    withSharedMasks(() => {
      const out = [
        new DropoutSites([{ rate: 0.25, seed: 4 }]).apply(x),
        new DropoutSites([{ rate: 0.25, seed: 5 }]).apply(x),
        new DropoutSites([{ rate: 0.25, seed: 4 }]).apply(y),
      ];
      tf.dispose(out);
      held = tf.memory().numTensors - before;
    });
    expect(held).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});

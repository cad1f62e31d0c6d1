// The bench's one measurement (src/core/bench/measure.ts): rows on the cpu backend, the ms split, the matMul
// rate's flop count, the adapter's description from a WebGPU adapter's info, and no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  adapterDescription,
  benchBackend,
  describeAdapter,
  gflops,
  matMulRate,
  matMulSize,
  parseVariants,
  splitMs,
  tableLine,
  VARIANTS,
  type NavigatorLike,
} from './measure.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** GPUAdapterInfo as browsers give it: read-only getters on the prototype, nothing of its own to spread. */
class FakeAdapterInfo {
  get vendor() {
    return 'nvidia';
  }
  get architecture() {
    return 'hopper';
  }
  get device() {
    return '';
  }
  get description() {
    return 'NVIDIA H200';
  }
  get isFallbackAdapter() {
    return false;
  }
}

const fakeNavigator = (adapter: object | null, userAgent = 'TestAgent/1'): NavigatorLike => ({
  userAgent,
  gpu: { requestAdapter: () => Promise.resolve(adapter) },
});

describe('the ms split and the matMul rate', () => {
  it('splits an ALUM step into inner loop, outer gradient (the standard row) and optimizer', () => {
    // 120.26 ms less 20 ms optimizer = 100.26 gradient ms; the standard step's gradient is 40.04 ms.
    expect(splitMs(20, 100.26, 40.04)).toEqual({ innerLoop: 60.2, outerGradient: 40, optimizer: 20 });
    expect(splitMs(20, 30, 40)).toEqual({ innerLoop: 0, outerGradient: 40, optimizer: 20 });
    expect(splitMs(7.5, 30, null)).toEqual({ innerLoop: null, outerGradient: null, optimizer: 7.5 });
  });

  it('counts 2 n^3 flops per square matMul', () => {
    // 2 * 1024^3 = 2,147,483,648 flops in 1 s; 3 of 2048 (17,179,869,184 each) in 2 s.
    expect(gflops(1024, 1, 1000)).toBeCloseTo(2.147483648, 12);
    expect(gflops(2048, 3, 2000)).toBeCloseTo(25.769803776, 12);
  });

  it('times 2048 only on a real GPU, 512 on the plain-JS cpu backend', () => {
    const gpu = adapterDescription('webgpu', { vendor: 'nvidia', isFallbackAdapter: false }, null);
    const soft = adapterDescription('webgpu', { vendor: 'google', isFallbackAdapter: true }, null);
    expect(matMulSize('webgpu', gpu)).toBe(2048);
    expect(matMulSize('webgpu', soft)).toBe(1024);
    expect(matMulSize('wasm', adapterDescription('wasm', null, null))).toBe(1024);
    expect(matMulSize('cpu', adapterDescription('cpu', null, null))).toBe(512);
  });

  it('measures a matMul rate on the backend, leaving no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const rate = await matMulRate(64, 20, 5);
    expect(tf.memory().numTensors).toBe(before);
    expect(rate.size).toBe(64);
    expect(rate.ms).toBeGreaterThan(0);
    // gflops is 2 * 64^3 / (ms * 1e6), from the unrounded ms: within the rounding of both.
    expect(rate.gflops).toBeCloseTo((2 * 64 ** 3) / (rate.ms * 1e6), 1);
  });
});

describe('the adapter description', () => {
  it('reads a WebGPU adapter info whose fields are prototype getters', async () => {
    const d = await describeAdapter('webgpu', fakeNavigator({ info: new FakeAdapterInfo() }));
    expect(d).toEqual({
      summary: 'webgpu: nvidia / hopper / NVIDIA H200',
      vendor: 'nvidia',
      architecture: 'hopper',
      device: null,
      description: 'NVIDIA H200',
      isFallbackAdapter: false,
    });
  });

  it('takes isFallbackAdapter from the adapter and info from requestAdapterInfo on older browsers', async () => {
    const old = {
      isFallbackAdapter: true,
      requestAdapterInfo: () => Promise.resolve({ vendor: 'google', architecture: 'swiftshader' }),
    };
    const d = await describeAdapter('webgpu', fakeNavigator(old));
    expect(d.summary).toBe('webgpu: google / swiftshader (fallback adapter)');
    expect(d.isFallbackAdapter).toBe(true);
  });

  it('names the backend and the user agent for the others, and for webgpu without an adapter', async () => {
    expect((await describeAdapter('wasm', fakeNavigator(null))).summary).toBe('wasm on TestAgent/1');
    expect((await describeAdapter('webgpu', fakeNavigator(null))).summary).toBe('webgpu on TestAgent/1');
    expect((await describeAdapter('cpu', {})).summary).toBe('cpu');
  });
});

describe('benchBackend on cpu', () => {
  const shape = { batchSize: 2, maxLength: 8, steps: 1 };
  const variants = parseVariants('standard,alum1');

  it('gives one row per model x method with kernels, bytes, split, matMul rate and adapter', async () => {
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    const rows = await benchBackend('cpu', ['nano'], variants, shape, (r) => seen.push(`${r.method}${r.k}`));
    expect(tf.memory().numTensors).toBe(before);
    expect(seen).toEqual(['standard0', 'alum1']);
    const [standard, alum] = rows;
    if (!standard || !alum) throw new Error('two rows expected');
    for (const r of rows) {
      expect(r).toMatchObject({ backend: 'cpu', model: 'nano', batchSize: 2, maxLength: 8, steps: 1 });
      expect(r.kernelsPerStep).toBeGreaterThan(r.dispatchesPerStep);
      expect(r.dispatchesPerStep).toBeGreaterThan(0);
      expect(r.bytesAllocatedPerStep).toBeGreaterThan(0);
      expect(r.tensorsLeakedPerStep).toBe(0);
      expect(r.matMul).toBe(standard.matMul); // one rate per backend, measured once
      expect(r.matMul.size).toBe(512);
      expect(r.adapter.summary.startsWith('cpu')).toBe(true);
    }
    // The ALUM step runs the standard step's kernels and more.
    expect(alum.kernelsPerStep).toBeGreaterThan(standard.kernelsPerStep);
    expect(standard.ratioToStandard).toBe(1);
    expect(standard.msSplit.innerLoop).toBe(0);
    expect(alum.msSplit.outerGradient).toBe(standard.msSplit.outerGradient);
    expect(alum.msSplit.optimizer).toBe(alum.optimizer.ms);
    expect(tableLine(alum)).toMatch(/^\| cpu \| nano \| alum K=1 \| [\d.]+ \| [\d.]+ \| /);
  });

  it('stops before the next row when asked, and lists rows without a standard row unsplit', async () => {
    const rows = await benchBackend(
      'cpu',
      ['nano'],
      [VARIANTS.alum1, VARIANTS.standard],
      shape,
      undefined,
      () => false,
    );
    expect(rows[0]?.msSplit.innerLoop).toBeNull();
    expect(rows[0]?.ratioToStandard).toBeNull();
    let n = 0;
    const stopped = await benchBackend(
      'cpu',
      ['nano'],
      variants,
      shape,
      () => n++,
      () => n >= 1,
    );
    expect(stopped).toHaveLength(1);
  });

  it('refuses an unknown method in one line', () => {
    expect(() => parseVariants('standard,alum3')).toThrow(
      "--methods: unknown 'alum3' (known: standard, alum1, alum2)",
    );
  });
});

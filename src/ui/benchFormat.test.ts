// The performance panel's pure helpers (src/ui/benchFormat.ts): the short request, per-backend summaries,
// the figures as text and the downloaded JSON.
import { describe, expect, it } from 'vitest';

import type { BenchRow } from '../protocol/bench.ts';
import {
  backendSummaries,
  benchJson,
  formatBytes,
  formatMs,
  formatSplit,
  kernelsText,
  methodText,
  shortBenchRequest,
} from './benchFormat.ts';

function row(backend: BenchRow['backend'], method: BenchRow['method'], k: number, gflops: number): BenchRow {
  return {
    backend,
    model: 'nano',
    method,
    k,
    batchSize: 4,
    maxLength: 32,
    steps: 2,
    msPerStep: 50,
    msMin: 45,
    stepsPerSec: 20,
    tokensPerSec: 2560,
    kernelsPerStep: 642,
    dispatchesPerStep: 286,
    bytesAllocatedPerStep: 3 * 2 ** 20,
    peakBytesPerStep: 2 ** 20,
    kernelsByOp: { Add: 30 },
    optimizer: { ms: 5, kernels: 100, dispatches: 69, byOp: {} },
    tensorsLeakedPerStep: 0,
    paramCount: 1000,
    ratioToStandard: 1,
    msSplit: { innerLoop: 0, outerGradient: 45, optimizer: 5 },
    matMul: { size: 1024, ms: 100, gflops },
    adapter: {
      summary: `${backend} adapter`,
      vendor: null,
      architecture: null,
      device: null,
      description: null,
      isFallbackAdapter: null,
    },
  };
}

describe('the performance panel helpers', () => {
  it('asks for standard and ALUM K=1 at batch 4, length 32, 2 steps', () => {
    expect(shortBenchRequest(['wasm', 'cpu'], 'tiny')).toEqual({
      backends: ['wasm', 'cpu'],
      models: ['tiny'],
      methods: ['standard', 'alum1'],
      batchSize: 4,
      maxLength: 32,
      steps: 2,
    });
    expect(() => shortBenchRequest([], 'nano')).toThrow('pick at least one backend to benchmark');
  });

  it('summarises each backend once, in the rows order', () => {
    const rows = [
      row('wasm', 'standard', 0, 8.5),
      row('wasm', 'alum', 1, 8.5),
      row('cpu', 'standard', 0, 0.7),
    ];
    expect(backendSummaries(rows)).toEqual([
      { backend: 'wasm', adapter: 'wasm adapter', fallback: null, matMulGflops: 8.5, matMulSize: 1024 },
      { backend: 'cpu', adapter: 'cpu adapter', fallback: null, matMulGflops: 0.7, matMulSize: 1024 },
    ]);
  });

  it('writes ms, bytes, the split and kernels as text', () => {
    expect(formatMs(null)).toBe('-');
    expect(formatMs(12.345)).toBe('12.3');
    expect(formatMs(1234.5)).toBe('1235');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 2 ** 20)).toBe('3.0 MiB');
    expect(formatBytes(5 * 2 ** 30)).toBe('5.0 GiB');
    expect(formatSplit({ innerLoop: null, outerGradient: null, optimizer: 7.25 })).toBe('- / - / 7.3');
    expect(formatSplit({ innerLoop: 120, outerGradient: 45.5, optimizer: 5 })).toBe('120 / 45.5 / 5.0');
    expect(kernelsText({ kernelsPerStep: 2366, dispatchesPerStep: 1088 })).toBe(
      '2366 (1088 dispatch, 1278 not)',
    );
    expect(methodText({ method: 'alum', k: 2 })).toBe('alum K=2');
    expect(methodText({ method: 'standard', k: 0 })).toBe('standard');
  });

  it('downloads {"rows": [...]} with the date, agent and failures', () => {
    const rows = [row('cpu', 'standard', 0, 0.7)];
    const failures = [{ backend: 'webgl' as const, message: 'no float32' }];
    const text = benchJson(rows, failures, new Date('2026-11-26T08:00:00Z'), 'Agent/1');
    expect(JSON.parse(text)).toEqual({
      date: '2026-11-26T08:00:00.000Z',
      userAgent: 'Agent/1',
      failures,
      rows,
    });
    expect(text.endsWith('}\n')).toBe(true);
  });
});

/**
 * `npm run bench`: ms per optimizer step of the real training loop (TrainingRun.trainStep, readback
 * included) for each backend this Node process can use, each model preset asked for, and standard vs ALUM,
 * with the kernels one step runs (tf.profile; src/core/bench/kernels.ts says which of them dispatch), the
 * backend's large-matMul rate and the adapter (src/core/bench/measure.ts measures every row). Speed goals
 * live here, not in tests. Prints a markdown table and writes `{"rows": [...]}` as JSON.
 *
 * Options: --backends wasm,cpu,webgpu  --models nano,tiny  --methods standard,alum1,alum2  --steps N
 *          --batch-size B  --max-length T  --json FILE (default bench-results.json)
 *          --quick (cpu,wasm x nano,tiny x standard,alum1, batch 8, length 32, 2 steps: a few minutes here)
 *          --browser: the same rows in headless Chromium, from the built page's bench worker
 *          (scripts/bench-browser.ts; needs `npm run build` first; backends webgpu,webgl,wasm,cpu).
 * `webgpu` uses Dawn for Node (the `webgpu` package); here that is SwiftShader on the CPU:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npm run bench -- --backends webgpu
 * Kernel counts do not depend on batch or length (src/core/bench/kernels.test.ts), so a tiny shape with
 * --steps 1 measures them quickly on any backend. docs/performance.md records the results.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import { nodeLoaders } from '../src/cli/files.ts';
import { initBackend } from '../src/core/backend.ts';
import {
  benchBackend,
  parseVariants,
  round,
  TABLE_HEADER,
  tableLine,
  unavailableLine,
  type BenchRow,
} from '../src/core/bench/measure.ts';
import { type BackendName, type ModelPresetName } from '../src/core/config.ts';
import type * as BrowserModule from './bench-browser.ts';

const { values } = parseArgs({
  options: {
    backends: { type: 'string' },
    models: { type: 'string' },
    methods: { type: 'string' },
    steps: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-length': { type: 'string' },
    json: { type: 'string', default: 'bench-results.json' },
    quick: { type: 'boolean', default: false },
    browser: { type: 'boolean', default: false },
  },
});

const quick = values.quick === true;
const browser = values.browser === true;
const pick = (given: string | undefined, normal: string, fast: string): string =>
  given ?? (quick ? fast : normal);
// In the browser --quick is nano only at batch 4 (four backends, webgpu on SwiftShader: under 5 minutes here).
const backends = pick(
  values.backends,
  browser ? 'webgpu,webgl,wasm,cpu' : 'wasm,cpu',
  browser ? 'webgpu,webgl,wasm,cpu' : 'cpu,wasm',
).split(',') as BackendName[];
const models = pick(values.models, 'nano,tiny', browser ? 'nano' : 'nano,tiny').split(
  ',',
) as ModelPresetName[];
const steps = positive('steps', pick(values.steps, '5', '2'));
const batchSize = positive('batch-size', pick(values['batch-size'], '32', browser ? '4' : '8'));
const maxLength = positive('max-length', pick(values['max-length'], '64', '32'));
const methods = pick(values.methods, 'standard,alum1,alum2', 'standard,alum1');
const variants = parseVariants(methods);

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got '${text}'`);
  return n;
}

/** Node: each backend in turn through initBackend (the CLI's loaders), every row printed as it comes. */
async function benchInNode(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const backend of backends) {
    try {
      await initBackend(backend, [backend], nodeLoaders);
    } catch (e) {
      console.log(unavailableLine(backend, (e as Error).message));
      continue;
    }
    const shape = { batchSize, maxLength, steps };
    rows.push(
      ...(await benchBackend(backend, models, variants, shape, (row) => console.log(tableLine(row)))),
    );
  }
  return rows;
}

// Imported through a variable so that bundling this script for a GPU machine (docs/performance.md, esbuild)
// leaves Playwright out: the browser path runs from the repo only.
const BROWSER_MODULE = './bench-browser.ts';

/** Stops with one line on stderr (exit status 1). */
function fail(e: unknown): never {
  console.error(`bench${browser ? ' --browser' : ''}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

/** The browser path (scripts/bench-browser.ts), checked for `dist/` before anything is printed. */
async function loadBrowserBench() {
  const { benchInBrowser, builtProblem } = (await import(BROWSER_MODULE)) as typeof BrowserModule;
  const problem = builtProblem();
  if (problem !== null) fail(problem);
  const request = { backends, models, methods: methods.split(','), batchSize, maxLength, steps };
  return () => benchInBrowser(request, (line) => console.log(line));
}

const browserBench = browser ? await loadBrowserBench() : null;
const started = performance.now();
const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, node: process.version };
console.log(
  `batch ${batchSize}, length ${maxLength}, ${steps} timed steps; ${machine.cpus} x ${machine.cpuModel ?? '?'}` +
    (browser ? '; headless Chromium' : ''),
);
console.log(TABLE_HEADER);
const run = browserBench ? await browserBench().catch(fail) : { rows: await benchInNode(), browser: null };
const report = {
  date: new Date().toISOString(),
  machine: { ...machine, browser: run.browser },
  options: { backends, models, steps, batchSize, maxLength, quick, browser },
  totalSeconds: round((performance.now() - started) / 1000),
  rows: run.rows,
};
writeFileSync(values.json as string, JSON.stringify(report, null, 2) + '\n');
console.log(`wrote ${values.json} (${run.rows.length} rows, ${report.totalSeconds} s)`);

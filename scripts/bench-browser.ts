/**
 * `npm run bench -- --browser`: the bench's rows measured in headless Chromium by the built page's bench
 * worker (src/worker/bench.ts, through `window.alum.bench`), each backend the page can get (webgpu, on
 * SwiftShader here or the real GPU where there is one; webgl; wasm; cpu). Builds nothing: it serves `dist/`
 * with `vite preview` on port 4174 (4173 is the e2e suite's) and launches Debian's chromium with the e2e
 * suite's flags (e2e/chromium.ts). scripts/bench.ts prints the same table and writes the same JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

import { chromium } from '@playwright/test';

import { CHROMIUM_PATH, CHROMIUM_QUIET_ARGS, CHROMIUM_WEBGPU_ARGS } from '../e2e/chromium.ts';
import { tableLine, unavailableLine } from '../src/core/bench/measure.ts';
import type { BenchRequest, BenchRow } from '../src/protocol/bench.ts';
import type { AlumAutomationApi } from '../src/ui/automation.ts';

export const BENCH_PORT = 4174;
const BASE = `http://127.0.0.1:${BENCH_PORT}`;

type AlumWindow = Window & { alum: AlumAutomationApi };

/** What the browser path gives scripts/bench.ts: the rows and the browser's user agent. */
export interface BrowserBench {
  rows: BenchRow[];
  browser: string | null;
}

/** Why the browser bench cannot run from this folder (no built page), or null. */
export function builtProblem(): string | null {
  return existsSync('dist/index.html') ? null : 'dist/ is missing: run npm run build first';
}

/** `vite preview` of dist/ on BENCH_PORT, resolved once it answers. */
async function preview(): Promise<ChildProcess> {
  // vite's own entry under this Node (not npx, whose child a kill would leave running).
  const args = ['preview', '--host', '127.0.0.1', '--port', String(BENCH_PORT), '--strictPort'];
  const server = spawn(process.execPath, ['node_modules/vite/bin/vite.js', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null)
      throw new Error(`vite preview exited with ${server.exitCode} (port ${BENCH_PORT} busy?)`);
    try {
      if ((await fetch(BASE)).ok) return server;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      server.kill();
      throw new Error(`vite preview did not answer on ${BASE} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Runs `request` backend by backend in the page (one `window.alum.bench` call each, its rows printed as
 * table lines through `print`), and returns every row.
 */
export async function benchInBrowser(
  request: Omit<BenchRequest, 'methods'> & { methods: string[] },
  print: (line: string) => void,
): Promise<BrowserBench> {
  const problem = builtProblem();
  if (problem !== null) throw new Error(problem);
  const server = await preview();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_WEBGPU_ARGS, ...CHROMIUM_QUIET_ARGS],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => print(`page error: ${e.message}`));
    // The training worker only says hello; cpu keeps it from taking a GPU device beside the bench worker's.
    await page.goto(`${BASE}/?backend=cpu`);
    await page.waitForFunction(() => 'alum' in window);
    const agent = await page.evaluate(() => navigator.userAgent);
    const rows: BenchRow[] = [];
    for (const backend of request.backends) {
      const one = { ...request, backends: [backend] } as BenchRequest;
      const result = await page.evaluate((r) => (window as unknown as AlumWindow).alum.bench(r), one);
      for (const f of result.failures) print(unavailableLine(f.backend, f.message));
      for (const row of result.rows) print(tableLine(row));
      rows.push(...result.rows);
    }
    return { rows, browser: agent };
  } finally {
    await browser.close();
    server.kill();
  }
}

/**
 * What the page's long main-thread tasks are while it trains (issue 9: none over 50 ms). Opens the built page in
 * the system Chromium with WebGPU on SwiftShader (the e2e flags), clicks Start, records a Chrome trace
 * (`devtools.timeline`) until step 21, and prints the longest tasks on the page's main thread with the time of
 * each kind of event inside them (FireAnimationFrame, FunctionCall with its function, Paint, Layout, ...).
 *   npm run build && npx vite preview --port 4175 &   then   npx tsx scripts/trace-longtasks.ts [--url URL]
 * docs/performance.md ("In the browser") records what it found.
 */
import { parseArgs } from 'node:util';

import { chromium } from '@playwright/test';

import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from '../e2e/chromium.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:4175' },
    over: { type: 'string', default: '40' },
  },
});
const QUERY = '?model=nano&batchSize=4&maxLength=16&steps=60&evalEvery=10&backend=webgpu';

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  args?: { name?: string; data?: { functionName?: string; url?: string } };
}

interface AlumPage {
  alum: { state(): { backend: string | null }; waitForStep(n: number, ms: number): Promise<unknown> };
  longest: number;
}

/** The page's main-thread tasks over `overMs`, longest first, each with its events' ms by kind. */
function longTasks(events: TraceEvent[], overMs: number): string[] {
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  if (!main) return ['no renderer main thread in the trace'];
  const mine = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X');
  const tasks = mine.filter((e) => e.name === 'RunTask' && (e.dur ?? 0) > overMs * 1000);
  tasks.sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0));
  return tasks.slice(0, 5).map((t) => {
    const inside = new Map<string, number>();
    for (const e of mine) {
      if (e === t || e.ts < t.ts || e.ts >= t.ts + (t.dur ?? 0)) continue;
      const fn = e.args?.data?.functionName;
      const key = e.name === 'FunctionCall' && fn ? `FunctionCall ${fn}` : e.name;
      inside.set(key, (inside.get(key) ?? 0) + (e.dur ?? 0));
    }
    const parts = [...inside].sort((a, b) => b[1] - a[1]).slice(0, 6);
    return `${((t.dur ?? 0) / 1000).toFixed(1)} ms: ${parts.map(([k, us]) => `${k} ${(us / 1000).toFixed(1)}`).join(', ')}`;
  });
}

async function main(): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_WEBGPU_ARGS] });
  try {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as AlumPage;
      w.longest = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longest = Math.max(w.longest, e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    await page.goto(`${values.url}/${QUERY}`);
    await page.waitForFunction(() => (window as unknown as AlumPage).alum?.state().backend === 'webgpu');
    await page.waitForTimeout(800);
    await page.evaluate(() => ((window as unknown as AlumPage).longest = 0));
    await browser.startTracing(page, {
      categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'],
    });
    await page
      .getByRole('button', { name: /^start/i })
      .first()
      .click();
    await page.evaluate(() => (window as unknown as AlumPage).alum.waitForStep(21, 180_000));
    const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] };
    const longest = await page.evaluate(() => (window as unknown as AlumPage).longest);
    process.stdout.write(`longest task (PerformanceObserver) from Start through step 21: ${longest} ms\n`);
    for (const line of longTasks(trace.traceEvents, Number(values.over))) process.stdout.write(`  ${line}\n`);
  } finally {
    await browser.close();
  }
}

await main();

/**
 * What the page's long main-thread tasks are while it trains (issue 9: none over 50 ms). Opens the built page in
 * the system Chromium with WebGPU on SwiftShader (the e2e flags), clicks Start, records a Chrome trace
 * (`devtools.timeline`) until step 21, and prints the longest tasks on the page's main thread with the time of
 * each kind of event inside them (FireAnimationFrame, FunctionCall with its function, Paint, Layout, ...), after a
 * line of the main thread's totals over the whole trace (all tasks, and the rendering steps summed over them).
 *   npm run build && npx vite preview --port 4175 &   then   npx tsx scripts/trace-longtasks.ts [--url URL] [--save F]
 * (`--save` writes the trace, for Chrome's DevTools or Perfetto).
 * docs/performance.md ("In the browser") records what it found.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { chromium } from '@playwright/test';

import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from '../e2e/chromium.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:4175' },
    over: { type: 'string', default: '40' },
    save: { type: 'string' },
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

/** The complete events ('X') of the page's main thread, or null when the trace has none. */
function mainThread(events: TraceEvent[]): TraceEvent[] | null {
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  if (!main) return null;
  return events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X');
}

const ms = (us: number) => (us / 1000).toFixed(1);

/** The main thread's ms in all tasks, and in each rendering step summed over the trace. */
function totals(mine: TraceEvent[]): string {
  const sum = (name: string) => mine.filter((e) => e.name === name).reduce((t, e) => t + (e.dur ?? 0), 0);
  const steps = ['Paint', 'Layout', 'PrePaint', 'UpdateLayoutTree', 'FireAnimationFrame', 'FunctionCall'];
  return `main thread: tasks ${ms(sum('RunTask'))} ms; ${steps.map((s) => `${s} ${ms(sum(s))}`).join(', ')}`;
}

/** The page's main-thread tasks over `overMs`, longest first, each with its events' ms by kind. */
function longTasks(mine: TraceEvent[], overMs: number): string[] {
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
    return `${ms(t.dur ?? 0)} ms: ${parts.map(([k, us]) => `${k} ${ms(us)}`).join(', ')}`;
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
    const raw = await browser.stopTracing();
    if (values.save !== undefined) writeFileSync(values.save, raw);
    const trace = JSON.parse(raw.toString()) as { traceEvents: TraceEvent[] };
    const longest = await page.evaluate(() => (window as unknown as AlumPage).longest);
    process.stdout.write(`longest task (PerformanceObserver) from Start through step 21: ${longest} ms\n`);
    const mine = mainThread(trace.traceEvents);
    if (mine === null) throw new Error('no renderer main thread (CrRendererMain) in the trace');
    process.stdout.write(`${totals(mine)}\n`);
    for (const line of longTasks(mine, Number(values.over))) process.stdout.write(`  ${line}\n`);
  } finally {
    await browser.close();
  }
}

await main();

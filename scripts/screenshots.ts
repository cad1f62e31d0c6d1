/**
 * Screenshots of the main views for docs/screenshots/ (linked from the README): the page at 1280x720 while
 * training, the token view, slow motion, classroom mode, pre-training with the fill-mask box, the robustness
 * lab, and a 390-pixel phone. Needs the built page served
 * (`npm run build && npx vite preview --host 127.0.0.1 --port 4173`) and Debian's chromium (WebGPU through
 * SwiftShader, as the e2e tests); a nano model so that it takes a minute.
 *   npx tsx scripts/screenshots.ts [base-url]
 */
import { mkdirSync } from 'node:fs';

import { chromium, type Page } from '@playwright/test';

import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from '../e2e/chromium.ts';
import type { AlumAutomationApi } from '../src/ui/automation.ts';

const BASE = process.argv[2] ?? 'http://127.0.0.1:4173';
const OUT = 'docs/screenshots';
const QUERY = 'model=nano&batchSize=4&maxLength=16&steps=200&evalEvery=0';

type AlumWindow = Window & { alum: AlumAutomationApi };

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`${BASE}/?${query}`);
  await page.waitForFunction(() => 'alum' in window);
}

async function train(page: Page, steps: number): Promise<void> {
  await page.evaluate(() => (window as unknown as AlumWindow).alum.start());
  try {
    await page.evaluate((n) => (window as unknown as AlumWindow).alum.waitForStep(n, 120_000), steps);
  } catch (e) {
    const state = await page.evaluate(() => (window as unknown as AlumWindow).alum.state());
    throw new Error(`${e instanceof Error ? e.message : String(e)}; state ${JSON.stringify(state)}`);
  }
  await page.evaluate(() => (window as unknown as AlumWindow).alum.pause());
  await page.waitForTimeout(1500); // the live token view's refresh
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  // The flags of playwright.config.ts: WebGPU through SwiftShader.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_WEBGPU_ARGS],
  });

  try {
    const desktop = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await open(desktop, QUERY);
    await train(desktop, 6);
    await desktop.screenshot({ path: `${OUT}/desktop-1280x720.png` });

    await open(desktop, `${QUERY}&panels=tokens`);
    await train(desktop, 2);
    await desktop.getByTestId('panel.tokens').scrollIntoViewIfNeeded();
    await desktop.getByTestId('panel.tokens').screenshot({ path: `${OUT}/token-view.png` });

    await open(desktop, `${QUERY}&k=2&panels=slow-motion`);
    await train(desktop, 1);
    const slow = desktop.getByTestId('panel.slow');
    await slow.getByTestId('slow.take').click();
    await slow.getByTestId('slow.next').click();
    await slow.getByTestId('slow.stage').waitFor();
    await slow.screenshot({ path: `${OUT}/slow-motion.png` });

    const lesson = encodeURIComponent('Where does the adversary push? Open the token view and press Step.');
    await open(desktop, `${QUERY}&classroom=1&panels=about&lesson=${lesson}`);
    await desktop.screenshot({ path: `${OUT}/classroom-1280x720.png` });

    // Pre-training the built-in model on the corpus, and the fill-mask box (wasm: the tiny model on SwiftShader
    // would take minutes a step).
    await open(desktop, 'batchSize=4&maxLength=32&steps=40&evalEvery=2&task=mlm&backend=wasm');
    await train(desktop, 2);
    const pre = desktop.getByTestId('pretrain');
    await pre.getByTestId('fillmask.text').fill('the president sent a [MASK] to congress.');
    await pre.getByTestId('fillmask.go').click();
    await pre.getByTestId('fillmask.result').waitFor();
    await pre.screenshot({ path: `${OUT}/pretrain-fill-mask.png` });

    await open(desktop, `${QUERY}&panels=robustness&backend=wasm`);
    await train(desktop, 20);
    const lab = desktop.getByTestId('lab');
    await lab.getByTestId('lab.examplesCount').fill('24');
    await lab.getByTestId('lab.attack').selectOption('typo');
    await lab.getByTestId('lab.budget').fill('2');
    await lab.getByTestId('lab.run').click();
    await lab.getByTestId('lab.row').first().waitFor({ timeout: 120_000 });
    await lab.screenshot({ path: `${OUT}/robustness-lab.png` });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    await open(phone, QUERY);
    await train(phone, 2);
    await phone.screenshot({ path: `${OUT}/phone-390.png` });
    await scrollThrough(phone); // charts off screen draw when they come into view (MetricChart.tsx)
    await phone.screenshot({ path: `${OUT}/phone-390-full.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}

/** Scrolls the page down a screen at a time, two frames at each stop, and back to the top. */
async function scrollThrough(page: Page): Promise<void> {
  // No named functions inside: tsx's keepNames would wrap them in a `__name` the page does not have.
  await page.evaluate(async () => {
    for (let y = 0; ; y += window.innerHeight) {
      window.scrollTo(0, Math.min(y, document.documentElement.scrollHeight));
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      if (y >= document.documentElement.scrollHeight) break;
    }
    window.scrollTo(0, 0);
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});

/**
 * Page objects over the dotted `data-testid`s and a typed `alum` fixture over `window.alum`
 * (shape after tldraw's e2e fixtures). e2e imports nothing from src at runtime, only types (erased), so the
 * tests drive the built page exactly as a user's script would.
 */
import { test as base, expect, type Locator, type Page } from '@playwright/test';

import type { MetricRow, SavedRunInfo } from '../src/protocol/messages.ts';
import type { AlumAutomationApi, AlumState } from '../src/ui/automation.ts';

export type { AlumState, MetricRow };

type AlumWindow = Window & { alum: AlumAutomationApi };

/** `window.alum`, called from the test through page.evaluate. */
export class Alum {
  constructor(private readonly page: Page) {}

  /** Loads the app with a query (`?model=nano&...`) and waits for `window.alum`. */
  async open(query = ''): Promise<void> {
    await this.page.goto(`/${query}`);
    await this.page.waitForFunction(() => 'alum' in window);
  }

  state(): Promise<AlumState> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.state());
  }
  start(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.start());
  }
  pause(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.pause());
  }
  step(n = 1): Promise<void> {
    return this.page.evaluate((k) => (window as unknown as AlumWindow).alum.step(k), n);
  }
  reset(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.reset());
  }
  setConfig(partial: Record<string, string | number>): Promise<void> {
    return this.page.evaluate((p) => (window as unknown as AlumWindow).alum.setConfig(p), partial);
  }
  metrics(): Promise<MetricRow[]> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.metrics());
  }
  /** The saved runs (IndexedDB), freshly listed by the worker. */
  runs(): Promise<SavedRunInfo[]> {
    return this.page.evaluate(() => (window as unknown as AlumWindow).alum.runs());
  }
  waitForStep(n: number, timeoutMs = 180_000): Promise<AlumState> {
    return this.page.evaluate(([k, ms]) => (window as unknown as AlumWindow).alum.waitForStep(k, ms), [
      n,
      timeoutMs,
    ] as const);
  }
}

export class Controls {
  readonly start: Locator;
  readonly pause: Locator;
  readonly step: Locator;
  readonly reset: Locator;

  constructor(page: Page) {
    this.start = page.getByTestId('controls.start');
    this.pause = page.getByTestId('controls.pause');
    this.step = page.getByTestId('controls.step');
    this.reset = page.getByTestId('controls.reset');
  }
}

export type ChartName = 'loss' | 'ascent' | 'delta' | 'dev';

export class Charts {
  constructor(private readonly page: Page) {}

  chart(name: ChartName): Locator {
    return this.page.getByTestId(`chart.${name}`);
  }

  /** The uPlot canvas the chart draws on. */
  canvas(name: ChartName): Locator {
    return this.chart(name).locator('canvas');
  }

  /** How many x values the chart holds (its `data-points` attribute). */
  async points(name: ChartName): Promise<number> {
    return Number((await this.chart(name).getAttribute('data-points')) ?? '0');
  }

  /** How many of them are on its canvas (`data-drawn-points`: fewer while the chart is off screen). */
  async drawnPoints(name: ChartName): Promise<number> {
    return Number((await this.chart(name).getAttribute('data-drawn-points')) ?? '0');
  }

  /** Whether the browser lays out and paints the chart (false while `content-visibility: auto` skips it). */
  rendered(name: ChartName): Promise<boolean> {
    return this.chart(name).evaluate((el) => el.checkVisibility({ contentVisibilityAuto: true }));
  }
}

export class ConfigForm {
  constructor(private readonly page: Page) {}

  field(name: string): Locator {
    return this.page.getByTestId(`config.${name}`);
  }

  fieldError(name: string): Locator {
    return this.page.getByTestId(`config.${name}.error`);
  }
}

interface Fixtures {
  alum: Alum;
  controls: Controls;
  charts: Charts;
  configForm: ConfigForm;
}

export const test = base.extend<Fixtures>({
  alum: async ({ page }, use, testInfo) => {
    // Page errors and console errors (the worker's included) go into the test's output for diagnosis.
    page.on('pageerror', (e) => console.log(`[${testInfo.title}] page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        console.log(`[${testInfo.title}] console.${m.type()}: ${m.text()}`);
    });
    await use(new Alum(page));
  },
  controls: async ({ page }, use) => use(new Controls(page)),
  charts: async ({ page }, use) => use(new Charts(page)),
  configForm: async ({ page }, use) => use(new ConfigForm(page)),
});

export { expect };

/** Console errors and page errors (the worker's included), collected from the moment it is called. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  return errors;
}

/** True when every number is finite (not NaN, not ±Infinity). */
export const allFinite = (xs: readonly number[]): boolean => xs.every((x) => Number.isFinite(x));

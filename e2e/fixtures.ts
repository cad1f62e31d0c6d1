/**
 * Page objects over the dotted `data-testid`s and a typed `alum` fixture over `window.alum`
 * (shape after tldraw's e2e fixtures). e2e imports nothing from src: the few types it needs are copied here
 * from src/protocol/messages.ts and src/ui/automation.ts.
 */
import { test as base, expect, type Locator, type Page } from '@playwright/test';

/** Copy of MetricRow (src/protocol/messages.ts). */
export interface MetricRow {
  step: number;
  taskLoss: number;
  advLoss: number;
  totalLoss: number;
  innerGradNorm: number;
  deltaLinf: number;
  deltaL2: number;
  embedAbsMean: number;
  effPerturb: number;
  skipped: number;
  ms: number;
  lr: number;
  devAccuracy?: number;
}

/** Copy of AlumState (src/ui/automation.ts); config is left loose on purpose. */
export interface AlumState {
  status: 'idle' | 'loading' | 'ready' | 'running' | 'paused' | 'done' | 'error';
  backend: 'webgpu' | 'webgl' | 'wasm' | 'cpu' | null;
  backendReason: string | null;
  step: number;
  config: Record<string, string | number>;
  latest: MetricRow | null;
  error: string | null;
  runId: string | null;
  paramCount: number | null;
}

interface AlumPageApi {
  state(): AlumState;
  start(): Promise<void>;
  pause(): Promise<void>;
  step(n?: number): Promise<void>;
  reset(): Promise<void>;
  setConfig(partial: Record<string, string | number>): Promise<void>;
  metrics(): MetricRow[];
  waitForStep(n: number, timeoutMs?: number): Promise<AlumState>;
}

type AlumWindow = Window & { alum: AlumPageApi };

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

export type ChartName = 'loss' | 'delta' | 'dev';

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

/** True when every number is finite (not NaN, not ±Infinity). */
export const allFinite = (xs: readonly number[]): boolean => xs.every((x) => Number.isFinite(x));

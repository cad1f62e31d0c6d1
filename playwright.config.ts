/**
 * End-to-end tests in the system Chromium (never a downloaded browser), with real WebGPU through
 * SwiftShader (../shared/ENVIRONMENT.md). Training there is CPU-emulated and slow: tiny models, long timeouts.
 * Build first (`npm run build`); the web server only previews `dist/`.
 */
import { defineConfig } from '@playwright/test';

import { CHROMIUM_PATH, CHROMIUM_QUIET_ARGS, CHROMIUM_WEBGPU_ARGS } from './e2e/chromium.ts';

const BASE_URL = 'http://127.0.0.1:4173';

export default defineConfig({
  testDir: 'e2e',
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 240_000,
  expect: { timeout: 30_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  webServer: {
    command: 'npx vite preview --host 127.0.0.1 --port 4173 --strictPort',
    url: BASE_URL,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
  use: {
    baseURL: BASE_URL,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_WEBGPU_ARGS, ...CHROMIUM_QUIET_ARGS],
    },
  },
});

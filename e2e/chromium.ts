// Debian's chromium (never a downloaded browser) with real WebGPU through SwiftShader (../shared/ENVIRONMENT.md):
// the one list of launch flags that playwright.config.ts and scripts/screenshots.ts share.

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** WebGPU through SwiftShader in headless Chromium. */
export const CHROMIUM_WEBGPU_ARGS: readonly string[] = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

/** The tests' extra flags: no network the tests did not ask for. */
export const CHROMIUM_QUIET_ARGS: readonly string[] = [
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

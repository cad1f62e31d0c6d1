// Prints the WebGPU adapter Dawn finds (one JSON line): run.sh checks it before timing anything.
import process from 'node:process';

const { create, globals } = await import('./node_modules/webgpu/index.js');
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter?.info ?? {};
const { vendor, architecture, device, description, isFallbackAdapter } = i;
process.stdout.write(JSON.stringify({ vendor, architecture, device, description, isFallbackAdapter }) + '\n');

#!/usr/bin/env node
// `alum` CLI entry: runs the TypeScript sources through tsx's loader (no separate build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/run-cli.ts');

/**
 * Error text for people. Pure (no imports, no tfjs): core, the worker, the CLI and the UI (through
 * src/ui/coreConfig.ts, an exception eslint.config.js allows) share this one helper.
 */

/** The first line of an error's message: every error the playground reports is one line. */
export function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}

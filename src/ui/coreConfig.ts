/**
 * The UI's one door to the values of `src/core/config.ts` (defaults, rules, presets, validation).
 * config.ts is pure data with no tfjs, so the UI may use its values; every other UI module imports them
 * from here, so the exception to "ui imports only types from core" sits on one line.
 */
export * from '../core/config.ts';

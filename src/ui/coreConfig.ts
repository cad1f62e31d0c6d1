/**
 * The UI's one door to the values of core: `src/core/config.ts` (defaults, rules, presets, validation),
 * `src/core/errors.ts` (the one-line error message), `src/core/metrics.ts` (the metric columns) and
 * `src/core/export/torch.ts` (the files of the PyTorch export, `src/ui/torchExport.ts`) and
 * `src/core/model/hf-files.ts` (which files of a model folder to read), `src/core/presets.ts` and the
 * robustness lab's attack names and settings (`src/core/robust/types.ts`, `settings.ts`). All are
 * pure, with no tfjs, so the UI may use their values; every other UI module imports them from here, so the
 * exceptions to "ui imports only types from core" sit on these lines.
 */
export * from '../core/config.ts';
export * from '../core/errors.ts';
export { METRIC_COLUMNS, STEP_METRICS } from '../core/metrics.ts';
export { torchExportFiles, type ExportFile } from '../core/export/torch.ts';
export { modelFilesToRead } from '../core/model/hf-files.ts';
export { PRESETS, type Preset } from '../core/presets.ts';
export { ATTACKS, type AttackName, type AttackSettings } from '../core/robust/types.ts';
export { CURVE_EPSILONS, resolveAttackSettings } from '../core/robust/settings.ts';

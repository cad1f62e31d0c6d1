/**
 * `npm run variants`: what each ALUM preset produces on the same model, measured, for the README's variant
 * table. Trains the default task's tiny model with the standard method for --warmup steps (so the model is
 * not random), then, without further updates (`TrainingRun.probe`), runs each preset's step on --batches
 * batches and reports the means: per-token ||delta||_inf and ||delta||_2, the mean |embedding|, the inner
 * loss before and after the ascent, the adversarial loss, and the share of it that dropout alone gives
 * (dropoutKl / advLoss). Prints a markdown table; wasm backend (cpu fallback).
 *   npm run variants -- --warmup 120 --batches 8
 */
import { parseArgs } from 'node:util';

import type { TrainConfig } from '../src/core/config.ts';
import { findPreset } from '../src/core/presets.ts';
import type { StepScalars } from '../src/core/train/run.ts';
import { warmRun } from './warm-run.ts';

const { values } = parseArgs({
  options: { warmup: { type: 'string', default: '120' }, batches: { type: 'string', default: '8' } },
});
const warmup = Number(values.warmup);
const batches = Number(values.batches);

/** Rows: a preset as published, and the mt-dnn ones again with the clean pass's masks, to isolate dropout. */
const ROWS: { label: string; preset: string; patch?: Partial<TrainConfig> }[] = [
  { label: 'default', preset: 'default' },
  { label: 'alum-paper', preset: 'alum-paper' },
  { label: 'alum-paper-raw', preset: 'alum-paper-raw' },
  { label: 'mtdnn-2020', preset: 'mtdnn-2020' },
  { label: 'mtdnn-2020, advDropout same', preset: 'mtdnn-2020', patch: { advDropout: 'same' } },
  { label: 'mtdnn-head', preset: 'mtdnn-head' },
  { label: 'mtdnn-head, advDropout same', preset: 'mtdnn-head', patch: { advDropout: 'same' } },
];

const { run, choice } = await warmRun(warmup);
const base = run.config;
const acc = await run.evaluate();

const mean = (rows: StepScalars[], key: keyof StepScalars) =>
  rows.reduce((a, r) => a + r[key], 0) / rows.length;
const fmt = (x: number) =>
  x === 0 ? '0' : Math.abs(x) >= 0.01 && Math.abs(x) < 100 ? x.toPrecision(3) : x.toExponential(2);

console.log(
  `tiny model, ${warmup} standard steps (dev accuracy ${(acc * 100).toFixed(1)}%), then ${batches} batches of ` +
    `${base.batchSize} x ${base.maxLength} per row without updates; backend ${choice.backend}; means over batches\n`,
);
console.log(
  '| preset | variant | eta | advDropout | per-token ‖δ‖∞ | per-token ‖δ‖₂ | mean \\|e\\| | inner loss before → after ascent | advLoss | dropoutKl | share of advLoss from dropout |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const row of ROWS) {
  const cfg: TrainConfig = { ...base, ...findPreset(row.preset).patch, ...row.patch, method: 'alum' };
  const rows: StepScalars[] = [];
  for (let i = 0; i < batches; i++) rows.push(await run.probe(cfg));
  const adv = mean(rows, 'advLoss');
  const drop = mean(rows, 'dropoutKl');
  console.log(
    `| ${row.label} | ${cfg.variant} | ${cfg.eta} | ${cfg.advDropout} | ${fmt(mean(rows, 'deltaLinf'))} | ${fmt(mean(rows, 'deltaL2'))} | ` +
      `${fmt(mean(rows, 'embedAbsMean'))} | ${fmt(mean(rows, 'klInit'))} → ${fmt(mean(rows, 'klAdv'))} | ${fmt(adv)} | ` +
      `${fmt(drop)} | ${adv > 0 ? `${((100 * drop) / adv).toFixed(1)}%` : '-'} |`,
  );
}
run.dispose();

/**
 * Why the playground's default sigma is 1e-3 (docs/alum-step.md, "Why the default sigma is 1e-3"): trains the
 * default task's tiny model with the standard method for --warmup steps, then measures, for sigma from 1e-7 to
 * 1e-2,
 *   1. how far the clean pass's logits move when its input moves by sigma * N(0, 1) with the same dropout
 *      masks: linear in sigma above float32's rounding floor, flat below it;
 *   2. the ALUM step with the clean pass's masks (advDropout same, eta = epsilon = 1e-2), without updating:
 *      the inner gradient's norm, the inner loss before and after the ascent, and the mean per-token
 *      ||delta||_inf (1e-2 when every token reaches the ball).
 *   npx tsx scripts/sigma-floor.ts -- --warmup 30
 */
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { classify, embed } from '../src/core/model/bert.ts';
import { batchTensors, disposeBatch, type StepScalars } from '../src/core/train/run.ts';
import { warmRun } from './warm-run.ts';

const { values } = parseArgs({
  options: { warmup: { type: 'string', default: '30' }, batches: { type: 'string', default: '3' } },
});
const SIGMAS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2];

const { run, choice } = await warmRun(Number(values.warmup), { batchSize: 16 });
const base = run.config;
console.log(`tiny model after ${base.steps} standard steps, batch 16 x 64, backend ${choice.backend}\n`);

/** mean |z(e + sigma u) - z(e)| over a batch, same dropout masks: the logits' response to the input. */
async function logitResponse(sigma: number): Promise<number> {
  const batch = batchTensors(
    run.train,
    Array.from({ length: 16 }, (_, i) => i),
  );
  const pass = { rate: base.dropout, seed: 5 };
  const m = tf.tidy(() => {
    const e = embed(run.params, run.model, batch, pass);
    const u = tf.randomNormal(e.shape, 0, 1, 'float32', 3);
    const z = classify(run.params, run.model, e, batch.attentionMask, pass);
    const zs = classify(run.params, run.model, e.add(u.mul(sigma)) as tf.Tensor3D, batch.attentionMask, pass);
    return zs.sub(z).abs().mean();
  });
  const v = (await m.data())[0] ?? NaN;
  tf.dispose([m]);
  disposeBatch(batch);
  return v;
}

const fmt = (x: number) => x.toExponential(2);
console.log(
  '| sigma | mean \\|Δlogit\\| | / sigma | inner grad norm | inner loss at δ₀ → after ascent | per-token ‖δ‖∞ |',
);
console.log('|---|---|---|---|---|---|');
for (const sigma of SIGMAS) {
  const response = await logitResponse(sigma);
  const rows: StepScalars[] = [];
  const cfg = {
    ...base,
    method: 'alum' as const,
    sigma,
    eta: 1e-2,
    epsilon: 1e-2,
    advDropout: 'same' as const,
  };
  for (let i = 0; i < Number(values.batches); i++) rows.push(await run.probe(cfg));
  const mean = (k: keyof StepScalars) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
  console.log(
    `| ${sigma} | ${fmt(response)} | ${fmt(response / sigma)} | ${fmt(mean('innerGradNorm'))} | ` +
      `${fmt(mean('klInit'))} → ${fmt(mean('klAdv'))} | ${fmt(mean('deltaLinf'))} |`,
  );
}
run.dispose();

/**
 * Learning-rate schedule: linear warm-up over the first `warmupFraction` of the run (the first update uses
 * peak / warmup, never 0), then linear decay towards 0 at `totalSteps` (the last update, step totalSteps - 1,
 * uses peak / (totalSteps - warmup)). BERT fine-tuning practice; the shape of nanoGPT's `get_lr`.
 * Plain numbers, no tensors. `step` counts from 0.
 */
export function lrAt(step: number, totalSteps: number, peak: number, warmupFraction = 0.1): number {
  const warmup = Math.max(1, Math.round(totalSteps * warmupFraction));
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const remaining = Math.max(1, totalSteps - warmup);
  return Math.max(0, (peak * (totalSteps - step)) / remaining);
}

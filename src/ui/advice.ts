/**
 * What to do about a failure (issue 7, "Failures explained"): an out-of-memory error gets the run's
 * estimated memory and what to shrink; a diverged run (a huge or non-finite total loss) gets a warning and
 * a suggestion. Pure functions of the config and the metric rows; ErrorBanner shows their lines.
 */
import { MODEL_PRESETS, type TrainConfig } from './coreConfig.ts';
import type { MetricRow } from '../protocol/messages.ts';

/** Messages tfjs and the browsers give when a tensor cannot be allocated (wasm/cpu, WebGL, WebGPU). */
const OOM =
  /array buffer allocation failed|out of memory|\boom\b|failed to allocate|allocation failed|Invalid array length/i;

export function isOutOfMemory(message: string): boolean {
  return OOM.test(message);
}

/**
 * A rough estimate of the bytes one step needs: the activations kept for the backward pass of every forward
 * pass the step records (1 for standard; K + 2 for ALUM, since the inner passes' activations live until the
 * step's backward, README "The ALUM step") plus the weights, their gradients and AdamW's two moments.
 * Per layer and example it counts about 10 hidden-size and 2 intermediate-size vectors per token and two
 * heads x length x length attention maps (scores and probabilities), in float32. The embedding table is
 * counted at 30k x hidden. An order of magnitude, not a promise: tfjs frees some and copies others.
 */
export function estimateStepBytes(
  c: Pick<TrainConfig, 'model' | 'batchSize' | 'maxLength' | 'method' | 'k'>,
): number {
  const p = MODEL_PRESETS[c.model];
  const l = c.maxLength;
  const perLayer = l * (10 * p.hiddenSize + 2 * p.intermediateSize) + 2 * p.numHeads * l * l;
  const passes = c.method === 'alum' ? c.k + 2 : 1;
  const activations = passes * p.numLayers * c.batchSize * perLayer;
  const layerParams = 4 * p.hiddenSize * p.hiddenSize + 2 * p.hiddenSize * p.intermediateSize;
  const params = p.numLayers * layerParams + 30_000 * p.hiddenSize;
  return 4 * (activations + 4 * params);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return `${n.toPrecision(3)} ${units[u]}`;
}

/** Advice for a run's error message, or null when there is none to give. */
export function errorAdvice(message: string, c: TrainConfig): string | null {
  if (!isOutOfMemory(message)) return null;
  const est = formatBytes(estimateStepBytes(c));
  const half = formatBytes(estimateStepBytes({ ...c, batchSize: Math.max(1, Math.floor(c.batchSize / 4)) }));
  return (
    `Out of memory: batch ${c.batchSize} x length ${c.maxLength} on the ${c.model} model needs roughly ${est} ` +
    `per step${c.method === 'alum' ? ` (ALUM keeps ${c.k + 2} passes' activations)` : ''}. ` +
    `Try a smaller batch size (a quarter of it: ~${half}), a shorter maximum length, or a smaller model, then Reset.`
  );
}

/**
 * Above this the total loss means the run diverged: a classifier's cross-entropy starts near ln(classes)
 * (0.69 for spam/ham) and alpha times a KL of a few nats stays in the tens at the paper's alpha of 1 to 10.
 */
export const DIVERGED_LOSS = 100;

/** A warning for a run whose latest total loss is non-finite or above DIVERGED_LOSS, or null. */
export function divergenceWarning(rows: readonly MetricRow[], c: TrainConfig): string | null {
  const last = rows[rows.length - 1];
  if (last === undefined) return null;
  const loss = last.totalLoss;
  if (Number.isFinite(loss) && loss <= DIVERGED_LOSS) return null;
  const shown = Number.isFinite(loss) ? Math.round(loss).toLocaleString('en-US') : String(loss);
  const causes: string[] = [];
  if (c.method === 'alum' && c.alpha > 10) causes.push(`alpha ${c.alpha} (the paper uses 1 to 10)`);
  if (c.method === 'alum' && c.eta > c.epsilon && c.variant === 'paper-raw')
    causes.push(`eta ${c.eta} above epsilon ${c.epsilon}`);
  else if (c.method === 'alum' && c.eta > 1) causes.push(`eta ${c.eta} (sensible: 1e-3 to 1e-2)`);
  if (c.lr > 1e-2) causes.push(`learning rate ${c.lr} (sensible: 1e-3 or below)`);
  const why = causes.length > 0 ? ` Likely cause: ${causes.join(', ')}.` : '';
  return (
    `Training diverged at step ${last.step}: the total loss is ${shown} (a healthy run stays near 1).${why} ` +
    'Lower it, then Reset. Tiny or vanished delta lines on the log chart come from the same blow-up.'
  );
}

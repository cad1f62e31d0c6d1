/**
 * What to do about a failure (issue 7, "Failures explained"): an out-of-memory error gets the run's
 * estimated memory and what to shrink; a diverged run (a huge or non-finite total loss) gets a warning and
 * a suggestion. Pure functions of the config and the metric rows; ErrorBanner shows their lines.
 */
import { MODEL_PRESETS, type Method, type TrainConfig } from './coreConfig.ts';
import type { MetricRow } from '../protocol/messages.ts';

/** Messages tfjs and the browsers give when a tensor cannot be allocated (wasm/cpu, WebGL, WebGPU). */
const OOM =
  /array buffer allocation failed|out of memory|\boom\b|failed to allocate|allocation failed|Invalid array length/i;

export function isOutOfMemory(message: string): boolean {
  return OOM.test(message);
}

/**
 * Passes through the network per training step (docs/alum-step.md, "Cost" and "Relatives"): forward and backward
 * passes, how many of them are recorded at once (their activations live until the step's backward pass), and
 * whether the method holds a second copy of the weights (SMART's EMA). Metric-only passes are left out (the
 * dropout-only KL under fresh masks, the gradient split on evaluation steps); FreeLB's extra forward for the clean
 * task loss is counted, since every step runs it.
 *   standard 1F + 1B            alum, pgd (K + 2)F + (K + 2)B, all recorded together
 *   r3f 2F + 2B (no ascent)     fgm 3F + 3B (its gradient from an extra pass, not the clean backward)
 *   freelb (K + 1)F + KB, one pass recorded at a time     smart: alum's + 1F (the EMA copy, not recorded)
 */
export interface StepCost {
  forward: number;
  backward: number;
  /** Passes whose activations are kept together until the backward pass. */
  recorded: number;
  /**
   * Batches of rows whose activations are kept, where passes are stacked on the batch axis (every backend but
   * wasm, src/core/train/alum.ts `stacksPasses`): the clean rows ride with the first inner pass and with the
   * adversarial one, one batch more than `recorded` for the methods with an ascent.
   */
  recordedBatches: number;
  /** SMART keeps an EMA copy of the weights. */
  weightCopy: boolean;
}

export function stepCost(c: Pick<TrainConfig, 'method' | 'k'>): StepCost {
  const same = (n: number, stacked = n): StepCost => ({
    forward: n,
    backward: n,
    recorded: n,
    recordedBatches: stacked,
    weightCopy: false,
  });
  switch (c.method) {
    case 'standard':
      return same(1);
    case 'alum':
    case 'pgd':
      return same(c.k + 2, c.k + 3);
    case 'r3f':
      return same(2);
    case 'fgm':
      return same(3, 4);
    case 'freelb':
      return { forward: c.k + 1, backward: c.k, recorded: 1, recordedBatches: 1, weightCopy: false };
    case 'smart':
      return { ...same(c.k + 2, c.k + 3), forward: c.k + 3, weightCopy: true };
  }
}

/** `3F + 3B` (and `, EMA copy` for SMART): the cost of one step in passes. */
export function formatCost(cost: StepCost): string {
  return `${cost.forward}F + ${cost.backward}B${cost.weightCopy ? ' + a copy of the weights' : ''}`;
}

/**
 * A rough estimate of the bytes one step needs: the activations kept for the backward pass of every batch of
 * rows the step records together (`stepCost(c).recordedBatches`: 1 for standard, K + 3 for ALUM, since the inner
 * passes' activations live until the step's backward, README "The ALUM step", and GPU backends stack the clean
 * rows with the first inner and the adversarial pass; wasm needs one batch less) plus the weights, their gradients and
 * AdamW's two moments (and SMART's EMA copy).
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
  const cost = stepCost(c);
  const activations = cost.recordedBatches * p.numLayers * c.batchSize * perLayer;
  const layerParams = 4 * p.hiddenSize * p.hiddenSize + 2 * p.hiddenSize * p.intermediateSize;
  const params = p.numLayers * layerParams + 30_000 * p.hiddenSize;
  return 4 * (activations + (cost.weightCopy ? 5 : 4) * params);
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

/** What a method keeps in memory beyond standard training, for the out-of-memory advice ('' for none). */
function keptNote(c: Pick<TrainConfig, 'method' | 'k'>): string {
  const cost = stepCost(c);
  const copy = cost.weightCopy ? ' and an EMA copy of the weights' : '';
  const kept = cost.recordedBatches;
  return kept > 1 || copy ? ` (${c.method} keeps ${kept} batches of activations${copy})` : '';
}

/** Advice for a run's error message, or null when there is none to give. */
export function errorAdvice(message: string, c: TrainConfig): string | null {
  if (!isOutOfMemory(message)) return null;
  const est = formatBytes(estimateStepBytes(c));
  const half = formatBytes(estimateStepBytes({ ...c, batchSize: Math.max(1, Math.floor(c.batchSize / 4)) }));
  return (
    `Out of memory: batch ${c.batchSize} x length ${c.maxLength} on the ${c.model} model needs roughly ${est} ` +
    `per step${keptNote(c)}. ` +
    `Try a smaller batch size (a quarter of it: ~${half}), a shorter maximum length, or a smaller model, then Reset.`
  );
}

/**
 * Above this the total loss means the run diverged: a classifier's cross-entropy starts near ln(classes)
 * (0.69 for spam/ham) and alpha times a KL of a few nats stays in the tens at the paper's alpha of 1 to 10.
 */
export const DIVERGED_LOSS = 100;

/**
 * What to change, per method, when its perturbation is too big or its loss blows up: the settings each method
 * reads (docs/alum-step.md, "Relatives"; freelb has no alpha, r3f no ascent). RunWarnings and the divergence
 * warning both read it.
 */
export const METHOD_KNOBS: Readonly<Record<Method, { size: string; loss: string }>> = {
  standard: { size: 'standard training has no perturbation', loss: 'lr' },
  alum: { size: 'lower epsilon or eta, or use the paper variant', loss: 'lr, alpha or eta' },
  smart: { size: 'lower epsilon or eta, or use the paper variant', loss: 'lr, alpha, eta or smartMu' },
  r3f: { size: 'lower sigma, the noise scale', loss: 'lr, alpha or sigma' },
  fgm: {
    size: "lower epsilon, r's L2 norm per example (FGM's 5 was chosen for normalised word embeddings)",
    loss: 'lr, alpha or epsilon',
  },
  pgd: { size: 'lower epsilon, the radius of the ball', loss: 'lr, alpha or epsilon' },
  freelb: { size: 'set epsilon (0 leaves δ unbounded) or lower eta and sigma', loss: 'lr or eta' },
};

/** Where each method's alpha usually sits, for the divergence warning (freelb and standard have none). */
const USUAL_ALPHA: Readonly<Partial<Record<Method, string>>> = {
  alum: 'the paper uses 1 to 10',
  smart: 'the SMART paper uses 1 to 5',
  r3f: "fairseq's --r3f-lambda defaults to 1",
  fgm: "Miyato's adv_reg_coeff is 1",
  pgd: 'the pgd preset uses 1',
};

/** The settings of `c` that likely made its loss blow up, each with what is usual. */
function likelyCauses(c: TrainConfig): string[] {
  const causes: string[] = [];
  const usual = USUAL_ALPHA[c.method];
  if (usual !== undefined && c.alpha > 10) causes.push(`alpha ${c.alpha} (${usual})`);
  const ascends = c.method === 'alum' || c.method === 'smart';
  if (ascends && c.eta > c.epsilon && c.variant === 'paper-raw')
    causes.push(`eta ${c.eta} above epsilon ${c.epsilon}`);
  else if ((ascends || c.method === 'pgd' || c.method === 'freelb') && c.eta > 1)
    causes.push(`eta ${c.eta} (sensible: 1e-3 to 1e-1)`);
  if (c.method === 'r3f' && c.sigma > 1) causes.push(`sigma ${c.sigma} (fairseq's --eps is 1e-5)`);
  if (c.method === 'fgm' && c.epsilon > 5) causes.push(`epsilon ${c.epsilon} (FGM's default is 5)`);
  if (c.method === 'freelb' && c.epsilon === 0 && c.eta * c.k > 1)
    causes.push(`epsilon 0 leaves δ unbounded, with eta ${c.eta} over ${c.k} passes`);
  if (c.method === 'smart' && c.smartMu > 10) causes.push(`smartMu ${c.smartMu} (the smart preset uses 1)`);
  if (c.lr > 1e-2) causes.push(`learning rate ${c.lr} (sensible: 1e-3 or below)`);
  return causes;
}

/** A warning for a run whose latest total loss is non-finite or above DIVERGED_LOSS, or null. */
export function divergenceWarning(rows: readonly MetricRow[], c: TrainConfig): string | null {
  const last = rows[rows.length - 1];
  if (last === undefined) return null;
  const loss = last.totalLoss;
  if (Number.isFinite(loss) && loss <= DIVERGED_LOSS) return null;
  const shown = Number.isFinite(loss) ? Math.round(loss).toLocaleString('en-US') : String(loss);
  const causes = likelyCauses(c);
  const why = causes.length > 0 ? ` Likely cause: ${causes.join(', ')}.` : '';
  return (
    `Training diverged at step ${last.step}: the total loss is ${shown} (a healthy run stays near 1).${why} ` +
    `Lower ${METHOD_KNOBS[c.method].loss}, then Reset. Tiny or vanished delta lines on the log chart come from the same blow-up.`
  );
}

/**
 * Where the perturbation lands: for one example, its tokens and, at every stage of one step of the run's method
 * (the perturbation's initialisation, each inner step, the outer update), the per-token norm of delta and of the
 * inner gradient, and the inner loss at that stage's delta. Computed by `traceStep` (trace.ts: one recorded step
 * of the method, dropout off, no optimizer update) on the current weights, with delta_0 drawn from the config's
 * seed by tfjs's own seeded generator: the run's RNG stream, data position and weights are not touched, so a run
 * with the view open trains exactly as one without (token-view.test.ts). The same stages drive the slow-motion
 * walk through one step. Per method (docs/alum-step.md, "Relatives"): alum, smart and pgd have K inner steps,
 * fgm one, r3f none (its noise is the perturbation), freelb K - 1 (its K passes use delta_0..delta_{K-1}).
 */
import type { Method, Norm, TrainConfig, Variant } from '../config.ts';
import type { EncodedSplit, RowSplit } from '../data/dataset.ts';
import type { NamedArray } from '../io/safetensors.ts';
import { asRowSplit, batchTensors, disposeBatch, type TrainingRun } from './run.ts';
import { traceStep, type Trace } from './trace.ts';

/** One stage of the step: which line of the method runs, the per-token norms after it, and the inner loss there. */
export interface TokenStage {
  /** `init`, `ascent` (inner step `k`, 1-based) or `outer`. */
  kind: 'init' | 'ascent' | 'outer';
  k: number;
  /** Per real token: the norm of delta after this stage (the config's norm, per token over the hidden axis). */
  delta: number[];
  /** Per real token: the norm of the inner gradient this stage used; null for `init` and `outer`. */
  grad: number[] | null;
  /**
   * The inner loss on this example at this stage's delta (the method's: ALUM's KL, the task loss for fgm, pgd and
   * freelb): `klInit` at `init`, the loss each inner step reached, `klAdv` at `outer`. The loss before a stage is
   * the one of the stage before it.
   */
  loss: number;
}

export interface TokenView {
  /** Which training row (or -1 for a typed text), and the weights' step. */
  row: number;
  step: number;
  /** The real tokens (WordPiece pieces, `##` kept: the UI joins them), [CLS] and [SEP] included. */
  tokens: string[];
  norm: Norm;
  /** The method and variant the step ran (pgd runs its inner steps with `paper` whatever `variant` says). */
  method: Method;
  variant: Variant;
  stages: TokenStage[];
  /** The step's scalars on this example: inner loss before and after the ascent, and the three losses. */
  klInit: number;
  klAdv: number;
  taskLoss: number;
  advLoss: number;
  totalLoss: number;
}

/**
 * Per-token norm of `a` [1, T, H] over its hidden axis, for the first `n` tokens: max |x| (`inf`) or the
 * square root of the sum of squares (`l2`).
 */
export function perTokenNorms(a: NamedArray, n: number, norm: Norm): number[] {
  const [, t, h] = a.shape as [number, number, number];
  if (n > t) throw new Error(`perTokenNorms: ${n} tokens asked of ${t}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let j = 0; j < h; j++) {
      const x = Number(a.data[i * h + j]);
      acc = norm === 'inf' ? Math.max(acc, Math.abs(x)) : acc + x * x;
    }
    out.push(norm === 'inf' ? acc : Math.sqrt(acc));
  }
  return out;
}

/** The rows of the batch most recently trained (the first batch's rows before any step); reads only. */
export function currentBatchRows(run: TrainingRun): number[] {
  const { order, cursor } = run.dataPosition;
  const b = Math.min(run.config.batchSize, run.train.count);
  if (cursor === 0 || order.length === 0) return Array.from({ length: b }, (_, i) => i);
  return order.slice(Math.max(0, cursor - b), cursor);
}

function scalar(a: NamedArray | undefined): number {
  return a === undefined ? NaN : Number(a.data[0]);
}

/**
 * The stages of a trace of one example with `n` real tokens: `init` (delta_init), one `ascent` per recorded inner
 * state (`delta_step.k`, its gradient `delta_grad.k` and loss `inner_loss.k`), and `outer` (delta_final, the
 * perturbation the adversarial pass used). A missing delta (standard training) gives zeros.
 */
export function stagesOf(trace: Trace, n: number, norm: Norm): TokenStage[] {
  const get = (name: string) => trace.tensors.get(name);
  const norms = (name: string) => {
    const a = get(name);
    return a === undefined ? new Array<number>(n).fill(0) : perTokenNorms(a, n, norm);
  };
  const stages: TokenStage[] = [
    { kind: 'init', k: 0, delta: norms('delta_init'), grad: null, loss: scalar(get('kl_init')) },
  ];
  for (let k = 0; get(`delta_step.${k}`) !== undefined; k++) {
    const grad = norms(`delta_grad.${k}`);
    const loss = scalar(get(`inner_loss.${k}`));
    stages.push({ kind: 'ascent', k: k + 1, delta: norms(`delta_step.${k}`), grad, loss });
  }
  const last = stages.length - 1;
  stages.push({
    kind: 'outer',
    k: last,
    delta: norms('delta_final'),
    grad: null,
    loss: scalar(get('kl_adv')),
  });
  return stages;
}

/**
 * The token view of row `row` of `split` (default: the run's training split) under `cfg`, on the run's
 * current weights. `vocab` maps ids to tokens.
 */
export async function tokenView(
  run: TrainingRun,
  row: number,
  vocab: readonly string[],
  split: RowSplit | EncodedSplit = run.train,
  cfg: TrainConfig = run.config,
): Promise<TokenView> {
  if (!Number.isInteger(row) || row < 0 || row >= split.count)
    throw new Error(`token view: row ${row} is outside [0, ${split.count - 1}]`);
  const t = split.maxLength;
  const picked = asRowSplit(split).rows([row]); // [1, T]
  const mask = picked.attentionMask;
  const n = mask.reduce((s, m) => s + m, 0);
  const ids = Array.from(picked.inputIds.subarray(0, n));
  const batch = batchTensors(split, [row]);
  try {
    const ema = cfg.method === 'smart' ? (run.emaParams ?? run.params) : run.params;
    const trace = await traceStep(run.params, run.model, batch, { ...cfg, batchSize: 1, maxLength: t }, ema);
    return {
      row: split === run.train ? row : -1,
      step: run.step,
      tokens: ids.map((id) => vocab[id] ?? `[${id}]`),
      norm: cfg.norm,
      method: cfg.method,
      variant: cfg.variant,
      stages: stagesOf(trace, n, cfg.norm),
      klInit: scalar(trace.tensors.get('kl_init')),
      klAdv: scalar(trace.tensors.get('kl_adv')),
      taskLoss: scalar(trace.tensors.get('loss_task')),
      advLoss: scalar(trace.tensors.get('loss_adv')),
      totalLoss: scalar(trace.tensors.get('loss_total')),
    };
  } finally {
    disposeBatch(batch);
  }
}

/** WordPiece pieces joined readably: `##` continuations glued to the piece before them. */
export function joinPieces(tokens: readonly string[]): { text: string; start: boolean }[] {
  return tokens.map((tok) =>
    tok.startsWith('##') && tok.length > 2
      ? { text: tok.slice(2), start: false }
      : { text: tok, start: true },
  );
}

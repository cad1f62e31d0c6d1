/**
 * What the slow-motion panel shows of one step, per method, as pure data: the method's algorithm as numbered
 * lines, which lines each stage of the traced step runs, the formula of its inner update, the stages' names and
 * the facts at each stage (norms and the inner loss before and after). ALUM's lines are Algorithm 1 of Liu et al.
 * 2020 (arXiv 2004.08994) as transcribed in docs/alum-step.md; the relatives' are the formulas of
 * docs/alum-step.md, "Relatives" (R3F arXiv 2008.03156, FGM arXiv 1605.07725, PGD arXiv 1706.06083, FreeLB arXiv
 * 1909.11764, SMART arXiv 1911.03437), with each method's own initialisation, inner steps and loss.
 */
import type { Method, Variant } from '../coreConfig.ts';
import { formatNumber } from '../help.ts';
import type { TokenView } from '../../protocol/messages.ts';

type Stage = TokenView['stages'][number];
type StageKind = Stage['kind'];

/** One line of a method's algorithm and the stages that run it. */
export interface AlgorithmLine {
  line: number;
  text: string;
  runs: readonly StageKind[];
}

/** Algorithm 1 of the paper (lines 3-9), the lines a step runs. */
export const ALGORITHM_1: readonly AlgorithmLine[] = [
  { line: 3, text: 'δ ~ N(0, σ² I)', runs: ['init'] },
  { line: 4, text: 'for m = 1..K:', runs: ['ascent'] },
  { line: 5, text: '  g_adv ← ∇_δ ℓ(f(x; θ), f(x + δ; θ))', runs: ['ascent'] },
  { line: 6, text: '  δ ← Π_{‖δ‖ ≤ ε}(δ + η g_adv)', runs: ['ascent'] },
  { line: 8, text: 'g_θ ← ∇_θ ℓ(f(x; θ), y) + α ∇_θ ℓ_s(f(x; θ), f(x + δ; θ))', runs: ['outer'] },
  { line: 9, text: 'θ ← θ − τ g_θ   (AdamW)', runs: ['outer'] },
];

/** The outer update of the relatives: one AdamW step on the loss's gradient. */
const UPDATE: AlgorithmLine = { line: 0, text: 'θ ← θ − τ ∇_θ L   (AdamW)', runs: ['outer'] };

/** Numbers lines 1, 2, ... in order (the relatives have no printed algorithm to number them). */
function numbered(lines: readonly Omit<AlgorithmLine, 'line'>[]): AlgorithmLine[] {
  return lines.map((l, i) => ({ ...l, line: i + 1 }));
}

/** Each method's algorithm: its name, where it comes from, and its lines (docs/alum-step.md, "Relatives"). */
export const METHOD_ALGORITHM: Readonly<Record<Method, { title: string; lines: readonly AlgorithmLine[] }>> =
  {
    standard: {
      title: 'standard training (no perturbation)',
      lines: numbered([{ text: 'L = ℓ(f(x; θ), y)', runs: ['outer'] }, UPDATE]),
    },
    alum: { title: 'Algorithm 1 of the ALUM paper', lines: ALGORITHM_1 },
    smart: {
      title: 'SMART (Jiang et al. 2020, Algorithm 1): ALUM’s step plus a proximal term',
      lines: [
        ...ALGORITHM_1.filter((l) => l.line < 8),
        {
          line: 8,
          text: 'g_θ ← ∇_θ [ℓ(f(x; θ), y) + α ℓ_s(f(x; θ), f(x + δ; θ)) + μ ℓ_s(f(x; θ), f(x; θ̃))]',
          runs: ['outer'],
        },
        { line: 9, text: 'θ ← θ − τ g_θ   (AdamW);   θ̃ ← β θ̃ + (1 − β) θ', runs: ['outer'] },
      ],
    },
    r3f: {
      title: 'R3F (Aghajanyan et al. 2020): random noise, no ascent',
      lines: numbered([
        { text: 'z ~ U(−σ, σ) or N(0, σ²)', runs: ['init'] },
        {
          text: 'L = ℓ(f(x), y) + λ [KL(f(x) ‖ f(x + z)) + KL(f(x + z) ‖ f(x))]   (no stop-gradient)',
          runs: ['outer'],
        },
        UPDATE,
      ]),
    },
    fgm: {
      title: 'FGM (Miyato et al. 2017): one normalised step on the task loss',
      lines: numbered([
        { text: 'r ← 0', runs: ['init'] },
        { text: 'g ← ∇_r ℓ(f(x + r), y) at r = 0', runs: ['ascent'] },
        { text: 'r ← ε g / ‖g‖₂   (per example)', runs: ['ascent'] },
        { text: 'L = ℓ(f(x), y) + α ℓ(f(x + r), y)', runs: ['outer'] },
        UPDATE,
      ]),
    },
    pgd: {
      title: 'PGD-K (Madry et al. 2018): K projected steps on the task loss',
      lines: numbered([
        { text: 'δ ~ U(−ε, ε), projected onto the ball', runs: ['init'] },
        { text: 'for m = 1..K:', runs: ['ascent'] },
        { text: '  g ← ∇_δ ℓ(f(x + δ), y)', runs: ['ascent'] },
        { text: '  δ ← Π_ε(δ + η g / n(g))', runs: ['ascent'] },
        { text: 'L = ℓ(f(x), y) + α ℓ(f(x + δ_K), y)', runs: ['outer'] },
        UPDATE,
      ]),
    },
    freelb: {
      title: 'FreeLB (Zhu et al. 2020): K passes, parameter gradients accumulated',
      lines: numbered([
        { text: 'δ₀ ~ U(−1, 1) σ / √(L·H)   (l2; inf: U(−σ, σ))', runs: ['init'] },
        { text: 'for t = 0..K−1:', runs: ['ascent', 'outer'] },
        { text: '  g_θ ← g_θ + ∇_θ ℓ(f(x + δ_t), y) / K', runs: ['ascent', 'outer'] },
        { text: '  g_t ← ∇_δ ℓ(f(x + δ_t), y) / K', runs: ['ascent'] },
        { text: '  δ_{t+1} ← clip_ε(δ_t + η g_t / ‖g_t‖)   (not after the last pass)', runs: ['ascent'] },
        { text: 'θ ← θ − τ g_θ   (AdamW)', runs: ['outer'] },
      ]),
    },
  };

/** The algorithm lines a stage of `method`'s step runs. */
export function linesOf(method: Method, kind: StageKind): number[] {
  return METHOD_ALGORITHM[method].lines.filter((l) => l.runs.includes(kind)).map((l) => l.line);
}

/** Each variant's inner update (docs/alum-step.md, "Inner ascent"; n = per-token norm). */
export const VARIANT_UPDATE: Readonly<Record<Variant, string>> = {
  paper: 'δ_k = Π_ε(δ_{k−1} + η g_k / (n(g_k) + 1e-12))',
  'paper-raw': 'δ_k = Π_ε(δ_{k−1} + η g_k)',
  'mtdnn-2020': 'a_k = a_{k−1} + η g_k / (n(g_k) + 1e-6), g_k taken at a_{k−1} + δ₀',
  'mtdnn-head': 'δ_k = r / (n(r) + 1e-6), r = δ_{k−1} + η g_k',
};

/**
 * The inner update of each method that does not follow `variant` (alum and smart do: VARIANT_UPDATE), as it
 * computes it (docs/alum-step.md, "Relatives"); null for the methods with no inner update.
 */
export const METHOD_UPDATE: Readonly<Record<Exclude<Method, 'alum' | 'smart'>, string | null>> = {
  standard: null,
  r3f: null,
  fgm: 'r = ε g / ‖g‖₂, ‖g‖₂ = a √(Σ (g/a)² + 1e-6), a = max |g| + 1e-12, over the whole example',
  pgd: VARIANT_UPDATE.paper,
  freelb:
    'δ_{t+1} = δ_t + η g_t / max(n(g_t), 1e-8), n per example; then ‖δ‖₂ ≤ ε (l2) or clip to [−ε, ε] (inf)',
};

/** The formula of the inner update `method` runs under `variant`, or null when it has none. */
export function updateFormula(method: Method, variant: Variant): string | null {
  return method === 'alum' || method === 'smart' ? VARIANT_UPDATE[variant] : METHOD_UPDATE[method];
}

/** What the perturbation is called at each stage, per method. */
export function stageName(method: Method, s: Pick<Stage, 'kind' | 'k'>): string {
  if (s.kind === 'init') {
    if (method === 'fgm') return 'r = 0 (FGM starts from zero)';
    if (method === 'r3f') return 'z (the random noise)';
    return 'δ₀ (initial noise)';
  }
  if (s.kind === 'ascent')
    return method === 'freelb' ? `after pass ${s.k} (δ_${s.k})` : `after ascent step ${s.k}`;
  return 'used by the outer update';
}

/** The loss each method's inner steps climb, as the stage facts name it ("inner loss before (...)"). */
const INNER_LOSS: Readonly<Record<Method, string>> = {
  standard: 'none: no perturbation',
  alum: 'ℓ(f(x), f(x + δ))',
  smart: 'ℓ(f(x), f(x + δ))',
  r3f: 'sym-KL at the noise',
  fgm: 'task loss at x + r',
  pgd: 'task loss at x + δ',
  freelb: 'task loss at x + δ',
};

/** The outer step's losses, per method: the adversarial term and how the total is made. */
const OUTER: Readonly<Record<Method, { adv: string; total: string }>> = {
  standard: { adv: 'adversarial term (none)', total: 'total = task' },
  alum: { adv: 'adversarial sym-KL', total: 'total = task + α · adv' },
  smart: { adv: 'adversarial sym-KL', total: 'total = task + α · adv + μ · proximal' },
  r3f: { adv: 'sym-KL, both sides trained', total: 'total = task + λ · adv' },
  fgm: { adv: 'task loss at x + r', total: 'total = task + α · adv' },
  pgd: { adv: 'task loss at x + δ_K', total: 'total = task + α · adv' },
  freelb: { adv: 'mean of the K passes’ task losses', total: 'total = adv (the clean loss is not trained)' },
};

const mean = (xs: readonly number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * The facts of stage `stage` of `view`, as (name, value) rows: the mean per-token norm of δ before and after it,
 * of the gradient it followed, the inner loss before and after it (every inner step, so K > 1 shows each one),
 * and at the outer update the step's three losses.
 */
export function stageFacts(view: TokenView, stage: number): [string, string][] {
  const s = view.stages[stage];
  if (s === undefined) return [];
  const prev = view.stages[stage - 1];
  const loss = INNER_LOSS[view.method];
  const facts: [string, string][] = [
    ['mean per-token ‖δ‖ before', prev === undefined ? '0 (no δ yet)' : formatNumber(mean(prev.delta))],
    ['mean per-token ‖δ‖ after', formatNumber(mean(s.delta))],
  ];
  if (s.grad !== null) facts.push(['mean per-token ‖g‖', formatNumber(mean(s.grad))]);
  if (s.kind === 'init') facts.push([`inner loss at δ₀ (${loss})`, formatNumber(s.loss)]);
  if (s.kind === 'ascent' && prev !== undefined) {
    facts.push([`inner loss before (${loss})`, formatNumber(prev.loss)]);
    facts.push([`inner loss after (${loss})`, formatNumber(s.loss)]);
  }
  if (s.kind === 'outer') {
    const o = OUTER[view.method];
    facts.push(['task loss ℓ(f(x), y)', formatNumber(view.taskLoss)]);
    facts.push([o.adv, formatNumber(view.advLoss)]);
    facts.push([o.total, formatNumber(view.totalLoss)]);
  }
  return facts;
}

/**
 * The inner loop in slow motion: one ALUM step taken apart. The worker records one step on the current
 * weights (the token view's trace: delta's initialisation, each ascent step, the outer update; the run is
 * not changed), and Next/Back walk through it one stage at a time, highlighting the line of Algorithm 1
 * (Liu et al. 2020, as transcribed in docs/alum-step.md) and the chosen variant's update formula
 * (docs/alum-step.md, "Inner ascent") that runs, with the norms and the inner loss before and after, and
 * the token view at that stage.
 */
import { useState } from 'react';
import { errorMessage, type Variant } from '../coreConfig.ts';
import { formatNumber } from '../help.ts';
import type { TokenView as TokenViewData } from '../../protocol/messages.ts';
import { tokenView } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';
import { stageName, TokenCells } from './TokenView.tsx';
import { FieldError, Panel } from './Panel.tsx';

/** Algorithm 1 of the paper (lines 3-9), the lines a step runs. */
export const ALGORITHM_1: readonly { line: number; text: string }[] = [
  { line: 3, text: 'δ ~ N(0, σ² I)' },
  { line: 4, text: 'for m = 1..K:' },
  { line: 5, text: '  g_adv ← ∇_δ ℓ(f(x; θ), f(x + δ; θ))' },
  { line: 6, text: '  δ ← Π_{‖δ‖ ≤ ε}(δ + η g_adv)' },
  { line: 8, text: 'g_θ ← ∇_θ ℓ(f(x; θ), y) + α ∇_θ ℓ_s(f(x; θ), f(x + δ; θ))' },
  { line: 9, text: 'θ ← θ − τ g_θ   (AdamW)' },
];

/** Each variant's inner update (docs/alum-step.md, "Inner ascent"; n = per-token norm). */
export const VARIANT_UPDATE: Readonly<Record<Variant, string>> = {
  paper: 'δ_k = Π_ε(δ_{k−1} + η g_k / (n(g_k) + 1e-12))',
  'paper-raw': 'δ_k = Π_ε(δ_{k−1} + η g_k)',
  'mtdnn-2020': 'a_k = a_{k−1} + η g_k / (n(g_k) + 1e-6), g_k taken at a_{k−1} + δ₀',
  'mtdnn-head': 'δ_k = r / (n(r) + 1e-6), r = δ_{k−1} + η g_k',
};

/** The Algorithm 1 lines a stage runs. */
export function linesOf(kind: TokenViewData['stages'][number]['kind']): number[] {
  if (kind === 'init') return [3];
  if (kind === 'ascent') return [4, 5, 6];
  return [8, 9];
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

function StageFacts({ view, stage }: { view: TokenViewData; stage: number }) {
  const s = view.stages[stage];
  const prev = view.stages[stage - 1];
  if (s === undefined) return null;
  const k = view.stages.length - 2; // ascent steps
  const facts: [string, string][] = [
    [`mean per-token ‖δ‖ before`, prev === undefined ? '0 (no δ yet)' : formatNumber(mean(prev.delta))],
    [`mean per-token ‖δ‖ after`, formatNumber(mean(s.delta))],
  ];
  if (s.grad !== null) facts.push(['mean per-token ‖g‖', formatNumber(mean(s.grad))]);
  if (s.kind === 'ascent' && s.k === 1) facts.push(['inner loss before (at δ₀)', formatNumber(view.klInit)]);
  if (s.kind === 'ascent' && s.k === k) facts.push(['inner loss after the ascent', formatNumber(view.klAdv)]);
  if (s.kind === 'outer') {
    facts.push(['task loss ℓ(f(x), y)', formatNumber(view.taskLoss)]);
    facts.push(['adversarial sym-KL', formatNumber(view.advLoss)]);
    facts.push(['total = task + α · adv', formatNumber(view.totalLoss)]);
  }
  return (
    <dl className="facts" data-testid="slow.facts">
      {facts.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function SlowMotion() {
  const open = useAppStore((s) => s.lesson.panels.includes('slow-motion'));
  const config = useAppStore((s) => activeRun(s)?.config ?? s.staged);
  const [view, setView] = useState<TokenViewData | null>(null);
  const [stage, setStage] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const take = () => {
    setBusy(true);
    setProblem(null);
    tokenView(0)
      .then((v) => {
        setView(v);
        setStage(0);
      })
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  const s = view?.stages[stage];
  const lines = s === undefined ? [] : linesOf(s.kind);
  return (
    <Panel
      panel="slow-motion"
      className="slow-motion"
      testId="panel.slow"
      open={open}
      title="The inner loop in slow motion"
    >
      <p className="muted">
        Takes one ALUM step apart on the current weights (the first example of the batch just trained, dropout
        off) and walks through it: δ&apos;s initialisation, each ascent step, then the outer update. The run
        is not changed. Pause first to study one moment of training.
      </p>
      <div className="row">
        <button type="button" onClick={take} disabled={busy} data-testid="slow.take">
          {view === null ? 'Take one step apart' : 'Take the current step apart'}
        </button>
        <button
          type="button"
          onClick={() => setStage((x) => Math.max(0, x - 1))}
          disabled={view === null || stage === 0}
          data-testid="slow.back"
        >
          Back
        </button>
        <button
          type="button"
          onClick={() => setStage((x) => Math.min((view?.stages.length ?? 1) - 1, x + 1))}
          disabled={view === null || stage >= (view?.stages.length ?? 1) - 1}
          data-testid="slow.next"
        >
          Next
        </button>
        {view !== null && s !== undefined && (
          <span data-testid="slow.stage" aria-live="polite">
            Stage {stage + 1} of {view.stages.length}: {stageName(s)}
          </span>
        )}
      </div>
      {view !== null && s !== undefined && (
        <>
          <pre className="algorithm" aria-label="Algorithm 1 of the ALUM paper, the running lines marked">
            {ALGORITHM_1.map((l) => {
              const on = lines.includes(l.line);
              return (
                <span
                  key={l.line}
                  className={on ? 'line on' : 'line'}
                  data-testid={on ? 'slow.line.on' : undefined}
                >
                  {on ? '▶ ' : '  '}
                  {l.line} {l.text}
                  {'\n'}
                </span>
              );
            })}
          </pre>
          <p className={s.kind === 'ascent' ? 'formula on' : 'formula'}>
            Line 6 as this run computes it ({config.variant}): <code>{VARIANT_UPDATE[config.variant]}</code>
          </p>
          <StageFacts view={view} stage={stage} />
          <TokenCells view={view} stage={stage} />
        </>
      )}
      <FieldError problem={problem} testId="slow.problem" block />
    </Panel>
  );
}

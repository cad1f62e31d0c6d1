/**
 * The inner loop in slow motion: one step of the run's method taken apart. The worker records one step on the
 * current weights (the token view's trace: the perturbation's initialisation, each inner step, the outer update;
 * the run is not changed), and Next/Back walk through it one stage at a time, highlighting the line of the
 * method's algorithm that runs (Algorithm 1 of Liu et al. 2020 for ALUM, the formulas of docs/alum-step.md
 * "Relatives" for r3f, fgm, pgd, freelb and smart; slowMotionSteps.ts) and its inner update's formula, with the
 * norms and the inner loss before and after each step, and the token view at that stage.
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import type { TokenView as TokenViewData } from '../../protocol/messages.ts';
import { tokenView } from '../store/actions.ts';
import { useAppStore } from '../store/store.ts';
import { TokenCells } from './TokenView.tsx';
import { FieldError, Panel } from './Panel.tsx';
import { linesOf, METHOD_ALGORITHM, stageFacts, stageName, updateFormula } from './slowMotionSteps.ts';

function StageFacts({ view, stage }: { view: TokenViewData; stage: number }) {
  const facts = stageFacts(view, stage);
  if (facts.length === 0) return null;
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
  const lines = s === undefined || view === null ? [] : linesOf(view.method, s.kind);
  const algorithm = view === null ? null : METHOD_ALGORITHM[view.method];
  const formula = view === null ? null : updateFormula(view.method, view.variant);
  return (
    <Panel
      panel="slow-motion"
      className="slow-motion"
      testId="panel.slow"
      open={open}
      title="The inner loop in slow motion"
    >
      <p className="muted">
        Takes one step of the run&apos;s method apart on the current weights (the first example of the batch
        just trained, dropout off) and walks through it: δ&apos;s initialisation, each inner step, then the
        outer update. The run is not changed. Pause first to study one moment of training.
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
            Stage {stage + 1} of {view.stages.length}: {stageName(view.method, s)}
          </span>
        )}
      </div>
      {view !== null && s !== undefined && algorithm !== null && (
        <>
          <p className="muted" data-testid="slow.algorithm">
            {algorithm.title}
          </p>
          <pre className="algorithm" aria-label={`${algorithm.title}, the running lines marked`}>
            {algorithm.lines.map((l) => {
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
          {formula !== null && (
            <p className={s.kind === 'ascent' ? 'formula on' : 'formula'} data-testid="slow.formula">
              The inner update as this run computes it ({view.method}
              {view.method === 'alum' || view.method === 'smart' ? `, ${view.variant}` : ''}):{' '}
              <code>{formula}</code>
            </p>
          )}
          <StageFacts view={view} stage={stage} />
          <TokenCells view={view} stage={stage} />
        </>
      )}
      <FieldError problem={problem} testId="slow.problem" block />
    </Panel>
  );
}
